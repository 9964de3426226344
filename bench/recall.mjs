// Evidence recall on LoCoMo through provenance (shared/bench/README.md, "Metric").
//
//   npm run bench -- recall --data ../shared/bench/locomo-dev.json [--conversations 0-4] [--tuned 0-2] [--k 10] [--out FILE]
//     [--mode verbatim|infer]
//
// Each conversation goes into a fresh cube (a fresh user_id). --mode verbatim (default): every turn is written as one
// memory ("<speaker>: <text>", type "message", source.message_ids = [dia_id], valid_at = the session's date-time as
// UTC). --mode infer: each session is sent as a conversation (messages with role user, name = speaker, id = dia_id,
// created_at = the session's date-time) to MemReader with sync: true; recall is scored through the message ids each
// extracted memory cites.
// Every question of categories 1–4 is searched with top_k = max(k, 5); recall@5 and recall@k are scored on prefixes
// of that one list. --conversations (alias --convs) picks the conversations to run; with --tuned, the result also
// splits every number into the conversations settings were tuned on and the held-out rest, so a tuning run shows at
// once how it held. --details FILE writes one JSON line per question (its evidence and the turn ids and score of each hit), for
// looking at what was missed. --run-tag TAG names the cubes (user ids) instead of a random tag, and --search-only
// skips writing (the cubes of an earlier run with the same tag against the same --url server are searched again):
// with a server that stays up, each change to search is measured in the time of the searches alone, since
// wrangler dev reloads the Worker and keeps its state. One JSON object goes to stdout; progress goes to stderr.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { SERVER_OPTIONS, UsageError, parseArgs, parseRanges } from "./lib/args.mjs";
import { ingestSession, loadLocomo, normaliseDiaId, normaliseEvidence, sessionsOf, turnContent } from "./lib/locomo.mjs";
import { emitResult, runInfo } from "./lib/report.mjs";
import { log, withServer } from "./lib/server.mjs";
import { mean, round, summarize } from "./lib/stats.mjs";

export const USAGE = `npm run bench -- recall --data FILE [--conversations 0-4] [--tuned 0-2] [--k 10] [--out FILE] [--details FILE]
    [--mode verbatim|infer] [--channels lexical,vector,…] [--run-tag TAG [--search-only]]
    [--url URL (--key KEY | --root-key ROOT)] [--verbose] [--keep-state] [--wrangler-traces]`;

const SPEC = { ...SERVER_OPTIONS, data: "string", conversations: "string", convs: "string", tuned: "string", details: "string", channels: "string", k: "number", out: "string", mode: "string", "run-tag": "string", "search-only": "boolean" };
const BATCH = 100;
const CATEGORIES = [1, 2, 3, 4];

/**
 * @typedef {{ conversation: number, category: number, question: string, evidence: string[], hits: string[][], neighbours: string[][], covered5: number, coveredK: number, tokensK: number, ms: number }} Scored
 */

/** @param {string[]} argv */
export async function main(argv) {
  const opts = parseArgs(argv, SPEC);
  if (opts.help) {
    console.error(USAGE);
    return;
  }
  if (!opts.data) throw new UsageError("recall needs --data FILE (e.g. ../shared/bench/locomo-dev.json)");
  const mode = String(opts.mode ?? "verbatim");
  if (mode !== "verbatim" && mode !== "infer") throw new UsageError(`unknown --mode ${mode} (verbatim or infer)`);
  const k = Number(opts.k ?? 10);
  if (!Number.isInteger(k) || k < 1 || k > 100) throw new UsageError("--k must be an integer from 1 to 100");
  const topK = Math.max(k, 5);

  const samples = loadLocomo(path.resolve(String(opts.data)));
  if (opts.conversations !== undefined && opts.convs !== undefined) throw new UsageError("--convs is --conversations: give one of them");
  const convSpec = String(opts.conversations ?? opts.convs ?? `0-${samples.length - 1}`);
  const convs = parseRanges(convSpec);
  for (const i of convs) if (i >= samples.length) throw new UsageError(`--conversations ${convSpec}: the file has ${samples.length} conversations`);
  const channels = opts.channels === undefined ? null : String(opts.channels).split(",").map((c) => c.trim()).filter(Boolean);
  const tuned = opts.tuned === undefined ? null : new Set(parseRanges(String(opts.tuned)));

  if (opts["search-only"] && opts["run-tag"] === undefined) throw new UsageError("--search-only needs the --run-tag of the run that wrote the cubes");
  if (opts["run-tag"] !== undefined && !/^[\w.-]{1,40}$/.test(String(opts["run-tag"]))) throw new UsageError("--run-tag: 1–40 letters, digits, '.', '_' or '-'");
  const searchOnly = Boolean(opts["search-only"]);
  const runTag = String(opts["run-tag"] ?? randomBytes(4).toString("hex"));
  const result = await withServer(opts, async (server) => {
    const api = server.client;
    /** @type {Scored[]} */
    const scored = [];
    let ingestMs = 0;
    let memoriesWritten = 0;
    let skipped = 0;
    let droppedEvidence = 0;
    /** @type {Record<string, object>} */
    const perConv = {};

    for (const ci of convs) {
      const sample = samples[ci];
      const userId = `bench-${runTag}-${sample.sample_id ?? `conv${ci}`}`.replace(/[^\w.:-]/g, "_");
      const sessions = sessionsOf(sample);

      // 1. Write every turn, in order, in batches of 100.
      /** @type {object[]} */
      const memories = [];
      /** @type {Set<string>} */
      const turnIds = new Set();
      for (const s of sessions) {
        if (!s.validAt && s.turns.length) log(`warning: ${sample.sample_id} session_${s.session}: unparsed date "${s.dateTime}"`);
        for (const turn of s.turns) {
          const id = normaliseDiaId(turn.dia_id);
          if (id) turnIds.add(id);
          memories.push({
            content: turnContent(turn),
            type: "message",
            session_id: `session_${s.session}`,
            ...(s.validAt ? { valid_at: s.validAt } : {}),
            metadata: { speaker: turn.speaker, session: s.session },
            source: { kind: "user_input", message_ids: [turn.dia_id] },
          });
        }
      }
      const t0 = performance.now();
      if (mode === "infer" && !searchOnly) {
        const written = await ingestSessions(api, userId, sessions);
        memoriesWritten += written - memories.length;
      }
      for (let i = 0; mode === "verbatim" && !searchOnly && i < memories.length; i += BATCH) {
        const batch = memories.slice(i, i + BATCH);
        const { body } = await api.writeMemories({ user_id: userId, memories: batch });
        if (!Array.isArray(body?.data) || body.data.length !== batch.length) {
          throw new Error(`POST /v1/memories wrote ${body?.data?.length} of ${batch.length} memories: ${JSON.stringify(body).slice(0, 500)}`);
        }
      }
      const convIngestMs = performance.now() - t0;
      ingestMs += convIngestMs;
      memoriesWritten += memories.length;
      log(`${sample.sample_id}: ${memories.length} turns written in ${(convIngestMs / 1000).toFixed(1)}s`);

      // 2. Search every question of categories 1–4 that keeps some evidence.
      const before = scored.length;
      for (const qa of sample.qa ?? []) {
        if (!CATEGORIES.includes(Number(qa.category))) continue;
        const raw = (qa.evidence ?? []).flatMap(normaliseEvidence);
        const evidence = [...new Set(raw)].filter((id) => turnIds.has(id));
        droppedEvidence += new Set(raw).size - evidence.length;
        if (evidence.length === 0) {
          skipped++;
          continue;
        }
        const { body, ms } = await api.search({ user_id: userId, query: qa.question, top_k: topK, ...(channels ? { channels } : {}) });
        const hits = Array.isArray(body?.data) ? body.data : [];
        /** @param {number} n */
        const coveredBy = (n) => {
          /** @type {Set<string>} */
          const ids = new Set();
          for (const hit of hits.slice(0, n)) {
            // A hit's neighbours (its session context) are returned text too, and count in the tokens below.
            for (const mid of [...(hit?.source?.message_ids ?? []), ...(hit?.neighbours ?? []).flatMap((/** @type {any} */ nb) => nb?.message_ids ?? [])]) {
              const norm = normaliseDiaId(mid);
              if (norm) ids.add(norm);
            }
          }
          return evidence.filter((id) => ids.has(id)).length;
        };
        const textOf = (/** @type {any} */ hit) => String(hit?.content ?? "").length + (hit?.neighbours ?? []).reduce((n, /** @type {any} */ nb) => n + String(nb?.content ?? "").length, 0);
        const tokensK = hits.slice(0, k).reduce((sum, /** @type {any} */ hit) => sum + textOf(hit), 0) / 4;
        const hitIds = hits.slice(0, k).map((/** @type {any} */ hit) => (hit?.source?.message_ids ?? []).map(normaliseDiaId));
        const neighbourIds = hits.slice(0, k).map((/** @type {any} */ hit) => (hit?.neighbours ?? []).flatMap((/** @type {any} */ nb) => nb?.message_ids ?? []).map(normaliseDiaId));
        scored.push({ conversation: ci, category: Number(qa.category), question: qa.question, evidence, hits: hitIds, scores: hits.slice(0, k).map((/** @type {any} */ hit) => hit?.score ?? null), neighbours: neighbourIds, covered5: coveredBy(5), coveredK: coveredBy(k), tokensK, ms });
      }
      const mine = scored.slice(before);
      perConv[sample.sample_id ?? String(ci)] = { turns: memories.length, ...summary(mine, k) };
      log(`${sample.sample_id}: ${mine.length} questions searched`);
    }

    const summaryResult = {
      benchmark: "recall",
      mode,
      k,
      convs: convSpec,
      ...(channels ? { channels } : {}),
      conversations: convs.map((i) => samples[i].sample_id),
      memories: memoriesWritten,
      skipped_questions: skipped,
      dropped_evidence_ids: droppedEvidence,
      ...summary(scored, k),
      ...(tuned === null
        ? {}
        : {
            tuned_on: summary(scored.filter((q) => tuned.has(q.conversation)), k),
            held_out: summary(scored.filter((q) => !tuned.has(q.conversation)), k),
          }),
      per_conversation: perConv,
      search_ms: summarize(scored.map((q) => q.ms), [50, 95]),
      ingest_seconds: round(ingestMs / 1000, 2),
      ...runInfo(server),
    };
    return { summary: summaryResult, details: scored };
  });

  emitResult(result.summary, opts.out, log);
  if (opts.details) {
    writeFileSync(path.resolve(String(opts.details)), `${result.details.map((q) => JSON.stringify(q)).join("\n")}\n`);
    log(`per-question details written to ${opts.details}`);
  }
}

/**
 * The metrics of a set of scored questions (shared/bench/README.md, "Metric"), overall and per category.
 * @param {Scored[]} qs
 * @param {number} k
 */
function summary(qs, k) {
  const recallAt = (/** @type {Scored[]} */ some, /** @type {"covered5" | "coveredK"} */ f) => round(mean(some.map((q) => q[f] / q.evidence.length)));
  const allAt = (/** @type {Scored[]} */ some, /** @type {"covered5" | "coveredK"} */ f) =>
    round(mean(some.map((q) => (q[f] === q.evidence.length ? 1 : 0))));
  /** @type {Record<string, object>} */
  const byCategory = {};
  for (const c of CATEGORIES) {
    const some = qs.filter((q) => q.category === c);
    if (some.length) byCategory[String(c)] = { questions: some.length, [`recall_at_${k}`]: recallAt(some, "coveredK"), [`all_at_${k}`]: allAt(some, "coveredK") };
  }
  return {
    questions: qs.length,
    recall_at_5: recallAt(qs, "covered5"),
    [`recall_at_${k}`]: recallAt(qs, "coveredK"),
    all_at_5: allAt(qs, "covered5"),
    [`all_at_${k}`]: allAt(qs, "coveredK"),
    [`context_tokens_at_${k}`]: round(mean(qs.map((q) => q.tokensK)), 1),
    by_category: byCategory,
  };
}

/**
 * --mode infer: one conversation per session through MemReader (sync), returning the memories written.
 * @param {import("./lib/api.mjs").ApiClient} api
 * @param {string} userId
 * @param {ReturnType<typeof sessionsOf>} sessions
 */
async function ingestSessions(api, userId, sessions) {
  let written = 0;
  for (const s of sessions) if (s.turns.length > 0) written += (await ingestSession(api, userId, s)).length;
  return written;
}
