/**
 * Resolves relative time expressions ("yesterday", "two weeks ago", "next Friday") against the time a message was
 * written, so a memory read months later still says when things happened. English only; pure, no clock of its own.
 *
 * Every day is a UTC calendar day and weeks start on Monday (ISO 8601). The rules, chosen to match how people use
 * the words (and LoCoMo's gold answers: "last night" on 14 August is 13 August, "last Friday" on Saturday 15 July
 * is 14 July):
 * - yesterday / last night = the day before; today / tonight / this morning|afternoon|evening = the day itself.
 * - last <weekday> = the most recent such day strictly before today (on a Friday, "last Friday" is a week ago);
 *   next / coming <weekday> = the first such day strictly after today; this <weekday> = that day of the current
 *   week, past or future. A bare weekday ("on Friday") stays unresolved: its tense decides, and we do not parse tense.
 * - last / this / next week = the Monday-based week before / containing / after today; weekend = its Saturday–Sunday.
 * - N days|hours ago = a day; N weeks ago = the week containing today − 7N days; months and years likewise coarse.
 * - Vague amounts ("a few days ago", "recently", "the other day") stay unresolved rather than guessed.
 * Explicit dates ("7 May 2023", "May 7, 2023", "2023-05-07", "September 2023", "in 2019") count too, unrewritten.
 */

export type DateGranularity = "day" | "weekend" | "week" | "month" | "year";

/** One time expression found in a text. */
export interface ResolvedDate {
  /** The words as written, e.g. "Last Friday". */
  expression: string;
  /** Where the expression starts in the original text. */
  index: number;
  granularity: DateGranularity;
  /** Start of the day / weekend / week / month / year it names (ms, UTC midnight). */
  start: number;
  /** The absolute form: "2026-11-24", "the weekend of 2026-11-21", "the week of 2026-11-16", "September 2026", "2025". */
  label: string;
  /** True for dates written absolutely ("7 May 2023"): they are not annotated again. */
  explicit: boolean;
}

export interface DateResolution {
  /** The text with " (label)" appended after every relative expression (and after its "'s", if any). */
  text: string;
  /** The expressions in text order. */
  dates: ResolvedDate[];
  /** The start of the first date in the text, the best single "when" for a memory; null without any. */
  validAt: number | null;
}

const DAY_MS = 86_400_000;

const MONTHS = [
  "january", "february", "march", "april", "may", "june",
  "july", "august", "september", "october", "november", "december",
] as const;
const MONTH_LABELS = MONTHS.map((month) => month[0]!.toUpperCase() + month.slice(1));
const MONTH_ABBREVIATIONS: Readonly<Record<string, number>> = {
  jan: 0, feb: 1, mar: 2, apr: 3, jun: 5, jul: 6, aug: 7, sep: 8, sept: 8, oct: 9, nov: 10, dec: 11,
};
const WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"] as const;

const NUMBER_WORDS: Readonly<Record<string, number>> = {
  a: 1, an: 1, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18,
  nineteen: 19, twenty: 20, "a couple of": 2, "a couple": 2, "couple of": 2,
};

const NUMBER = `(\\d{1,3}|${Object.keys(NUMBER_WORDS).sort((a, b) => b.length - a.length).join("|")})`;
const MONTH_NAME = `(${MONTHS.join("|")}|${Object.keys(MONTH_ABBREVIATIONS).join("|")})\\.?`;
/** Abbreviated weekdays count only capitalised: "next sat" may be a verb, "next Sat" is not. */
const WEEKDAY_ABBREVIATIONS: Readonly<Record<string, number>> = {
  Mon: 1, Tue: 2, Tues: 2, Wed: 3, Thu: 4, Thur: 4, Thurs: 4, Fri: 5, Sat: 6, Sun: 0,
};
const WEEKDAY = `(${WEEKDAYS.join("|")}|${Object.keys(WEEKDAY_ABBREVIATIONS).join("|")})`;
/** "last week of June", "the last Friday of the month": a different construction, left alone. */
const NOT_OF = "\\b(?!\\s+of\\b)";
/** A trailing "'s" ("yesterday's game") belongs to the expression, so the annotation goes after it. */
const POSSESSIVE = "\\b(?:['’]s\\b)?";

type Resolved = Omit<ResolvedDate, "expression" | "index" | "explicit">;

interface Rule {
  pattern: RegExp;
  explicit?: boolean;
  /** The date the match names, or null when the words turn out not to be one (an impossible day, "may"). */
  resolve(match: RegExpExecArray, today: number, reference: number): Resolved | null;
}

const rule = (source: string): RegExp => new RegExp(`\\b${source}`, "giu");

/** The rules; overlapping matches go to the one starting first, then the longest. */
const RULES: readonly Rule[] = [
  { pattern: rule(`the day before yesterday${POSSESSIVE}`), resolve: (_, today) => day(today - 2 * DAY_MS) },
  { pattern: rule(`the day after tomorrow${POSSESSIVE}`), resolve: (_, today) => day(today + 2 * DAY_MS) },
  { pattern: rule(`yesterday${POSSESSIVE}`), resolve: (_, today) => day(today - DAY_MS) },
  { pattern: rule(`last night${POSSESSIVE}`), resolve: (_, today) => day(today - DAY_MS) },
  { pattern: rule(`(?:today|tonight)${POSSESSIVE}`), resolve: (_, today) => day(today) },
  { pattern: rule(`this (?:morning|afternoon|evening)${POSSESSIVE}`), resolve: (_, today) => day(today) },
  { pattern: rule(`tomorrow${POSSESSIVE}`), resolve: (_, today) => day(today + DAY_MS) },
  {
    pattern: rule(`${NUMBER}\\s+(hour|day|week|month|year)s?\\s+(ago|from now)\\b`),
    resolve: (match, today, reference) => {
      const amount = (match[3]!.toLowerCase() === "ago" ? -1 : 1) * parseCount(match[1]!);
      const unit = match[2]!.toLowerCase() as Unit;
      // Hours count from the message's time: "3 hours ago" at 01:00 is the day before.
      return unit === "hour" ? day(reference + amount * 3_600_000) : shift(today, unit, amount);
    },
  },
  {
    pattern: rule(`(last|next|this|this past|this coming)\\s+(weekend|week|month|year)${NOT_OF}${POSSESSIVE}`),
    resolve: (match, today) => {
      const step = direction(match[1]!);
      const unit = match[2]!.toLowerCase();
      if (unit === "weekend") return weekend(weekStart(today) + step * 7 * DAY_MS);
      return shift(today, unit as Exclude<Unit, "hour">, step);
    },
  },
  {
    pattern: rule(`(last|next|this|coming|this past|this coming)\\s+${WEEKDAY}${NOT_OF}${POSSESSIVE}`),
    resolve: (match, today) => {
      const target = weekdayIndex(match[2]!);
      if (target < 0) return null;
      const current = new Date(today).getUTCDay();
      const prefix = match[1]!.toLowerCase();
      if (prefix === "this") return day(weekStart(today) + ((target + 6) % 7) * DAY_MS);
      if (direction(prefix) < 0) return day(today - ((current - target + 7) % 7 || 7) * DAY_MS);
      return day(today + ((target - current + 7) % 7 || 7) * DAY_MS);
    },
  },
  {
    pattern: rule(`(last|next|this|this past|this coming)\\s+(${MONTHS.join("|")})${NOT_OF}${POSSESSIVE}`),
    resolve: (match, today) => {
      // "may" is mostly the verb: only a capitalised May is the month.
      if (match[2] === "may" || match[2] === "MAY") return null;
      const month = MONTHS.indexOf(match[2]!.toLowerCase() as (typeof MONTHS)[number]);
      const now = new Date(today);
      const step = direction(match[1]!);
      let year = now.getUTCFullYear();
      if (step < 0 && month >= now.getUTCMonth()) year -= 1;
      if (step > 0 && month <= now.getUTCMonth()) year += 1;
      return monthOf(year, month);
    },
  },
  // Explicit dates: found so a memory gets its validAt, never rewritten.
  {
    pattern: rule(`(\\d{4})-(\\d{2})-(\\d{2})\\b`),
    explicit: true,
    resolve: (match) => calendarDay(Number(match[1]), Number(match[2]) - 1, Number(match[3])),
  },
  {
    pattern: rule(`(\\d{1,2})(?:st|nd|rd|th)?(?:\\s+of)?\\s+${MONTH_NAME},?\\s+(\\d{4})\\b`),
    explicit: true,
    resolve: (match) => calendarDay(Number(match[3]), monthIndex(match[2]!), Number(match[1])),
  },
  {
    pattern: rule(`${MONTH_NAME}\\s+(\\d{1,2})(?:st|nd|rd|th)?,?\\s+(\\d{4})\\b`),
    explicit: true,
    resolve: (match) => calendarDay(Number(match[3]), monthIndex(match[1]!), Number(match[2])),
  },
  {
    pattern: rule(`(${MONTHS.join("|")}),?\\s+(\\d{4})\\b`),
    explicit: true,
    resolve: (match) => (isCapitalised(match[1]!) ? monthOf(Number(match[2]), monthIndex(match[1]!)) : null),
  },
  {
    pattern: rule(`in\\s+((?:19|20)\\d\\d)\\b(?![-/:.]\\d)`),
    explicit: true,
    resolve: (match) => yearOf(Number(match[1])),
  },
];

/**
 * A word or character every rule's match contains (the rules above: yesterday / tomorrow / today / tonight, "ago" and
 * "from now", last / next / this / coming, or a digit in every explicit date). A text without one holds no time
 * expression, and resolveDates answers it without running the rules: most texts, so search's "when" stage
 * (core/answer-time.ts) and MemReader skip a few dozen regular expressions per text. A new rule must keep this true
 * (test/core/reader-dates.test.ts checks every example with a time against it).
 */
export const TIME_WORD = /\b(?:yesterday|tomorrow|today|tonight|ago|now|last|next|this|coming)\b|\d/iu;

/**
 * Finds the time expressions in `text` and resolves them against `reference` (ms): relative ones are annotated in
 * place ("went hiking yesterday" → "went hiking yesterday (2026-11-24)"), which keeps the original words searchable.
 * Annotating twice is harmless: an expression already followed by a parenthesis is left as it is.
 */
export function resolveDates(text: string, reference: number): DateResolution {
  if (!TIME_WORD.test(text)) return { text, dates: [], validAt: null };
  const today = startOfDay(reference);
  const found: ResolvedDate[] = [];
  for (const { pattern, explicit = false, resolve } of RULES) {
    pattern.lastIndex = 0;
    for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
      const resolved = resolve(match, today, reference);
      if (resolved !== null) found.push({ ...resolved, expression: match[0], index: match.index, explicit });
    }
  }
  found.sort((a, b) => a.index - b.index || b.expression.length - a.expression.length);

  const dates: ResolvedDate[] = [];
  let out = "";
  let cursor = 0;
  for (const date of found) {
    if (date.index < cursor) continue;
    const end = date.index + date.expression.length;
    out += text.slice(cursor, end);
    cursor = end;
    dates.push(date);
    if (date.explicit) continue;
    const annotated = /^\s*\([^)]*\)/u.exec(text.slice(end));
    if (annotated !== null) {
      // Already annotated (a second pass, or the writer did it): keep it and do not read the date inside again.
      out += annotated[0];
      cursor = end + annotated[0].length;
    } else {
      out += ` (${date.label})`;
    }
  }
  out += text.slice(cursor);
  return { text: out, dates, validAt: dates[0]?.start ?? null };
}

type Unit = "hour" | "day" | "week" | "month" | "year";

/** The day, week, month or year `amount` units from `today` (hours are handled by the caller). */
function shift(today: number, unit: Exclude<Unit, "hour">, amount: number): Resolved {
  const now = new Date(today);
  switch (unit) {
    case "day":
      return day(today + amount * DAY_MS);
    case "week":
      return week(weekStart(today + amount * 7 * DAY_MS));
    case "month":
      return monthOf(now.getUTCFullYear(), now.getUTCMonth() + amount);
    case "year":
      return yearOf(now.getUTCFullYear() + amount);
  }
}

function day(ms: number) {
  const start = startOfDay(ms);
  return { granularity: "day" as const, start, label: isoDay(start) };
}

function weekend(monday: number) {
  const saturday = monday + 5 * DAY_MS;
  return { granularity: "weekend" as const, start: saturday, label: `the weekend of ${isoDay(saturday)}` };
}

function week(monday: number) {
  return { granularity: "week" as const, start: monday, label: `the week of ${isoDay(monday)}` };
}

/** The month `month` (0-based, may overflow either way) of `year`. */
function monthOf(year: number, month: number) {
  const start = Date.UTC(year, month, 1);
  const date = new Date(start);
  return {
    granularity: "month" as const,
    start,
    label: `${MONTH_LABELS[date.getUTCMonth()]} ${date.getUTCFullYear()}`,
  };
}

function yearOf(year: number) {
  return { granularity: "year" as const, start: Date.UTC(year, 0, 1), label: String(year) };
}

/** A written calendar day, or null when it does not exist (31 April, 29 February 2023). */
function calendarDay(year: number, month: number, dayOfMonth: number) {
  if (month < 0 || month > 11 || dayOfMonth < 1) return null;
  const start = Date.UTC(year, month, dayOfMonth);
  if (new Date(start).getUTCMonth() !== month) return null;
  return day(start);
}

const startOfDay = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;

/** Monday of the week containing `ms`. */
const weekStart = (ms: number): number => startOfDay(ms) - ((new Date(ms).getUTCDay() + 6) % 7) * DAY_MS;

const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

const direction = (prefix: string): -1 | 0 | 1 => {
  const words = prefix.toLowerCase();
  if (words === "last" || words === "this past") return -1;
  if (words === "this") return 0;
  return 1;
};

const parseCount = (words: string): number =>
  /^\d+$/u.test(words) ? Number(words) : (NUMBER_WORDS[words.toLowerCase().replace(/\s+/gu, " ")] ?? 1);

function monthIndex(name: string): number {
  const lower = name.toLowerCase().replace(/\.$/u, "");
  const full = MONTHS.indexOf(lower as (typeof MONTHS)[number]);
  return full >= 0 ? full : (MONTH_ABBREVIATIONS[lower] ?? -1);
}

function weekdayIndex(name: string): number {
  const full = WEEKDAYS.indexOf(name.toLowerCase() as (typeof WEEKDAYS)[number]);
  return full >= 0 ? full : (WEEKDAY_ABBREVIATIONS[name] ?? -1);
}

const isCapitalised = (word: string): boolean => /^\p{Lu}/u.test(word);
