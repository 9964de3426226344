import { describe, expect, it } from "vitest";
import { MAX_QUERY_TERMS, ftsMatchExpression, queryTerms, searchTerms } from "../../src/core/fts-query";

describe("fts query", () => {
  it.each([
    ["what is Alice allergic to?", '"alice" OR "allergic"'],
    ['"peanuts', '"peanuts"'],
    ["NEAR(a b", '"near" OR "b"'],
    ["cats AND -dogs*", '"cats" OR "dogs"'],
    ["who are you", '"who" OR "are" OR "you"'],
    ["Café crème", '"café" OR "crème"'],
    ["東京 2023", '"東京" OR "2023"'],
  ])("%j becomes a quoted disjunction of its content words", (input, expected) => {
    expect(ftsMatchExpression(input)).toBe(expected);
  });

  it("drops stopwords only when something else is left", () => {
    expect(searchTerms("What did she do?")).toEqual(["what", "did", "she", "do"]);
    expect(searchTerms("What did she paint?")).toEqual(["paint"]);
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
