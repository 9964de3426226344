import { describe, expect, it } from "vitest";
import { type ExpansionSettings, expansionTerms } from "../../src/core/expand";
import { fuse } from "../../src/core/fusion";

const SETTINGS: ExpansionSettings = { feedbackDocs: 4, maxTerms: 3, minDocs: 2, maxShare: 0.2, maxDocuments: 1000 };
/** Document counts of a 100-memory cube. */
const DF: Record<string, number> = { clay: 3, pottery: 4, kids: 12, melanie: 60, class: 5, bowl: 2, beach: 1, yesterday: 30, caroline: 50 };
const df = (term: string) => DF[term] ?? 1;

describe("co-occurrence expansion (pseudo-relevance feedback)", () => {
  const feedback = [
    "Melanie: I signed up for a pottery class yesterday, clay everywhere",
    "Melanie: the kids made a clay bowl at the class",
    "Melanie: pottery is like therapy, the kids love the clay bowl",
    "Caroline: I went to the beach",
  ];

  it("adds the rare words several of the best hits share, best supported first", () => {
    expect(expansionTerms(["pottery"], feedback, df, 100, SETTINGS)).toEqual(["clay", "class", "bowl"]);
  });

  it("leaves out the query's own terms, one memory's words, stopwords and words common in the cube", () => {
    const terms = expansionTerms(["pottery"], feedback, df, 100, { ...SETTINGS, maxTerms: 20 });
    expect(terms).not.toContain("pottery");
    expect(terms).not.toContain("beach"); // only in one feedback memory
    expect(terms).not.toContain("the");
    expect(terms).not.toContain("melanie"); // in 60% of the cube
    expect(terms).not.toContain("yesterday"); // in 30% of the cube
    expect(terms).toContain("kids"); // 12%: under the share
  });

  it("leaves out words held by more than maxDocuments memories, whatever the cube's size", () => {
    expect(expansionTerms(["pottery"], feedback, df, 100, { ...SETTINGS, maxTerms: 20, maxDocuments: 4 })).not.toContain("class");
    expect(expansionTerms(["pottery"], feedback, df, 100, { ...SETTINGS, maxTerms: 20, maxDocuments: 5 })).toContain("class");
  });

  it("reads only the first feedbackDocs hits", () => {
    const late = ["Caroline: the beach", "Caroline: a quiet beach", ...feedback];
    expect(expansionTerms(["pottery"], late, df, 100, { ...SETTINGS, feedbackDocs: 2 })).toEqual(["beach"]);
  });

  it("adds nothing without enough feedback or in an empty cube", () => {
    expect(expansionTerms(["pottery"], feedback.slice(0, 1), df, 100, SETTINGS)).toEqual([]);
    expect(expansionTerms(["pottery"], feedback, df, 0, SETTINGS)).toEqual([]);
  });
});

describe("fusion of a channel's second ranking", () => {
  it("counts a ranking at its own weight and names its channel once", () => {
    const fused = fuse([
      { channel: "lexical", ids: ["a", "b"] },
      { channel: "lexical", ids: ["c", "a"], weight: 0.5 },
    ]);
    expect(fused.map((c) => c.id)).toEqual(["a", "b", "c"]);
    expect(fused[0]!.channels).toEqual(["lexical"]);
    expect(fused.every((c) => c.fused > 0 && c.fused <= 1)).toBe(true);
  });
});
