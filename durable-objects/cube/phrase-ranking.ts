/**
 * BM25 rankings answered from each phrase's scores, kept per cube generation (cube/term-stats.ts), instead of one
 * FTS5 MATCH per ranking. FTS5's bm25() is a sum over the query's phrases: for each phrase, its IDF (from the
 * phrase's document count and the table's row count) times a function of the phrase's weighted frequency in the
 * row and the row's length — nothing in one phrase's share depends on the other phrases. So a row's score for
 * `"a" OR "b"` is its score for `"a"` alone plus its score for `"b"` alone, and with those kept per phrase, a
 * ranking is a sum over a few posting lists instead of FTS5 scoring every match of every word again: the question's
 * own BM25 ranking was 27% of a 10,000-memory search, and the expanded and sub-query rankings as much again
 * (docs/search.md, "Where a search's time goes"). The shares are summed in the query's phrase order, as FTS5 does,
 * and read at full precision, so the scores are FTS5's to the bit (test/durable-objects/phrase-ranking.test.ts).
 *
 * Only the expressions search builds (core/fts-query.ts `matchAny`, core/subject.ts) are understood: groups of
 * quoted phrases joined by OR, optionally inside one column filter, the groups joined by AND. Anything else is left
 * to FTS5 (parsePhrases answers null).
 */

import { kthSmallest } from "../../src/core/quickselect";

/** One phrase's matches: memory seqs ascending and, at the same index, the phrase's BM25 share in that row (≤ 0). */
export interface PhraseScores {
  readonly seqs: Float64Array;
  readonly scores: Float64Array;
}

/** A memory's seq (its FTS rowid) and BM25 score (lower is better). */
export interface ScoredRow {
  rowid: number;
  score: number;
}

/** A phrase (`"word"` or `^"word"`) and the one-phrase FTS5 expression that scores it alone, column filter included. */
const PHRASE = /^\^?"[\p{L}\p{N}]+"$/u;
const COLUMN_GROUP = /^\{(\w+)\} : \((.+)\)$/u;

/**
 * The groups of one-phrase FTS5 expressions a search expression is made of — a row matches when every group has a
 * phrase in it — or null when the expression is not of the forms search builds. The phrase order is the
 * expression's, which is the order FTS5 sums their shares in.
 */
export function parsePhrases(expression: string): string[][] | null {
  const groups: string[][] = [];
  for (const part of splitTopLevel(expression, " AND ")) {
    const inner = part.startsWith("(") && part.endsWith(")") && balanced(part.slice(1, -1)) ? part.slice(1, -1) : part;
    const column = COLUMN_GROUP.exec(inner);
    const body = column ? column[2]! : inner;
    const phrases = body.split(" OR ");
    if (!phrases.every((phrase) => PHRASE.test(phrase))) return null;
    groups.push(phrases.map((phrase) => (column ? `{${column[1]}} : (${phrase})` : phrase)));
  }
  return groups.length > 0 ? groups : null;
}

/** `text` split at `separator` where no parenthesis is open. */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (depth === 0 && text.startsWith(separator, i)) {
      parts.push(text.slice(start, i));
      start = i + separator.length;
      i += separator.length - 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

function balanced(text: string): boolean {
  let depth = 0;
  for (const c of text) {
    if (c === "(") depth++;
    else if (c === ")" && --depth < 0) return false;
  }
  return depth === 0;
}

/**
 * Rows are summed in arrays indexed by seq while the largest seq is at most this (8 MB of sums, 1 MB of counts);
 * past it (a cube that has seen over a million writes), in a Map — slower, never unbounded.
 */
export const DENSE_SEQS_MAX = 1 << 20;

/**
 * The best `limit` rows matching every group (a group matches when any of its phrases does), scored as FTS5's bm25()
 * scores the whole expression: each matched phrase's share, added in phrase order. Best first, ties by seq.
 */
export function bestMatches(groups: readonly (readonly PhraseScores[])[], limit: number, denseMax: number = DENSE_SEQS_MAX): ScoredRow[] {
  let size = 0;
  for (const group of groups) for (const list of group) if (list.seqs.length > 0) size = Math.max(size, list.seqs[list.seqs.length - 1]! + 1);
  if (size === 0 || limit < 1) return [];
  if (size > denseMax) return best(sumSparse(groups), limit);
  const summed = sumDense(groups, size);
  try {
    return best(summed, limit);
  } finally {
    summed.release();
  }
}

/** The `limit` rows with the lowest sums, ordered by (sum, seq). */
function best({ rows, count, sumOf }: Summed, limit: number): ScoredRow[] {
  let kept = count;
  if (count > limit) {
    // Every row at or below the limit-th lowest sum (ties included), in place at the front of `rows`.
    const values = new Float64Array(count);
    for (let i = 0; i < count; i++) values[i] = sumOf(rows[i]!);
    const threshold = kthSmallest(values, limit);
    kept = 0;
    for (let i = 0; i < count; i++) {
      const seq = rows[i]!;
      if (sumOf(seq) <= threshold) rows[kept++] = seq;
    }
  }
  const order = rows.subarray(0, kept).sort((a, b) => sumOf(a) - sumOf(b) || a - b);
  const answer: ScoredRow[] = new Array(Math.min(kept, limit));
  for (let i = 0; i < answer.length; i++) answer[i] = { rowid: order[i]!, score: sumOf(order[i]!) };
  return answer;
}

/** Rows matching every group (the first `count` of `rows`) and each one's sum; `release` hands scratch space back. */
interface Summed {
  rows: Float64Array;
  count: number;
  sumOf: (seq: number) => number;
  release(): void;
}

/**
 * The sums and match counts by seq, kept between rankings (a search sums about five; fresh arrays each time were 90 KB
 * of garbage per ranking at 10,000 memories) and zeroed back after use, up to the ranking's largest seq. They grow to
 * the largest cube the isolate has ranked: 9 bytes per seq, at most 9 MB at DENSE_SEQS_MAX. Rankings are synchronous
 * and do not nest, so one pair serves the isolate; `inUse` keeps that true if one ever did (it would get fresh arrays).
 */
let scratch = { sums: new Float64Array(0), matched: new Uint8Array(0), inUse: false };

/** The rows in every group, and each one's sum: in arrays indexed by seq (below `size`). */
function sumDense(groups: readonly (readonly PhraseScores[])[], size: number): Summed {
  if (scratch.inUse || scratch.sums.length < size) {
    const fresh = { sums: new Float64Array(size), matched: new Uint8Array(size), inUse: false };
    if (!scratch.inUse) scratch = fresh;
    return sumInto(fresh, groups, size);
  }
  return sumInto(scratch, groups, size);
}

function sumInto(space: typeof scratch, groups: readonly (readonly PhraseScores[])[], size: number): Summed {
  space.inUse = true;
  const { sums, matched } = space;
  // How many groups, in order, each row has matched so far: a row is a match when it reaches groups.length.
  for (let g = 0; g < groups.length; g++) {
    for (const { seqs, scores } of groups[g]!) {
      for (let i = 0; i < seqs.length; i++) {
        const seq = seqs[i]!;
        sums[seq] = sums[seq]! + scores[i]!;
        if (matched[seq] === g) matched[seq] = g + 1;
      }
    }
  }
  const last = groups.length;
  let count = 0;
  for (const { seqs } of groups[last - 1]!) count += seqs.length;
  const rows = new Float64Array(count);
  count = 0;
  for (const { seqs } of groups[last - 1]!) {
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i]!;
      if (matched[seq] !== last) continue;
      matched[seq] = last + 1;
      rows[count++] = seq;
    }
  }
  return {
    rows,
    count,
    sumOf: (seq) => sums[seq]!,
    release: () => {
      sums.fill(0, 0, size);
      matched.fill(0, 0, size);
      space.inUse = false;
    },
  };
}

/** The same in a Map, for cubes whose seqs run past {@link DENSE_SEQS_MAX}. */
function sumSparse(groups: readonly (readonly PhraseScores[])[]): Summed {
  const rowsBySeq = new Map<number, { sum: number; matched: number }>();
  groups.forEach((group, g) => {
    for (const { seqs, scores } of group) {
      for (let i = 0; i < seqs.length; i++) {
        const seq = seqs[i]!;
        let row = rowsBySeq.get(seq);
        if (!row) rowsBySeq.set(seq, (row = { sum: 0, matched: 0 }));
        row.sum += scores[i]!;
        if (row.matched === g) row.matched = g + 1;
      }
    }
  });
  const rows: number[] = [];
  for (const [seq, row] of rowsBySeq) if (row.matched === groups.length) rows.push(seq);
  return { rows: Float64Array.from(rows), count: rows.length, sumOf: (seq) => rowsBySeq.get(seq)!.sum, release: () => {} };
}
