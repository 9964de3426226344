import { describe, expect, it } from "vitest";
import data from "../../bench/data/paraphrase.json";
import fresh from "../../bench/data/paraphrase-fresh.json";
import { sharedWords } from "../../bench/paraphrase-overlap.mjs";

describe("paraphrase benchmark data", () => {
  it("flags a question that shares a content word with its fact, whatever its form, and nothing else", () => {
    expect(sharedWords("Priya", "Priya teaches chemistry.", "Who is teaching Priya's chemical class?")).toEqual(["teaching", "chemical"]);
    expect(sharedWords("Priya", "Priya teaches chemistry.", "What does Priya do for a living?")).toEqual([]);
  });

  const clashes = (set: typeof data) =>
    set.owners.flatMap((owner) =>
      owner.pairs.flatMap(([fact, question]) => (sharedWords(owner.name, fact!, question!).length > 0 ? [question] : [])),
    );

  it("every question shares no content word with its fact but the owner's name", () => {
    expect(clashes(data)).toEqual([]);
    expect(data.owners.flatMap((o) => o.pairs)).toHaveLength(160);
  });

  it("so does the fresh set (written blind in the tenth session), whose owners are not the dev set's", () => {
    expect(clashes(fresh)).toEqual([]);
    expect(fresh.owners.flatMap((o) => o.pairs)).toHaveLength(80);
    const devOwners = new Set(data.owners.map((o) => o.name));
    expect(fresh.owners.filter((o) => devOwners.has(o.name))).toEqual([]);
  });
});
