import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { compileFilter } from "../../durable-objects/cube-filters";
import { EXPIRE_DUE_SQL, NEXT_EXPIRY_SQL } from "../../durable-objects/cube-lifecycle";
import { CubeStore } from "../../durable-objects/cube-store";
import { CUBE_MIGRATIONS } from "../../durable-objects/cube-schema";
import { cubeObjectName } from "../../src/core/ids";
import { LIVE_STATES } from "../../src/core/lifecycle";
import { call, newTenant, remember, uniqueUser } from "../helpers";

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

  it("a rejected batch writes nothing (one transaction per write)", async () => {
    const { stub } = await cubeWithMemory();
    await runInDurableObject(stub, async (instance) => {
      const ref = { tenantId: "t", cubeId: "cube_0123456789abcdef", owner: "user:x" };
      const item = {
        content: "ok",
        type: "fact",
        tags: [],
        metadata: {},
        sessionId: null,
        validAt: null,
        invalidAt: null,
        expiresAt: null,
        ttlSeconds: null,
        priority: 50,
        importance: 0.5,
        sensitivity: [],
        frozen: false,
        source: { kind: "api" as const, episodeId: null, messageIds: [] },
      };
      // A NOT NULL violation on the second item must roll back the first.
      const broken = { ...item, content: null as unknown as string };
      await expect(instance.remember(ref, [item, broken], { actor: "test", requestId: "r" })).rejects.toThrow();
    });
    await runInDurableObject(stub, (_instance, state) => {
      expect(state.storage.sql.exec("SELECT count(*) AS n FROM memories").one().n).toBe(1);
    });
  });
});
