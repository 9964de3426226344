import { describe, expect, it } from "vitest";
import { normaliseEvidence } from "../../bench/lib/locomo.mjs";

// The recall harness scores every question by its evidence ids; an entry it cannot read drops the question.
describe("LoCoMo evidence entries", () => {
  it.each([
    ["D9:1 D4:4 D4:6", ["D9:1", "D4:4", "D4:6"]],
    ["D8:6; D9:17", ["D8:6", "D9:17"]],
    ["D8:6,D9:17", ["D8:6", "D9:17"]],
    ["D:11:26", ["D11:26"]],
    ["D30:05", ["D30:5"]],
    ["D 3 : 4", ["D3:4"]],
    ["D5", []],
    ["unknown", []],
  ])("%s → %j", (entry, ids) => {
    expect(normaliseEvidence(entry)).toEqual(ids);
  });
});
