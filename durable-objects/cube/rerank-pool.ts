/** Candidates the reranker sees: a few times what is returned, so it can promote from below the cut. */
const RERANK_POOL_FACTOR = 3;
const RERANK_POOL_MIN = 30;

/** How many candidates are reranked for a search that returns `topK` (one cube's, or several cubes' merged). */
export function rerankPool(topK: number): number {
  return Math.max(topK * RERANK_POOL_FACTOR, RERANK_POOL_MIN);
}
