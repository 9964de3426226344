#!/usr/bin/env node
// Benchmark entry point: `npm run bench -- <recall|latency|scale> [options]` (see bench/README.md).
// Benchmark entry point: `npm run bench -- <recall|latency|paraphrase> [options]` (see bench/README.md).
// Results go to stdout as one JSON object; progress and logs go to stderr.
import { UsageError } from "./lib/args.mjs";

const BENCHMARKS = {
  recall: () => import("./recall.mjs"),
  latency: () => import("./latency.mjs"),
  activation: () => import("./activation.mjs"),
  scale: () => import("./scale.mjs"),
  paraphrase: () => import("./paraphrase.mjs"),
  chaos: () => import("./chaos.mjs"),
  "search-profile": () => import("./search-profile.mjs"),
};

async function usage() {
  const lines = ["usage: npm run bench -- <name> [options]", ""];
  for (const load of Object.values(BENCHMARKS)) lines.push((await load()).USAGE, "");
  lines.push(
    "server: without --url the harness starts its own `wrangler dev --local` on a free port with fresh state,",
    "and kills it at the end. With --url URL give --key KEY (tenant key) or --root-key ROOT.",
  );
  return lines.join("\n");
}

const [name, ...rest] = process.argv.slice(2);
try {
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.error(await usage());
    process.exit(name ? 0 : 2);
  }
  const load = BENCHMARKS[/** @type {keyof typeof BENCHMARKS} */ (name)];
  if (!load) throw new UsageError(`unknown benchmark "${name}" (choose ${Object.keys(BENCHMARKS).join(", ")})`);
  await (await load()).main(rest);
  process.exit(0);
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`error: ${error.message}\n\n${await usage()}`);
    process.exit(2);
  }
  console.error(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
}
