/**
 * The offline reranker: deterministic lexical scoring, so `rerank: true` works in local mode and tests. It rewards a
 * document for covering the query's rarer words (IDF over the candidate list), for having them close together, and
 * for keeping the query's word pairs in order. No model, so no synonyms: that is the embedder's channel.
 */
import type { Reranker } from "./types";
import { STOPWORDS, tokenize } from "./local-embedder/tokenize";

const WEIGHTS = { coverage: 0.6, proximity: 0.25, phrase: 0.15 } as const;

/** See the file comment. Scores lie in [0, 1]. */
export class LocalReranker implements Reranker {
  readonly id = "local:lexical-rerank@1";

  async rerank(query: string, documents: readonly string[]): Promise<number[]> {
    const queryTerms = terms(query);
    const unique = [...new Set(queryTerms)];
    if (unique.length === 0) return documents.map(() => 0);
    // Each document's words (stopwords dropped unless the query asks for them), each replaced by the query term it
    // matches or null: everything below works on these sequences.
    const docs = documents.map((document) =>
      tokenize(document)
        .map((token) => ({ token, term: unique.find((t) => sameWord(token, t)) ?? null }))
        .filter(({ token, term }) => term !== null || !STOPWORDS.has(token))
        .map(({ term }) => term),
    );
    const idf = new Map(
      unique.map((term) => {
        const df = docs.filter((hits) => hits.includes(term)).length;
        return [term, Math.log(1 + (docs.length - df + 0.5) / (df + 0.5))];
      }),
    );
    const totalWeight = unique.reduce((acc, term) => acc + (idf.get(term) ?? 0), 0);
    const queryPairs = pairs(queryTerms);

    return docs.map((hits) => {
      const matched = unique.filter((term) => hits.includes(term));
      if (matched.length === 0) return 0;
      const coverage = matched.reduce((acc, term) => acc + (idf.get(term) ?? 0), 0) / totalWeight;
      // Tightness of the matched words, scaled by how many matched: two adjacent words of a three-word query must
      // not outscore a document that has all three.
      const proximity = (matched.length / shortestSpan(hits, matched.length)) * (matched.length / unique.length);
      const docPairs = new Set(pairs(hits));
      const phrase = queryPairs.length === 0 ? 0 : queryPairs.filter((p) => docPairs.has(p)).length / queryPairs.length;
      return WEIGHTS.coverage * coverage + WEIGHTS.proximity * proximity + WEIGHTS.phrase * phrase;
    });
  }
}

/** Content words of the query; its stopwords only if it has nothing else ("who is it?"). */
function terms(text: string): string[] {
  const tokens = tokenize(text);
  const content = tokens.filter((t) => !STOPWORDS.has(t));
  return content.length > 0 ? content : tokens;
}

/** Endings that leave a word's meaning: the only differences `sameWord` forgives. */
const INFLECTIONS: ReadonlySet<string> = new Set(["", "s", "es", "e", "d", "ed", "ing", "er", "ers", "ly"]);

/**
 * Equal, or the same stem with different inflections ("paint"/"painting"/"painted", "like"/"liked", "cat"/"cats"):
 * a stemmer's effect without a stemmer's language rules. The shared stem must have 4 letters, or 3 for a plural "s".
 */
function sameWord(token: string, term: string): boolean {
  if (token === term) return true;
  let common = 0;
  while (common < token.length && common < term.length && token[common] === term[common]) common++;
  const rest = [token.slice(common), term.slice(common)];
  if (!rest.every((r) => INFLECTIONS.has(r))) return false;
  return common >= 4 || (common === 3 && rest.includes("s") && rest.includes(""));
}

/** Adjacent pairs of matched words, as "a b" strings; an unmatched word (null) breaks adjacency. */
function pairs(words: readonly (string | null)[]): string[] {
  const out: string[] = [];
  words.forEach((word, i) => {
    const previous = words[i - 1];
    if (i > 0 && word !== null && previous !== null && previous !== undefined) out.push(`${previous} ${word}`);
  });
  return out;
}

/** Length of the shortest window of `hits` containing `distinct` different terms (a sliding window). */
function shortestSpan(hits: readonly (string | null)[], distinct: number): number {
  const counts = new Map<string, number>();
  let have = 0;
  let best = hits.length;
  let left = 0;
  hits.forEach((hit, right) => {
    if (hit === null) return;
    counts.set(hit, (counts.get(hit) ?? 0) + 1);
    if (counts.get(hit) === 1) have++;
    while (have === distinct) {
      best = Math.min(best, right - left + 1);
      const leaving = hits[left] ?? null;
      left++;
      if (leaving === null) continue;
      const n = (counts.get(leaving) ?? 0) - 1;
      counts.set(leaving, n);
      if (n === 0) have--;
    }
  });
  return Math.max(best, distinct);
}
