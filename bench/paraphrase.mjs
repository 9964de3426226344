// Paraphrase recall: does search find a fact when the question shares no word with it but the owner's name?
//
//   npm run bench -- paraphrase [--data bench/data/paraphrase.json] [--via rest|mem0] [--concurrency 4] [--out FILE]
//
// Every question gets a cube of its own holding its owner's facts and distractors (one memory each, written in one
// batch through POST /v1/memories) and is searched once there with top_k 10 (--via rest: POST /v1/search; --via mem0:
// the mem0 facade's POST /mem0/v3/memories/search/ with filters {user_id}); a hit@n is the fact among the first n.
// A cube per question makes the measurement the same every run: a search counts as a read of its hits (access
// counts, working memory), so questions asked earlier in a shared cube changed the ranking of the next ones, and how
// much depended on their order and the time between them (hit@3 moved by ±0.025 between runs of the same code).
// Cubes are independent, so running several questions at once (--concurrency) changes nothing but the wall time.
// Before anything runs, every question is checked to share no content word with its fact except the owner's name
// (stemmed, and any common 5-letter prefix counts as shared): a pair that fails is an error in the data, not a
// result. Pairs at even positions of an owner's list are the tuning half, odd ones the held-out half; both are
// reported, and so is the whole.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SERVER_OPTIONS, UsageError, parseArgs } from "./lib/args.mjs";
import { emitResult, runInfo } from "./lib/report.mjs";
import { log, withServer } from "./lib/server.mjs";
import { mean, round, summarize } from "./lib/stats.mjs";
import { sharedWords } from "./paraphrase-overlap.mjs";

export const USAGE = `npm run bench -- paraphrase [--data FILE] [--via rest|mem0] [--concurrency N] [--out FILE]
    [--url URL (--key KEY | --root-key ROOT)] [--verbose] [--keep-state] [--wrangler-traces]`;

const SPEC = { ...SERVER_OPTIONS, data: "string", via: "string", out: "string", concurrency: "number" };
const DEFAULT_DATA = path.join(path.dirname(fileURLToPath(import.meta.url)), "data", "paraphrase.json");
const TOP_K = 10;
const CUTS = [1, 3, 10];

/**
 * @typedef {{ name: string, pairs: [string, string][], distractors: string[] }} Owner
 * @typedef {{ owner: string, half: "tuning" | "held_out", question: string, rank: number | null, ms: number, first: string }} Scored
 */

/** @param {string[]} argv */
export async function main(argv) {
  const opts = parseArgs(argv, SPEC);
  if (opts.help) {
    console.error(USAGE);
    return;
  }
  const via = String(opts.via ?? "rest");
  if (via !== "rest" && via !== "mem0") throw new UsageError(`unknown --via ${via} (rest or mem0)`);
  const file = path.resolve(String(opts.data ?? DEFAULT_DATA));
  /** @type {{ owners: Owner[] }} */
  const data = JSON.parse(readFileSync(file, "utf8"));
  const problems = data.owners.flatMap((o) =>
    o.pairs.flatMap(([fact, question]) => {
      const shared = sharedWords(o.name, fact, question);
      return shared.length > 0 ? [`"${question}" shares ${shared.join(", ")} with "${fact}"`] : [];
    }),
  );
  if (problems.length > 0) throw new Error(`${file}: questions that share words with their facts:\n  ${problems.join("\n  ")}`);

  const concurrency = Number(opts.concurrency ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError("--concurrency must be a positive integer");
  // Only names the run's cubes apart from other runs' on the same server; it plays no part in any ranking.
  const runTag = randomBytes(4).toString("hex");
  const result = await withServer(opts, async (server) => {
    const api = server.client;
    const questions = data.owners.flatMap((owner) => owner.pairs.map((_, i) => ({ owner, i })));
    /** @type {Scored[]} */
    const scored = await inPool(questions, concurrency, async ({ owner, i }) => {
      const userId = `paraphrase-${runTag}-${owner.name}-${i}`;
      const contents = [...owner.pairs.map(([fact]) => fact), ...owner.distractors];
      const { body } = await api.writeMemories({ user_id: userId, memories: contents.map((content) => ({ content })) });
      if (!Array.isArray(body?.data) || body.data.length !== contents.length) {
        throw new Error(`POST /v1/memories wrote ${body?.data?.length} of ${contents.length} memories`);
      }
      const factId = String(body.data[i].id);
      const question = owner.pairs[i][1];
      const { hits, ms } = await searchIds(api, via, userId, question);
      const at = hits.findIndex((hit) => hit.id === factId);
      const first = hits[0] ? `${hits[0].content}${why(hits[0])}` : "-";
      const fact = at < 0 ? "" : `; fact${why(hits[at])}`;
      return { owner: owner.name, half: i % 2 === 0 ? "tuning" : "held_out", question, rank: at < 0 ? null : at + 1, ms, first: first + fact };
    });
    log(`${questions.length} questions, each in a cube of its own`);
    const hitsAt = (/** @type {Scored[]} */ qs) =>
      Object.fromEntries([["questions", qs.length], ...CUTS.map((n) => [`hit_at_${n}`, round(mean(qs.map((q) => (q.rank !== null && q.rank <= n ? 1 : 0))))])]);
    return {
      benchmark: "paraphrase",
      via,
      data: path.relative(process.cwd(), file),
      owners: data.owners.length,
      ...hitsAt(scored),
      tuning: hitsAt(scored.filter((q) => q.half === "tuning")),
      held_out: hitsAt(scored.filter((q) => q.half === "held_out")),
      // Each miss with its fact's rank and what came first instead; via REST with each one's channel ranks
      // (channel#rank, strongest first): which channel lifted the first, which one the fact lost in.
      misses_at_3: scored.filter((q) => q.rank === null || q.rank > 3).map((q) => `${q.question} (${q.rank ?? "-"}; first: ${q.first})`),
      search_ms: summarize(scored.map((q) => q.ms), [50, 95]),
      ...runInfo(server),
    };
  });
  emitResult(result, opts.out, log);
}

/**
 * The top 10 for `question` in the cube of `userId`: ids, contents and (via REST) each one's channel ranks.
 * @param {import("./lib/api.mjs").ApiClient} api @param {string} via @param {string} userId @param {string} question
 */
async function searchIds(api, via, userId, question) {
  if (via === "mem0") {
    const { body, ms } = await api.call("POST", "/mem0/v3/memories/search/", { query: question, filters: { user_id: userId }, top_k: TOP_K });
    return { hits: (body?.results ?? []).map((/** @type {any} */ m) => ({ id: String(m.id), content: String(m.memory) })), ms };
  }
  const { body, ms } = await api.search({ user_id: userId, query: question, top_k: TOP_K });
  /** @type {{ id: string, content: string, ranks?: string[] }[]} */
  const hits = (body?.data ?? []).map((/** @type {any} */ m) => ({
    id: String(m.id),
    content: String(m.content),
    ranks: (m.channel_ranks ?? []).map((/** @type {any} */ r) => `${r.channel}#${r.rank}`),
  }));
  return { hits, ms };
}

/** A hit's channel ranks as " [lexical#1, vector#17]", or nothing (mem0 does not say). @param {{ ranks?: string[] }} hit */
function why(hit) {
  return hit.ranks && hit.ranks.length > 0 ? ` [${hit.ranks.join(", ")}]` : "";
}

/**
 * `work` over `items` with at most `limit` running at once; the results in the items' order.
 * @template T, R
 * @param {T[]} items @param {number} limit @param {(item: T) => Promise<R>} work
 * @returns {Promise<R[]>}
 */
async function inPool(items, limit, work) {
  /** @type {R[]} */
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await work(items[at]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
