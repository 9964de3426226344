// A small English stemmer for the paraphrase benchmark's word-overlap check: Porter's step 1 (plurals, -ed, -ing)
// and the commonest derivational suffixes, applied repeatedly. It over-stems on purpose: the check must flag every
// question that shares a word with its fact, and a false alarm only costs a rephrasing.

const SUFFIXES = [
  "ational", "ization", "fulness", "iveness", "ousness", "ements", "ement", "ments", "ment", "ances", "ences",
  "ance", "ence", "ities", "ity", "ness", "ings", "ing", "ions", "ion", "ers", "er", "ies", "ied", "ed", "ly",
  "ful", "ous", "ive", "al", "es", "s", "y", "e",
];

/**
 * @param {string} word lower-case
 * @returns {string}
 */
export function stem(word) {
  let w = word;
  for (let changed = true; changed && w.length > 3; ) {
    changed = false;
    for (const suffix of SUFFIXES) {
      if (w.endsWith(suffix) && w.length - suffix.length >= 3) {
        w = w.slice(0, -suffix.length);
        changed = true;
        break;
      }
    }
  }
  // Doubled final consonants ("running" → "runn" → "run").
  if (/([b-df-hj-np-tv-z])\1$/.test(w)) w = w.slice(0, -1);
  return w;
}
