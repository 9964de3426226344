/**
 * The times a search query names ("on October 13, 2023", "last week", "in September 2023"), as windows of time a
 * memory's `valid_at` can fall in. Search ranks the question's words again among the memories of those windows
 * (cube/search-dated.ts): a question about a day is about what was true or said that day. Pure, no clock of its own.
 *
 * The expressions are MemReader's (core/reader/dates.ts), so a query and a memory read the same words the same way.
 * Relative ones ("last Friday") resolve against the query's first explicit date when it has one ("what did Joanna
 * finish last Friday, as she said on 23 January, 2022?"), else against the search's reference time (by default now:
 * "what did I do last week?").
 */
import { type DateGranularity, resolveDates } from "./reader/dates";

const DAY_MS = 86_400_000;

/** A span of time [start, end), ms. */
export interface TimeWindow {
  start: number;
  end: number;
}

/** At most this many windows per query: a question rarely names more, and each adds a clause to the dated ranking's filter. */
export const MAX_QUERY_WINDOWS = 3;

/** The end of the period of `granularity` starting at `start` (UTC). */
function periodEnd(start: number, granularity: DateGranularity): number {
  const date = new Date(start);
  switch (granularity) {
    case "day":
      return start + DAY_MS;
    case "weekend":
      return start + 2 * DAY_MS;
    case "week":
      return start + 7 * DAY_MS;
    case "month":
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
    case "year":
      return Date.UTC(date.getUTCFullYear() + 1, 0, 1);
  }
}

/**
 * The windows `query` names, each widened by `slackMs` on both sides, in the order they are written, without
 * duplicates; at most MAX_QUERY_WINDOWS. Empty when the query names no time.
 */
export function queryWindows(query: string, referenceTime: number, slackMs: number): TimeWindow[] {
  const named = resolveDates(query, referenceTime).dates;
  const firstExplicit = named.find((date) => date.explicit);
  // Relative expressions again, against the explicit date; only a query naming one pays a second reading.
  const dates = firstExplicit ? resolveDates(query, firstExplicit.start).dates : named;
  const windows: TimeWindow[] = [];
  for (const date of dates) {
    const window = { start: date.start - slackMs, end: periodEnd(date.start, date.granularity) + slackMs };
    if (windows.some((w) => w.start === window.start && w.end === window.end)) continue;
    windows.push(window);
    if (windows.length === MAX_QUERY_WINDOWS) break;
  }
  return windows;
}
