// The local embedder's vector channel alone on the paraphrase set: no server, no fusion, no support channels.
//
//   npx node bench/paraphrase-vector.mjs [--data bench/data/paraphrase.json] [--misses]
//
// Each owner's facts and distractors are embedded by the runtime `LocalEmbedder` itself (src/adapters/local-embedder.ts,
// bundled here with esbuild, so tokeniser, weights, inflection and gloss fallbacks are the Worker's), each question is
// centred on its owner's documents as search centres a query on its cube, and the fact's rank among the owner's
// documents by cosine is scored as `npm run bench -- paraphrase` scores search: hit@1/3/10 on the whole set, the tuning
// half (even positions) and the held-out half (odd). Also prints the tuning half's question → fact similarity quartiles,
// which `LocalEmbedder.confidentSimilarity` is set from. Seconds to run, so a rebuilt word table
// (scripts/build-local-embedder.mjs) can be judged before any server starts. Deterministic: same table, same numbers.
import { build } from "esbuild";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const dataAt = args.indexOf("--data");
const file = dataAt >= 0 ? path.resolve(args[dataAt + 1]) : path.join(root, "bench", "data", "paraphrase.json");
/** @type {{ owners: { name: string, pairs: [string, string][], distractors: string[] }[] }} */
const data = JSON.parse(readFileSync(file, "utf8"));

const dir = mkdtempSync(path.join(os.tmpdir(), "paraphrase-vector-"));
const bundle = path.join(dir, "embedder.mjs");
try {
  await build({
    entryPoints: [path.join(root, "src", "adapters", "local-embedder.ts")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    outfile: bundle,
    logLevel: "error",
  });
  const { LocalEmbedder } = await import(pathToFileURL(bundle).href);
  const embedder = new LocalEmbedder();
  const dot = (a, b) => a.reduce((acc, x, d) => acc + x * b[d], 0);
  /** @type {Record<"all" | "tuning" | "held_out", number[]>} */
  const ranks = { all: [], tuning: [], held_out: [] };
  const misses = [];
  const facts = [];
  const others = [];
  for (const owner of data.owners) {
    const texts = [...owner.pairs.map(([fact]) => fact), ...owner.distractors];
    const docs = await embedder.embed(texts, "document");
    const questions = await embedder.embed(owner.pairs.map(([, question]) => question), "query");
    // Search's query centring: remove the cube's mean direction, scaled by the share of documents that are not this one.
    const mean = new Float64Array(embedder.dimensions);
    for (const v of docs) v.forEach((x, d) => (mean[d] += x));
    const length = Math.hypot(...mean);
    const direction = Array.from(mean, (x) => x / length);
    const share = 1 - 1 / docs.length;
    owner.pairs.forEach(([, question], i) => {
      const projection = dot(questions[i], direction) * share;
      const q = Array.from(questions[i], (x, d) => x - projection * direction[d]);
      const scores = docs.map((v) => dot(q, v));
      const rank = 1 + scores.filter((s, j) => j !== i && s > scores[i]).length;
      ranks.all.push(rank);
      ranks[i % 2 === 0 ? "tuning" : "held_out"].push(rank);
      if (i % 2 === 0) scores.forEach((s, j) => (j === i ? facts : others).push(s));
      if (rank > 3) misses.push(`${rank}\t${question} → ${texts[scores.indexOf(Math.max(...scores))]}`);
    });
  }
  const hit = (rs, n) => (rs.filter((r) => r <= n).length / rs.length).toFixed(3);
  for (const [half, rs] of Object.entries(ranks)) console.log(`${half}: hit@1/3/10 ${hit(rs, 1)} / ${hit(rs, 3)} / ${hit(rs, 10)} (${rs.length} questions)`);
  const at = (xs, f) => [...xs].sort((a, b) => a - b)[Math.floor(f * (xs.length - 1))].toFixed(3);
  console.log(`tuning half, question → fact similarity p25 / median / p75: ${at(facts, 0.25)} / ${at(facts, 0.5)} / ${at(facts, 0.75)}; other facts median ${at(others, 0.5)}`);
  console.log(`embedder ${embedder.id}`);
  if (args.includes("--misses")) console.log(misses.join("\n"));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
