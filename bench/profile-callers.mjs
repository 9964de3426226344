// Who called a profile's hot native frames, and what a function's time is made of: two views of a `.cpuprofile`
// (`latency --cpu-profile DIR` writes DIR/search.cpuprofile) that the summary in the latency result does not give.
// Not a benchmark: it reads a profile and prints milliseconds per unit of work (docs/search.md, "Eighth pass").
//
//   node bench/profile-callers.mjs FILE --per 505 --callers exec,next,toArray   self time of those frames by the
//                                                                                three frames above them
//   node bench/profile-callers.mjs FILE --per 505 --under semantic:65346 [--depth 2]
//                                                                                time under that function (name:line,
//                                                                                as the summary prints it) by the
//                                                                                `depth` frames below it
//
// `--per N` divides by N (the searches the profile covers: warmup included, 505 by default). Samples are capped at
// 1 ms each, as bench/lib/profile.mjs does, so time the thread spent preempted does not count.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { per: { type: "string", default: "505" }, callers: { type: "string" }, under: { type: "string" }, depth: { type: "string", default: "1" } },
});
const [file] = positionals;
if (!file || (!values.callers && !values.under)) {
  console.error("usage: node bench/profile-callers.mjs FILE [--per N] (--callers NAME,… | --under NAME:LINE [--depth D])");
  process.exit(2);
}
const per = Number(values.per);
const profile = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const label = (frame) => `${frame.functionName || "(anonymous)"}:${frame.lineNumber + 1}`;
/** The sample's frames, leaf first. */
const stack = (leaf) => {
  const frames = [];
  for (let id = leaf.id; id !== undefined; id = parent.get(id)) frames.push(byId.get(id).callFrame);
  return frames;
};

const totals = new Map();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const weight = Math.min(profile.timeDeltas[i + 1] ?? 200, 1000) / 1000;
  const leaf = byId.get(profile.samples[i]);
  if (!leaf || leaf.callFrame.functionName === "(idle)") continue;
  const frames = stack(leaf);
  let key;
  if (values.callers) {
    if (!values.callers.split(",").includes(leaf.callFrame.functionName)) continue;
    const above = frames.slice(1).filter((f) => f.functionName !== "(root)").slice(0, 3).map(label);
    key = `${leaf.callFrame.functionName} <- ${above.join(" <- ")}`;
  } else {
    const at = frames.findIndex((f) => label(f) === values.under || `(anonymous):${f.lineNumber + 1}` === values.under);
    if (at < 0) continue;
    key = frames.slice(Math.max(0, at - Number(values.depth)), at).reverse().map(label).join(" > ") || "(self)";
  }
  total += weight;
  totals.set(key, (totals.get(key) ?? 0) + weight);
}
console.log(`total ${(total / per).toFixed(3)} ms per unit`);
for (const [key, ms] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${(ms / per).toFixed(3)}  ${key}`);
