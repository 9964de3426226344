import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

describe("POST /v1/memories", () => {
  it("stores the full header and returns it", async () => {
    const { key, keyId } = await newTenant();
    const user = uniqueUser();
    const response = await call("POST", "/v1/memories", {
      key,
      body: {
        user_id: user,
        memories: [
          {
            content: "Alice moved to Lisbon.",
            type: "event",
            tags: ["move", "city", "move"],
            metadata: { app: "demo", nested: { n: 1 } },
            session_id: "s1",
            valid_at: "2026-03-01T00:00:00Z",
            ttl: 3600,
            priority: 80,
            importance: 0.9,
            sensitivity: ["location"],
            source: { kind: "user_input", episode_id: "ep-1", message_ids: ["m1", "m2"] },
          },
        ],
      },
    });
    expect(response.status).toBe(201);
    const [memory] = response.body.data;
    expect(response.body.cube_id).toBe(memory.cube_id);
    expect(memory).toMatchObject({
      owner: `user:${user}`,
      type: "event",
      content: "Alice moved to Lisbon.",
      tags: ["move", "city"],
      metadata: { app: "demo", nested: { n: 1 } },
      session_id: "s1",
      valid_at: "2026-03-01T00:00:00.000Z",
      invalid_at: null,
      priority: 80,
      importance: 0.9,
      sensitivity: ["location"],
      visibility: "private",
      frozen: false,
      access_count: 0,
      last_accessed_at: null,
      version: 1,
      state: "activated",
      supersedes: null,
      superseded_by: null,
      source: { kind: "user_input", episode_id: "ep-1", message_ids: ["m1", "m2"], key_id: keyId },
    });
    expect(memory.source.request_id).toBe(response.headers.get("X-Request-Id"));
    const expiresIn = Date.parse(memory.expires_at) - Date.parse(memory.created_at);
    expect(expiresIn).toBe(3600 * 1000);
  });

  it("applies defaults and writes a whole batch in order", async () => {
    const { key } = await newTenant();
    const data = await remember(
      key,
      uniqueUser(),
      Array.from({ length: 100 }, (_, i) => ({ content: `memory number ${i}` })),
    );
    expect(data).toHaveLength(100);
    expect(data[0]).toMatchObject({ type: "fact", tags: [], metadata: {}, priority: 50, importance: 0.5, source: { kind: "api" } });
    expect(data.map((m) => m.content)).toEqual(Array.from({ length: 100 }, (_, i) => `memory number ${i}`));
    expect(new Set(data.map((m) => m.id)).size).toBe(100);
  });

  it("writes for agents too, into a different cube than the same-named user", async () => {
    const { key } = await newTenant();
    const asUser = await call("POST", "/v1/memories", { key, body: { user_id: "x", memories: [{ content: "u" }] } });
    const asAgent = await call("POST", "/v1/memories", { key, body: { agent_id: "x", memories: [{ content: "a" }] } });
    expect(asAgent.status).toBe(201);
    expect(asAgent.body.data[0].owner).toBe("agent:x");
    expect(asAgent.body.cube_id).not.toBe(asUser.body.cube_id);
  });

  it("writes into an explicit cube_id and 404s on an unknown one", async () => {
    const { key } = await newTenant();
    const first = await call("POST", "/v1/memories", { key, body: { user_id: "u", memories: [{ content: "one" }] } });
    const cube = first.body.cube_id;
    const second = await call("POST", "/v1/memories", { key, body: { cube_id: cube, memories: [{ content: "two" }] } });
    expect(second.status).toBe(201);
    expect(second.body.data[0].owner).toBe("user:u");
    const list = await call("GET", "/v1/memories?user_id=u", { key });
    expect(list.body.data.map((m: any) => m.content)).toEqual(["two", "one"]);
    const unknown = await call("POST", "/v1/memories", {
      key,
      body: { cube_id: "cube_0000000000000000", memories: [{ content: "x" }] },
    });
    expect(unknown.status).toBe(404);
  });

  it("keeps the owners directory and cube counts in D1 (updated after the response)", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const [a] = await remember(key, user, [{ content: "a" }, { content: "b" }]);
    await call("DELETE", `/v1/memories/${a.id}`, { key });
    // The owner's count is its cubes' counts summed when listed (mem0's entities list reads the directory).
    const read = async () => {
      const entities = await call("GET", "/mem0/v1/entities/", { key });
      const owner = (entities.body.results as Record<string, unknown>[]).find((e) => e.id === `user:${user}`);
      const cube = await env.DB.prepare("SELECT * FROM cubes WHERE tenant_id = ?").bind(tenantId).first<Record<string, unknown>>();
      return [owner, cube] as const;
    };
    let [owner, cube] = await read();
    // The directory is written from the bookkeeping queue (a batch at least every second): give it a moment, bounded.
    for (let i = 0; i < 200 && (owner?.total_memories !== 1 || cube?.memory_count !== 1); i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      [owner, cube] = await read();
    }
    expect(owner).toMatchObject({ total_memories: 1, type: "user", name: user });
    expect(cube).toMatchObject({ memory_count: 1, is_default: 1 });
  });
});

describe("idempotent writes", () => {
  it("a retry with the same key returns the first result and writes nothing new", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const body = { user_id: user, memories: [{ content: "only once" }] };
    const headers = { "Idempotency-Key": "retry-1" };
    const first = await call("POST", "/v1/memories", { key, body, headers });
    const second = await call("POST", "/v1/memories", { key, body, headers });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get("Idempotent-Replayed")).toBe("true");
    const list = await call("GET", `/v1/memories?user_id=${user}`, { key });
    expect(list.body.data).toHaveLength(1);
  });

  it("the same key with a different body is refused and writes nothing", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const headers = { "Idempotency-Key": "retry-2" };
    await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "first" }] }, headers });
    const reused = await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "other" }] }, headers });
    expect(reused.status).toBe(422);
    expect(errorOf(reused).code).toBe("idempotency_key_reused");
    const list = await call("GET", `/v1/memories?user_id=${user}`, { key });
    expect(list.body.data.map((m: any) => m.content)).toEqual(["first"]);
  });

  it("idempotent updates apply once", async () => {
    const { key } = await newTenant();
    const [memory] = await remember(key, uniqueUser(), [{ content: "v1" }]);
    const headers = { "Idempotency-Key": "patch-1" };
    const first = await call("PATCH", `/v1/memories/${memory.id}`, { key, body: { content: "v2" }, headers });
    const again = await call("PATCH", `/v1/memories/${memory.id}`, { key, body: { content: "v2" }, headers });
    expect(again.body).toEqual(first.body);
    expect(again.body.version).toBe(2);
    const history = await call("GET", `/v1/memories/${memory.id}/history`, { key });
    expect(history.body.data).toHaveLength(2);
  });

  it("rejects a malformed Idempotency-Key", async () => {
    const { key } = await newTenant();
    const response = await call("POST", "/v1/memories", {
      key,
      body: { user_id: "u", memories: [{ content: "x" }] },
      headers: { "Idempotency-Key": "x".repeat(256) },
    });
    expect(response.status).toBe(400);
  });
});

describe("GET /v1/memories/{id}", () => {
  it("returns the memory and counts the access", async () => {
    const { key } = await newTenant();
    const [memory] = await remember(key, uniqueUser(), [{ content: "read me" }]);
    const first = await call("GET", `/v1/memories/${memory.id}`, { key });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ id: memory.id, content: "read me", access_count: 1 });
    expect(first.body.last_accessed_at).not.toBeNull();
    const second = await call("GET", `/v1/memories/${memory.id}`, { key });
    expect(second.body.access_count).toBe(2);
  });

  it.each(["nope", "mem_0000000000000000000000000000000", `mem_${"0".repeat(32)}`])("404 for %s", async (id) => {
    const { key } = await newTenant();
    const response = await call("GET", `/v1/memories/${id}`, { key });
    expect(response.status).toBe(404);
    expect(errorOf(response).code).toBe("not_found");
  });
});

describe("PATCH /v1/memories/{id}", () => {
  it("writes a new version and keeps the old one in history", async () => {
    const { key } = await newTenant();
    const [memory] = await remember(key, uniqueUser(), [{ content: "Bob likes tea", tags: ["drink"], metadata: { a: 1 } }]);
    const updated = await call("PATCH", `/v1/memories/${memory.id}`, {
      key,
      body: { content: "Bob likes coffee", metadata: { b: 2 }, priority: 90 },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ id: memory.id, content: "Bob likes coffee", version: 2, metadata: { b: 2 }, priority: 90, tags: ["drink"] });
    expect(Date.parse(updated.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(memory.updated_at));

    const history = await call("GET", `/v1/memories/${memory.id}/history`, { key });
    expect(history.status).toBe(200);
    expect(history.body.data.map((v: any) => [v.version, v.change, v.memory.content])).toEqual([
      [1, "created", "Bob likes tea"],
      [2, "updated", "Bob likes coffee"],
    ]);
    expect(history.body.data[1].actor).toMatch(/^key_/);
  });

  it("clears nullable fields with null and sets ttl", async () => {
    const { key } = await newTenant();
    const [memory] = await remember(key, uniqueUser(), [{ content: "x", session_id: "s", valid_at: "2026-01-01T00:00:00Z" }]);
    const updated = await call("PATCH", `/v1/memories/${memory.id}`, { key, body: { session_id: null, valid_at: null, ttl: 60 } });
    expect(updated.body).toMatchObject({ session_id: null, valid_at: null });
    expect(updated.body.expires_at).not.toBeNull();
  });

  it("refuses invalid_at before valid_at across the stored and patched values", async () => {
    const { key } = await newTenant();
    const [memory] = await remember(key, uniqueUser(), [{ content: "x", valid_at: "2026-05-01T00:00:00Z" }]);
    const response = await call("PATCH", `/v1/memories/${memory.id}`, { key, body: { invalid_at: "2026-04-01T00:00:00Z" } });
    expect(response.status).toBe(400);
    expect((await call("GET", `/v1/memories/${memory.id}`, { key })).body.version).toBe(1);
  });

  it("frozen memories refuse updates and deletes until unfrozen", async () => {
    const { key } = await newTenant();
    const [memory] = await remember(key, uniqueUser(), [{ content: "contract terms", frozen: true }]);
    const patch = await call("PATCH", `/v1/memories/${memory.id}`, { key, body: { content: "changed" } });
    expect(patch.status).toBe(409);
    expect(errorOf(patch).code).toBe("memory_frozen");
    expect((await call("DELETE", `/v1/memories/${memory.id}`, { key })).status).toBe(409);
    expect((await call("DELETE", `/v1/memories/${memory.id}?hard=true`, { key })).status).toBe(409);
    const unfrozen = await call("PATCH", `/v1/memories/${memory.id}`, { key, body: { frozen: false } });
    expect(unfrozen.status).toBe(200);
    expect((await call("PATCH", `/v1/memories/${memory.id}`, { key, body: { content: "changed" } })).status).toBe(200);
  });
});

describe("DELETE /v1/memories/{id}", () => {
  it("forgets softly: gone from get, list and search, history kept", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const [gone, kept] = await remember(key, user, [{ content: "the secret password is swordfish" }, { content: "swordfish are fast" }]);
    const deleted = await call("DELETE", `/v1/memories/${gone.id}`, { key });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ id: gone.id, deleted: "forgotten" });
    expect((await call("GET", `/v1/memories/${gone.id}`, { key })).status).toBe(404);
    const list = await call("GET", `/v1/memories?user_id=${user}`, { key });
    expect(list.body.data.map((m: any) => m.id)).toEqual([kept.id]);
    const found = await call("POST", "/v1/search", { key, body: { user_id: user, query: "swordfish" } });
    expect(found.body.data.map((m: any) => m.id)).toEqual([kept.id]);
    const history = await call("GET", `/v1/memories/${gone.id}/history`, { key });
    expect(history.body.data.map((v: any) => v.change)).toEqual(["created", "forgotten"]);
    // Forgotten memories can still be listed on purpose.
    const forgotten = await call("GET", `/v1/memories?user_id=${user}&state=forgotten`, { key });
    expect(forgotten.body.data.map((m: any) => m.id)).toEqual([gone.id]);
    // Forgetting twice is a 404, not a second event.
    expect((await call("DELETE", `/v1/memories/${gone.id}`, { key })).status).toBe(404);
  });

  it("purges with hard=true: nothing left, not even history", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const [memory] = await remember(key, user, [{ content: "delete me for good" }]);
    await call("PATCH", `/v1/memories/${memory.id}`, { key, body: { content: "delete me for good, really" } });
    const purged = await call("DELETE", `/v1/memories/${memory.id}?hard=true`, { key });
    expect(purged.body).toEqual({ id: memory.id, deleted: "purged" });
    expect((await call("GET", `/v1/memories/${memory.id}`, { key })).status).toBe(404);
    expect((await call("GET", `/v1/memories/${memory.id}/history`, { key })).status).toBe(404);
    for (const state of ["activated", "forgotten"]) {
      expect((await call("GET", `/v1/memories?user_id=${user}&state=${state}`, { key })).body.data).toEqual([]);
    }
    expect((await call("POST", "/v1/search", { key, body: { user_id: user, query: "delete" } })).body.data).toEqual([]);
  });

  it("a soft-forgotten memory can still be purged", async () => {
    const { key } = await newTenant();
    const [memory] = await remember(key, uniqueUser(), [{ content: "x" }]);
    await call("DELETE", `/v1/memories/${memory.id}`, { key });
    expect((await call("DELETE", `/v1/memories/${memory.id}?hard=true`, { key })).status).toBe(200);
    expect((await call("GET", `/v1/memories/${memory.id}/history`, { key })).status).toBe(404);
  });
});

describe("GET /v1/memories (list)", () => {
  it("pages newest first with an opaque cursor and no duplicates", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    await remember(key, user, Array.from({ length: 25 }, (_, i) => ({ content: `item ${i}` })));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `/v1/memories?user_id=${user}&limit=10${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await call("GET", query, { key });
      expect(page.status).toBe(200);
      seen.push(...page.body.data.map((m: any) => m.content));
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `item ${24 - i}`));
  });

  it("filters by type, tags, session and time range", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    await remember(key, user, [
      { content: "a", type: "fact", tags: ["x", "y"], session_id: "s1" },
      { content: "b", type: "preference", tags: ["x"], session_id: "s2" },
      { content: "c", type: "event", tags: ["y"], session_id: "s1" },
    ]);
    const contents = async (query: string) =>
      (await call("GET", `/v1/memories?user_id=${user}&${query}`, { key })).body.data.map((m: any) => m.content).sort();
    expect(await contents("type=fact")).toEqual(["a"]);
    expect(await contents("type=fact&type=event")).toEqual(["a", "c"]);
    expect(await contents("tags=x")).toEqual(["a", "b"]);
    expect(await contents("tags=x&tags=y")).toEqual(["a"]);
    expect(await contents("session_id=s1")).toEqual(["a", "c"]);
    expect(await contents("created_after=2000-01-01T00:00:00Z")).toEqual(["a", "b", "c"]);
    expect(await contents("created_before=2000-01-01T00:00:00Z")).toEqual([]);
    expect(await contents(`updated_after=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([]);
  });

  it("an owner never written for lists empty", async () => {
    const { key } = await newTenant();
    const list = await call("GET", `/v1/memories?user_id=${uniqueUser()}`, { key });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ data: [], next_cursor: null });
  });
});
