import { describe, expect, it } from "vitest";
import { asksWhen, statesTime } from "../../src/core/answer-time";

// Answer-type matching for "when" questions (core/answer-time.ts; search's use of it: cube/search-when.ts).

describe("questions that ask for a time", () => {
  it("are the ones that open with when, since when, what/which year|date|day|month|time, or how long ago", () => {
    for (const q of ["When was Kwame born?", "  when did Ingrid get married", "Since when has Tomasz lived in Leeds?", "What year did Farhan graduate?",
      "Which day is the dentist?", "what time does the gym open?", "How long ago did Leilani move?"]) {
      expect(asksWhen(q), q).toBe(true);
    }
  });

  it("are not questions that merely contain the word, or words that begin with it", () => {
    for (const q of ["Where was Kwame born?", "What did Erin do when she moved?", "Whenever Sofia travels, what does she pack?",
      "What trips has Kenji taken?", "Which yearbook photo did Priya pick?", "birthday"]) {
      expect(asksWhen(q), q).toBe(false);
    }
  });
});

describe("texts that state a time", () => {
  it("name a month or weekday as a name, a year, or a time MemReader resolves", () => {
    for (const t of ["Kwame's birthday is November 22.", "Leilani's wedding anniversary is in September.", "Farhan plays cricket on Saturdays.",
      "Sofia passed the bar exam in 2016.", "Graduated 1998, then moved.", "I went to a support group yesterday.", "We moved two years ago."]) {
      expect(statesTime(t), t).toBe(true);
    }
  });

  it("do not include the verbs may and march, other numbers, or texts with no time at all", () => {
    for (const t of ["Kwame's father is a retired teacher.", "We may march to the park.", "Call 555-2016 for tickets.", "It weighs 2,015 grams.",
      "Version 3.2019 is out.", "Room 20151 is upstairs."]) {
      expect(statesTime(t), t).toBe(false);
    }
  });
});
