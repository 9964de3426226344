/**
 * The embedder that ships with the project: offline, deterministic, small. A text's vector is the frequency-weighted sum
 * of its words' vectors, L2-normalised. The 50k-word int8 table (scripts/build-local-embedder.mjs; docs/search.md says
 * how) joins GloVe vectors retrofitted to WordNet (synonyms, hypernyms and derived forms pulled together) with word
 * vectors distilled from a trained sentence encoder (Universal Sentence Encoder lite, which learnt to match questions
 * with their answers), reduced to 128 principal components, then trained so that this file's weighted sums point where
 * the teacher puts 24,000 whole sentences (WordNet glosses and examples; scripts/build-local-embedder-fit.mjs).
 * Words outside the table get a vector hashed from their character trigrams, so a rare name still matches itself; an
 * inflection of a table word borrows its base form's vector ("knits" → "knit"), and a word WordNet defines also gets
 * the meaning of its definition: the sum of the table vectors of the words the gloss table links it to ("lactose" →
 * sugar, milk…; scripts/build-local-embedder-gloss.mjs).
 *
 * It is for `npm start`, tests and offline use; it knows no word order and no language but English. Retrieval quality
 * in production comes from Workers AI (see workers-ai-embedder.ts) and from fusing with BM25.
 */
import type { Embedder } from "./types";
import { baseForms } from "./local-embedder/inflections";
import { STOPWORDS, tokenize } from "./local-embedder/tokenize";

/** Bump when tokenisation, weighting or hashing changes: the id must change whenever any vector would. */
const ALGORITHM_VERSION = 2;
const DIMENSIONS = 128;
// The table is ~9 MB of source; importing it lazily keeps it out of the startup path of isolates that never embed
// locally (esbuild inlines the module but defers evaluating it until this import runs).
const TABLE_MODULE = () => import("./local-embedder/word-table-int8");
const GLOSS_MODULE = () => import("./local-embedder/word-table-gloss");
/** The table module's TABLE_ID, repeated here so `id` is known before the table loads; a test checks they agree. */
export const LOCAL_TABLE_ID = "glove-wordnet-use-fit-128d-int8-50k-bb6c721a";
/** The gloss module's GLOSS_ID, likewise. */
export const LOCAL_GLOSS_ID = "wordnet-gloss-42717-c9c7bece";

/**
 * Word weight from frequency rank: SIF weighting (Arora et al., ICLR 2017), a / (a + p(w)) with a = 1e-3, where
 * GloVe's frequency-ordered vocabulary gives p(w) by Zipf's law: p(rank r) ≈ 1 / ((r + 1) · H), H ≈ 13.5 for 400k
 * words. That simplifies to (r + 1) / (r + 75): rank 10 weighs 0.13, rank 100 0.58, rank 1,000 0.93, rarer words ~1.
 * Frequent words fade; rare ones count alike. (On LoCoMo turn retrieval this beat log-rank IDF curves: recall@10
 * 0.41 against 0.36.)
 */
const rankWeight = (rank: number) => (rank + 1) / (rank + 75);
/** Words outside the table are rarer than any word in it. */
const OUT_OF_VOCABULARY_RANK = 50_000;

interface WordTable {
  readonly index: ReadonlyMap<string, number>;
  /** Per word: rank weight × quantisation scale, so one multiply turns int8 into a weighted float. */
  readonly factors: Float64Array;
  readonly vectors: Int8Array;
  /** Words outside the table that WordNet defines → the table words of their definitions (scripts/build-local-embedder-gloss.mjs). */
  readonly glosses: Glosses;
}

interface Glosses {
  readonly index: ReadonlyMap<string, number>;
  /** Word i's links are links[starts[i]] … links[starts[i + 1] - 1]. */
  readonly starts: Uint32Array;
  readonly links: Uint16Array;
}

/** The table words linked to `word` by the gloss table, or undefined when it has none. */
function glossOf(glosses: Glosses, word: string): Uint16Array | undefined {
  const i = glosses.index.get(word);
  return i === undefined ? undefined : glosses.links.subarray(glosses.starts[i], glosses.starts[i + 1]);
}

let table: Promise<WordTable> | undefined;

/** Decodes the tables once per isolate (~6.6 MB and ~0.6 MB; tens of milliseconds). */
function loadTable(): Promise<WordTable> {
  table ??= Promise.all([TABLE_MODULE(), GLOSS_MODULE()]).then(([{ TABLE_BASE64, WORDS }, { GLOSS_BASE64, GLOSS_WORDS }]) => ({
    ...decodeTable(TABLE_BASE64, WORDS),
    glosses: decodeGlosses(GLOSS_BASE64, GLOSS_WORDS),
  }));
  return table;
}

function bytesOf(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function decodeTable(base64: string, words: string): Omit<WordTable, "glosses"> {
  const bytes = bytesOf(base64);
  const view = new DataView(bytes.buffer);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  const count = view.getUint32(4, true);
  const dimensions = view.getUint32(8, true);
  if (magic !== "GLV1" || dimensions !== DIMENSIONS) throw new Error("local embedder table is corrupt");
  const wordList = words.split(" ");
  if (wordList.length !== count) throw new Error("local embedder table and word list disagree");

  const ranksAt = 12;
  const scalesAt = ranksAt + count * 4;
  const vectorsAt = scalesAt + count * 4;
  const index = new Map<string, number>();
  const factors = new Float64Array(count);
  wordList.forEach((word, i) => {
    index.set(word, i);
    factors[i] = rankWeight(view.getUint32(ranksAt + i * 4, true)) * view.getFloat32(scalesAt + i * 4, true);
  });
  return { index, factors, vectors: new Int8Array(bytes.buffer, vectorsAt, count * dimensions) };
}

/** One map entry per word and one view of all links: no per-word arrays to allocate at load. */
function decodeGlosses(base64: string, words: string): Glosses {
  const bytes = bytesOf(base64);
  const view = new DataView(bytes.buffer);
  const count = view.getUint32(4, true);
  const wordList = words.split(" ");
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== "GLS1" || wordList.length !== count) throw new Error("local embedder gloss table is corrupt");
  const starts = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) starts[i + 1] = (starts[i] ?? 0) + (bytes[12 + i] ?? 0);
  const linksAt = 12 + count;
  // Little-endian u16 at an odd offset: copy once so the view is aligned.
  const links = new Uint16Array(bytes.slice(linksAt, linksAt + (starts[count] ?? 0) * 2).buffer);
  return { index: new Map(wordList.map((word, i) => [word, i])), starts, links };
}

/** See the file comment. */
export class LocalEmbedder implements Embedder {
  readonly id = `local:${LOCAL_TABLE_ID}+${LOCAL_GLOSS_ID}@${ALGORITHM_VERSION}`;
  readonly dimensions = DIMENSIONS;
  /**
   * Measured with `npm run bench -- recall` (LoCoMo dev, conversations 0–2 to choose, 3–4 held out) and `npm run bench
   * -- paraphrase`: at 1 the vector channel cost 0.08 recall@10 on LoCoMo (0.726 → 0.650 on conversations 0–2) for
   * paraphrase hit@3 0.69; at 0.3 LoCoMo held (0.732) with hit@3 0.67. Word vectors find meaning where words do not
   * meet, and break ties where they do; next to a word match they still count for less.
   */
  readonly fusionWeight = 0.3;
  /**
   * The median similarity of a question and its fact in the tuning half of `npm run bench -- paraphrase`, with the
   * query centred on its cube as search does; recomputed for the sentence-fitted table (0.303: p25 0.24, p75 0.38;
   * against the owner's other facts: median −0.01; the table before it gave 0.26).
   */
  readonly confidentSimilarity = 0.3;

  /** `kind` is ignored: the model is symmetric. */
  async embed(texts: readonly string[], _kind: "document" | "query"): Promise<Float32Array[]> {
    const words = await loadTable();
    return texts.map((text) => embedText(words, text));
  }
}

function embedText(words: WordTable, text: string): Float32Array {
  const sum = new Float64Array(DIMENSIONS);
  const tokens = tokenize(text);
  const content = tokens.filter((token) => !STOPWORDS.has(token));
  // A text of stopwords only ("is it?") still deserves its own direction rather than a zero vector.
  const chosen = content.length > 0 ? content : tokens;
  for (const token of chosen) addWord(words, token, sum);
  // No word at all (punctuation, emoji, blank): hash what there is, so equal texts still meet.
  if (chosen.length === 0) addHashed(`\u0000${text.trim()}`, 1, sum);
  return normalised(sum);
}

function addWord(words: WordTable, token: string, sum: Float64Array): void {
  const i = words.index.get(token);
  if (i !== undefined) {
    addTableWord(words, i, 1, sum);
    return;
  }
  const bases = baseForms(token);
  const base = bases.find((b) => words.index.has(b));
  if (base !== undefined) {
    addTableWord(words, words.index.get(base)!, 1, sum);
    return;
  }
  const weight = rankWeight(OUT_OF_VOCABULARY_RANK);
  addHashed(token, weight, sum);
  // Its spelling alone matches only itself; its definition says what it means, at the same weight.
  const gloss = [token, ...bases].map((w) => glossOf(words.glosses, w)).find((g) => g !== undefined);
  if (gloss) addGloss(words, gloss, weight, sum);
}

function addTableWord(words: WordTable, i: number, scale: number, sum: Float64Array): void {
  const factor = (words.factors[i] ?? 0) * scale;
  const offset = i * DIMENSIONS;
  for (let d = 0; d < DIMENSIONS; d++) sum[d] = (sum[d] ?? 0) + factor * (words.vectors[offset + d] ?? 0);
}

/** The weighted sum of a definition's words, as a vector of length `weight` (table words are ~unit length). */
function addGloss(words: WordTable, links: Uint16Array, weight: number, sum: Float64Array): void {
  const gloss = new Float64Array(DIMENSIONS);
  for (const i of links) addTableWord(words, i, 1, gloss);
  const norm = Math.sqrt(gloss.reduce((acc, x) => acc + x * x, 0));
  if (norm === 0) return;
  for (let d = 0; d < DIMENSIONS; d++) sum[d] = (sum[d] ?? 0) + (weight * (gloss[d] ?? 0)) / norm;
}

/**
 * A unit vector from signed feature hashing of the token's character trigrams (with boundary marks), scaled by
 * `weight`. Two dimensions per trigram keep collisions between short tokens rare.
 */
function addHashed(token: string, weight: number, sum: Float64Array): void {
  const chars = [...`\u0002${token}\u0003`];
  const hashed = new Float64Array(DIMENSIONS);
  for (let i = 0; i + 3 <= chars.length; i++) {
    const trigram = chars.slice(i, i + 3).join("");
    for (const seed of [0x811c9dc5, 0x01000193]) {
      const h = fnv1a(trigram, seed);
      const d = h % DIMENSIONS;
      hashed[d] = (hashed[d] ?? 0) + (h & 0x80000000 ? -1 : 1);
    }
  }
  const norm = Math.sqrt(hashed.reduce((acc, x) => acc + x * x, 0));
  if (norm === 0) return;
  for (let d = 0; d < DIMENSIONS; d++) sum[d] = (sum[d] ?? 0) + (weight * (hashed[d] ?? 0)) / norm;
}

/** 32-bit FNV-1a over UTF-16 code units, unsigned. */
function fnv1a(text: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function normalised(sum: Float64Array): Float32Array {
  const norm = Math.sqrt(sum.reduce((acc, x) => acc + x * x, 0));
  const out = new Float32Array(DIMENSIONS);
  // Only reachable if every contribution cancelled exactly; a fixed axis keeps the unit-length promise.
  if (norm === 0) {
    out[0] = 1;
    return out;
  }
  for (let d = 0; d < DIMENSIONS; d++) out[d] = (sum[d] ?? 0) / norm;
  return out;
}
