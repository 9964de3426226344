/** Working memory, pins, context assembly and cube stats through the public API. */
import { describe, expect, it } from "vitest";
import { call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

async function owner(memories: object[]) {
  const { key } = await newTenant();
  const user = uniqueUser();
  const written = await remember(key, user, memories);
  return { key, user, written, cubeId: written[0].cube_id as string };
}

describe("working memory and pins", () => {
  it("pins come first, survive as the hot set changes, and unpin", async () => {
    const { key, cubeId, written } = await owner(
      Array.from({ length: 30 }, (_, i) => ({ content: `note number ${i}`, priority: i === 3 ? 10 : 50 })),
    );
    const low = written[3];
    const pinned = await call("POST", `/v1/memories/${low.id}/pin`, { key });
    expect(pinned.body).toMatchObject({ id: low.id, pinned: true });
    const wm = await call("GET", `/v1/cubes/${cubeId}/working-memory`, { key });
    expect(wm.status).toBe(200);
    expect(wm.body.data[0]).toMatchObject({ pinned: true, memory: { id: low.id } });
    expect(wm.body.data.length).toBe(21);
    expect(wm.body.data.slice(1).every((item: any) => !item.pinned)).toBe(true);
    // Pinning twice is a no-op, not an error.
    expect((await call("POST", `/v1/memories/${low.id}/pin`, { key })).status).toBe(200);

    expect((await call("DELETE", `/v1/memories/${low.id}/pin`, { key })).body.pinned).toBe(false);
    const after = await call("GET", `/v1/cubes/${cubeId}/working-memory`, { key });
    expect(after.body.data.some((item: any) => item.pinned)).toBe(false);
    expect(after.body.data.length).toBe(20);
  });

  it("of a batch written at once and never read, the newest are working memory, newest first", async () => {
    // Equal scores: the order must come from the writes, not from the memories' random ids, or two runs of the same
    // searches over the same writes rank differently (the working channel; bench paraphrase, issue 12).
    const { key, cubeId, written } = await owner(Array.from({ length: 30 }, (_, i) => ({ content: `entry ${i}` })));
    const wm = await call("GET", `/v1/cubes/${cubeId}/working-memory`, { key });
    expect(wm.body.data.map((item: any) => item.memory.id)).toEqual(written.slice(10).reverse().map((m: any) => m.id));
  });

  it("frequently read memories enter working memory", async () => {
    const { key, cubeId, written } = await owner(Array.from({ length: 60 }, (_, i) => ({ content: `fact ${i}`, priority: 20 })));
    const oldest = written[0];
    const before = await call("GET", `/v1/cubes/${cubeId}/working-memory`, { key });
    expect(before.body.data.map((i: any) => i.memory.id)).not.toContain(oldest.id);
    for (let i = 0; i < 5; i++) await call("GET", `/v1/memories/${oldest.id}`, { key });
    // Working memory is cached for a few seconds while nothing is written; a write invalidates it.
    await remember(key, written[0].owner.slice(5), [{ content: "a fresh write", priority: 20 }]);
    const after = await call("GET", `/v1/cubes/${cubeId}/working-memory`, { key });
    expect(after.body.data.map((i: any) => i.memory.id)).toContain(oldest.id);
  });

  it("search's working channel lifts the read and the pinned, not a member that is only new", async () => {
    const { key, user, cubeId, written } = await owner(
      Array.from({ length: 30 }, (_, i) => ({ content: i === 29 ? "the wifi password is hunter2" : `filler ${i}` })),
    );
    const newest = written[29];
    const wm = await call("GET", `/v1/cubes/${cubeId}/working-memory`, { key });
    expect(wm.body.data[0].memory.id).toBe(newest.id);
    const search = async () => (await call("POST", "/v1/search", { key, body: { user_id: user, query: "wifi password" } })).body.data[0];
    // Working memory holds it for being the newest: the recent channel and the score's recency already count that.
    const fresh = await search();
    expect(fresh.id).toBe(newest.id);
    expect(fresh.channels).not.toContain("working");
    // Read once (the search above read it too), and working memory recomputed after a write: now it is lifted.
    await call("GET", `/v1/memories/${newest.id}`, { key });
    await remember(key, user, [{ content: "filler again" }]);
    const read = await search();
    expect(read.id).toBe(newest.id);
    expect(read.channels).toContain("working");
  });

  it("search lists the working channel for a pinned match; pins are bounded; other tenants get 404", async () => {
    const { key, user, cubeId, written } = await owner(
      Array.from({ length: 51 }, (_, i) => ({ content: i === 0 ? "the wifi password is hunter2" : `filler ${i}` })),
    );
    await call("POST", `/v1/memories/${written[0].id}/pin`, { key });
    const hit = (await call("POST", "/v1/search", { key, body: { user_id: user, query: "wifi password" } })).body.data[0];
    expect(hit.id).toBe(written[0].id);
    expect(hit.channels).toContain("working");
    // Working memory alone never answers an unrelated query.
    expect((await call("POST", "/v1/search", { key, body: { user_id: user, query: "zebra", channels: ["working"] } })).body.data).toEqual([]);

    for (const memory of written.slice(1, 50)) expect((await call("POST", `/v1/memories/${memory.id}/pin`, { key })).status).toBe(200);
    const refused = await call("POST", `/v1/memories/${written[50].id}/pin`, { key });
    expect([refused.status, errorOf(refused).code]).toEqual([409, "conflict"]);

    const other = await newTenant();
    expect((await call("GET", `/v1/cubes/${cubeId}/working-memory`, { key: other.key })).status).toBe(404);
    expect((await call("GET", `/v1/cubes/${cubeId}/stats`, { key: other.key })).status).toBe(404);
    expect((await call("POST", `/v1/memories/${written[0].id}/pin`, { key: other.key })).status).toBe(404);
  });
});

describe("POST /v1/context", () => {
  const memories = [
    { content: "Always answer Alice in French.", type: "instruction" },
    { content: "Alice prefers vegetarian restaurants.", type: "preference" },
    { content: "Alice is allergic to peanuts.", type: "fact" },
    { content: "Alice had dinner at Chez Marcel.", type: "event", valid_at: "2026-03-14T19:00:00Z" },
    { content: "The office printer is on the third floor.", type: "fact" },
  ];

  it("assembles grouped, cited context within the budget, cached until the cube changes", async () => {
    const { key, user, written, cubeId } = await owner(memories);
    await call("POST", `/v1/memories/${written[0].id}/pin`, { key });
    const body = { user_id: user, query: "plan a dinner for Alice", budget_tokens: 400 };
    const first = await call("POST", "/v1/context", { key, body });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ cube_id: cubeId, cached: false, budget_tokens: 400 });
    expect(first.body.text).toMatch(/^Instructions:\n- Always answer Alice in French\. \[mem_/);
    expect(first.body.text).toContain("Preferences:\n- Alice prefers vegetarian restaurants.");
    expect(first.body.text).toContain("Events:\n- 2026-03-14: Alice had dinner at Chez Marcel.");
    expect(first.body.items[0]).toMatchObject({ id: written[0].id, group: "instructions", origin: "pinned" });
    expect(first.body.tokens).toBeLessThanOrEqual(400);
    for (const item of first.body.items) expect(first.body.text).toContain(`[${item.id}]`);

    const second = await call("POST", "/v1/context", { key, body });
    expect(second.body.cached).toBe(true);
    expect(second.body.text).toBe(first.body.text);

    await remember(key, user, [{ content: "Alice now avoids gluten.", type: "preference" }]);
    const third = await call("POST", "/v1/context", { key, body });
    expect(third.body.cached).toBe(false);
    expect(third.body.text).toContain("Alice now avoids gluten.");
  });

  it("a small budget keeps the pinned instruction and omits the rest; unknown owners get an empty context", async () => {
    const { key, user, written } = await owner(memories);
    await call("POST", `/v1/memories/${written[0].id}/pin`, { key });
    const small = await call("POST", "/v1/context", { key, body: { user_id: user, query: "dinner", budget_tokens: 50 } });
    expect(small.body.tokens).toBeLessThanOrEqual(50);
    expect(small.body.items[0].id).toBe(written[0].id);
    expect(small.body.omitted).toBeGreaterThan(0);

    const empty = await call("POST", "/v1/context", { key, body: { user_id: uniqueUser(), query: "dinner" } });
    expect(empty.body).toMatchObject({ cube_id: null, text: "", items: [], cached: false });

    for (const bad of [{ user_id: user }, { user_id: user, query: "x", budget_tokens: 10 }, { query: "x" }, { user_id: user, query: "x", extra: 1 }]) {
      const refused = await call("POST", "/v1/context", { key, body: bad });
      expect([refused.status, errorOf(refused).code]).toEqual([400, "invalid_request"]);
    }
  });
});

describe("GET /v1/cubes/{id}/stats", () => {
  it("counts memories by state and bytes by tier", async () => {
    const { key, cubeId, written } = await owner([{ content: "one" }, { content: "two" }, { content: "three" }]);
    await call("DELETE", `/v1/memories/${written[0].id}`, { key });
    const stats = await call("GET", `/v1/cubes/${cubeId}/stats`, { key });
    expect(stats.body).toMatchObject({
      cube_id: cubeId,
      states: { activated: 2, forgotten: 1, archived: 0, expired: 0, generated: 0, superseded: 0, merged: 0 },
      pinned: 0,
      vectors: 3,
      bytes: { cold: 0 },
    });
    expect(stats.body.bytes.hot).toBeGreaterThan("onetwothree".length);
  });
});
