import { describe, expect, it } from "vitest";
import { MAX_QUERY_WINDOWS, queryWindows } from "../../src/core/query-dates";

const DAY = 86_400_000;
const day = (iso: string) => Date.parse(`${iso}T00:00:00Z`);
const NOW = Date.parse("2026-12-06T15:30:00Z"); // a Sunday

describe("the times a query names (queryWindows)", () => {
  it("turns an explicit date into its day, in either order of day and month", () => {
    expect(queryWindows("What painting did Melanie show to Caroline on October 13, 2023?", NOW, 0)).toEqual([
      { start: day("2023-10-13"), end: day("2023-10-14") },
    ]);
    expect(queryWindows("What did Gina find for her clothing store on 1 February, 2023?", NOW, 0)).toEqual([
      { start: day("2023-02-01"), end: day("2023-02-02") },
    ]);
  });

  it("widens every window by the slack on both sides", () => {
    expect(queryWindows("on 2023-05-07", NOW, DAY)).toEqual([{ start: day("2023-05-06"), end: day("2023-05-09") }]);
  });

  it("gives a month and a year their whole span", () => {
    expect(queryWindows("What did I read in September 2023?", NOW, 0)).toEqual([{ start: day("2023-09-01"), end: day("2023-10-01") }]);
    expect(queryWindows("Where did we live in 2019?", NOW, 0)).toEqual([{ start: day("2019-01-01"), end: day("2020-01-01") }]);
  });

  it("resolves relative times against the reference time when the query has no explicit date", () => {
    // Sunday 6 December 2026: last week is Monday 23 – Sunday 29 November; yesterday is Saturday the 5th.
    expect(queryWindows("what did I cook last week?", NOW, 0)).toEqual([{ start: day("2026-11-23"), end: day("2026-11-30") }]);
    expect(queryWindows("who called yesterday?", NOW, 0)).toEqual([{ start: day("2026-12-05"), end: day("2026-12-06") }]);
  });

  it("resolves relative times against the query's first explicit date when it has one", () => {
    // 23 January 2022 was a Sunday: "last Friday" is the 21st.
    expect(queryWindows("What did Joanna just finish last Friday on 23 January, 2022?", NOW, 0)).toEqual([
      { start: day("2022-01-21"), end: day("2022-01-22") },
      { start: day("2022-01-23"), end: day("2022-01-24") },
    ]);
  });

  it("names nothing for a query without a time, and at most MAX_QUERY_WINDOWS distinct windows", () => {
    expect(queryWindows("What does Priya do for a living?", NOW, 0)).toEqual([]);
    expect(queryWindows("may I ask what you think?", NOW, 0)).toEqual([]);
    expect(queryWindows("on 2023-05-07 and again 2023-05-07", NOW, 0)).toHaveLength(1);
    expect(queryWindows("2023-01-01, 2023-02-01 and 2023-03-01", NOW, 0)).toHaveLength(MAX_QUERY_WINDOWS);
    expect(queryWindows("2023-01-01, 2023-02-01, 2023-03-01 and 2023-04-01", NOW, 0).map((w) => w.start)).toEqual(
      ["2023-01-01", "2023-02-01", "2023-03-01"].map(day),
    );
    const many = queryWindows("2023-01-01, 2023-02-01, 2023-03-01, 2023-04-01 and 2023-05-01", NOW, 0);
    expect(many).toHaveLength(MAX_QUERY_WINDOWS);
    expect(many[0]!.start).toBe(day("2023-01-01"));
  });
});
