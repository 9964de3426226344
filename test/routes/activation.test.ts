/**
 * Activation memory: GET /v1/cubes/{id}/activation (ETag/304, versions, promotions as events) and the stable and
 * dynamic parts of POST /v1/context (issue 15, item 1).
 */
import { describe, expect, it } from "vitest";
import { call, newTenant, remember, uniqueUser } from "../helpers";

async function activation(key: string, cubeId: string, etag?: string) {
  return call("GET", `/v1/cubes/${cubeId}/activation`, { key, headers: etag ? { "If-None-Match": etag } : {} });
}

describe("GET /v1/cubes/{id}/activation", { timeout: 30_000 }, () => {
  it("holds instructions and preferences, keeps its bytes (304) across unrelated writes, and changes within one request of a new instruction", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const [fact, pref] = await remember(key, user, [
      { content: "Ada lives in Lyon.", type: "fact" },
      { content: "Ada prefers tea to coffee.", type: "preference" },
    ]);
    const cubeId = fact.cube_id as string;

    const first = await activation(key, cubeId);
    expect(first.status).toBe(200);
    expect(first.body.version).toBe(1);
    expect(first.body.text).toBe(`Preferences:\n- Ada prefers tea to coffee. [${pref.id}]`);
    expect(first.body.members).toEqual([{ id: pref.id, reason: "preference", tokens: expect.any(Number) }]);
    const etag = first.headers.get("ETag")!;
    expect(etag).toBe(`"${first.body.etag}"`);

    // A plain fact changes nothing in the block: same bytes, 304 to the cached ETag.
    await remember(key, user, [{ content: "Ada visited Porto in May.", type: "event" }]);
    const unchanged = await activation(key, cubeId, etag);
    expect(unchanged.status).toBe(304);

    // A new instruction reaches the block on the next request.
    const [rule] = await remember(key, user, [{ content: "Always answer Ada in French.", type: "instruction" }]);
    const changed = await activation(key, cubeId, etag);
    expect(changed.status).toBe(200);
    expect(changed.body.version).toBe(2);
    expect(changed.body.text).toContain(`- Always answer Ada in French. [${rule.id}]`);
    expect(changed.headers.get("ETag")).not.toBe(etag);

    const history = await call("GET", `/v1/cubes/${cubeId}/activation/history`, { key });
    expect(history.status).toBe(200);
    expect(history.body.data.map((v: { version: number }) => v.version)).toEqual([2, 1]);

    // Each promotion is an event with its reason, in the memory's provenance chain.
    const provenance = await call("GET", `/v1/memories/${rule.id}/provenance`, { key });
    expect(JSON.stringify(provenance.body)).toContain("memory.promoted");
  });

  it("demotes a forgotten member, and the block is versioned again", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const [pref, rule] = await remember(key, user, [
      { content: "Bo likes jazz.", type: "preference" },
      { content: "Keep answers short for Bo.", type: "instruction" },
    ]);
    const cubeId = pref.cube_id as string;
    const before = await activation(key, cubeId);
    expect(before.body.members.map((m: { id: string }) => m.id).sort()).toEqual([pref.id, rule.id].sort());
    expect((await call("DELETE", `/v1/memories/${pref.id}`, { key })).status).toBe(200);
    const after = await activation(key, cubeId);
    expect(after.body.version).toBe(before.body.version + 1);
    expect(after.body.members.map((m: { id: string }) => m.id)).toEqual([rule.id]);
    expect(after.body.text).not.toContain("jazz");
  });

  it("promotes a pinned memory and a fact read often", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const [pinned, often] = await remember(key, user, [
      { content: "Cy's flight leaves on Friday.", type: "event" },
      { content: "Cy's dog is called Pixel.", type: "fact" },
    ]);
    expect((await call("POST", `/v1/memories/${pinned.id}/pin`, { key })).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await call("GET", `/v1/memories/${often.id}`, { key })).status).toBe(200);
    // Reads alone do not change the cube's generation: the block recompiles on its own read budget, or on a write.
    await remember(key, user, [{ content: "Cy bought a bike.", type: "event" }]);
    const block = await activation(key, pinned.cube_id as string);
    expect(block.body.members).toEqual([
      { id: pinned.id, reason: "pinned", tokens: expect.any(Number) },
      { id: often.id, reason: "often_used", tokens: expect.any(Number) },
    ]);
  });

  it("is not found for another tenant's cube", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const [memory] = await remember(a.key, uniqueUser(), [{ content: "Dee prefers aisle seats.", type: "preference" }]);
    expect((await activation(b.key, memory.cube_id as string)).status).toBe(404);
    expect((await call("GET", `/v1/cubes/${memory.cube_id}/activation/history`, { key: b.key })).status).toBe(404);
  });
});

describe("POST /v1/context: stable and dynamic parts", { timeout: 30_000 }, () => {
  it("puts the activation block first, byte-identical across queries, and the query's recall after it without repeating it", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const [rule] = await remember(key, user, [
      { content: "Always answer Eve in Spanish.", type: "instruction" },
      { content: "Eve works as a nurse in Madrid.", type: "fact" },
      { content: "Eve plays the cello on weekends.", type: "fact" },
    ]);
    const ask = (query: string) => call("POST", "/v1/context", { key, body: { user_id: user, query, budget_tokens: 300 } });
    const one = await ask("what is Eve's job?");
    const two = await ask("what does Eve do on weekends?");
    expect(one.status).toBe(200);
    expect(one.body.stable.text).toBe(`Instructions:\n- Always answer Eve in Spanish. [${rule.id}]`);
    expect(two.body.stable).toEqual(one.body.stable);
    expect(one.body.dynamic.text).toContain("nurse");
    expect(two.body.dynamic.text).toContain("cello");
    expect(one.body.dynamic.text).not.toContain(rule.id);
    expect(one.body.stable.tokens + one.body.dynamic.tokens).toBeLessThanOrEqual(300);
  });

  it("has an empty split for an owner never written for", async () => {
    const { key } = await newTenant();
    const response = await call("POST", "/v1/context", { key, body: { user_id: uniqueUser(), query: "anything" } });
    expect(response.status).toBe(200);
    expect(response.body.stable).toBeNull();
    expect(response.body.dynamic).toEqual({ text: "", tokens: 0, items: [] });
  });
});
