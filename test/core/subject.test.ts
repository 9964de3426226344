import { describe, expect, it } from "vitest";
import { SUBJECT, aspectQueries, opensWith, subjectQuery, subjectTerms } from "../../src/core/subject";

/** How many memories of a 100-memory chat open with each word. */
const OPENING: Record<string, number> = { melanie: 48, caroline: 50, owner: 100, thanks: 2, kids: 0 };
const opening = (term: string) => OPENING[term] ?? 0;

describe("subject sub-queries", () => {
  it("a term that opens a good part of the cube is a subject", () => {
    expect(subjectTerms(["kids", "melanie", "like"], opening, 100)).toEqual(["melanie"]);
    expect(subjectTerms(["melanie", "caroline"], opening, 100)).toEqual(["melanie", "caroline"]);
  });

  it("a term that opens nearly every memory is the cube's owner and selects nothing; one that opens two is a coincidence", () => {
    expect(subjectTerms(["owner", "thanks"], opening, 100)).toEqual([]);
    expect(subjectTerms(["thanks"], opening, 100, { ...SUBJECT, minMemories: 2 })).toEqual(["thanks"]);
    expect(subjectTerms(["melanie"], opening, 0)).toEqual([]);
  });

  it("ranks the other terms among the subject's memories, and nothing when no other term is left", () => {
    expect(subjectQuery(["melanie"], ["kids", "melanie", "like"])).toBe('({content} : (^"melanie")) AND ("kids" OR "like")');
    expect(subjectQuery(["jon", "gina"], ["jon", "gina", "common"])).toBe('({content} : (^"jon" OR ^"gina")) AND ("common")');
    expect(subjectQuery(["melanie"], ["melanie"])).toBeNull();
    expect(subjectQuery([], ["kids"])).toBeNull();
  });

  it("counts the memories that open with a term through an initial-token query on the content column", () => {
    expect(opensWith("melanie")).toBe('{content} : (^"melanie")');
  });

  it("ranks each aspect alone, among the subject's memories when there is a subject", () => {
    expect(aspectQueries(["caroline"], ["lgbtq", "events", "caroline", "participated"])).toEqual([
      '({content} : (^"caroline")) AND ("lgbtq")',
      '({content} : (^"caroline")) AND ("events")',
      '({content} : (^"caroline")) AND ("participated")',
    ]);
    expect(aspectQueries([], ["pottery", "kids"])).toEqual(['"pottery"', '"kids"']);
  });

  it("has no aspects when fewer than two terms are left, and at most the maximum", () => {
    expect(aspectQueries(["melanie"], ["melanie", "kids"])).toEqual([]);
    expect(aspectQueries([], ["kids"])).toEqual([]);
    expect(aspectQueries([], ["a1", "b2", "c3", "d4", "e5"], 3)).toEqual(['"a1"', '"b2"', '"c3"']);
  });

  it("leaves out words held by more than maxDocuments memories: ranking one alone reads its whole posting list", () => {
    const df = (term: string) => ({ going: 400, camping: 12, planning: 30 })[term] ?? 0;
    expect(aspectQueries([], ["planning", "going", "camping"], 4, df, 150)).toEqual(['"planning"', '"camping"']);
    expect(aspectQueries([], ["going", "camping"], 4, df, 150)).toEqual([]);
  });
});
