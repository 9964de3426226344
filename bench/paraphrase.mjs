// Paraphrase recall: does search find a fact when the question shares no word with it but the owner's name?
//
//   npm run bench -- paraphrase [--data bench/data/paraphrase.json] [--via rest|mem0] [--out FILE]
//
// Each owner of the data file gets a fresh cube holding their facts and distractors (one memory each, written in one
// batch through POST /v1/memories). Every question is searched once in its owner's cube with top_k 10 (--via rest:
// POST /v1/search; --via mem0: the mem0 facade's POST /mem0/v3/memories/search/ with filters {user_id}); a hit@n is
// the fact among the first n results. Before anything runs, every question is checked to share no content word with
// its fact except the owner's name (stemmed, and any common 5-letter prefix counts as shared): a pair that fails is
// an error in the data, not a result. Pairs at even positions of an owner's list are the tuning half, odd ones the
// held-out half; both are reported, and so is the whole.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SERVER_OPTIONS, UsageError, parseArgs } from "./lib/args.mjs";
import { emitResult, runInfo } from "./lib/report.mjs";
import { log, withServer } from "./lib/server.mjs";
import { mean, round, summarize } from "./lib/stats.mjs";
import { stem } from "./lib/stem.mjs";

export const USAGE = `npm run bench -- paraphrase [--data FILE] [--via rest|mem0] [--out FILE]
    [--url URL (--key KEY | --root-key ROOT)] [--verbose] [--keep-state] [--wrangler-traces]`;

const SPEC = { ...SERVER_OPTIONS, data: "string", via: "string", out: "string" };
const DEFAULT_DATA = path.join(path.dirname(fileURLToPath(import.meta.url)), "data", "paraphrase.json");
const TOP_K = 10;
const CUTS = [1, 3, 10];

// The same English function words the local embedder drops (src/adapters/local-embedder/tokenize.ts), plus question
// words: sharing "the" or "what" is no overlap of meaning.
const FUNCTION_WORDS = new Set(
  (
    "a about above after again against all am an and any are as at be because been before being below between both " +
    "but by can could did do does doing down during each few for from further had has have having he her here hers " +
    "herself him himself his how i if in into is it its itself just let me more most my myself no nor not now of off " +
    "on once only or other ought our ours ourselves out over own same shall she should so some such than that the " +
    "their theirs them themselves then there these they this those through to too under until up upon us very was we " +
    "were what when where which while who whom why will with would you your yours yourself yourselves " +
    "s t d ll m re ve don doesn didn isn aren wasn weren hasn haven hadn won wouldn shouldn couldn mustn can cannot"
  ).split(" "),
);

/** @param {string} text */
const contentWords = (text) => (text.normalize("NFKC").toLowerCase().match(/[\p{L}\p{M}\p{N}]+/gu) ?? []).filter((w) => !FUNCTION_WORDS.has(w));

/** @param {string} a @param {string} b */
const clash = (a, b) => stem(a) === stem(b) || (a.length >= 5 && b.length >= 5 && a.slice(0, 5) === b.slice(0, 5));

/**
 * The content words `question` shares with `fact`, the owner's name aside.
 * @param {string} owner @param {string} fact @param {string} question
 */
export function sharedWords(owner, fact, question) {
  const name = owner.toLowerCase();
  const factWords = contentWords(fact).filter((w) => w !== name);
  return contentWords(question).filter((w) => w !== name && factWords.some((f) => clash(w, f)));
}

/**
 * @typedef {{ name: string, pairs: [string, string][], distractors: string[] }} Owner
 * @typedef {{ owner: string, half: "tuning" | "held_out", question: string, rank: number | null, ms: number }} Scored
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

  const runTag = randomBytes(4).toString("hex");
  const result = await withServer(opts, async (server) => {
    const api = server.client;
    /** @type {Scored[]} */
    const scored = [];
    for (const owner of data.owners) {
      const userId = `paraphrase-${runTag}-${owner.name}`;
      const contents = [...owner.pairs.map(([fact]) => fact), ...owner.distractors];
      const { body } = await api.writeMemories({ user_id: userId, memories: contents.map((content) => ({ content })) });
      if (!Array.isArray(body?.data) || body.data.length !== contents.length) {
        throw new Error(`POST /v1/memories wrote ${body?.data?.length} of ${contents.length} memories`);
      }
      /** @type {string[]} */
      const ids = body.data.map((/** @type {any} */ m) => String(m.id));
      for (const [i, [, question]] of owner.pairs.entries()) {
        const { hits, ms } = await searchIds(api, via, userId, question);
        const at = hits.indexOf(ids[i]);
        scored.push({ owner: owner.name, half: i % 2 === 0 ? "tuning" : "held_out", question, rank: at < 0 ? null : at + 1, ms });
      }
      log(`${owner.name}: ${contents.length} memories, ${owner.pairs.length} questions`);
    }
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
      misses_at_3: scored.filter((q) => q.rank === null || q.rank > 3).map((q) => `${q.question} (${q.rank ?? "-"})`),
      search_ms: summarize(scored.map((q) => q.ms), [50, 95]),
      ...runInfo(server),
    };
  });
  emitResult(result, opts.out, log);
}

/**
 * The ids of the top 10 for `question` in the cube of `userId`.
 * @param {import("./lib/api.mjs").ApiClient} api @param {string} via @param {string} userId @param {string} question
 */
async function searchIds(api, via, userId, question) {
  if (via === "mem0") {
    const { body, ms } = await api.call("POST", "/mem0/v3/memories/search/", { query: question, filters: { user_id: userId }, top_k: TOP_K });
    return { hits: (body?.results ?? []).map((/** @type {any} */ m) => String(m.id)), ms };
  }
  const { body, ms } = await api.search({ user_id: userId, query: question, top_k: TOP_K });
  return { hits: (body?.data ?? []).map((/** @type {any} */ m) => String(m.id)), ms };
}
