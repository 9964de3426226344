/**
 * Turns free text into a safe FTS5 MATCH expression. User text never reaches MATCH as syntax: every term is
 * reduced to letters and digits and quoted, so `"`, `*`, `NEAR(`, `AND`, `-` and stray parentheses are just text.
 */

/** The most terms a query contributes; longer queries keep their first distinct terms. */
export const MAX_QUERY_TERMS = 64;

/** The distinct lower-case word terms of `text` (Unicode letters and digits), in order of first use, at most `max`. */
export function queryTerms(text: string, max: number = MAX_QUERY_TERMS): string[] {
  const seen = new Set<string>();
  for (const match of text.normalize("NFKC").toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    seen.add(match[0]);
    if (seen.size === max) break;
  }
  return [...seen];
}

/**
 * English function words. They match nearly every memory, so OR-ing them in makes FTS5 score the whole cube
 * while adding almost nothing to BM25 (their IDF is near zero). A query made only of them keeps them.
 */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    "a an and are as at be been being but by can could did do does doing done for from had has have having he her " +
    "hers him his how i if in into is it its itself just me my myself no nor not of off on once only or our ours " +
    "she should so some such than that the their theirs them then there these they this those through to too " +
    "under until up us very was we were what when where which while who whom why will with would you your yours " +
    "yourself about above after again against all am any because before below between both during each few further " +
    "here more most other out over own same s t don now ll re ve d m o y"
  ).split(" "),
);

/** The terms worth matching: {@link queryTerms} without stopwords, unless nothing else is left. */
export function searchTerms(text: string): string[] {
  const terms = queryTerms(text);
  const content = terms.filter((term) => !STOPWORDS.has(term));
  return content.length > 0 ? content : terms;
}

/**
 * An FTS5 expression matching any of `terms` (as {@link queryTerms} makes them), optionally only in one column;
 * null when there is no term.
 */
export function matchAny(terms: readonly string[], column?: string): string | null {
  if (terms.length === 0) return null;
  // Terms hold only \p{L}\p{N}, so wrapping them in double quotes cannot break out of the string.
  const any = terms.map((term) => `"${term}"`).join(" OR ");
  return column === undefined ? any : `{${column}} : (${any})`;
}

/** An FTS5 expression matching any of the search terms of `text` (BM25 ranks the rest), or null when there is none. */
export function ftsMatchExpression(text: string): string | null {
  return matchAny(searchTerms(text));
}
