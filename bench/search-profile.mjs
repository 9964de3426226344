// Where a search's time goes inside the cube, statement by statement, without a server (docs/search.md).
//
//   npm run bench -- latency --memories 10000 --keep-state      # then, with the cube file it kept:
//   npm run bench -- search-profile --cube <state dir>/v3/do/memos-edge-CubeDurableObject/<id>.sqlite
//                                   [--queries 500] [--cold] [--channels lexical,vector,…] [--now ISO] [--top FILE] [--out FILE]
//
// The cube's search code (CubeSearch, the store, the vector store, the local embedder) is bundled with esbuild and
// run in Node over a copy of the cube's SQLite file (node:sqlite), on the latency bench's own queries (same data and
// seed). Each SQL statement is timed; CPU per search (process.cpuUsage) is steadier than wall time on a shared
// machine. `--cold` moves the cube's generation before every search, as a write would (nothing kept between
// searches); by default the cube stands still, as in the latency bench. `--top FILE` writes every query's top 10
// ids, to check that a change keeps the ranking (compare two files); searches run at `--now` (default: the cube
// file's modification time), so two runs over the same file score recency alike.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { UsageError, parseArgs } from "./lib/args.mjs";
import { loadLocomo } from "./lib/locomo.mjs";
import { emitResult } from "./lib/report.mjs";
import { ROOT, log } from "./lib/server.mjs";
import { mean, round, summarize } from "./lib/stats.mjs";
import { makeCorpus } from "./latency.mjs";

export const USAGE = `npm run bench -- search-profile --cube FILE [--queries 500] [--cold] [--channels LIST]
    [--data FILE] [--seed 42] [--now ISO] [--top FILE] [--out FILE]`;

const SPEC = { cube: "string", queries: "number", cold: "boolean", channels: "string", data: "string", seed: "number", now: "string", top: "string", out: "string" };
const WARMUP = 5;

/**
 * `import m from "./x.wasm"` as wrangler bundles it: a compiled WebAssembly.Module (cube/vector-scan.ts). Node may
 * compile from bytes, so the bytes are embedded and compiled when the bundle loads.
 * @type {import("esbuild").Plugin}
 */
const compiledWasm = {
  name: "compiled-wasm",
  setup(build) {
    build.onLoad({ filter: /\.wasm$/ }, (args) => ({
      contents: `export default new WebAssembly.Module(Buffer.from(${JSON.stringify(readFileSync(args.path).toString("base64"))}, "base64"));`,
      loader: "js",
    }));
  },
};

/** @param {string[]} argv */
export async function main(argv) {
  const opts = parseArgs(argv, SPEC);
  if (!opts.cube || !existsSync(String(opts.cube))) throw new UsageError("--cube needs the SQLite file of a cube (latency --keep-state)");
  const count = Number(opts.queries ?? 500);
  const channels = String(opts.channels ?? "lexical,vector,tag,recent,working").split(",");
  const dir = mkdtempSync(path.join(os.tmpdir(), "memos-search-profile-"));
  try {
    const { build } = await import("esbuild");
    const bundle = path.join(dir, "search.mjs");
    await build({
      entryPoints: [path.join(ROOT, "bench/lib/search-profile-entry.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: bundle,
      logLevel: "error",
      plugins: [compiledWasm],
    });
    const cube = path.join(dir, "cube.sqlite");
    copyFileSync(String(opts.cube), cube);
    if (existsSync(`${opts.cube}-wal`)) copyFileSync(`${opts.cube}-wal`, `${cube}-wal`);
    const profile = await import(bundle);
    const data = path.resolve(String(opts.data ?? path.resolve(ROOT, "..", "shared", "bench", "locomo-dev.json")));
    const queries = makeCorpus(loadLocomo(data), Number(opts.seed ?? 42)).queries(count + WARMUP);
    const { search } = profile.openCube(cube);
    const now = opts.now === undefined ? statSync(String(opts.cube)).mtimeMs : Date.parse(String(opts.now));
    if (!Number.isFinite(now)) throw new UsageError("--now must be an ISO date-time");
    let generation = 1;
    /** @type {number[]} */ const cpu = [];
    /** @type {number[]} */ const wall = [];
    /** @type {string[][]} */ const top = [];
    for (let i = 0; i < queries.length; i++) {
      if (i === WARMUP) profile.recording.on = true;
      if (opts.cold) generation++;
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      top.push(await search(queries[i], now, generation, channels));
      const ms = performance.now() - started;
      const used = process.cpuUsage(cpuBefore);
      if (i >= WARMUP) {
        wall.push(ms);
        cpu.push((used.user + used.system) / 1000);
      }
      if ((i + 1) % 100 === 0) log(`searched ${i + 1}/${queries.length}`);
    }
    const wallTotal = wall.reduce((sum, ms) => sum + ms, 0);
    const statements = [...profile.statements]
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(([statement, { calls, ms }]) => ({ share_of_wall: round(ms / wallTotal, 3), calls, ms_per_search: round(ms / count, 3), statement }));
    if (opts.top) writeFileSync(String(opts.top), `${JSON.stringify(top)}\n`);
    emitResult(
      {
        benchmark: "search-profile",
        queries: count,
        statistics: opts.cold ? "cold (generation moved before every search)" : "warm (cube unchanged between searches)",
        channels,
        cpu_ms: { mean: round(mean(cpu), 2), ...summarize(cpu, [50, 95]) },
        wall_ms: { mean: round(mean(wall), 2), ...summarize(wall, [50, 95]) },
        sql_share_of_wall: round(statements.reduce((sum, s) => sum + s.share_of_wall, 0), 3),
        statements,
        date: new Date().toISOString(),
      },
      opts.out,
      log,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
