import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { compileFilter } from "../../durable-objects/cube/filters";
import { EXPIRE_DUE_SQL, NEXT_EXPIRY_SQL } from "../../durable-objects/cube/lifecycle";
import { CubeStore, ROWS_JSON_CHARS } from "../../durable-objects/cube/store";
import { CUBE_MIGRATIONS } from "../../durable-objects/cube/schema";
import { cubeObjectName } from "../../src/core/ids";
import { LIVE_STATES } from "../../src/core/lifecycle";
import { call, newTenant, remember, uniqueUser } from "../helpers";
import { newMemory } from "../helpers/memories";

/** Writes one memory over HTTP and returns what is needed to open its cube directly. */
async function cubeWithMemory(content = "hello") {
  const { key, tenantId } = await newTenant();
  const user = uniqueUser();
  const response = await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content }] } });
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, response.body.cube_id));
  return { key, user, stub, memory: response.body.data[0], requestId: response.headers.get("X-Request-Id") };
}

describe("cube storage", () => {
  it("DDL is versioned and idempotent", async () => {
    const { stub } = await cubeWithMemory();
    await runInDurableObject(stub, (_instance, state) => {
      const store = new CubeStore(state.storage.sql);
      expect(store.schemaVersion()).toBe(CUBE_MIGRATIONS.length);
      store.migrate();
      store.migrate();
      expect(store.schemaVersion()).toBe(CUBE_MIGRATIONS.length);
      const versions = state.storage.sql.exec("SELECT count(*) AS n FROM cube_schema").one().n;
      expect(versions).toBe(CUBE_MIGRATIONS.length);
    });
  });

  it("hot queries keep their indexes: the state index serves only the live count", async () => {
    const { stub } = await cubeWithMemory();
    await runInDurableObject(stub, (_instance, state) => {
      const plan = (query: string, ...params: unknown[]) =>
        state.storage.sql
          .exec(`EXPLAIN QUERY PLAN ${query}`, ...(params as SqlStorageValue[]))
          .toArray()
          .map((row) => String(row.detail))
          .join(" | ");
      const live = compileFilter({ states: LIVE_STATES });
      // Newest first under the live filter: the recent channel and list pages.
      expect(plan(`SELECT m.id FROM memories m WHERE ${live.clauses.join(" AND ")} ORDER BY m.created_at DESC, m.seq DESC LIMIT 10`, ...live.params)).toContain(
        "memories_created",
      );
      // The expiry sweep that runs before every call, and the alarm's "what expires next" after every TTL write:
      // both on the partial index of memories that can still expire.
      expect(plan(EXPIRE_DUE_SQL, 1, 10)).toContain("memories_expiring");
      expect(plan(NEXT_EXPIRY_SQL)).toContain("memories_expiring");
      // The count every write reports.
      expect(plan("SELECT count(*) AS n FROM memories WHERE state IN ('generated', 'activated', 'archived')")).toContain("memories_state");
    });
  });

  it("logs every write as an event with actor and request id", async () => {
    const { key, stub, memory, requestId } = await cubeWithMemory();
    const patch = await call("PATCH", `/v1/memories/${memory.id}`, { key, body: { content: "changed" } });
    await call("DELETE", `/v1/memories/${memory.id}?hard=true`, { key });
    await runInDurableObject(stub, (_instance, state) => {
      const events = state.storage.sql.exec("SELECT type, memory_id, version, actor, request_id FROM events ORDER BY seq").toArray();
      expect(events.map((e) => e.type)).toEqual(["memory.created", "memory.updated", "memory.purged"]);
      expect(events.every((e) => e.memory_id === memory.id && String(e.actor).startsWith("key_"))).toBe(true);
      expect(events[0]!.request_id).toBe(requestId);
      expect(events[1]!.request_id).toBe(patch.headers.get("X-Request-Id"));
      // A purge leaves no content anywhere: not in memories, versions or the full-text index.
      expect(state.storage.sql.exec("SELECT count(*) AS n FROM memories").one().n).toBe(0);
      expect(state.storage.sql.exec("SELECT count(*) AS n FROM memory_versions").one().n).toBe(0);
      expect(state.storage.sql.exec("SELECT count(*) AS n FROM memories_fts WHERE memories_fts MATCH 'changed'").one().n).toBe(0);
    });
  });

  it("expires memories whose TTL has passed: out of reads and search, leaving a stub without payload", async () => {
    const { key, user, stub, memory } = await cubeWithMemory("short-lived reminder");
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE memories SET expires_at = ? WHERE id = ?", Date.now() - 1, memory.id);
    });
    expect((await call("POST", "/v1/search", { key, body: { user_id: user, query: "reminder" } })).body.data).toEqual([]);
    expect((await call("GET", `/v1/memories?user_id=${user}`, { key })).body.data).toEqual([]);
    const expired = await call("GET", `/v1/memories?user_id=${user}&state=expired`, { key });
    expect(expired.body.data.map((m: any) => [m.id, m.state, m.version])).toEqual([[memory.id, "expired", 2]]);
    expect(expired.body.data[0]).toMatchObject({ content: "", tags: [], metadata: {} });
    // TTL means the data stops existing: the earlier versions went with the payload; the stub version remains.
    const history = await call("GET", `/v1/memories/${memory.id}/history`, { key });
    expect(history.body.data.map((v: any) => [v.change, v.actor, v.memory.content])).toEqual([["expired", "system", ""]]);
    // An expired memory is read-only history: it cannot be updated back to life.
    expect((await call("PATCH", `/v1/memories/${memory.id}`, { key, body: { content: "revived" } })).status).toBe(409);
  });

  it("a batch leaves the same rows as its memories written one at a time: contexts, versions, events", async () => {
    const contents = ["a1 first", "b1 other session", "a2 second", "none", "a3 third", "b2 later"];
    const session = (content: string) => (content.startsWith("a") ? "s-a" : content.startsWith("b") ? "s-b" : undefined);
    const write = async (key: string, user: string, batch: string[]) => {
      const memories = batch.map((content) => ({ content, session_id: session(content) }));
      const response = await call("POST", "/v1/memories", { key, body: { user_id: user, memories } });
      expect(response.status).toBe(201);
      return response.body.cube_id as string;
    };
    const rowsOf = async (tenantId: string, cubeId: string) =>
      runInDurableObject(env.CUBE.getByName(cubeObjectName(tenantId, cubeId)), (_instance, state) => {
        const sql = state.storage.sql;
        return {
          memories: sql.exec("SELECT content, session_id, context, version, state FROM memories ORDER BY seq").toArray(),
          versions: sql
            .exec("SELECT m.content, v.version, v.change FROM memory_versions v JOIN memories m ON m.id = v.memory_id ORDER BY m.seq")
            .toArray(),
          events: sql.exec("SELECT e.type, e.version, m.content FROM events e JOIN memories m ON m.id = e.memory_id ORDER BY e.seq").toArray(),
          indexed: sql.exec("SELECT count(*) AS n FROM memories_fts WHERE memories_fts MATCH 'second'").one().n,
        };
      });
    // One memory first, so a batch also has to extend a context written by an earlier request.
    const one = await newTenant();
    const oneUser = uniqueUser();
    let cubeId = "";
    for (const content of contents) cubeId = await write(one.key, oneUser, [content]);
    const batched = await newTenant();
    const batchedUser = uniqueUser();
    await write(batched.key, batchedUser, contents.slice(0, 1));
    const batchedCube = await write(batched.key, batchedUser, contents.slice(1));

    const expected = await rowsOf(one.tenantId, cubeId);
    expect(expected.memories.map((m) => m.context)).toEqual(["a2 second", "b2 later", "a1 first\na3 third", "", "a2 second", "b1 other session"]);
    // "a2 second" is indexed as itself and in both neighbours' contexts.
    expect(expected.indexed).toBe(3);
    expect(await rowsOf(batched.tenantId, batchedCube)).toEqual(expected);
  });

  it("numbers and text survive the batch's JSON rows exactly", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    // Doubles that need all 17 digits, awkward text, and every nullable column both ways.
    const importances = [0.1, 0.7, 1 / 3, Math.PI / 10, 0.30000000000000004, 5e-324, 1, 0, 0.123456789012345];
    const memories = importances.map((importance, i) => ({
      content: `m${i} "quoted" \\ back\\slash \u2028 emoji 🧠 \t tab`,
      importance,
      priority: i * 11,
      ...(i % 2 === 0 ? { session_id: "s", valid_at: new Date(Date.UTC(2020, 0, 1) + i * 1001).toISOString() } : {}),
      metadata: { n: i, nested: { x: [1.5, null, "y"] } },
      tags: [`t${i}`],
    }));
    const written = await call("POST", "/v1/memories", { key, body: { user_id: user, memories } });
    expect(written.status).toBe(201);
    const listed = await call("GET", `/v1/memories?user_id=${user}&limit=100`, { key });
    const byContent = new Map(listed.body.data.map((m: any) => [m.content, m]));
    for (const [i, memory] of memories.entries()) {
      const stored: any = byContent.get(memory.content);
      expect(stored).toMatchObject({ importance: memory.importance, priority: memory.priority, metadata: memory.metadata, tags: memory.tags });
      expect(stored.valid_at).toBe(memory.valid_at ?? null);
      expect(stored.session_id).toBe(memory.session_id ?? null);
      expect(stored).toEqual(written.body.data[i]);
    }
  });

  it("a batch near the body limit goes in several statements, in order", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    // 60 memories of 16,000 characters: about 1 MB of rows, several times ROWS_JSON_CHARS.
    const contents = Array.from({ length: 60 }, (_, i) => `${i} ${"quotes \" and words ".repeat(800)}`.slice(0, 16_000));
    const memories = contents.map((content) => ({ content, session_id: "long" }));
    expect(JSON.stringify(memories).length).toBeGreaterThan(3 * ROWS_JSON_CHARS);
    const response = await call("POST", "/v1/memories", { key, body: { user_id: user, memories } });
    expect(response.status).toBe(201);
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, response.body.cube_id));
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      const rows = sql.exec("SELECT id, content, context FROM memories ORDER BY seq").toArray();
      expect(rows.map((row) => row.content)).toEqual(contents);
      expect(rows.map((row) => row.id)).toEqual(response.body.data.map((m: { id: string }) => m.id));
      expect(rows[1]!.context).toBe(`${contents[0]!.slice(0, 1000)}\n${contents[2]!.slice(0, 1000)}`);
      expect(sql.exec("SELECT count(*) AS n FROM memory_versions").one().n).toBe(60);
      expect(sql.exec("SELECT count(*) AS n FROM events WHERE type = 'memory.created'").one().n).toBe(60);
    });
  });

  it("a rejected batch writes nothing (one transaction per write)", async () => {
    const { stub } = await cubeWithMemory();
    await runInDurableObject(stub, async (instance) => {
      const ref = { tenantId: "t", cubeId: "cube_0123456789abcdef", owner: "user:x" };
      const item = newMemory("ok", { type: "fact" });
      // A NOT NULL violation on the second item must roll back the first.
      const broken = { ...item, content: null as unknown as string };
      await expect(instance.remember(ref, [item, broken], { actor: "test", requestId: "r" })).rejects.toThrow();
    });
    await runInDurableObject(stub, (_instance, state) => {
      expect(state.storage.sql.exec("SELECT count(*) AS n FROM memories").one().n).toBe(1);
    });
  });
});
