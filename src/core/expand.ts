/**
 * Query expansion by keyword co-occurrence (pseudo-relevance feedback, in the spirit of RM3: Lavrenko & Croft,
 * 2001; Abdul-Jaleel et al., 2004). A question whose answer is spread over several memories ("What has Melanie
 * painted?") names the topic once, while each piece of evidence uses its own words (sunset, lake, clay). The
 * best lexical hits are mostly about the topic, so the words several of them share — and that are rare in the
 * cube — are the topic's vocabulary: searching with them too finds the evidence that does not repeat the
 * question's words. Pure: the caller reads the feedback memories and the document counts.
 */
import { STOPWORDS, queryTerms } from "./fts-query";

/** How the expansion is chosen; see {@link EXPANSION} for the values in use and how they were chosen. */
export interface ExpansionSettings {
  /** How many of the best lexical hits are read as feedback. */
  feedbackDocs: number;
  /** The most expansion terms added. */
  maxTerms: number;
  /** A term must occur in at least this many feedback memories: one memory's words are its own, not the topic's. */
  minDocs: number;
  /** A term in more than this share of the cube (an owner's name, "today") says nothing about the topic. */
  maxShare: number;
  /**
   * A term in more memories than this is left out whatever the cube's size: ranking a word costs its whole posting
   * list, and in a large cube a word held by hundreds of memories is no longer a topic's.
   */
  maxDocuments: number;
}

/**
 * minDocs 2 is the least that makes a word shared rather than one memory's own; feedbackDocs 5 and maxShare 0.2 were
 * chosen on LoCoMo conversations 0–2 (bench recall --tuned 0-2) and checked on 3–4; maxTerms 8 was not tuned;
 * maxDocuments 150 bounds the cost in large cubes (bench latency, 10k memories) and does not bind in LoCoMo's cubes
 * (370–660 memories: 0.2 of them is at most 132). docs/retrieval-multihop.md has the numbers.
 */
export const EXPANSION: ExpansionSettings = { feedbackDocs: 5, maxTerms: 8, minDocs: 2, maxShare: 0.2, maxDocuments: 150 };

/** Shorter words are mostly inflection debris and chat noise ("ok", "oh", "yo"). */
const MIN_TERM_LENGTH = 3;

/**
 * The expansion terms for a query: words shared by at least `minDocs` of the feedback memories (best first),
 * weighted by how high the memories that carry them rank (1 / (1 + rank)) and by their rarity in the cube
 * (log(N / df)), without the query's own terms, stopwords, numbers and words too common in the cube.
 *
 * @param queryTermsUsed the query's search terms (already searched for)
 * @param feedback the texts of the best lexical hits, best first
 * @param documentCount how many memories of the cube hold a term
 * @param documents how many memories the cube holds
 */
export function expansionTerms(
  queryTermsUsed: readonly string[],
  feedback: readonly string[],
  documentCount: (term: string) => number,
  documents: number,
  settings: ExpansionSettings = EXPANSION,
): string[] {
  if (documents <= 0 || feedback.length < settings.minDocs) return [];
  const asked = new Set(queryTermsUsed);
  const support = new Map<string, { docs: number; weight: number }>();
  feedback.slice(0, settings.feedbackDocs).forEach((text, rank) => {
    for (const term of new Set(queryTerms(text, Infinity))) {
      if (term.length < MIN_TERM_LENGTH || STOPWORDS.has(term) || asked.has(term) || /^\p{N}+$/u.test(term)) continue;
      const entry = support.get(term) ?? { docs: 0, weight: 0 };
      entry.docs++;
      entry.weight += 1 / (1 + rank);
      support.set(term, entry);
    }
  });
  const scored: { term: string; score: number }[] = [];
  for (const [term, { docs, weight }] of support) {
    if (docs < settings.minDocs) continue;
    const df = documentCount(term);
    if (df === 0 || df > Math.min(documents * settings.maxShare, settings.maxDocuments)) continue;
    scored.push({ term, score: weight * Math.log(documents / df) });
  }
  return scored
    .sort((a, b) => b.score - a.score || (a.term < b.term ? -1 : 1))
    .slice(0, settings.maxTerms)
    .map((s) => s.term);
}
