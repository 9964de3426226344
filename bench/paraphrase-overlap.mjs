// The paraphrase benchmark's data check: a question must share no content word with its fact but the owner's name.
// Content words are the local embedder's own (its tokeniser and stopwords, question words among them, imported —
// Node 22 strips the module's types): sharing "the" or "what" is no overlap of meaning.
import { contentTokens } from "../src/adapters/local-embedder/tokenize.ts";
import { stem } from "./lib/stem.mjs";

/** Two words count as one when they stem alike or share their first five letters. @param {string} a @param {string} b */
const clash = (a, b) => stem(a) === stem(b) || (a.length >= 5 && b.length >= 5 && a.slice(0, 5) === b.slice(0, 5));

/**
 * The content words `question` shares with `fact`, the owner's name aside.
 * @param {string} owner @param {string} fact @param {string} question
 * @returns {string[]}
 */
export function sharedWords(owner, fact, question) {
  const name = owner.toLowerCase();
  const factWords = contentTokens(fact).filter((w) => w !== name);
  return contentTokens(question).filter((w) => w !== name && factWords.some((f) => clash(w, f)));
}
