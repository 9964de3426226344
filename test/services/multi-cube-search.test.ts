/**
 * A search over several cubes (issue 17, item 6) embeds the query once in the Worker and reranks the merged pool
 * once: N cubes cost one embedding request and one rerank request against the account's Workers AI limits.
 * Counting stand-ins wrap the embedder and reranker on both sides (the Worker's and each cube's own).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type Retrieval, createRetrieval } from "../../src/adapters/factory";
import type { Embedder, Reranker } from "../../src/adapters/types";
import { cubeObjectName } from "../../src/core/ids";
import { createDeps } from "../../src/deps";
import { SearchRequest } from "../../src/schemas/search";
import type { TenantContext } from "../../src/services/context";
import { search } from "../../src/services/search";
import { newTenant, remember } from "../helpers";

interface Counts {
  embeds: number;
  reranks: number;
  reranked: number;
}

/** The same adapters, counting their calls; `failEmbedding` makes the embedder answer a 429. */
function counting(retrieval: Retrieval, counts: Counts, failEmbedding = false): Retrieval {
  const embedder: Embedder = Object.assign(Object.create(retrieval.embedder) as Embedder, {
    embed: async (texts: string[], kind: "query" | "document") => {
      counts.embeds += 1;
      if (failEmbedding) throw new Error("AiError: 3040: Capacity temporarily exceeded, please try again. (429)");
      return retrieval.embedder.embed(texts, kind);
    },
  });
  const reranker: Reranker = Object.assign(Object.create(retrieval.reranker) as Reranker, {
    rerank: async (query: string, texts: string[]) => {
      counts.reranks += 1;
      counts.reranked += texts.length;
      return retrieval.reranker.rerank(query, texts);
    },
  });
  return { ...retrieval, embedder, reranker };
}

async function threeCubes() {
  const { key, tenantId, keyId } = await newTenant();
  const cubeIds: string[] = [];
  for (const user of ["u1", "u2", "u3"]) {
    const written = await remember(key, user, [
      { content: `${user} likes a kiwi smoothie in the morning` },
      { content: `${user} visited a kiwi farm in New Zealand` },
      { content: `${user} keeps the bicycle in the garage` },
    ]);
    cubeIds.push(written[0].cube_id);
  }
  const inCubes: Counts = { embeds: 0, reranks: 0, reranked: 0 };
  for (const cubeId of cubeIds) {
    await runInDurableObject(env.CUBE.getByName(cubeObjectName(tenantId, cubeId)), (instance) => {
      const cube = instance as unknown as { retrieval: Retrieval; retrievalAdapters: Retrieval | null };
      cube.retrievalAdapters = counting(cube.retrieval, inCubes);
    });
  }
  const inWorker: Counts = { embeds: 0, reranks: 0, reranked: 0 };
  const context = (failEmbedding = false): TenantContext => {
    const retrieval = counting(createRetrieval(env), inWorker, failEmbedding);
    return {
      deps: { ...createDeps(env), retrieval: () => retrieval },
      requestId: "req_test",
      background: () => {},
      principal: { kind: "tenant", tenantId, keyId, scopes: new Set(["read", "write"]) },
      idempotencyKey: undefined,
    };
  };
  return { cubeIds, inCubes, inWorker, context };
}

describe("search over several cubes", () => {
  it("embeds the query once for N cubes, and no cube embeds it again", async () => {
    const { cubeIds, inCubes, inWorker, context } = await threeCubes();
    const result = await search(context(), SearchRequest.parse({ cube_ids: cubeIds, query: "kiwi smoothie", top_k: 6 }));
    expect(inWorker.embeds).toBe(1);
    expect(inCubes.embeds).toBe(0);
    expect(inCubes.reranks + inWorker.reranks).toBe(0);
    expect(new Set(result.data.map((hit) => hit.cube_id)).size).toBe(3);
    // The vector channel took part, from the vector passed over RPC.
    expect(result.data.some((hit) => hit.channels.includes("vector"))).toBe(true);
    expect(result.data[0]!.content).toMatch(/kiwi smoothie/);
  });

  it("reranks the merged pool once, and settles only the hits it keeps", async () => {
    const { cubeIds, inCubes, inWorker, context } = await threeCubes();
    const result = await search(context(), SearchRequest.parse({ cube_ids: cubeIds, query: "kiwi smoothie", top_k: 2, rerank: true }));
    expect(inWorker).toMatchObject({ embeds: 1, reranks: 1 });
    // Every cube's candidates were in the one pool (3 memories match "kiwi" in each of 3 cubes' lexical channel).
    expect(inWorker.reranked).toBeGreaterThanOrEqual(6);
    expect(inCubes).toEqual({ embeds: 0, reranks: 0, reranked: 0 });
    expect(result.data).toHaveLength(2);
    for (const hit of result.data) {
      expect(hit.rerank_score).toBeTypeOf("number");
      expect(hit.content).toMatch(/kiwi smoothie/);
      // Settled by its cube: the access this search made is counted.
      expect(hit.access_count).toBe(1);
    }
    // A memory that was in the pool but not kept was not counted as read.
    const again = await search(context(), SearchRequest.parse({ cube_ids: cubeIds, query: "bicycle garage", top_k: 3, channels: ["lexical"] }));
    for (const hit of again.data) expect(hit.access_count).toBe(1);
  });

  it("searches on without the vector channel when the one embedding fails, and no cube retries it", async () => {
    const { cubeIds, inCubes, inWorker, context } = await threeCubes();
    const result = await search(context(true), SearchRequest.parse({ cube_ids: cubeIds, query: "kiwi smoothie", top_k: 6 }));
    expect(inWorker.embeds).toBe(1);
    expect(inCubes.embeds).toBe(0);
    expect(result.data.length).toBeGreaterThan(0);
    expect(result.data.every((hit) => !hit.channels.includes("vector"))).toBe(true);
  });
});
