/**
 * The sub-query stage of search (core/subject.ts): when the question names someone who opens a good part of the
 * cube's memories, the question's other words are ranked again among only that someone's memories; and each of
 * its words (its aspects) is ranked alone. The rankings join fusion as more lexical answers. Synchronous SQL, like
 * the rest of search.
 */
import type { ChannelRanking } from "../../src/core/fusion";
import { matchAny } from "../../src/core/fts-query";
import { MAX_ASPECTS, aspectQueries, opensWith, subjectQuery, subjectTerms } from "../../src/core/subject";

/**
 * The subject ranking's weight in fusion, against 1 for the question's own lexical ranking: chosen on LoCoMo
 * conversations 0–2 (bench recall --tuned 0-2; docs/retrieval-multihop.md), checked on 3–4.
 */
export const SUBJECT_WEIGHT = 1;

/** The aspect rankings' weight in fusion, shared among them: 1 and 2 compared on conversations 0–2 (equal). */
export const ASPECT_WEIGHT = 1;

/**
 * The memories the sub-queries rank: not a reader's extractions. "Name: text" marks a turn's subject, but an
 * extraction is rewritten in the third person (names everywhere) and opens with its speaker's name mostly when the
 * reader kept a sentence as "Melanie said: …" — a biased set. Ranked over extractions, the sub-queries cost
 * recall@10 0.698 -> 0.484 in bench recall --mode infer (subject alone: 0.562); the infer mode is left as it was.
 * An SQL condition on the memories row `m`, added to the request's filter.
 */
export const SUB_QUERY_SOURCES = "json_extract(m.source, '$.kind') IS NOT 'extraction'";

/** What the stage needs from the searcher: the cube's size, FTS document counts and its lexical ranking. */
export interface SubjectSource {
  documents: number;
  /** How many memories an FTS5 expression matches (memoised by the searcher). */
  documentCount(match: string): number;
  /** The lexical ranking of an FTS5 expression under the request's filter. */
  rank(match: string): string[];
}

/**
 * The subject ranking and the aspect rankings (core/subject.ts): none when the question names no subject of the
 * cube and has fewer than two other terms.
 *
 * @param queryTerms all the question's search terms (a subject is usually too common to be ranked by)
 * @param ranked the terms the lexical channel ranks by
 */
export function subQueryRankings(source: SubjectSource, queryTerms: readonly string[], ranked: readonly string[]): ChannelRanking[] {
  const subjects = subjectTerms(queryTerms, (term) => source.documentCount(opensWith(term)), source.documents);
  const subject = subjectQuery(subjects, ranked);
  const aspects = aspectQueries(subjects, ranked, MAX_ASPECTS, (term) => source.documentCount(matchAny([term])!));
  const rankings: { match: string; weight: number }[] = [
    ...(subject === null ? [] : [{ match: subject, weight: SUBJECT_WEIGHT }]),
    // The aspects share one ranking's weight: a question with many words must not outvote its own lexical ranking.
    ...aspects.map((match) => ({ match, weight: ASPECT_WEIGHT / aspects.length })),
  ];
  return rankings.flatMap(({ match, weight }) => {
    const ids = source.rank(match);
    return ids.length === 0 ? [] : [{ channel: "lexical" as const, ids, weight }];
  });
}
