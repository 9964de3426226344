// Write throughput, search latency and memory use of one large cube.
//
//   npm run bench -- latency [--memories 10000] [--queries 500] [--batch 100] [--concurrency 1]
//                            [--data ../shared/bench/locomo-dev.json] [--seed 42] [--warmup 5] [--out FILE]
//                            [--group-stats] [--cpu-profile DIR] [--state-dir DIR]
//
// One user (one cube) is filled with realistic, varied text synthesised from the LoCoMo turns: each memory mixes
// 1–4 sentences from different turns under a speaker drawn from the data's names and a pool of other names, with
// names swapped and numbers changed (seeded PRNG, so a run is repeatable). Then `--queries` LoCoMo questions are
// searched one after another (top_k 10). Memory use is the summed VmRSS of the workerd process(es) that wrangler
// started — an upper bound for the Durable Object, since the same process also runs the Worker and miniflare's
// simulated D1/R2.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { SERVER_OPTIONS, UsageError, parseArgs } from "./lib/args.mjs";
import { cpuPerOperation, cpuReading } from "./lib/cpu.mjs";
import { loadLocomo, sessionsOf } from "./lib/locomo.mjs";
import { startProfile } from "./lib/profile.mjs";
import { emitResult, runInfo } from "./lib/report.mjs";
import { ROOT, log, withServer } from "./lib/server.mjs";
import { mean, prng, round, summarize } from "./lib/stats.mjs";

export const USAGE = `npm run bench -- latency [--memories 10000] [--queries 500] [--batch 100] [--concurrency 1]
    [--data FILE] [--seed 42] [--warmup 5] [--out FILE] [--group-stats] [--cpu-profile DIR] [--state-dir DIR]
    [--url URL (--key KEY | --root-key ROOT)] [--verbose] [--keep-state] [--wrangler-traces] [--requests FILE]`;

const SPEC = {
  ...SERVER_OPTIONS,
  memories: "number",
  queries: "number",
  batch: "number",
  concurrency: "number",
  data: "string",
  seed: "number",
  warmup: "number",
  out: "string",
  "group-stats": "boolean",
  requests: "string",
  "cpu-profile": "string",
};

const DEFAULT_DATA = path.resolve(ROOT, "..", "shared", "bench", "locomo-dev.json");

// Other first names, swapped in for the conversations' speakers.
const NAME_POOL = `Aisha Alex Amara Ana Andrei Anya Arjun Ben Bianca Carlos Chen Chloe Dana Daniel Diego Elena Emeka Emma
Farah Felix Grace Hana Hugo Ibrahim Ines Isaac Ivy Jamal Javier Jin Julia Kai Kenji Lara Leo Lina Luca Maya Mei Mira
Nadia Nikhil Noah Nora Olga Omar Owen Paulo Priya Quinn Rafael Rosa Ruth Sam Sara Sofia Tariq Tess Theo Uma Victor
Wen Yara Yusuf Zara Zoe`.split(/\s+/);

const TYPES = ["message", "message", "message", "message", "fact", "event", "note", "preference"];

/**
 * @param {() => number} rng
 * @template T @param {T[]} list @returns {T}
 */
const pick = (rng, list) => list[Math.floor(rng() * list.length)];

/** @param {string} s */
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Builds the text generator from the LoCoMo file.
 * @param {import("./lib/locomo.mjs").Sample[]} samples
 * @param {number} seed
 */
export function makeCorpus(samples, seed) {
  /** @type {string[][]} */
  const turnSentences = [];
  /** @type {string[]} */
  const captions = [];
  /** @type {Set<string>} */
  const speakers = new Set();
  /** @type {string[]} */
  const questions = [];
  for (const sample of samples) {
    for (const who of [sample.conversation.speaker_a, sample.conversation.speaker_b]) if (who) speakers.add(String(who));
    for (const s of sessionsOf(sample)) {
      for (const turn of s.turns) {
        speakers.add(turn.speaker);
        const sentences = String(turn.text)
          .split(/(?<=[.!?])\s+/)
          .map((x) => x.trim())
          .filter((x) => x.length > 1);
        if (sentences.length) turnSentences.push(sentences);
        if (typeof turn.blip_caption === "string" && turn.blip_caption.trim()) captions.push(turn.blip_caption.trim());
      }
    }
    for (const qa of sample.qa ?? []) if (typeof qa.question === "string" && qa.question.trim()) questions.push(qa.question.trim());
  }
  if (!turnSentences.length || !questions.length) throw new Error("the data file has no turns or no questions");
  const speakerList = [...speakers];
  const nameRe = new RegExp(`\\b(${speakerList.map(escapeRe).join("|")})\\b`, "g");
  const names = [...speakerList, ...NAME_POOL];

  /**
   * Swaps each data speaker name for a pool name with probability `p` (consistently within one text).
   * @param {() => number} rng @param {string} text @param {number} p
   */
  const swapNames = (rng, text, p) => {
    /** @type {Map<string, string>} */
    const map = new Map();
    return text.replace(nameRe, (name) => {
      if (!map.has(name)) map.set(name, rng() < p ? pick(rng, NAME_POOL) : name);
      return /** @type {string} */ (map.get(name));
    });
  };

  /** Changes numbers: years move by a few, other numbers get a new value of similar size. @param {() => number} rng @param {string} text */
  const perturbNumbers = (rng, text) =>
    text.replace(/\b\d+\b/g, (digits) => {
      const n = Number(digits);
      if (n >= 1900 && n <= 2099) return String(n + Math.floor(rng() * 7) - 3);
      return String(Math.max(1, Math.round(n * (0.5 + rng() * 1.5) + rng() * 5)));
    });

  /**
   * The i-th memory; the same (seed, i) gives the same memory.
   * @param {number} i
   */
  const memory = (i) => {
    const rng = prng((seed * 1_000_003 + i * 7919) >>> 0);
    const r = rng();
    const count = r < 0.4 ? 1 : r < 0.75 ? 2 : r < 0.95 ? 3 : 4;
    /** @type {string[]} */
    const parts = [];
    for (let j = 0; j < count; j++) parts.push(pick(rng, pick(rng, turnSentences)));
    let body = perturbNumbers(rng, swapNames(rng, parts.join(" "), 0.5));
    if (rng() < 0.12 && captions.length) body += ` [shares ${pick(rng, captions)}]`;
    const speaker = pick(rng, names);
    const type = pick(rng, TYPES);
    // 15 minutes apart from 2022 on: 100,000 memories span under three years and all lie in the past. (Spacing them
    // hours apart put most of a 100k cube decades in the future, where no search may find them: a test of
    // validity filtering, not of search speed.)
    const validAt = new Date(Date.UTC(2022, 0, 1) + Math.floor(i * 15 * 60_000 + rng() * 60_000)).toISOString();
    return {
      content: `${speaker}: ${body}`,
      type,
      session_id: `session_${1 + Math.floor(i / 40)}`,
      valid_at: validAt,
      metadata: { speaker, n: i },
      source: { kind: "user_input", message_ids: [`L${i}`] },
    };
  };

  /**
   * `n` search queries: the data's questions in a seeded order (cycled if more are asked for), with names
   * swapped now and then like the memories.
   * @param {number} n
   */
  const queries = (n) => {
    const rng = prng((seed ^ 0x9e3779b9) >>> 0);
    /** @type {string[]} */
    const out = [];
    let order = [...questions];
    while (out.length < n) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (const q of order) {
        if (out.length >= n) break;
        out.push(swapNames(rng, q, 0.3));
      }
      order = [...questions];
    }
    return out;
  };

  return { memory, queries, sourceTurns: turnSentences.length, sourceQuestions: questions.length };
}

/** @param {number[]} values */
const sum = (values) => values.reduce((a, b) => a + b, 0);

/**
 * @param {string} url
 * @param {"GET" | "DELETE"} method
 * @returns {Promise<{ groupCommits: { groups: number, writes: number, passMs: number[], commitMs: number[] } }>}
 */
async function scaleTally(url, method) {
  const res = await fetch(`${url}/__scale`, { method });
  if (!res.ok) throw new Error(`/__scale answered ${res.status}`);
  return /** @type {any} */ (await res.json());
}

/** @param {string[]} argv */
export async function main(argv) {
  const opts = parseArgs(argv, SPEC);
  if (opts.help) {
    console.error(USAGE);
    return;
  }
  const total = Number(opts.memories ?? 10000);
  const queryCount = Number(opts.queries ?? 500);
  const batch = Number(opts.batch ?? 100);
  const concurrency = Number(opts.concurrency ?? 1);
  const seed = Number(opts.seed ?? 42);
  const warmup = Number(opts.warmup ?? 5);
  for (const [name, v, lo, hi] of /** @type {[string, number, number, number][]} */ ([
    ["memories", total, 1, 10_000_000],
    ["queries", queryCount, 1, 1_000_000],
    ["batch", batch, 1, 100],
    ["concurrency", concurrency, 1, 64],
    ["warmup", warmup, 0, 10_000],
  ])) {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new UsageError(`--${name} must be an integer from ${lo} to ${hi}`);
  }
  const dataFile = path.resolve(String(opts.data ?? DEFAULT_DATA));
  if (!existsSync(dataFile)) throw new UsageError(`no data file at ${dataFile} (give --data FILE)`);
  const corpus = makeCorpus(loadLocomo(dataFile), seed);
  const queries = corpus.queries(queryCount + warmup);

  // --group-stats: the cube's group commits during the fill, read from the scale probe's tally (src/scale-probe.ts),
  // which the server then runs with (its counting proxies cost a little: compare throughput without it).
  const groupStats = Boolean(opts["group-stats"]);
  if (groupStats && opts.url) throw new UsageError("--group-stats starts its own server (it needs SCALE_PROBE=1); drop --url");
  // --cpu-profile DIR: the Worker isolate's CPU profile of the fill and of the counted searches, through wrangler's
  // inspector (bench/lib/profile.mjs): DIR/fill.cpuprofile and DIR/search.cpuprofile (open them in DevTools), and a
  // summary by module and function in the result. Sampling costs a little: take latencies from a run without it.
  const profileDir = opts["cpu-profile"] ? path.resolve(String(opts["cpu-profile"])) : null;
  if (profileDir && opts.url) throw new UsageError("--cpu-profile starts its own server (it needs the inspector port); drop --url");
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  /** @type {Record<string, unknown>} */
  const profiles = {};
  /** @param {{ inspectorPort?: number }} server @param {string} phase @param {() => Promise<void>} fn */
  const profiled = async (server, phase, fn) => {
    if (!profileDir || !server.inspectorPort) return fn();
    const session = await startProfile(server.inspectorPort);
    await fn();
    const { profile, summary } = await session.stop();
    writeFileSync(path.join(profileDir, `${phase}.cpuprofile`), JSON.stringify(profile));
    profiles[phase] = summary;
  };
  const result = await withServer({ ...opts, "scale-probe": groupStats }, async (server) => {
    const api = server.client;
    const userId = `bench-latency-${randomBytes(4).toString("hex")}`;
    const rssBefore = server.rss();

    // Fill: batches of `batch`, `concurrency` requests in flight.
    const batches = Math.ceil(total / batch);
    /** @type {number[]} */
    const batchMs = [];
    /** @type {Record<string, number[]>} Server-Timing laps of the write requests, by name */
    const writeLaps = {};
    /** @type {Set<string>} */
    const distinct = new Set();
    let contentChars = 0;
    let next = 0;
    let written = 0;
    let lastLog = performance.now();
    const fillStart = performance.now();
    const cpuBeforeFill = cpuReading(server);
    if (groupStats) await scaleTally(server.url, "DELETE");
    const worker = async () => {
      for (;;) {
        const b = next++;
        if (b >= batches) return;
        /** @type {ReturnType<typeof corpus.memory>[]} */
        const memories = [];
        for (let i = b * batch; i < Math.min(total, (b + 1) * batch); i++) memories.push(corpus.memory(i));
        for (const m of memories) {
          distinct.add(m.content);
          contentChars += m.content.length;
        }
        const { body, ms, timing } = await api.writeMemories({ user_id: userId, memories });
        for (const [lap, dur] of Object.entries(timing)) (writeLaps[lap] ??= []).push(dur);
        if (!Array.isArray(body?.data) || body.data.length !== memories.length) {
          throw new Error(`POST /v1/memories wrote ${body?.data?.length} of ${memories.length} memories`);
        }
        batchMs.push(ms);
        written += memories.length;
        if (performance.now() - lastLog > 5000) {
          lastLog = performance.now();
          log(`filled ${written}/${total} (${Math.round(written / ((lastLog - fillStart) / 1000))}/s)`);
        }
      }
    };
    await profiled(server, "fill", async () => {
      await Promise.all(Array.from({ length: Math.min(concurrency, batches) }, worker));
    });
    const fillSeconds = (performance.now() - fillStart) / 1000;
    const fillCpu = cpuPerOperation(cpuBeforeFill, cpuReading(server), batches);
    const groups = groupStats ? (await scaleTally(server.url, "GET")).groupCommits : null;
    log(`filled ${written} memories in ${fillSeconds.toFixed(1)}s`);

    // Search: sequential, top_k 10; the first `warmup` queries are not counted.
    /** @type {number[]} */
    const clientMs = [];
    /** @type {number[]} */
    const serverMs = [];
    /** @type {number[]} */
    const resultCounts = [];
    /** @type {SearchRecord[]} one per counted search, in order */
    const searches = [];
    /** @type {Record<string, number | null> | null} */
    let cpuBeforeSearch = null;
    /** @param {number} from @param {number} to */
    const searchRange = async (from, to) => {
      for (let i = from; i < to; i++) {
        if (i === warmup) cpuBeforeSearch = cpuReading(server);
        const at = Date.now();
        const { body, ms, timing } = await api.search({ user_id: userId, query: queries[i], top_k: 10 });
        if (i < warmup) continue;
        clientMs.push(ms);
        if (typeof body?.timing_ms === "number") serverMs.push(body.timing_ms);
        resultCounts.push(Array.isArray(body?.data) ? body.data.length : 0);
        searches.push({ at, client_ms: round(ms, 2), timing_ms: body?.timing_ms ?? null, server_total_ms: timing.total ?? null });
        if ((i - warmup + 1) % 100 === 0) log(`searched ${i - warmup + 1}/${queryCount}`);
      }
    };
    await searchRange(0, Math.min(warmup, queries.length));
    await profiled(server, "search", () => searchRange(Math.min(warmup, queries.length), queries.length));
    const searchCpu = cpuPerOperation(cpuBeforeSearch, cpuReading(server), searches.length);
    const rssAfter = server.rss();

    // What the HTTP path costs with no work behind it: GET /health does no I/O. Under `wrangler dev` this is
    // mostly its local proxy, which production does not have; search_ms minus this is the API's own time.
    /** @type {number[]} */
    const baselineMs = [];
    const cpuBeforeHealth = cpuReading(server);
    for (let i = 0; i < 100 + warmup; i++) {
      const started = performance.now();
      await (await fetch(`${server.url}/health`)).arrayBuffer();
      if (i >= warmup) baselineMs.push(performance.now() - started);
    }
    const healthCpu = cpuPerOperation(cpuBeforeHealth, cpuReading(server), 100 + warmup);

    return {
      benchmark: "latency",
      memories: written,
      distinct_contents: distinct.size,
      mean_content_chars: round(contentChars / Math.max(1, written), 1),
      batch,
      concurrency,
      add_per_s: round(written / fillSeconds, 1),
      fill_seconds: round(fillSeconds, 2),
      add_batch_ms: summarize(batchMs, [50, 95], { mean: true }),
      // CPU ms per write request and per GET /health, by process: steadier than wall time on a shared machine, and
      // it says what is wrangler dev's local proxy ("proxy") and what is the API ("worker"; see lib/cpu.mjs).
      add_request_cpu_ms: fillCpu,
      // Where a write request's time went inside the Worker (Server-Timing laps, src/middleware/server-timing.ts).
      add_server_timing_ms: Object.fromEntries(Object.entries(writeLaps).map(([lap, ms]) => [lap, summarize(ms, [50], { mean: true })])),
      health_cpu_ms: healthCpu,
      // Commits the cube's single-memory writes took (durable-objects/cube/group-commit.ts) and each group's pass
      // inside the object, commit included (the object's own time per write under this concurrency).
      group_commit: groups
        ? {
            commits: groups.groups,
            writes: groups.writes,
            writes_per_commit: round(groups.writes / Math.max(1, groups.groups), 2),
            pass_ms: summarize(groups.passMs, [50, 95], { mean: true }),
            commit_ms: summarize(groups.commitMs, [50, 95], { mean: true }),
            // The object's storage time per write at this concurrency (SQL of the write plus its share of the commit),
            // and so the ceiling of single-memory writes per second into one cube that storage allows here.
            object_ms_per_write: round(sum(groups.passMs) / Math.max(1, groups.writes), 3),
            commit_ms_per_write: round(sum(groups.commitMs) / Math.max(1, groups.writes), 3),
            storage_ceiling_writes_per_s: round((1000 * groups.writes) / Math.max(1e-9, sum(groups.passMs)), 0),
            note: "measured with SCALE_PROBE=1 (counting proxies on the bindings)",
          }
        : null,
      queries: clientMs.length,
      warmup_queries: warmup,
      top_k: 10,
      mean_results: round(mean(resultCounts), 2),
      empty_results: resultCounts.filter((n) => n === 0).length,
      search_ms: summarize(clientMs, [50, 95, 99], { mean: true }),
      server_timing_ms: summarize(serverMs, [50, 95], { mean: true }),
      // The whole request inside the Worker (Server-Timing `total`: auth and validation included, the answer's
      // serialisation and what runs after it not), CPU per search by process, and what the slowest 5% have in common.
      search_server_total_ms: summarize(searches.flatMap((s) => (s.server_total_ms === null ? [] : [s.server_total_ms])), [50, 95], { mean: true }),
      search_cpu_ms: searchCpu,
      search_tail: searchTail(searches),
      http_baseline_ms: summarize(baselineMs, [50, 95], { mean: true }),
      cpu_profile: profileDir ? { dir: profileDir, ...profiles } : null,
      workerd_rss_mb: server.managed
        ? {
            before: rssBefore?.rss_mb ?? null,
            after: rssAfter?.rss_mb ?? null,
            processes: rssAfter?.pids.length ?? rssBefore?.pids.length ?? 0,
            note: "summed VmRSS of the workerd process(es) under wrangler dev: an upper bound for the Durable Object (the same process runs the Worker and the simulated D1/R2)",
          }
        : null,
      seed,
      data: path.relative(process.cwd(), dataFile) || dataFile,
      source_turns: corpus.sourceTurns,
      source_questions: corpus.sourceQuestions,
      ...runInfo(server),
      search_requests: searches,
    };
  });

  if (opts.requests) {
    writeFileSync(String(opts.requests), JSON.stringify(result.search_requests));
    log(`wrote ${result.search_requests.length} search records to ${opts.requests}`);
  }
  delete result.search_requests;
  emitResult(result, opts.out, log);
}

/**
 * @typedef {{ at: number, client_ms: number | null, timing_ms: number | null, server_total_ms: number | null }} SearchRecord
 */

/**
 * The slowest 5% of searches by client time against the rest: is the tail slow inside the Worker (server time) or
 * around it (the gap: the proxy hop, HTTP, and whatever else ran on workerd's thread meanwhile)?
 * @param {SearchRecord[]} searches
 */
function searchTail(searches) {
  const complete = searches.filter((s) => s.client_ms !== null && s.server_total_ms !== null);
  if (complete.length < 20) return null;
  const sorted = [...complete].sort((a, b) => Number(a.client_ms) - Number(b.client_ms));
  const cut = Math.floor(sorted.length * 0.95);
  /** @param {SearchRecord[]} group */
  const describe = (group) => ({
    count: group.length,
    client_ms: round(mean(group.map((s) => Number(s.client_ms))), 2),
    server_total_ms: round(mean(group.map((s) => Number(s.server_total_ms))), 2),
    gap_ms: round(mean(group.map((s) => Number(s.client_ms) - Number(s.server_total_ms))), 2),
  });
  return { slowest_5pct: describe(sorted.slice(cut)), rest: describe(sorted.slice(0, cut)) };
}
