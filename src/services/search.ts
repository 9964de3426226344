/**
 * Search: resolve the cubes in scope, run the retrieval pipeline in each cube's Durable Object at once, and
 * merge. Scores are normalised per cube (1 = first in every channel), so merged lists compare like with like;
 * at equal scores the cubes take turns, so one large cube cannot crowd out the others.
 */
import type { CubeRef, QueryVector, SearchHit, SearchRequestInternal } from "../../durable-objects/cube/protocol";
import { rerankPool } from "../../durable-objects/cube/rerank-pool";
import { NEIGHBOUR_HITS } from "../../durable-objects/cube/search-neighbours";
import type { Embedder } from "../adapters/types";
import { toMemoryFilter } from "../core/filters";
import { type Channel } from "../core/fusion";
import { searchTerms } from "../core/fts-query";
import { type Where, normaliseWhere } from "../core/where";
import type { SearchRequestWire, SearchResultWire } from "../schemas/search";
import type { TenantContext } from "./context";
import { cubeForRead, cubeStub, cubesForRead } from "./cubes";

/** Every channel by default; a request may name fewer. */
/** Approximate tokens of a text (characters / 4), as context_tokens counts them. */
const contextTokens = (text: string) => Math.ceil(text.length / 4);

const DEFAULT_CHANNELS: Channel[] = ["lexical", "vector", "tag", "recent", "working"];

export async function search(ctx: TenantContext, request: SearchRequestWire) {
  const started = performance.now();
  const refs = request.cube_ids
    ? await cubesForRead(ctx, request.cube_ids, "read")
    : [await cubeForRead(ctx, request)].filter((ref) => ref !== null);
  const internal: SearchRequestInternal = {
    query: request.query,
    terms: searchTerms(request.query),
    filter: toMemoryFilter(request.filters),
    where: request.where ? normaliseWhere(request.where as Where) : null,
    referenceTime: Date.parse(request.reference_time ?? request.as_of ?? "") || ctx.deps.clock(),
    topK: request.top_k,
    threshold: request.threshold ?? null,
    mmrLambda: request.mmr_lambda ?? 1,
    channels: request.channels ?? DEFAULT_CHANNELS,
    rerank: request.rerank,
    neighbours: request.neighbours,
    ...(request.as_of === undefined ? {} : { asOf: Date.parse(request.as_of) }),
  };
  const hits = refs.length > 1 ? await searchCubes(ctx, refs, internal) : await searchOne(ctx, refs, internal);
  // Each cube gives its own best hits their neighbours (cube/search-neighbours.ts); over several cubes only the
  // merged answer's best two keep them, since each cube spent its context budget on a page of its own.
  const kept = refs.length > 1 ? NEIGHBOUR_HITS : Infinity;
  const data: SearchResultWire[] = hits.map((hit, rank) => ({
    ...hit.memory,
    score: hit.score,
    channels: hit.channels,
    channel_ranks: hit.ranks.map(({ channel, rank, share }) => ({ channel, rank, score: Math.round(share * 1e4) / 1e4 })),
    ...(hit.rerankScore === undefined ? {} : { rerank_score: hit.rerankScore }),
    ...(hit.neighbours === undefined || rank >= kept ? {} : { neighbours: hit.neighbours }),
  }));
  return {
    data,
    timing_ms: Math.round((performance.now() - started) * 100) / 100,
    context_tokens: data.reduce((sum, hit) => sum + contextTokens(hit.content) + (hit.neighbours ?? []).reduce((n, nb) => n + contextTokens(nb.content), 0), 0),
  };
}

/** One cube (or none): it embeds the query and reranks its own candidates. */
async function searchOne(ctx: TenantContext, refs: readonly CubeRef[], internal: SearchRequestInternal): Promise<SearchHit[]> {
  const perCube = await Promise.all(refs.map((ref) => cubeStub(ctx.deps, ref).search(ref, internal)));
  return mergeFairly(perCube, internal.topK);
}

/**
 * Several cubes (`cube_ids`, issue 17 item 6): the query is embedded once here and its vector passed to every cube,
 * and with `rerank` each cube answers its unreranked pool, the merged pool is reranked once, and only the cubes whose
 * memories made the cut settle them (archived ones come back from R2, accesses are recorded). N cubes cost one
 * embedding and one rerank request against the account's Workers AI limits, not N of each.
 */
async function searchCubes(ctx: TenantContext, refs: readonly CubeRef[], internal: SearchRequestInternal): Promise<SearchHit[]> {
  const { embedder, reranker } = ctx.deps.retrieval();
  const queryVector = internal.channels.includes("vector") ? await embedOnce(embedder, internal.query) : undefined;
  // A failed embedding (a 429) is not retried by every cube: the search goes on without its vector channel.
  const channels = queryVector ? internal.channels : internal.channels.filter((channel) => channel !== "vector");
  const pool = internal.rerank ? rerankPool(internal.topK) : internal.topK;
  const request: SearchRequestInternal = {
    ...internal,
    channels,
    ...(queryVector ? { queryVector } : {}),
    ...(internal.rerank ? { rerank: false, topK: pool, settle: false } : {}),
  };
  const perCube = await Promise.all(refs.map((ref) => cubeStub(ctx.deps, ref).search(ref, request)));
  if (!internal.rerank) return mergeFairly(perCube, internal.topK);

  const candidates = mergeFairly(perCube, pool).map((hit) => ({ hit, cube: refs[perCube.findIndex((list) => list.includes(hit))]! }));
  if (candidates.length === 0) return [];
  const scores = await reranker.rerank(internal.query, candidates.map(({ hit }) => hit.memory.content));
  const kept = candidates
    .map((candidate, i) => ({ ...candidate, hit: { ...candidate.hit, rerankScore: scores[i]! } }))
    .sort((a, b) => b.hit.rerankScore - a.hit.rerankScore || b.hit.score - a.hit.score)
    .slice(0, internal.topK);
  if (internal.asOf !== undefined) return kept.map(({ hit }) => hit);
  const settled = new Map<string, SearchHit>();
  await Promise.all(
    refs.map(async (ref) => {
      const mine = kept.filter(({ cube }) => cube === ref).map(({ hit }) => hit);
      if (mine.length === 0) return;
      for (const hit of await cubeStub(ctx.deps, ref).settleHits(ref, mine)) settled.set(hit.memory.id, hit);
    }),
  );
  return kept.map(({ hit }) => settled.get(hit.memory.id) ?? hit);
}

/** The query's vector, or undefined when the model failed (the cubes search with their other channels). */
async function embedOnce(embedder: Embedder, query: string): Promise<QueryVector | undefined> {
  try {
    const [vector] = await embedder.embed([query], "query");
    return vector ? { embedderId: embedder.id, vector } : undefined;
  } catch (error) {
    console.error("query embedding for a multi-cube search failed; searching without the vector channel", error);
    return undefined;
  }
}

/**
 * Merges per-cube lists by the order each cube used — the reranker's score when there is one, else the score —
 * with ties going to the better rank within its cube, so cubes alternate.
 */
export function mergeFairly(lists: readonly SearchHit[][], limit: number): SearchHit[] {
  const key = (hit: SearchHit) => hit.rerankScore ?? hit.score;
  return lists
    .flatMap((hits) => hits.map((hit, rank) => ({ hit, rank })))
    .sort((a, b) => key(b.hit) - key(a.hit) || a.rank - b.rank)
    .slice(0, limit)
    .map(({ hit }) => hit);
}
