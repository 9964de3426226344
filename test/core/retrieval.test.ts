import { describe, expect, it } from "vitest";
import { RRF_K, fuse } from "../../src/core/fusion";
import { queryTerms } from "../../src/core/fts-query";
import { DUPLICATE_SIMILARITY, jaccard, mmr } from "../../src/core/mmr";
import { RECENCY_HALF_LIFE_MS, finalScore, frequency, recency } from "../../src/core/scoring";
import { normaliseWhere, whereProblems } from "../../src/core/where";

describe("fusion (weighted RRF)", () => {
  it("rewards agreement between channels over a single first place", () => {
    const fused = fuse([
      { channel: "lexical", ids: ["a", "b", "c"] },
      { channel: "vector", ids: ["b", "d", "a"] },
    ]);
    expect(fused.map((c) => c.id)).toEqual(["b", "a", "d", "c"]);
    expect(fused[0]!.channels).toEqual(["vector", "lexical"]);
  });

  it("keeps equal scores in the order they were first ranked, whatever their ids", () => {
    // "z" and "a" both earn 1/(k+1) + 1/(k+2); "z" was ranked first by the first channel. Ids are random in a cube,
    // so ordering ties by id made the same searches rank differently from one cube to the next.
    const fused = fuse([
      { channel: "lexical", ids: ["z", "a"] },
      { channel: "vector", ids: ["a", "z"] },
    ]);
    expect(fused[0]!.fused).toBe(fused[1]!.fused);
    expect(fused.map((c) => c.id)).toEqual(["z", "a"]);
    expect(fuse([{ channel: "lexical", ids: ["a", "z"] }, { channel: "vector", ids: ["z", "a"] }]).map((c) => c.id)).toEqual(["a", "z"]);
  });

  it("says where each channel ranked a candidate and what that earned it", () => {
    const fused = fuse([
      { channel: "lexical", ids: ["a", "b", "c"] },
      { channel: "vector", ids: ["b", "d", "a"] },
    ]);
    const a = fused.find((c) => c.id === "a")!;
    expect(a.ranks.map(({ channel, rank }) => [channel, rank])).toEqual([
      ["lexical", 1],
      ["vector", 3],
    ]);
    expect(a.ranks.map((r) => r.channel)).toEqual(a.channels);
    const best = 2 / (RRF_K + 1);
    expect(a.ranks[0]!.share).toBeCloseTo(1 / (RRF_K + 1) / best, 12);
    expect(a.ranks[1]!.share).toBeCloseTo(1 / (RRF_K + 3) / best, 12);
    for (const candidate of fused) expect(candidate.ranks.reduce((sum, r) => sum + r.share, 0)).toBeCloseTo(candidate.fused, 12);
  });

  it("normalises so that first in every answering channel scores 1", () => {
    const fused = fuse([
      { channel: "lexical", ids: ["a"] },
      { channel: "tag", ids: ["a"] },
      { channel: "vector", ids: [] },
    ]);
    expect(fused[0]!.fused).toBeCloseTo(1, 10);
    const second = fuse([{ channel: "lexical", ids: ["x", "y"] }]);
    expect(second[1]!.fused).toBeCloseTo((RRF_K + 1) / (RRF_K + 2), 10);
  });

  it("never surfaces a memory that only a support channel found", () => {
    const fused = fuse([
      { channel: "lexical", ids: ["a"] },
      { channel: "recent", ids: ["z", "a"] },
    ]);
    expect(fused.map((c) => c.id)).toEqual(["a"]);
    expect(fuse([{ channel: "recent", ids: ["z"] }])).toEqual([]);
  });

  it("scales a candidate's part by its channel's strength for it, clamped to [0, 1]", () => {
    const fused = fuse([{ channel: "vector", ids: ["near", "far", "odd"], strengths: [1, 0.25, 7] }]);
    expect(fused.map((c) => c.id)).toEqual(["near", "odd", "far"]);
    expect(fused[0]!.fused).toBeCloseTo(1, 10);
    expect(fused[1]!.fused).toBeCloseTo((RRF_K + 1) / (RRF_K + 3), 10);
    expect(fused[2]!.fused).toBeCloseTo((0.25 * (RRF_K + 1)) / (RRF_K + 2), 10);
    // A far neighbour still comes back, scoring low: no floor, and nothing below 0.
    const below = fuse([{ channel: "vector", ids: ["x"], strengths: [-0.3] }]);
    expect(below.map((c) => [c.id, c.fused])).toEqual([["x", 0]]);
  });

  it("weighs support channels relative to the strongest content channel that answered", () => {
    const weights = { lexical: 1, vector: 0.2, tag: 0.6, recent: 0.1, working: 0.1 };
    // Only a weak vector channel answered: being recent reorders near-ties but does not lift its 20th over its first
    // (with recent at 0.1 in absolute terms it would: 0.2 / 80 + 0.1 / 61 > 0.2 / 61).
    const ids = Array.from({ length: 20 }, (_, i) => `v${i + 1}`);
    const weak = fuse([
      { channel: "vector", ids },
      { channel: "recent", ids: ["v20"] },
    ], weights);
    expect(weak[0]!.id).toBe("v1");
    // Next to lexical, support counts as listed (0.1 of a lexical first place).
    const strong = fuse([
      { channel: "lexical", ids: ["a", "b"] },
      { channel: "recent", ids: ["b"] },
    ], weights);
    expect(strong.find((c) => c.id === "b")!.fused).toBeCloseTo((1 / (RRF_K + 2) + 0.1 / (RRF_K + 1)) / (1.1 / (RRF_K + 1)), 10);
  });

  it("weighs support for a candidate by the evidence found for it: a weak meaning-only match is not lifted by it", () => {
    const weights = { lexical: 1, vector: 0.3, tag: 0.6, recent: 0.1, working: 0.1 };
    // One word of the question matched something lexically. Recent and working on the vector channel's 20th
    // neighbour used to count 0.1 of a lexical first place each and lift it over the first (0.24 / 80 + 0.2 / 61 >
    // 0.24 / 61); relative to its own evidence (0.3 × 0.8) they reorder near-ties only.
    const ids = Array.from({ length: 20 }, (_, i) => `v${i + 1}`);
    const fused = fuse([
      { channel: "lexical", ids: ["word"] },
      { channel: "vector", ids, strengths: ids.map(() => 0.8) },
      { channel: "recent", ids: ["v20"] },
      { channel: "working", ids: ["v20"] },
    ], weights);
    expect(fused.slice(0, 2).map((c) => c.id)).toEqual(["word", "v1"]);
    const v20 = fused.find((c) => c.id === "v20")!;
    const best = (1 + 0.3 + 0.1 + 0.1) / (RRF_K + 1);
    expect(v20.fused).toBeCloseTo((0.24 / (RRF_K + 20) + (2 * 0.1 * 0.24) / (RRF_K + 1)) / best, 10);
  });

  it("weights channels: a tag hit counts less than a lexical one at the same rank", () => {
    const fused = fuse([
      { channel: "lexical", ids: ["lex"] },
      { channel: "tag", ids: ["tag"] },
    ]);
    expect(fused.map((c) => c.id)).toEqual(["lex", "tag"]);
  });
});

describe("scoring", () => {
  const now = Date.UTC(2026, 10, 25);
  const neutral = { importance: 0.5, priority: 50, timestamp: now - RECENCY_HALF_LIFE_MS, accessCount: 0 };

  it.each([
    [0, 1],
    [RECENCY_HALF_LIFE_MS, 0.5],
    [2 * RECENCY_HALF_LIFE_MS, 0.25],
    [-1000, 1],
  ])("recency at age %d ms is %d", (age, expected) => {
    expect(recency(now - age, now)).toBeCloseTo(expected, 10);
  });

  it("frequency grows logarithmically and saturates", () => {
    expect(frequency(0)).toBe(0);
    expect(frequency(9)).toBeCloseTo(0.5, 1);
    expect(frequency(100)).toBe(1);
    expect(frequency(10_000)).toBe(1);
  });

  it("scores stay in [0, 1]: signals move a score by at most ±15% of the best factor, never past 1", () => {
    const best = finalScore(1, { importance: 1, priority: 100, timestamp: now, accessCount: 1000 }, now);
    const worst = finalScore(1, { importance: 0, priority: 0, timestamp: 0, accessCount: 0 }, now);
    expect(best).toBeCloseTo(1, 10);
    // Every signal at its worst but frequency, which cannot go below 0: 1 − 0.06 − 0.03 − 0.04.
    expect(worst).toBeCloseTo(0.87 / 1.15, 10);
    expect(finalScore(0, { importance: 1, priority: 100, timestamp: now, accessCount: 1000 }, now)).toBe(0);
    // Defaults keep the fused score's order and proportion; signals only reorder near-ties.
    expect(finalScore(0.8, neutral, now) / finalScore(0.4, neutral, now)).toBeCloseTo(2, 10);
    expect(finalScore(0.5, { ...neutral, importance: 1 }, now)).toBeGreaterThan(finalScore(0.5, neutral, now));
  });
});

describe("mmr", () => {
  const items = [
    { id: "a", score: 1.0, text: "alice flew to tokyo for a conference" },
    { id: "a2", score: 0.99, text: "Alice flew to Tokyo for a conference!" },
    { id: "b", score: 0.9, text: "alice flew to tokyo for a big conference in june" },
    { id: "c", score: 0.5, text: "bob bakes sourdough bread on sundays" },
  ];

  it("collapses near-duplicates even when ranking by relevance only", () => {
    expect(jaccard(new Set(["x", "y"]), new Set(["x", "y"]))).toBe(1);
    expect(DUPLICATE_SIMILARITY).toBeLessThan(1);
    expect(mmr(items, 4, 1).map((i) => i.id)).toEqual(["a", "b", "c"]);
  });

  it("relevance only picks exactly what the general MMR loop picks", () => {
    // The general loop as it stands for lambda < 1, run at lambda 1: the reference the fast path must match.
    const reference = (list: typeof items, limit: number) => {
      const terms = new Map(list.map((item) => [item.id, new Set(queryTerms(item.text, Infinity))]));
      const top = list.reduce((max, item) => Math.max(max, item.score), 0) || 1;
      const remaining = [...list];
      const picked: typeof items = [];
      while (picked.length < limit && remaining.length > 0) {
        let bestIndex = -1;
        let bestValue = -Infinity;
        remaining.forEach((candidate, index) => {
          const redundancy = picked.reduce((max, p) => Math.max(max, jaccard(terms.get(candidate.id)!, terms.get(p.id)!)), 0);
          if (redundancy < DUPLICATE_SIMILARITY && candidate.score / top > bestValue) {
            bestValue = candidate.score / top;
            bestIndex = index;
          }
        });
        if (bestIndex === -1) break;
        picked.push(remaining.splice(bestIndex, 1)[0]!);
      }
      return picked.map((item) => item.id);
    };
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const words = ["alice", "bob", "tokyo", "bread", "flew", "bakes", "june", "sunday"];
    for (let round = 0; round < 200; round++) {
      // Few words and coarse scores: many near-duplicates and ties, in no particular order.
      const list = Array.from({ length: 1 + Math.floor(random() * 30) }, (_, i) => ({
        id: `m${i}`,
        score: Math.round(random() * 5) / 5,
        text: Array.from({ length: 1 + Math.floor(random() * 4) }, () => words[Math.floor(random() * words.length)]).join(" "),
      }));
      const limit = 1 + Math.floor(random() * 12);
      expect(mmr(list, limit, 1).map((item) => item.id)).toEqual(reference(list, limit));
    }
  });

  it("lower lambda promotes variety", () => {
    expect(mmr(items, 2, 1).map((i) => i.id)).toEqual(["a", "b"]);
    expect(mmr(items, 2, 0.3).map((i) => i.id)).toEqual(["a", "c"]);
  });
});

describe("filter grammar", () => {
  it.each([
    [{ field: "type", op: "eq", value: "fact" }],
    [{ field: "tags", op: "contains", value: "travel" }],
    [{ field: "metadata.app.version", op: "gte", value: 2 }],
    [{ not: { or: [{ field: "state", op: "in", value: ["activated", "archived"] }, { field: "session_id", op: "ne", value: "x" }] } }],
    [{ and: [{ field: "created_at", op: "lt", value: "2026-01-01T00:00:00Z" }, { field: "metadata.flag", op: "eq", value: true }] }],
    [{ or: [{ field: "session_id", op: "eq", value: null }, { field: "session_id", op: "ne", value: null }] }],
  ])("accepts %j", (where) => {
    expect(whereProblems(where as never)).toEqual([]);
  });

  it.each([
    [{ field: "colour", op: "eq", value: "red" }, "unknown field"],
    [{ field: "metadata.a'b", op: "eq", value: 1 }, "unknown field"],
    [{ field: "type", op: "gt", value: "fact" }, "does not support gt"],
    [{ field: "tags", op: "in", value: "x" }, "needs a list"],
    [{ field: "type", op: "eq", value: ["a"] }, "single value"],
    [{ field: "created_at", op: "gt", value: "yesterday" }, "ISO-8601"],
    [{ field: "state", op: "eq", value: "zombie" }, "unknown state"],
    [{ field: "session_id", op: "in", value: [null] }, "compares with strings"],
    [{ field: "type", op: "eq", value: null }, "compares with strings"],
    [{ field: "metadata.n", op: "gt", value: true }, "number or a string"],
    [{ not: { not: { not: { not: { field: "type", op: "eq", value: "fact" } } } } }, "deeper"],
  ])("rejects %j", (where, message) => {
    const problems = whereProblems(where as never);
    expect(problems.join(" ")).toContain(message);
  });

  it("normalises times to milliseconds and leaves the rest alone", () => {
    expect(
      normaliseWhere({
        and: [
          { field: "valid_at", op: "gte", value: "2026-01-01T00:00:00Z" },
          { field: "type", op: "eq", value: "fact" },
        ],
      }),
    ).toEqual({
      and: [
        { field: "valid_at", op: "gte", value: Date.UTC(2026, 0, 1) },
        { field: "type", op: "eq", value: "fact" },
      ],
    });
  });
});
