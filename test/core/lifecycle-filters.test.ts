import { describe, expect, it } from "vitest";
import { toMemoryFilter } from "../../src/core/filters";
import { LIFECYCLE_ACTIONS, LIVE_STATES, MEMORY_STATES, refusal, transition } from "../../src/core/lifecycle";

describe("lifecycle transitions", () => {
  it.each([
    ["activated", "update", "activated"],
    ["generated", "update", "activated"],
    ["activated", "forget", "forgotten"],
    ["superseded", "forget", "forgotten"],
    ["activated", "expire", "expired"],
    ["archived", "expire", "expired"],
    ["activated", "archive", "archived"],
    ["archived", "restore", "activated"],
    ["forgotten", "rollback", "activated"],
    ["activated", "rollback", "activated"],
    ["activated", "supersede", "superseded"],
    ["activated", "merge", "merged"],
    ["activated", "absorb", "activated"],
    ["merged", "forget", "forgotten"],
    ["forgotten", "update", null],
    ["forgotten", "forget", null],
    ["expired", "update", null],
    ["expired", "expire", null],
    ["expired", "rollback", null],
    ["archived", "update", null],
    ["archived", "archive", null],
    ["activated", "restore", null],
    ["superseded", "rollback", null],
    ["merged", "merge", null],
  ] as const)("%s --%s--> %s", (from, action, to) => {
    expect(transition(from, action)).toBe(to);
  });

  it("expired is terminal: no action leads anywhere from it", () => {
    for (const action of LIFECYCLE_ACTIONS) expect(transition("expired", action)).toBeNull();
  });

  it("every refusal names the state and the action", () => {
    expect(refusal("expired", "rollback")).toBe("a memory in state expired cannot be rolled back");
  });

  it("only rollback brings a forgotten memory back, and nothing but forget leaves superseded or merged", () => {
    for (const action of LIFECYCLE_ACTIONS) {
      expect(transition("forgotten", action)).toBe(action === "rollback" ? "activated" : null);
      for (const from of ["superseded", "merged"] as const) {
        expect(transition(from, action)).toBe(action === "forget" ? "forgotten" : null);
      }
    }
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
