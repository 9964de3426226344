/**
 * The word tokeniser of the local embedder and the local reranker. It must stay in step with
 * scripts/build-local-embedder.mjs, which keeps only table words this tokeniser can produce.
 */

// Letters, digits and combining marks: without \p{M}, scripts that write vowels as marks (Devanagari, Thai…) would
// fall apart into fragments. NFKC first composes Latin accents, so "café" is one token either way.
const WORD = /[\p{L}\p{M}\p{N}]+/gu;

/** Lower-cased word tokens of `text`, in order. */
export function tokenize(text: string): string[] {
  return text.normalize("NFKC").toLowerCase().match(WORD) ?? [];
}

/**
 * English function words, plus the fragments the tokeniser makes of contractions ("don't" → "don", "t"). They carry
 * almost no topic, and in averaged word vectors they pull every text towards the same point.
 */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    "a about above after again against all am an and any are as at be because been before being below between both " +
    "but by can could did do does doing down during each few for from further had has have having he her here hers " +
    "herself him himself his how i if in into is it its itself just let me more most my myself no nor not now of off " +
    "on once only or other ought our ours ourselves out over own same shall she should so some such than that the " +
    "their theirs them themselves then there these they this those through to too under until up upon us very was we " +
    "were what when where which while who whom why will with would you your yours yourself yourselves " +
    "s t d ll m re ve don doesn didn isn aren wasn weren hasn haven hadn won wouldn shouldn couldn mustn can cannot"
  ).split(" "),
);

/** Tokens that carry content: `tokenize` minus stopwords. */
export function contentTokens(text: string): string[] {
  return tokenize(text).filter((token) => !STOPWORDS.has(token));
}
