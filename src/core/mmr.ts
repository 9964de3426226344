/**
 * Maximal marginal relevance (Carbonell & Goldstein, 1998) over term sets: picks results that are relevant and
 * unlike the ones already picked, so ten near-identical memories do not fill a top ten. Similarity is the Jaccard
 * overlap of word sets, which needs no vectors and behaves the same for every embedder.
 */
import { queryTerms } from "./fts-query";

export interface MmrItem {
  id: string;
  score: number;
  text: string;
}

export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let shared = 0;
  for (const term of a) if (b.has(term)) shared++;
  return shared / (a.size + b.size - shared);
}

/** Similarity at or above which two memories count as duplicates and only the better one is kept. */
export const DUPLICATE_SIMILARITY = 0.9;

/**
 * Orders `items` (best first) by MMR with trade-off `lambda` (1 = relevance only) and keeps at most `limit`.
 * Near-duplicates (similarity ≥ {@link DUPLICATE_SIMILARITY}) of a picked item are dropped whatever lambda is.
 */
export function mmr<T extends MmrItem>(items: readonly T[], limit: number, lambda: number): T[] {
  if (lambda === 1) return relevantDistinct(items, limit);
  const terms = new Map(items.map((item) => [item.id, new Set(queryTerms(item.text, Infinity))]));
  const top = items.reduce((max, item) => Math.max(max, item.score), 0) || 1;
  const remaining = [...items];
  const picked: T[] = [];
  while (picked.length < limit && remaining.length > 0) {
    let bestIndex = -1;
    let bestValue = -Infinity;
    remaining.forEach((candidate, index) => {
      const own = terms.get(candidate.id)!;
      const redundancy = picked.reduce((max, p) => Math.max(max, jaccard(own, terms.get(p.id)!)), 0);
      if (redundancy >= DUPLICATE_SIMILARITY) return;
      const value = lambda * (candidate.score / top) - (1 - lambda) * redundancy;
      if (value > bestValue) {
        bestValue = value;
        bestIndex = index;
      }
    });
    if (bestIndex === -1) break;
    picked.push(remaining.splice(bestIndex, 1)[0]!);
  }
  return picked;
}

/**
 * MMR at lambda 1 (relevance only, the default): the best items, skipping near-duplicates of those already picked.
 * The same picks as the general loop — an item's redundancy only grows as picks are added, so walking the items
 * best first (earlier first on ties, as the loop breaks them) and keeping each one that is not yet a duplicate
 * meets them in the loop's order — but it tokenises only the items it walks past, not all of them.
 */
function relevantDistinct<T extends MmrItem>(items: readonly T[], limit: number): T[] {
  // Ranked by score / top exactly as the loop computes its value, so even scores that divide to equal values tie.
  const top = items.reduce((max, item) => Math.max(max, item.score), 0) || 1;
  const ordered = items
    .map((item, index) => ({ item, index, value: item.score / top }))
    .sort((a, b) => b.value - a.value || a.index - b.index);
  const picked: { item: T; terms: Set<string> }[] = [];
  for (const { item } of ordered) {
    if (picked.length >= limit) break;
    const terms = new Set(queryTerms(item.text, Infinity));
    if (picked.some((p) => jaccard(terms, p.terms) >= DUPLICATE_SIMILARITY)) continue;
    picked.push({ item, terms });
  }
  return picked.map((p) => p.item);
}
