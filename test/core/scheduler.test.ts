import { describe, expect, it } from "vitest";
import { nearDuplicate } from "../../durable-objects/cube/consolidate";
import { workingScore } from "../../durable-objects/cube/scheduler";
import { assembleContext, estimateTokens, groupOf } from "../../src/core/context";
import type { MemoryWire } from "../../src/schemas/memory";

const NOW = Date.UTC(2026, 10, 25);

function memory(id: string, content: string, extra: Partial<MemoryWire> = {}): MemoryWire {
  const at = new Date(NOW - 86_400_000).toISOString();
  return {
    id,
    cube_id: "cube_0123456789abcdef",
    owner: "user:alice",
    type: "fact",
    content,
    tags: [],
    metadata: {},
    session_id: null,
    source: { kind: "api", episode_id: null, message_ids: [], key_id: null, request_id: null },
    created_at: at,
    updated_at: at,
    valid_at: null,
    invalid_at: null,
    expires_at: null,
    priority: 50,
    importance: 0.5,
    sensitivity: [],
    visibility: "private",
    frozen: false,
    pinned: false,
    watermark: null,
    access_count: 0,
    last_accessed_at: null,
    version: 1,
    state: "activated",
    supersedes: null,
    superseded_by: null,
    ...extra,
  };
}

describe("near-duplicate detection", () => {
  it.each([
    ["Alice likes green tea", "alice likes green tea.", true],
    ["Alice likes green tea in the morning", "Alice likes green tea in the mornings", false],
    ["Alice likes green tea", "Alice doesn't like green tea", false],
    ["Alice likes green tea", "Alice does not like green tea", false],
    ["Alice is 30 years old", "Alice is 31 years old", false],
    ["The meeting moved to room 4 on the second floor of building B", "The meeting moved to room 4 on the second floor of building B!", true],
    ["", "", false],
  ])("%j ~ %j → %s", (a, b, expected) => {
    expect(nearDuplicate(a, b)).toBe(expected);
  });
});

describe("working memory score", () => {
  it("rises with priority, importance, use and recency, within [0, 1]", () => {
    const base = memory("a", "x");
    const score = workingScore(base, NOW);
    expect(score).toBeGreaterThan(0);
    expect(workingScore({ ...base, priority: 90 }, NOW)).toBeGreaterThan(score);
    expect(workingScore({ ...base, importance: 0.9 }, NOW)).toBeGreaterThan(score);
    expect(workingScore({ ...base, access_count: 10 }, NOW)).toBeGreaterThan(score);
    expect(workingScore({ ...base, last_accessed_at: new Date(NOW).toISOString() }, NOW)).toBeGreaterThan(score);
    const top = { ...base, priority: 100, importance: 1, access_count: 1000, last_accessed_at: new Date(NOW).toISOString() };
    expect(workingScore(top, NOW)).toBeCloseTo(1, 5);
  });
});

describe("context assembly", () => {
  const candidates = [
    { memory: memory("mem_i", "Always answer in French.", { type: "instruction" }), origin: "pinned" as const, score: 1 },
    { memory: memory("mem_e2", "Alice ran a marathon.", { type: "event", valid_at: "2026-05-02T00:00:00.000Z" }), origin: "recall" as const, score: 0.9 },
    { memory: memory("mem_f", "Alice is allergic to peanuts."), origin: "recall" as const, score: 0.8 },
    { memory: memory("mem_e1", "Alice moved to Lyon.", { type: "event", valid_at: "2026-01-10T00:00:00.000Z" }), origin: "recall" as const, score: 0.7 },
    { memory: memory("mem_p", "Alice prefers window seats.", { type: "preference" }), origin: "working_memory" as const, score: 0.4 },
    { memory: memory("mem_f", "Alice is allergic to peanuts."), origin: "working_memory" as const, score: 0.4 },
  ];

  it("groups, orders events by date, cites every memory, and counts each memory once", () => {
    const context = assembleContext(candidates, 1000);
    expect(context.text).toBe(
      [
        "Instructions:\n- Always answer in French. [mem_i]",
        "Preferences:\n- Alice prefers window seats. [mem_p]",
        "Facts:\n- Alice is allergic to peanuts. [mem_f]",
        "Events:\n- 2026-01-10: Alice moved to Lyon. [mem_e1]\n- 2026-05-02: Alice ran a marathon. [mem_e2]",
      ].join("\n\n"),
    );
    expect(context.items.map((i) => [i.id, i.group, i.origin])).toEqual([
      ["mem_i", "instructions", "pinned"],
      ["mem_p", "preferences", "working_memory"],
      ["mem_f", "facts", "recall"],
      ["mem_e1", "events", "recall"],
      ["mem_e2", "events", "recall"],
    ]);
    expect(context.tokens).toBe(estimateTokens(context.text));
    expect(context.omitted).toBe(0);
  });

  it("stays within the budget, keeping the highest-priority candidates and skipping ones too long to fit", () => {
    const long = { memory: memory("mem_long", "word ".repeat(200)), origin: "recall" as const, score: 0.95 };
    const context = assembleContext([candidates[0]!, long, ...candidates.slice(1)], 40);
    expect(context.tokens).toBeLessThanOrEqual(40);
    expect(context.items.map((i) => i.id)).toContain("mem_i");
    expect(context.items.map((i) => i.id)).not.toContain("mem_long");
    expect(context.omitted).toBeGreaterThan(0);
  });

  it("maps types to groups", () => {
    expect(groupOf(memory("a", "x", { type: "note" }))).toBe("facts");
    expect(groupOf(memory("a", "x", { type: "event" }))).toBe("events");
  });
});
