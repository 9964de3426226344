/**
 * How much of a query a lexical candidate covers: the IDF-weighted share of the query's ranked terms it contains
 * (issue 12, fusion). BM25's rank order says which memories match best, but rank fusion turns ranks into votes of
 * equal size: a memory matching one word of a four-word question ("Which food could give Priya a bad reaction?" →
 * a memory about bad traffic) got the same vote as one matching all four, and every such partial match outvoted
 * the vector channel's nearest meaning. With coverage as the lexical channel's strength, a full match still counts
 * fully, and a memory matching one rare word of several counts for that word's share.
 */
import { holds } from "./term-stats";

/** Queries with more ranked terms than this are not measured (their candidates keep full strength): one look-up per term. */
export const COVERAGE_MAX_TERMS = 8;

export interface CoverageIndex {
  sql: SqlStorage;
  /** Memories in the cube (an upper bound is fine). */
  documents: number;
  /** Memories containing the term (cached by the caller). */
  documentCount(term: string): number;
  /** The seqs of the memories containing the term, ascending (cube/term-stats.ts; cached by the caller). */
  postings(term: string): Float64Array;
  /**
   * A memory's seq when the caller already knows it (the lexical channel's candidates were just read by their seq for
   * the filter: cube/filter-verdicts.ts), else undefined and it is read here.
   */
  knownSeq?(id: string): number | undefined;
}

/**
 * Per candidate (memory ids, best first), the IDF-weighted share of `terms` its text, tags or session context
 * contain, in [0, 1]; null when every candidate would get 1 (one term, or more than COVERAGE_MAX_TERMS).
 * IDF is BM25's with 1 added inside the log (always positive, so a common term still counts a little).
 */
export function lexicalCoverage(index: CoverageIndex, ids: readonly string[], terms: readonly string[]): number[] | null {
  if (ids.length === 0 || terms.length < 2 || terms.length > COVERAGE_MAX_TERMS) return null;
  const seqs = new Map<number, string>();
  const unknown: string[] = [];
  for (const id of ids) {
    const seq = index.knownSeq?.(id);
    if (seq === undefined) unknown.push(id);
    else seqs.set(seq, id);
  }
  if (unknown.length > 0) {
    for (const row of index.sql.exec("SELECT seq, id FROM memories WHERE id IN (SELECT value FROM json_each(?))", JSON.stringify(unknown))) {
      seqs.set(Number(row.seq), String(row.id));
    }
  }
  const covered = new Map<string, number>();
  let total = 0;
  for (const term of terms) {
    const n = index.documentCount(term);
    const idf = Math.log(1 + (index.documents - n + 0.5) / (n + 0.5));
    total += idf;
    const postings = index.postings(term);
    for (const [seq, id] of seqs) {
      if (holds(postings, seq)) covered.set(id, (covered.get(id) ?? 0) + idf);
    }
  }
  // A candidate found only through its archived text (archived_fts) matches no term here: it keeps full strength
  // rather than none, since the lexical channel did find it.
  return ids.map((id) => (total > 0 && covered.has(id) ? Math.min(1, (covered.get(id) ?? 0) / total) : 1));
}
