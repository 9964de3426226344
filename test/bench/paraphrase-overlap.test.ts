import { describe, expect, it } from "vitest";
import data from "../../bench/data/paraphrase.json";
import { sharedWords } from "../../bench/paraphrase-overlap.mjs";

describe("paraphrase benchmark data", () => {
  it("flags a question that shares a content word with its fact, whatever its form, and nothing else", () => {
    expect(sharedWords("Priya", "Priya teaches chemistry.", "Who is teaching Priya's chemical class?")).toEqual(["teaching", "chemical"]);
    expect(sharedWords("Priya", "Priya teaches chemistry.", "What does Priya do for a living?")).toEqual([]);
  });

  it("every question shares no content word with its fact but the owner's name", () => {
    const clashes = data.owners.flatMap((owner) =>
      owner.pairs.flatMap(([fact, question]) => (sharedWords(owner.name, fact!, question!).length > 0 ? [question] : [])),
    );
    expect(clashes).toEqual([]);
    expect(data.owners.flatMap((o) => o.pairs)).toHaveLength(160);
  });
});
