import { describe, expect, it } from "vitest";
import { MAX_QUERY_TERMS, ftsMatchExpression, queryTerms } from "../../src/core/fts-query";

describe("fts query", () => {
  it.each([
    ["what is Alice allergic to?", '"what" OR "is" OR "alice" OR "allergic" OR "to"'],
    ['"peanuts', '"peanuts"'],
    ["NEAR(a b", '"near" OR "a" OR "b"'],
    ["cats AND -dogs*", '"cats" OR "and" OR "dogs"'],
    ["Café crème", '"café" OR "crème"'],
    ["東京 2023", '"東京" OR "2023"'],
  ])("%j becomes a quoted disjunction", (input, expected) => {
    expect(ftsMatchExpression(input)).toBe(expected);
  });

  it.each(['"', "*", "()", "-", "'", "   "])("%j has no term", (input) => {
    expect(ftsMatchExpression(input)).toBeNull();
  });

  it("deduplicates and caps the terms", () => {
    expect(queryTerms("a A a b")).toEqual(["a", "b"]);
    const many = Array.from({ length: 200 }, (_, i) => `w${i}`).join(" ");
    expect(queryTerms(many)).toHaveLength(MAX_QUERY_TERMS);
  });
});
