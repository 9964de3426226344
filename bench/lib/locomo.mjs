// LoCoMo data helpers (format: shared/bench/README.md).
import { readFileSync } from "node:fs";

/**
 * @typedef {{ speaker: string, dia_id: string, text: string, blip_caption?: string }} Turn
 * @typedef {{ question: string, answer?: unknown, evidence?: string[], category: number }} QA
 * @typedef {{ sample_id: string, conversation: Record<string, any>, qa: QA[] }} Sample
 * @typedef {{ session: number, dateTime: string | undefined, validAt: string | undefined, turns: Turn[] }} Session
 */

/** @param {string} file @returns {Sample[]} */
export function loadLocomo(file) {
  const data = JSON.parse(readFileSync(file, "utf8"));
  if (!Array.isArray(data)) throw new Error(`${file}: expected a JSON list of samples`);
  return data;
}

const MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];

/**
 * "1:56 pm on 8 May, 2023" → "2023-05-08T13:56:00.000Z" (treated as UTC). Undefined when it does not parse.
 * @param {string | undefined} text
 * @returns {string | undefined}
 */
export function parseSessionDate(text) {
  if (!text) return undefined;
  const m = String(text).trim().match(/^(\d{1,2}):(\d{2})\s*(am|pm)\s+on\s+(\d{1,2})\s+([A-Za-z]+),?\s+(\d{4})$/i);
  if (!m) return undefined;
  let hour = Number(m[1]) % 12;
  if (m[3].toLowerCase() === "pm") hour += 12;
  const month = MONTHS.findIndex((name) => name.startsWith(m[5].toLowerCase().slice(0, 3)));
  if (month < 0) return undefined;
  const date = new Date(Date.UTC(Number(m[6]), month, Number(m[4]), hour, Number(m[2])));
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/**
 * Sessions in numeric order, each with its turns in order.
 * @param {Sample} sample
 * @returns {Session[]}
 */
export function sessionsOf(sample) {
  const conv = sample.conversation;
  return Object.keys(conv)
    .map((key) => key.match(/^session_(\d+)$/))
    .filter((m) => m !== null)
    .map((m) => Number(/** @type {RegExpMatchArray} */ (m)[1]))
    .sort((a, b) => a - b)
    .map((n) => {
      const dateTime = conv[`session_${n}_date_time`];
      return { session: n, dateTime, validAt: parseSessionDate(dateTime), turns: Array.isArray(conv[`session_${n}`]) ? conv[`session_${n}`] : [] };
    });
}

/**
 * The memory text of a turn: "<speaker>: <text>", plus " [shares <caption>]" for image turns.
 * @param {Turn} turn
 */
export function turnContent(turn) {
  const caption = typeof turn.blip_caption === "string" && turn.blip_caption.trim() ? ` [shares ${turn.blip_caption.trim()}]` : "";
  return `${turn.speaker}: ${turn.text}${caption}`;
}

/**
 * Normalises one evidence entry into dia ids, as LoCoMo means them: "D:11:26" → ["D11:26"], "D30:05" → ["D30:5"],
 * "D8:6; D9:17" → ["D8:6", "D9:17"], and several ids in one string separated only by spaces
 * ("D9:1 D4:4 D4:6" → ["D9:1", "D4:4", "D4:6"]; held-out conversations have such entries, and reading the string as
 * one malformed id dropped the whole question). Anything that is not D<n>:<n> is dropped.
 * @param {string} entry
 * @returns {string[]}
 */
export function normaliseEvidence(entry) {
  /** @type {string[]} */
  const out = [];
  // An id is "D", an optional colon, digits, a colon, digits; spaces may sit inside one ("D 11 : 26") but an id
  // always starts with its D, so every D starts the next id.
  for (const part of String(entry).split(/[;,]|(?=D)/i)) {
    const id = normaliseDiaId(part);
    if (id) out.push(id);
  }
  return out;
}

/**
 * @param {string} raw
 * @returns {string | null}
 */
export function normaliseDiaId(raw) {
  const s = String(raw).replace(/\s+/g, "");
  const m = s.match(/^D:?0*(\d+):0*(\d+)$/i);
  return m ? `D${Number(m[1])}:${Number(m[2])}` : null;
}

/**
 * One LoCoMo session sent through MemReader (`messages`, sync: true): each turn a user message named by its speaker,
 * with its dia_id as id and the session's date-time as created_at. A step that failed waits for its backoff on the
 * cube's alarm, so the job is polled until it ends. Resolves to the ids of the memories written.
 * @param {import("./api.mjs").ApiClient} api
 * @param {string} userId
 * @param {ReturnType<typeof sessionsOf>[number]} s
 * @returns {Promise<string[]>}
 */
export async function ingestSession(api, userId, s) {
  const messages = s.turns.map((/** @type {any} */ turn) => ({
    role: "user",
    name: String(turn.speaker),
    id: String(turn.dia_id),
    content: turnContent(turn).slice(String(turn.speaker).length + 2),
    ...(s.validAt ? { created_at: s.validAt } : {}),
  }));
  let { body } = await api.call("POST", "/v1/memories", { user_id: userId, session_id: `session_${s.session}`, messages, sync: true });
  for (let polls = 0; body?.status !== "done" && body?.status !== "failed" && polls < 120; polls++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    body = { ...body, ...(await api.call("GET", `/v1/jobs/${body.job_id}`)).body };
  }
  if (body?.status !== "done") throw new Error(`ingest of session ${s.session} ended ${body?.status}: ${JSON.stringify(body?.job ?? body).slice(0, 500)}`);
  return (body.result ?? body.job?.result)?.memory_ids ?? [];
}
