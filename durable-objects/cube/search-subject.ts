/**
 * The subject stage of search (core/subject.ts): when the question names someone who opens a good part of the
 * cube's memories, the question's other words are ranked again among only that someone's memories, and the ranking
 * joins fusion as another lexical answer. Synchronous SQL, like the rest of search.
 */
import type { ChannelRanking } from "../../src/core/fusion";
import { opensWith, subjectQuery, subjectTerms } from "../../src/core/subject";

/**
 * The subject ranking's weight in fusion, against 1 for the question's own lexical ranking: chosen on LoCoMo
 * conversations 0–2 (bench recall --tuned 0-2; docs/retrieval-multihop.md), checked on 3–4.
 */
export const SUBJECT_WEIGHT = 1;

/** What the stage needs from the searcher: the cube's size, FTS document counts and its lexical ranking. */
export interface SubjectSource {
  documents: number;
  /** How many memories an FTS5 expression matches (memoised by the searcher). */
  documentCount(match: string): number;
  /** The lexical ranking of an FTS5 expression under the request's filter. */
  rank(match: string): string[];
}

/**
 * The subject ranking, or null when the question names no subject of the cube or nothing besides it.
 *
 * @param queryTerms all the question's search terms (a subject is usually too common to be ranked by)
 * @param ranked the terms the lexical channel ranks by
 */
export function subjectRanking(source: SubjectSource, queryTerms: readonly string[], ranked: readonly string[]): ChannelRanking | null {
  const subjects = subjectTerms(queryTerms, (term) => source.documentCount(opensWith(term)), source.documents);
  const match = subjectQuery(subjects, ranked);
  if (match === null) return null;
  const ids = source.rank(match);
  return ids.length === 0 ? null : { channel: "lexical", ids, weight: SUBJECT_WEIGHT };
}
