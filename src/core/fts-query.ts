/**
 * Turns free text into a safe FTS5 MATCH expression. User text never reaches MATCH as syntax: every term is
 * reduced to letters and digits and quoted, so `"`, `*`, `NEAR(`, `AND`, `-` and stray parentheses are just text.
 */

/** The most terms a query contributes; longer queries keep their first distinct terms. */
export const MAX_QUERY_TERMS = 64;

/** The distinct lower-case word terms of `text` (Unicode letters and digits), in order of first use. */
export function queryTerms(text: string): string[] {
  const seen = new Set<string>();
  for (const match of text.normalize("NFKC").toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    seen.add(match[0]);
    if (seen.size === MAX_QUERY_TERMS) break;
  }
  return [...seen];
}

/** An FTS5 expression matching any of the terms (BM25 ranks the rest), or null when there is no term at all. */
export function ftsMatchExpression(text: string): string | null {
  const terms = queryTerms(text);
  if (terms.length === 0) return null;
  // Terms hold only \p{L}\p{N}, so wrapping them in double quotes cannot break out of the string.
  return terms.map((term) => `"${term}"`).join(" OR ");
}
