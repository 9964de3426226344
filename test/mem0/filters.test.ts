/** mem0 filters → cube scope + our `where` (src/mem0/filters.ts), table-driven. */
import { describe, expect, it } from "vitest";
import { FilterError, translateFilters } from "../../src/mem0/filters";
import { whereProblems, type Where } from "../../src/core/where";

describe("mem0 filter translation", () => {
  const cases: { name: string; filters: Record<string, unknown>; scope: object; where: Where | null }[] = [
    { name: "a user alone is the cube and nothing more", filters: { user_id: "alice" }, scope: { user_id: "alice" }, where: null },
    {
      name: "a top-level AND picks the cube; run_id is the session",
      filters: { AND: [{ user_id: "alice" }, { run_id: "r1" }] },
      scope: { user_id: "alice" },
      where: { field: "session_id", op: "eq", value: "r1" },
    },
    {
      name: "agent and app ids of a user's memory are reserved metadata keys",
      filters: { user_id: "alice", agent_id: "bot", app_id: { in: ["web", "ios"] } },
      scope: { user_id: "alice" },
      where: {
        and: [
          { field: "metadata.mem0_agent_id", op: "eq", value: "bot" },
          { field: "metadata.mem0_app_id", op: "in", value: ["web", "ios"] },
        ],
      },
    },
    {
      name: "without a user the agent is the cube",
      filters: { agent_id: "bot", run_id: "*" },
      scope: { agent_id: "bot" },
      where: { field: "session_id", op: "ne", value: null },
    },
    {
      name: "dates become midnight UTC; categories are tags",
      filters: { AND: [{ user_id: "alice" }, { created_at: { gte: "2026-01-01", lt: "2026-02-01T12:00:00Z" } }, { categories: { in: ["food"] } }] },
      scope: { user_id: "alice" },
      where: {
        and: [
          { and: [{ field: "created_at", op: "gte", value: "2026-01-01T00:00:00Z" }, { field: "created_at", op: "lt", value: "2026-02-01T12:00:00Z" }] },
          { field: "tags", op: "in", value: ["food"] },
        ],
      },
    },
    {
      name: "OR and NOT nest; metadata keys compare",
      filters: { user_id: "alice", OR: [{ metadata: { topic: "travel" } }, { categories: "food" }], NOT: [{ run_id: "old" }] },
      scope: { user_id: "alice" },
      where: {
        and: [
          { or: [{ field: "metadata.topic", op: "eq", value: "travel" }, { field: "tags", op: "contains", value: "food" }] },
          { not: { field: "session_id", op: "eq", value: "old" } },
        ],
      },
    },
    {
      name: "an OR branch that only names the cube's own user is true, so the OR drops",
      filters: { AND: [{ user_id: "alice" }, { OR: [{ user_id: "alice" }, { run_id: "r1" }] }] },
      scope: { user_id: "alice" },
      where: null,
    },
  ];
  for (const { name, filters, scope, where } of cases) {
    it(name, () => {
      const translated = translateFilters(filters);
      expect(translated).toEqual({ scope, where });
      if (translated.where) expect(whereProblems(translated.where)).toEqual([]);
    });
  }

  const refused: { filters: Record<string, unknown>; says: string }[] = [
    { filters: { run_id: "r1" }, says: "must name a user_id" },
    { filters: { OR: [{ user_id: "a" }, { user_id: "b" }] }, says: "must name a user_id" },
    { filters: { AND: [{ user_id: "a" }, { user_id: "b" }] }, says: "two different user_ids" },
    { filters: { user_id: "a", OR: [{ user_id: "b" }, { run_id: "x" }] }, says: "other user_ids need their own call" },
    { filters: { user_id: "a", keywords: "x" }, says: "\"keywords\" is not supported" },
    { filters: { user_id: "a", created_at: { icontains: "x" } }, says: "icontains" },
    { filters: { user_id: "a", NOT: [{ user_id: "a" }] }, says: "matches nothing" },
    { filters: { user_id: "a", metadata: { mem0_app_id: "x" } }, says: "not a metadata key" },
    { filters: { user_id: "a", AND: [] }, says: "non-empty list" },
  ];
  for (const { filters, says } of refused) {
    it(`refuses ${JSON.stringify(filters)}`, () => {
      expect(() => translateFilters(filters)).toThrow(FilterError);
      expect(() => translateFilters(filters)).toThrow(says);
    });
  }
});
