/**
 * Search: resolve the cubes in scope, run the retrieval pipeline in each cube's Durable Object at once, and
 * merge. Scores are normalised per cube (1 = first in every channel), so merged lists compare like with like;
 * at equal scores the cubes take turns, so one large cube cannot crowd out the others.
 */
import type { SearchHit, SearchRequestInternal } from "../../durable-objects/cube/protocol";
import { toMemoryFilter } from "../core/filters";
import { type Channel } from "../core/fusion";
import { searchTerms } from "../core/fts-query";
import { type Where, normaliseWhere } from "../core/where";
import type { SearchRequestWire, SearchResultWire } from "../schemas/search";
import type { TenantContext } from "./context";
import { cubeForRead, cubeStub, cubesForRead } from "./cubes";

/** Every channel by default; a request may name fewer. */
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
    ...(request.as_of === undefined ? {} : { asOf: Date.parse(request.as_of) }),
  };
  const perCube = await Promise.all(refs.map((ref) => cubeStub(ctx.deps, ref).search(ref, internal)));
  const data: SearchResultWire[] = mergeFairly(perCube, request.top_k).map((hit) => ({
    ...hit.memory,
    score: hit.score,
    channels: hit.channels,
    channel_ranks: hit.ranks.map(({ channel, rank, share }) => ({ channel, rank, score: Math.round(share * 1e4) / 1e4 })),
    ...(hit.rerankScore === undefined ? {} : { rerank_score: hit.rerankScore }),
  }));
  return {
    data,
    timing_ms: Math.round((performance.now() - started) * 100) / 100,
    context_tokens: data.reduce((sum, hit) => sum + Math.ceil(hit.content.length / 4), 0),
  };
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
