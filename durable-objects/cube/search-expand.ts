/**
 * The expansion stage of search (core/expand.ts): reads the best lexical hits as feedback, picks the words they
 * share, and ranks the cube again with the question's terms plus those words. The second ranking joins fusion as
 * another lexical answer at a lower weight, so it adds the evidence the question's own words miss without
 * outvoting what they found. Synchronous SQL, like the rest of search.
 */
import type { ChannelRanking } from "../../src/core/fusion";
import { EXPANSION, expansionTerms } from "../../src/core/expand";
import { placeholders } from "./filters";

/**
 * The expanded ranking's weight in fusion, against 1 for the question's own lexical ranking: chosen on LoCoMo
 * conversations 0–2 (bench recall --tuned 0-2; docs/retrieval-multihop.md), checked on 3–4.
 */
export const EXPANSION_WEIGHT = 1;

/** What the stage needs from the searcher: the cube's counts and its lexical ranking under the request's filter. */
export interface ExpansionSource {
  sql: SqlStorage;
  documents: number;
  documentCount(term: string): number;
  /** The lexical ranking of `terms` and `added` together. */
  rank(terms: readonly string[], added: readonly string[]): string[];
}

/** The expanded lexical ranking, or null when the feedback shares no rare word (nothing to add). */
export function expandedRanking(source: ExpansionSource, terms: readonly string[], lexical: readonly string[]): ChannelRanking | null {
  const feedbackIds = lexical.slice(0, EXPANSION.feedbackDocs);
  if (feedbackIds.length < EXPANSION.minDocs) return null;
  const texts = new Map(
    source.sql
      .exec(`SELECT id, content FROM memories WHERE id IN (${placeholders(feedbackIds.length)})`, ...feedbackIds)
      .toArray()
      .map((row) => [String(row.id), String(row.content)]),
  );
  const feedback = feedbackIds.flatMap((id) => (texts.has(id) ? [texts.get(id)!] : []));
  const added = expansionTerms(terms, feedback, (term) => source.documentCount(term), source.documents);
  if (added.length === 0) return null;
  return { channel: "lexical", ids: source.rank(terms, added), weight: EXPANSION_WEIGHT };
}
