// Fits the local embedder's word vectors to the teacher's SENTENCE vectors, for scripts/build-local-embedder.mjs
// (the idea of model2vec's "tokenlearn": after distilling words one by one, train the word table so that the weighted
// sum of a sentence's word vectors points where the teacher puts the whole sentence).
//
// Distilling isolated words (build-local-embedder-distil.mjs) tells the table what the teacher thinks of "living"
// alone; it does not tell it what "for a living" contributes to a sentence, nor how much each word should weigh
// against its neighbours. Here the runtime's own sentence vector — Σ rankWeight(word) · vector(word), stopwords
// dropped, exactly as src/adapters/local-embedder.ts computes it — is pulled towards the teacher's vector of the same
// sentence. Word vectors are left un-normalised: their length becomes a learnt per-word weight (the table's per-word
// int8 scale carries it), on top of the frequency weight the runtime applies.
//
// Corpus: WordNet 3.1's own glosses and example sentences ("fishing: the occupation of catching fish for a living",
// "she moved to Boston") — general English from a package already pinned by the build, never the benchmark's text.
// A deterministic sample (by sha256 of each line) keeps the teacher's cost to minutes.
//
// The teacher's 512-d sentence vectors are mapped into the table's space by a ridge regression fitted on the same
// sentences (teacher → the table's current sentence vectors): the part of the table the teacher can predict is kept
// and sharpened, what it cannot is noise to the fit. Then a few epochs of SGD on a contrastive loss (below).
import { createHash } from "node:crypto";

/** Sentences the teacher embeds: all WordNet example questions, then examples and glosses, 60 : 40. */
export const FIT_SENTENCES = Number(process.env.LOCAL_EMBEDDER_FIT_SENTENCES ?? 24_000);
const EXAMPLE_SHARE = 0.6;
/** The corpus grows in steps of this many sentences (see fitCorpus). */
const CORPUS_STEP = 24_000;
/** Passes over the sentences; the learning rate falls linearly to 0 over them. */
const EPOCHS = Number(process.env.LOCAL_EMBEDDER_FIT_EPOCHS ?? 10);
const LEARNING_RATE = Number(process.env.LOCAL_EMBEDDER_FIT_LR ?? 0.05);
/**
 * Sentences per batch of the contrastive loss (each sentence's negatives are the rest of its batch), and its softmax
 * temperature (of 0.05 and 0.1, 0.1 was better). 256 rather than 64: pure-vector paraphrase hit@1 0.656 → 0.700 with
 * hit@3 unchanged (0.869; tuning half one question fewer, held-out half one more), and through search hit@3 0.831 →
 * 0.844 (docs/search.md). The fit takes longer: the logits grow with the square of the batch.
 */
const BATCH = Number(process.env.LOCAL_EMBEDDER_FIT_BATCH ?? 256);
const TEMPERATURE = Number(process.env.LOCAL_EMBEDDER_FIT_TEMPERATURE ?? 0.1);
/** Ridge penalty of the teacher → table regression (on centred teacher vectors of 512 dimensions). */
const RIDGE = 1;
const TEACHER_DIMENSIONS = 512;

/**
 * WordNet's glosses (as "lemma: gloss") and example sentences (of 3 words or more), each once, in a deterministic
 * order: questions first, then examples and glosses each ordered by the sha256 of the line, `count` in all.
 * @param {Record<string, string>} wordnet data.noun/verb/adj/adv by file name @param {number} count
 */
export function fitCorpus(wordnet, count = FIT_SENTENCES) {
  const lines = new Set();
  for (const pos of ["noun", "verb", "adj", "adv"]) {
    for (const line of wordnet[`data.${pos}`].split("\n")) {
      if (line === "" || line.startsWith(" ")) continue;
      const [head, gloss] = line.split(" | ");
      if (!gloss) continue;
      const lemma = head.trim().split(/\s+/)[4].replace(/\(.*\)$/, "").replace(/_/g, " ");
      for (const part of gloss.trim().split(/;\s*/)) {
        const text = part.trim();
        if (text.startsWith('"')) {
          const example = text.replace(/^"|"$/g, "").trim();
          if (example.split(" ").length >= 3) lines.add(example);
        } else if (text.length > 10) lines.add(`${lemma}: ${text}`);
      }
    }
  }
  const hash = (s) => createHash("sha256").update(s).digest().readUInt32BE(0);
  // Array.prototype.sort is stable: lines of equal hash keep WordNet's order.
  const byHash = (a, b) => hash(a) - hash(b);
  const isGloss = (l) => /^[^:]{1,40}: /.test(l);
  const all = [...lines];
  const questions = all.filter((l) => l.includes("?"));
  const examples = all.filter((l) => !isGloss(l) && !l.includes("?")).sort(byHash);
  const glosses = all.filter((l) => isGloss(l) && !l.includes("?")).sort(byHash);
  // The corpus grows in steps of CORPUS_STEP sentences, each step adding the next examples and glosses at 60 : 40, so
  // a larger corpus starts with the smaller one: the teacher's vectors of the smaller one (a sentence cache) stay valid
  // and only the new sentences need the teacher. A count of CORPUS_STEP or less is exactly the corpus of before.
  const out = [...questions];
  let examplesTaken = 0;
  let glossesTaken = 0;
  for (let size = Math.min(count, CORPUS_STEP); ; size = Math.min(count, size + CORPUS_STEP)) {
    const rest = size - questions.length;
    const exampleCount = Math.floor(rest * EXAMPLE_SHARE);
    out.push(...examples.slice(examplesTaken, exampleCount), ...glosses.slice(glossesTaken, rest - exampleCount));
    examplesTaken = Math.max(examplesTaken, exampleCount);
    glossesTaken = Math.max(glossesTaken, rest - exampleCount);
    if (size === count) return out;
  }
}

/**
 * Moves `vectors` (count × dims, row per word, in place) so that each sentence's weighted sum of word vectors
 * approaches the teacher's vector of it. Returns the mean cosine before and after.
 * @param {{ vectors: Float64Array, dims: number, weights: Float64Array, index: Map<string, number>,
 *   tokens: (text: string) => string[], sentences: string[], teacher: Float64Array }} input
 */
export function fitToSentences({ vectors, dims, weights, index, tokens, sentences, teacher }) {
  const rows = [];
  sentences.forEach((text, s) => {
    const ids = tokens(text).map((w) => index.get(w)).filter((i) => i !== undefined);
    if (ids.length >= 2) rows.push({ s, ids });
  });
  const student = new Float64Array(dims);
  const embed = (ids) => {
    student.fill(0);
    for (const i of ids) {
      const f = weights[i];
      for (let d = 0; d < dims; d++) student[d] += f * vectors[i * dims + d];
    }
    return norm(student);
  };

  // Ridge regression, centred teacher vectors → unit student vectors.
  const T = TEACHER_DIMENSIONS;
  const mean = new Float64Array(T);
  for (const { s } of rows) for (let k = 0; k < T; k++) mean[k] += teacher[s * T + k] / rows.length;
  const xtx = new Float64Array(T * T);
  const xty = new Float64Array(T * dims);
  const x = new Float64Array(T);
  for (const { s, ids } of rows) {
    const n = embed(ids) || 1;
    for (let k = 0; k < T; k++) x[k] = teacher[s * T + k] - mean[k];
    for (let a = 0; a < T; a++) {
      const xa = x[a];
      if (xa === 0) continue;
      for (let b = a; b < T; b++) xtx[a * T + b] += xa * x[b];
      for (let d = 0; d < dims; d++) xty[a * dims + d] += (xa * student[d]) / n;
    }
  }
  for (let a = 0; a < T; a++) {
    for (let b = 0; b < a; b++) xtx[a * T + b] = xtx[b * T + a];
    xtx[a * T + a] += RIDGE;
  }
  const map = choleskySolve(xtx, xty, T, dims);
  const targets = new Float64Array(rows.length * dims);
  rows.forEach(({ s }, j) => {
    for (let k = 0; k < T; k++) x[k] = teacher[s * T + k] - mean[k];
    for (let d = 0; d < dims; d++) {
      let v = 0;
      for (let k = 0; k < T; k++) v += x[k] * map[k * dims + d];
      targets[j * dims + d] = v;
    }
    const n = norm(targets.subarray(j * dims, (j + 1) * dims)) || 1;
    for (let d = 0; d < dims; d++) targets[j * dims + d] /= n;
  });

  const meanCosine = () =>
    rows.reduce((acc, { ids }, j) => {
      const n = embed(ids) || 1;
      let c = 0;
      for (let d = 0; d < dims; d++) c += (student[d] * targets[j * dims + d]) / n;
      return acc + c / rows.length;
    }, 0);
  const before = meanCosine();

  // SGD on an in-batch contrastive loss (InfoNCE): each sentence's student vector should be nearer its own target than
  // the other targets of its batch, by softmax over cosines / TEMPERATURE. Measured against plain 1 − cos(student,
  // target) on the tuning half of the paraphrase set (pure vector): hit@3 0.850 against 0.825; retrieval is about
  // order, and the contrastive loss trains order. Batches in a fixed shuffle per epoch (deterministic LCG).
  const order = rows.map((_, j) => j);
  let seed = 12345;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const unitStudents = new Float64Array(BATCH * dims);
  const lengths = new Float64Array(BATCH);
  const gradient = new Float64Array(dims);
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    for (let j = order.length - 1; j > 0; j--) {
      const k = Math.floor(random() * (j + 1));
      [order[j], order[k]] = [order[k], order[j]];
    }
    const rate = LEARNING_RATE * (1 - epoch / EPOCHS);
    for (let start = 0; start < order.length; start += BATCH) {
      const batch = order.slice(start, start + BATCH);
      batch.forEach((j, a) => {
        const n = embed(rows[j].ids) || 1;
        lengths[a] = n;
        for (let d = 0; d < dims; d++) unitStudents[a * dims + d] = student[d] / n;
      });
      batch.forEach((j, a) => {
        const logits = batch.map((k) => {
          let c = 0;
          for (let d = 0; d < dims; d++) c += unitStudents[a * dims + d] * targets[k * dims + d];
          return c / TEMPERATURE;
        });
        const top = Math.max(...logits);
        const exps = logits.map((l) => Math.exp(l - top));
        const total = exps.reduce((acc, x) => acc + x, 0);
        // d loss / d unit student = (Σ_k p_k · target_k − target_own) / τ; then through the normalisation.
        for (let d = 0; d < dims; d++) {
          let v = -targets[j * dims + d];
          batch.forEach((k, b) => (v += (exps[b] / total) * targets[k * dims + d]));
          gradient[d] = v / TEMPERATURE;
        }
        let along = 0;
        for (let d = 0; d < dims; d++) along += gradient[d] * unitStudents[a * dims + d];
        for (let d = 0; d < dims; d++) gradient[d] = (gradient[d] - along * unitStudents[a * dims + d]) / lengths[a];
        for (const i of rows[j].ids) {
          const f = weights[i] * rate;
          for (let d = 0; d < dims; d++) vectors[i * dims + d] -= f * gradient[d];
        }
      });
    }
  }
  return { sentences: rows.length, before, after: meanCosine() };
}

/** Euclidean length (a plain loop: Math.hypot's rounding is not specified). @param {ArrayLike<number>} v */
function norm(v) {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** Solves A X = B for symmetric positive definite A (n × n) and B (n × m), by Cholesky. */
function choleskySolve(a, b, n, m) {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = i === j ? Math.sqrt(s) : s / l[j * n + j];
    }
  }
  const out = new Float64Array(n * m);
  const z = new Float64Array(n);
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < n; i++) {
      let s = b[i * m + c];
      for (let k = 0; k < i; k++) s -= l[i * n + k] * z[k];
      z[i] = s / l[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = z[i];
      for (let k = i + 1; k < n; k++) s -= l[k * n + i] * out[k * m + c];
      out[i * m + c] = s / l[i * n + i];
    }
  }
  return out;
}
