import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CubeRef, SearchRequestInternal } from "../../durable-objects/cube/protocol";
import { toMemoryFilter } from "../../src/core/filters";
import { searchTerms } from "../../src/core/fts-query";
import { cubeObjectName } from "../../src/core/ids";
import { call, newTenant, remember, uniqueUser } from "../helpers";

async function seeded() {
  const { key } = await newTenant();
  const user = uniqueUser();
  const memories = await remember(key, user, [
    { content: "Alice is allergic to peanuts.", type: "fact", tags: ["health"] },
    { content: "Alice prefers window seats on long flights.", type: "preference", tags: ["travel"] },
    { content: "Alice flew to Tokyo for a conference.", type: "event", tags: ["travel"], session_id: "s2" },
    { content: "Bob runs every morning before work.", type: "fact" },
  ]);
  return { key, user, memories };
}

describe("POST /v1/search", () => {
  it("ranks by BM25 and returns header, provenance, score and channel", async () => {
    const { key, user, memories } = await seeded();
    const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "Which flights does Alice prefer?" } });
    expect(response.status).toBe(200);
    const [best] = response.body.data;
    expect(best.id).toBe(memories[1].id);
    expect(best).toMatchObject({ type: "preference", source: { kind: "api" } });
    expect(best.channels[0]).toBe("lexical");
    expect(best.score).toBeGreaterThan(0);
    const scores = response.body.data.map((m: any) => m.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(typeof response.body.timing_ms).toBe("number");
  });

  it("stems words (porter): flight finds flights", async () => {
    const { key, user, memories } = await seeded();
    const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "flight", channels: ["lexical"] } });
    expect(response.body.data.map((m: any) => m.id)).toEqual([memories[1].id]);
  });

  it("honours top_k and filters", async () => {
    const { key, user, memories } = await seeded();
    const top1 = await call("POST", "/v1/search", { key, body: { user_id: user, query: "alice", top_k: 1 } });
    expect(top1.body.data).toHaveLength(1);
    const travel = await call("POST", "/v1/search", { key, body: { user_id: user, query: "alice", filters: { tags: ["travel"] } } });
    expect(travel.body.data.map((m: any) => m.id).sort()).toEqual([memories[1].id, memories[2].id].sort());
    const events = await call("POST", "/v1/search", { key, body: { user_id: user, query: "alice", filters: { type: ["event"], session_id: "s2" } } });
    expect(events.body.data.map((m: any) => m.id)).toEqual([memories[2].id]);
  });

  it("finds tags as well as content", async () => {
    const { key, user, memories } = await seeded();
    const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "health", channels: ["lexical", "tag"] } });
    expect(response.body.data.map((m: any) => m.id)).toEqual([memories[0].id]);
  });

  it("a memory is searchable in the response time of its write, and updates re-index", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const [memory] = await remember(key, user, [{ content: "The wifi password is hunter2" }]);
    const found = await call("POST", "/v1/search", { key, body: { user_id: user, query: "wifi password" } });
    expect(found.body.data[0].id).toBe(memory.id);
    await call("PATCH", `/v1/memories/${memory.id}`, { key, body: { content: "The door code is 4821" } });
    expect((await call("POST", "/v1/search", { key, body: { user_id: user, query: "wifi", channels: ["lexical"] } })).body.data).toEqual([]);
    expect((await call("POST", "/v1/search", { key, body: { user_id: user, query: "door code" } })).body.data[0].id).toBe(memory.id);
  });

  it("counts search hits as accesses", async () => {
    const { key, user, memories } = await seeded();
    const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "peanuts" } });
    expect(response.body.data[0].access_count).toBe(1);
    expect((await call("GET", `/v1/memories/${memories[0].id}`, { key })).body.access_count).toBe(2);
  });

  it("writes the counted accesses to storage a moment after answering, and every call sees the ones before it", async () => {
    const { tenantId, key } = await newTenant();
    const user = uniqueUser();
    const [memory] = await remember(key, user, [{ content: "The spare key is under the blue flowerpot." }]);
    let last: any;
    for (let i = 1; i <= 3; i++) {
      last = await call("POST", "/v1/search", { key, body: { user_id: user, query: "spare key" } });
      expect(last.body.data[0]).toMatchObject({ id: memory.id, access_count: i });
    }
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, memory.cube_id));
    await runInDurableObject(stub, async (_instance, state) => {
      // The write runs on a timer within a second of the first answer (cube.ts, writeAccessesSoon); give it its turn.
      const stored = () => state.storage.sql.exec("SELECT access_count, last_accessed_at FROM memories WHERE id = ?", memory.id).one();
      for (let attempt = 0; attempt < 50 && stored().access_count !== 3; attempt++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(stored().access_count).toBe(3);
      expect(stored().last_accessed_at).toBe(Date.parse(last.body.data[0].last_accessed_at));
    });
    expect((await call("GET", `/v1/memories/${memory.id}`, { key })).body.access_count).toBe(4);
  });

  it("searches in a burst write their reads once, after answering, and score with them all the same", async () => {
    const { tenantId, key } = await newTenant();
    const user = uniqueUser();
    const [memory] = await remember(key, user, [{ content: "The spare key is under the blue flowerpot." }]);
    const ref: CubeRef = { tenantId, cubeId: memory.cube_id, owner: `user:${user}` };
    const query = "spare key";
    const request: SearchRequestInternal = {
      query,
      terms: searchTerms(query),
      filter: toMemoryFilter({}),
      where: null,
      referenceTime: Date.now(),
      topK: 10,
      threshold: null,
      mmrLambda: 1,
      channels: ["lexical", "vector", "tag", "recent", "working"],
      rerank: false,
    };
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, memory.cube_id));
    await runInDurableObject(stub, async (instance, state) => {
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) counts.push((await instance.search(ref, request))[0]!.memory.access_count);
      expect(counts).toEqual([1, 2, 3]);
      // Nothing written yet: a search neither writes the reads before it nor right after its answer.
      expect(state.storage.sql.exec("SELECT access_count FROM memories WHERE id = ?", memory.id).one().access_count).toBe(0);
    });
  });

  it.each(['"', "*", "NEAR(", "AND", "-", "((peanuts", "peanuts)", "'", "OR OR", "peanuts*", "\"peanuts", "a:b", "^x", "{x}"])(
    "FTS5 syntax %j is just text: 200, never 500",
    async (query) => {
      const { key, user, memories } = await seeded();
      const response = await call("POST", "/v1/search", { key, body: { user_id: user, query } });
      expect(response.status).toBe(200);
      if (query.includes("peanuts")) expect(response.body.data[0].id).toBe(memories[0].id);
    },
  );

  it("an owner never written for returns no results", async () => {
    const { key } = await newTenant();
    const response = await call("POST", "/v1/search", { key, body: { user_id: uniqueUser(), query: "anything" } });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual([]);
  });
});
