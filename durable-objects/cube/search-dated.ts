/**
 * The dated stage of search: when the question names a time ("What painting did Melanie show on October 13,
 * 2023?", "what did I cook last week?"), its words are ranked again among only the memories of that time — those
 * whose `valid_at` (else `created_at`: when the memory became known) falls in a window the question names
 * (core/query-dates.ts). The ranking joins fusion as one more lexical answer, so a memory of that day that shares a
 * word with the question moves up; nothing is filtered out, and a question without a time is searched as before.
 * Synchronous SQL, like the rest of search.
 */
import type { ChannelRanking } from "../../src/core/fusion";
import { queryWindows } from "../../src/core/query-dates";

const DAY_MS = 86_400_000;

/**
 * The dated ranking's weight in fusion, against 1 for the question's own lexical ranking. Chosen on LoCoMo
 * conversations 0–2 (bench recall --tuned 0-2; docs/search.md, "Eleventh pass"): 0.5, 1, 1.5, 2 and 3 gave recall@10
 * 0.813, 0.811, 0.813, 0.813 and 0.811 there; 2 has the fewest context tokens of the three best. Checked on 3–4.
 */
export const DATED_WEIGHT = 2;

/**
 * How far past the named period a memory still counts as "of" it, both sides. 0, 1 and 3 days gave the same
 * recall on conversations 0–2; one day was kept for a reason, not a result: a memory written late in the evening
 * in one time zone has the next day's date in UTC.
 */
export const DATED_SLACK_MS = DAY_MS;

/** The memory's time in the search's SQL: when it was true, else when it was written. */
const MEMORY_TIME = "coalesce(m.valid_at, m.created_at)";

/** What the stage needs from the searcher: the lexical ranking of the question under an extra SQL condition on `m`. */
export interface DatedSource {
  rank(extra: string): string[];
}

/** The SQL condition (on the memories row `m`) for the windows the query names, or null when it names none. */
export function datedCondition(query: string, referenceTime: number): string | null {
  const windows = queryWindows(query, referenceTime, DATED_SLACK_MS);
  if (windows.length === 0) return null;
  // Integers computed here, never text from the request: safe to inline (and the filter verdicts key on the text).
  const spans = windows.map(({ start, end }) => `(${MEMORY_TIME} >= ${Math.floor(start)} AND ${MEMORY_TIME} < ${Math.floor(end)})`);
  return spans.length === 1 ? spans[0]! : `(${spans.join(" OR ")})`;
}

/** The dated ranking, or none when the query names no time or no memory of its times shares a word with it. */
export function datedRankings(source: DatedSource, query: string, referenceTime: number): ChannelRanking[] {
  const condition = datedCondition(query, referenceTime);
  if (condition === null) return [];
  const ids = source.rank(condition);
  return ids.length === 0 ? [] : [{ channel: "lexical", ids, weight: DATED_WEIGHT }];
}
