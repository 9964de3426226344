/**
 * Subject and aspect sub-queries. A question about a person ("What activities has Melanie done with her family?") is answered
 * by what that person said or did, and a memory names its subject first: a chat turn is written "Melanie: …", an
 * extracted memory "Melanie signed up for …". In a conversation between two people each name is in over half the
 * cube, so lexical search drops it as no evidence (cube/search.ts, discriminating()) and ranks every memory about
 * families alike — the other speaker's "Wow, Melanie! Family support's huge." above Melanie's own camping trip. A
 * subject sub-query ranks the question's other words among only the memories that open with the name, so the
 * subject's own memories get places in the fused top k.
 *
 * A question with several aspects ("What LGBTQ+ events has Caroline participated in?") is answered by memories that
 * each match one of them; ranked together, the memories matching the rarest word fill the page. Aspect sub-queries
 * rank each word alone (among the subject's memories when there is one), so each aspect gets places too.
 * Pure: the caller counts and ranks with FTS5.
 */
import { matchAny } from "./fts-query";

/** When a query term counts as a subject of the cube; see {@link SUBJECT} for the values in use. */
export interface SubjectSettings {
  /** A term opens at least this many memories: one or two are a coincidence ("Thanks: …"), not a subject. */
  minMemories: number;
  /**
   * A term opening more than this share of the cube is its owner (every memory of a one-person cube names them
   * first): restricting to it selects nothing, and the sub-query would only repeat the lexical ranking.
   */
  maxShare: number;
}

/**
 * Neither value was tuned on results: 3 is the least that is not a coincidence, and 0.75 lies between a
 * two-person conversation (each speaker opens about half the turns) and a one-person cube (all of them).
 */
export const SUBJECT: SubjectSettings = { minMemories: 3, maxShare: 0.75 };

/**
 * The query terms that are subjects of the cube: each opens at least `minMemories` memories and at most `maxShare`
 * of them.
 *
 * @param terms the query's search terms
 * @param openingCount how many memories of the cube open with a term (the FTS5 expression of {@link opensWith})
 * @param documents how many memories the cube holds
 */
export function subjectTerms(
  terms: readonly string[],
  openingCount: (term: string) => number,
  documents: number,
  settings: SubjectSettings = SUBJECT,
): string[] {
  if (documents <= 0) return [];
  return terms.filter((term) => {
    const count = openingCount(term);
    return count >= settings.minMemories && count <= documents * settings.maxShare;
  });
}

/** The FTS5 expression of memories whose content opens with `term` (an initial-token query on the content column). */
export function opensWith(term: string): string {
  return opensWithAny([term]);
}

function opensWithAny(terms: readonly string[]): string {
  // Terms hold only \p{L}\p{N} (core/fts-query.ts), so quoting them cannot break out of the string.
  return `{content} : (${terms.map((term) => `^"${term}"`).join(" OR ")})`;
}

/**
 * The FTS5 expression of the subject sub-query: memories opening with one of `subjects` that match any of the
 * query's other terms; null when no other term is left (the subject alone ranks nothing).
 */
export function subjectQuery(subjects: readonly string[], terms: readonly string[]): string | null {
  if (subjects.length === 0) return null;
  const named = new Set(subjects);
  const rest = matchAny(terms.filter((term) => !named.has(term)));
  return rest === null ? null : `(${opensWithAny(subjects)}) AND (${rest})`;
}

/**
 * A word held by more memories than this is no aspect of its own: ranking it alone reads its whole posting list
 * (bench latency, 10k memories: aspects over every word doubled the server time of a search). The same cost bound
 * as the expansion's maxDocuments (core/expand.ts).
 */
export const ASPECT_MAX_DOCUMENTS = 150;

/** The most aspects ranked on their own: each costs one FTS query. Not tuned. */
export const MAX_ASPECTS = 4;

/**
 * One FTS5 expression per aspect of the question: each of its ranked terms other than the subjects (at most
 * {@link MAX_ASPECTS}, in the question's order, each in at most `maxDocuments` memories), restricted to the subjects' memories when there are subjects.
 * None when fewer than two aspects are left: one aspect alone is what the lexical ranking already ranks.
 */
export function aspectQueries(
  subjects: readonly string[],
  terms: readonly string[],
  max: number = MAX_ASPECTS,
  documentCount: (term: string) => number = () => 0,
  maxDocuments: number = ASPECT_MAX_DOCUMENTS,
): string[] {
  const named = new Set(subjects);
  const aspects = terms.filter((term) => !named.has(term) && documentCount(term) <= maxDocuments);
  if (aspects.length < 2) return [];
  return aspects.slice(0, max).map((term) => subjectQuery(subjects, [term]) ?? matchAny([term])!);
}
