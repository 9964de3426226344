// Activation memory: how often the stable part of the context stays byte-identical while a conversation is being
// written, and whether every new instruction or preference reaches it within one request (issue 15, item 1).
//
//   npm run bench -- activation --data ../shared/bench/locomo-dev.json [--convs 0-4] [--budget 1000]
//
// Each conversation goes into a fresh cube, session by session, through MemReader (`messages`, sync: true), so the
// reader types what it extracts (instructions, preferences, facts, events). After each session, the questions whose
// latest evidence is in that session are asked through POST /v1/context, in order: questions interleaved with writes.
// Measured per context request: is `stable.text` byte-identical to the previous request's? And after each session:
// are the instructions and preferences it produced in the next request's `stable.ids`?
import { randomBytes } from "node:crypto";
import path from "node:path";
import { SERVER_OPTIONS, UsageError, parseArgs, parseRanges } from "./lib/args.mjs";
import { ingestSession, loadLocomo, normaliseEvidence, sessionsOf } from "./lib/locomo.mjs";
import { emitResult, runInfo } from "./lib/report.mjs";
import { log, withServer } from "./lib/server.mjs";
import { round, summarize } from "./lib/stats.mjs";

export const USAGE = `npm run bench -- activation --data FILE [--convs 0-4] [--budget 1000] [--out FILE]
    [--url URL (--key KEY | --root-key ROOT)] [--verbose] [--keep-state]`;

const SPEC = { ...SERVER_OPTIONS, data: "string", convs: "string", budget: "number", out: "string" };
const CATEGORIES = [1, 2, 3, 4];
const STANDING_TYPES = ["instruction", "preference"];

/** @param {string[]} argv */
export async function main(argv) {
  const opts = parseArgs(argv, SPEC);
  if (opts.help) {
    console.error(USAGE);
    return;
  }
  if (!opts.data) throw new UsageError("activation needs --data FILE (e.g. ../shared/bench/locomo-dev.json)");
  const budget = Number(opts.budget ?? 1000);
  if (!Number.isInteger(budget) || budget < 50 || budget > 8000) throw new UsageError("--budget must be an integer from 50 to 8000");
  const samples = loadLocomo(path.resolve(String(opts.data)));
  const convs = parseRanges(String(opts.convs ?? `0-${samples.length - 1}`));
  const runTag = randomBytes(4).toString("hex");

  const result = await withServer(opts, async (server) => {
    const api = server.client;
    let requests = 0;
    let identical = 0;
    let identicalAfterPlainWrites = 0;
    let afterPlainWrites = 0;
    let standingWritten = 0;
    let standingReached = 0;
    /** @type {number[]} */
    const contextMs = [];
    /** @type {number[]} */
    const stableTokens = [];
    const perConv = {};

    for (const ci of convs) {
      const sample = samples[ci];
      const userId = `act-${runTag}-${sample.sample_id ?? `conv${ci}`}`.replace(/[^\w.:-]/g, "_");
      const sessions = sessionsOf(sample).filter((s) => s.turns.length > 0);
      const sessionOfTurn = new Map(sessions.flatMap((s) => s.turns.map((/** @type {any} */ t) => [String(t.dia_id), s.session])));
      /** @type {Map<number, string[]>} questions by the session holding their latest evidence */
      const due = new Map();
      for (const qa of sample.qa ?? []) {
        if (!CATEGORIES.includes(Number(qa.category))) continue;
        const at = Math.max(...(qa.evidence ?? []).flatMap(normaliseEvidence).map((id) => sessionOf(sessionOfTurn, id)));
        if (!Number.isFinite(at) || at < 0) continue;
        due.set(at, [...(due.get(at) ?? []), String(qa.question)]);
      }

      /** @type {Set<string>} */
      const standingSeen = new Set();
      let previousStable = null;
      /** @type {string[]} standing memories written since the last context request */
      let pending = [];
      let convRequests = 0;
      let convIdentical = 0;
      for (const s of sessions) {
        await ingestSession(api, userId, s);
        const fresh = [];
        for (const type of STANDING_TYPES) {
          const { body } = await api.call("GET", `/v1/memories?user_id=${encodeURIComponent(userId)}&type=${type}&limit=100`);
          for (const memory of body?.data ?? []) if (!standingSeen.has(memory.id)) fresh.push(memory.id);
        }
        for (const id of fresh) standingSeen.add(id);
        pending.push(...fresh);
        const questions = due.get(s.session) ?? [];
        let first = true;
        for (const question of questions) {
          const { body, ms } = await api.call("POST", "/v1/context", { user_id: userId, query: question, budget_tokens: budget });
          contextMs.push(ms);
          const stable = body?.stable ?? { text: "", ids: [], tokens: 0 };
          stableTokens.push(stable.tokens);
          const newStanding = first ? pending : [];
          if (first) {
            // The first request after a write is where new standing memories must already be.
            standingWritten += pending.length;
            standingReached += pending.filter((id) => stable.ids.includes(id)).length;
            pending = [];
          }
          if (previousStable !== null) {
            requests++;
            convRequests++;
            const same = stable.text === previousStable;
            if (same) {
              identical++;
              convIdentical++;
            }
            if (first && newStanding.length === 0) {
              afterPlainWrites++;
              if (same) identicalAfterPlainWrites++;
            }
          }
          previousStable = stable.text;
          first = false;
        }
      }
      perConv[sample.sample_id ?? String(ci)] = {
        sessions: sessions.length,
        compared_requests: convRequests,
        stable_identical_share: convRequests ? round(convIdentical / convRequests) : null,
        standing_memories: standingSeen.size,
      };
      log(`${sample.sample_id}: ${convRequests} context requests compared, ${convIdentical} with an identical stable part`);
    }

    return {
      benchmark: "activation",
      ...runInfo(server),
      budget_tokens: budget,
      conversations: perConv,
      context_requests_compared: requests,
      stable_identical_share: requests ? round(identical / requests) : null,
      stable_identical_share_after_writes_without_new_standing_memories: afterPlainWrites
        ? round(identicalAfterPlainWrites / afterPlainWrites)
        : null,
      new_instructions_and_preferences: standingWritten,
      reached_the_block_within_one_request: standingWritten ? round(standingReached / standingWritten) : null,
      stable_tokens: summarize(stableTokens, [50, 95]),
      context_ms: summarize(contextMs, [50, 95]),
    };
  });
  emitResult(result, opts.out, log);
}

/** @param {Map<string, number>} sessions @param {string} id */
function sessionOf(sessions, id) {
  return sessions.get(id) ?? -1;
}
