import { describe, expect, it } from "vitest";
import { TIME_WORD, resolveDates } from "../../src/core/reader/dates";

/** A reference time: noon UTC of an ISO day, unless a time is given. */
const at = (iso: string): number => Date.parse(iso.length === 10 ? `${iso}T12:00:00Z` : iso);
const day = (iso: string): number => Date.parse(`${iso}T00:00:00Z`);

// Weekdays of the reference days used below, so each row can be checked by eye:
// 2026-11-19 Thu, 2026-11-20 Fri, 2026-11-21 Sat, 2026-11-22 Sun, 2026-11-23 Mon, 2026-11-25 Wed,
// 2026-01-02 Fri, 2026-03-01 Sun, 2024-03-01 Fri, 2024-02-29 Thu, 2028-02-27 Sun, 2023-01-01 Sun, 2024-12-31 Tue.
// [text, reference, rewritten text, validAt (start of the day / week / month / year) or null]
const EXAMPLES = [
  ["Alice went hiking yesterday", "2026-11-25", "Alice went hiking yesterday (2026-11-24)", "2026-11-24"],
  ["Yesterday I took the kids to the museum", "2026-11-25", "Yesterday (2026-11-24) I took the kids to the museum", "2026-11-24"],
  ["I am flying today", "2026-11-25", "I am flying today (2026-11-25)", "2026-11-25"],
  ["The opening night is tomorrow.", "2026-11-25", "The opening night is tomorrow (2026-11-26).", "2026-11-26"],
  ["we met the day before yesterday", "2026-11-25", "we met the day before yesterday (2026-11-23)", "2026-11-23"],
  ["the day after tomorrow is a holiday", "2028-02-27", "the day after tomorrow (2028-02-29) is a holiday", "2028-02-29"],
  ["Last night was amazing!", "2023-08-14T14:24:00Z", "Last night (2023-08-13) was amazing!", "2023-08-13"],
  ["this morning I ran 5k", "2026-11-25", "this morning (2026-11-25) I ran 5k", "2026-11-25"],
  ["concert tonight", "2026-11-25", "concert tonight (2026-11-25)", "2026-11-25"],
  // Month and year boundaries, leap years.
  ["it snowed yesterday", "2026-03-01", "it snowed yesterday (2026-02-28)", "2026-02-28"],
  ["it snowed yesterday", "2024-03-01", "it snowed yesterday (2024-02-29)", "2024-02-29"],
  ["see you tomorrow", "2024-12-31", "see you tomorrow (2025-01-01)", "2025-01-01"],
  ["the launch is next month", "2024-12-31", "the launch is next month (January 2025)", "2025-01-01"],
  ["I moved last month", "2023-01-01", "I moved last month (December 2022)", "2022-12-01"],
  ["one month ago I quit", "2026-03-31", "one month ago (February 2026) I quit", "2026-02-01"],
  ["a year ago we married", "2024-02-29", "a year ago (2023) we married", "2023-01-01"],
  ["I ran a marathon last year", "2023-01-01", "I ran a marathon last year (2022)", "2022-01-01"],
  ["we go next year", "2025-12-31", "we go next year (2026)", "2026-01-01"],
  ["this year has been hard", "2026-11-25", "this year (2026) has been hard", "2026-01-01"],
  ["it happened last week", "2026-01-02", "it happened last week (the week of 2025-12-22)", "2025-12-22"],
  // N units ago, digits and words.
  ["I went to a conference two days ago", "2023-07-12", "I went to a conference two days ago (2023-07-10)", "2023-07-10"],
  ["12 days ago", "2026-11-25", "12 days ago (2026-11-13)", "2026-11-13"],
  ["a couple of weeks ago", "2026-11-25", "a couple of weeks ago (the week of 2026-11-09)", "2026-11-09"],
  ["three weeks ago", "2026-11-25", "three weeks ago (the week of 2026-11-02)", "2026-11-02"],
  ["two months ago", "2026-11-25", "two months ago (September 2026)", "2026-09-01"],
  ["my 18th birthday ten years ago", "2023-06-27", "my 18th birthday ten years ago (2013)", "2013-01-01"],
  ["an hour ago", "2026-11-25T00:30:00Z", "an hour ago (2026-11-24)", "2026-11-24"],
  ["three months from now", "2026-11-25", "three months from now (February 2027)", "2027-02-01"],
  // Weeks and weekends (weeks start on Monday).
  ["this week is busy", "2026-11-25", "this week (the week of 2026-11-23) is busy", "2026-11-23"],
  ["next week", "2026-11-22", "next week (the week of 2026-11-23)", "2026-11-23"],
  ["last weekend we went biking", "2026-11-23", "last weekend (the weekend of 2026-11-21) we went biking", "2026-11-21"],
  ["last weekend we went biking", "2026-11-22", "last weekend (the weekend of 2026-11-14) we went biking", "2026-11-14"],
  ["this weekend", "2026-11-25", "this weekend (the weekend of 2026-11-28)", "2026-11-28"],
  ["next weekend", "2026-11-25", "next weekend (the weekend of 2026-12-05)", "2026-12-05"],
  ["this past weekend", "2026-11-25", "this past weekend (the weekend of 2026-11-21)", "2026-11-21"],
  // Weekdays: last = most recent strictly before today, next = first strictly after today, this = in this week.
  ["Last Friday I went to a council meeting", "2023-07-15", "Last Friday (2023-07-14) I went to a council meeting", "2023-07-14"],
  ["last Friday", "2026-11-20", "last Friday (2026-11-13)", "2026-11-13"],
  ["last Friday", "2026-11-25", "last Friday (2026-11-20)", "2026-11-20"],
  ["next Friday works", "2026-11-19", "next Friday (2026-11-20) works", "2026-11-20"],
  ["next Friday works", "2026-11-20", "next Friday (2026-11-27) works", "2026-11-27"],
  ["see my moves next Fri?", "2023-01-20", "see my moves next Fri (2023-01-27)?", "2023-01-27"],
  ["this coming Monday", "2026-11-23", "this coming Monday (2026-11-30)", "2026-11-30"],
  ["this Monday I started", "2026-11-25", "this Monday (2026-11-23) I started", "2026-11-23"],
  ["this Sunday we rest", "2026-11-25", "this Sunday (2026-11-29) we rest", "2026-11-29"],
  ["last Sunday's game", "2026-11-25", "last Sunday's (2026-11-22) game", "2026-11-22"],
  // Named months: last = most recent before this month, next = first after it.
  ["last May we moved", "2026-05-10", "last May (May 2025) we moved", "2025-05-01"],
  ["last March", "2026-11-25", "last March (March 2026)", "2026-03-01"],
  ["next May", "2026-05-10", "next May (May 2027)", "2027-05-01"],
  // Explicit dates count but are not rewritten.
  ["we married on 7 May 2023", "2026-11-25", "we married on 7 May 2023", "2023-05-07"],
  ["born May 7th, 1990", "2026-11-25", "born May 7th, 1990", "1990-05-07"],
  ["deadline 2024-02-29", "2026-11-25", "deadline 2024-02-29", "2024-02-29"],
  ["I graduated in 2019", "2026-11-25", "I graduated in 2019", "2019-01-01"],
  ["since September 2023", "2026-11-25", "since September 2023", "2023-09-01"],
  // A day that does not exist still names its month.
  ["on 29 February 2023", "2026-11-25", "on 29 February 2023", "2023-02-01"],
  // Left alone: bare weekdays, vague amounts, the verb "may", "last week of".
  ["on Friday I went out", "2026-11-25", "on Friday I went out", null],
  ["a few days ago", "2026-11-25", "a few days ago", null],
  ["I saw it recently", "2026-11-25", "I saw it recently", null],
  ["this may be true", "2026-11-25", "this may be true", null],
  ["the last week of June", "2026-11-25", "the last week of June", null],
  ["nothing happened", "2026-11-25", "nothing happened", null],
] as const;

describe("relative date resolution", () => {
  it.each(EXAMPLES)("%j at %s", (text, reference, rewritten, validAt) => {
    const resolution = resolveDates(text, at(reference));
    expect(resolution.text).toBe(rewritten);
    expect(resolution.validAt).toBe(validAt === null ? null : day(validAt));
  });

  it("finds a time only in texts holding a TIME_WORD, so texts without one can skip the rules", () => {
    const timed = EXAMPLES.filter(([, , , validAt]) => validAt !== null);
    expect(timed.length).toBeGreaterThan(50);
    for (const [text] of timed) expect(TIME_WORD.test(text), text).toBe(true);
    // Texts without one: no rule runs, nothing is found, the text comes back as it was.
    for (const text of ["on Friday I went out", "Kwame's birthday is November twenty-second", "nothing happened"]) {
      expect(TIME_WORD.test(text), text).toBe(false);
      expect(resolveDates(text, at("2026-11-25"))).toEqual({ text, dates: [], validAt: null });
    }
  });

  it("lists every expression in text order, and validAt is the first", () => {
    const resolution = resolveDates("Tomorrow we fly; last year we drove, and two days ago I packed.", at("2026-11-25"));
    expect(resolution.dates.map(({ expression, granularity, label }) => [expression, granularity, label])).toEqual([
      ["Tomorrow", "day", "2026-11-26"],
      ["last year", "year", "2025"],
      ["two days ago", "day", "2026-11-23"],
    ]);
    expect(resolution.validAt).toBe(day("2026-11-26"));
  });

  it("annotates once: a second pass changes nothing", () => {
    const once = resolveDates("Last week I went hiking, yesterday I rested.", at("2026-11-25"));
    const twice = resolveDates(once.text, at("2026-11-25"));
    expect(once.text).toBe("Last week (the week of 2026-11-16) I went hiking, yesterday (2026-11-24) I rested.");
    expect(twice.text).toBe(once.text);
    expect(twice.dates.map((date) => date.start)).toEqual(once.dates.map((date) => date.start));
  });

  it("depends only on the reference time, not on the clock", () => {
    const early = resolveDates("yesterday", at("1999-12-31T23:59:59Z"));
    const late = resolveDates("yesterday", at("2000-01-01T00:00:00Z"));
    expect(early.validAt).toBe(day("1999-12-30"));
    expect(late.validAt).toBe(day("1999-12-31"));
  });
});
