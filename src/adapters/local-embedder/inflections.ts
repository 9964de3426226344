/**
 * WordNet's morphological rules (morphy) for regular inflections: the base forms a word may be an inflection of,
 * most likely first. Shared by the local embedder (a word outside its tables borrows its base form's meaning:
 * "knits" → "knit", "snores" → "snore") and scripts/build-local-embedder-gloss.mjs. No imports: Node runs this file
 * straight from the build script.
 */
const RULES: readonly (readonly [suffix: string, replacement: string])[] = [
  // verbs
  ["ies", "y"], ["es", "e"], ["es", ""], ["ed", "e"], ["ed", ""], ["ing", "e"], ["ing", ""],
  // nouns
  ["ses", "s"], ["xes", "x"], ["zes", "z"], ["ches", "ch"], ["shes", "sh"], ["men", "man"], ["s", ""],
  // adjectives
  ["er", ""], ["est", ""], ["er", "e"], ["est", "e"],
];

/** The candidate base forms of `word` (lower case), in rule order, without repeats; `word` itself is not among them. */
export function baseForms(word: string): string[] {
  const out: string[] = [];
  for (const [suffix, replacement] of RULES) {
    if (!word.endsWith(suffix) || word.length <= suffix.length + 1) continue;
    const base = word.slice(0, word.length - suffix.length) + replacement;
    if (base !== word && !out.includes(base)) out.push(base);
  }
  // A doubled final consonant before -ing/-ed ("running" → "runn" → "run").
  for (const base of [...out]) {
    if (/([b-df-hj-np-tv-z])\1$/.test(base) && /(ing|ed)$/.test(word)) {
      const single = base.slice(0, -1);
      if (!out.includes(single)) out.push(single);
    }
  }
  return out;
}
