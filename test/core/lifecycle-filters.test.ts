import { describe, expect, it } from "vitest";
import { toMemoryFilter } from "../../src/core/filters";
import { LIVE_STATES, MEMORY_STATES, transition } from "../../src/core/lifecycle";

describe("lifecycle transitions", () => {
  it.each([
    ["activated", "update", "activated"],
    ["generated", "update", "activated"],
    ["activated", "forget", "forgotten"],
    ["superseded", "forget", "forgotten"],
    ["activated", "expire", "expired"],
    ["forgotten", "update", null],
    ["forgotten", "forget", null],
    ["expired", "update", null],
    ["expired", "expire", null],
  ] as const)("%s --%s--> %s", (from, action, to) => {
    expect(transition(from, action)).toBe(to);
  });

  it("no action leads anywhere from forgotten", () => {
    for (const action of ["update", "forget", "expire"] as const) expect(transition("forgotten", action)).toBeNull();
    expect(MEMORY_STATES).toContain("forgotten");
  });
});

describe("filters", () => {
  it("defaults to live states and normalises single values", () => {
    expect(toMemoryFilter({})).toEqual({ states: LIVE_STATES });
    expect(toMemoryFilter({ type: "fact", tags: "a", state: "forgotten" })).toEqual({
      types: ["fact"],
      tags: ["a"],
      states: ["forgotten"],
    });
  });

  it("converts time bounds to milliseconds", () => {
    const filter = toMemoryFilter({ created_after: "2026-01-01T00:00:00Z", updated_before: "2026-01-02T00:00:00+01:00" });
    expect(filter.createdAfter).toBe(Date.UTC(2026, 0, 1));
    expect(filter.updatedBefore).toBe(Date.UTC(2026, 0, 1, 23));
  });
});
