/** Search within one cube: lexical (FTS5/BM25) for now; the retrieval issue adds the other channels. */
import { toMemoryFilter } from "../core/filters";
import { ftsMatchExpression } from "../core/fts-query";
import type { SearchRequestWire, SearchResultWire } from "../schemas/search";
import type { TenantContext } from "./context";
import { cubeForRead, cubeStub } from "./cubes";

export async function search(ctx: TenantContext, request: SearchRequestWire) {
  const started = performance.now();
  const ref = await cubeForRead(ctx, request);
  const match = ftsMatchExpression(request.query);
  // No owner memories yet, or a query with no searchable term (only punctuation): an empty result, not an error.
  if (!ref || match === null) return { data: [], timing_ms: performance.now() - started };
  const { hits } = await cubeStub(ctx.deps, ref).search(ref, {
    match,
    filter: toMemoryFilter(request.filters),
    topK: request.top_k,
  });
  const data: SearchResultWire[] = hits.map((hit) => ({ ...hit.memory, score: hit.score, channels: ["lexical"] }));
  return { data, timing_ms: performance.now() - started };
}
