/**
 * The vector channel's strengths relative to its nearest neighbour (core/vector-strengths.ts): the channel's own
 * order survives rank fusion against the support channels.
 */
import { describe, expect, it } from "vitest";
import { type ChannelRanking, fuse } from "../../src/core/fusion";
import { relativeToNearest } from "../../src/core/vector-strengths";

describe("relativeToNearest", () => {
  it("divides the vector strengths by the nearest's when it is past full strength", () => {
    const ranking: ChannelRanking = { channel: "vector", ids: ["a", "b", "c"], strengths: [2, 1.5, 0.5] };
    expect(relativeToNearest(ranking)).toEqual({ channel: "vector", ids: ["a", "b", "c"], strengths: [1, 0.75, 0.25] });
    expect(ranking.strengths).toEqual([2, 1.5, 0.5]);
  });

  it("leaves a ranking whose nearest is at or below full strength, unweighted rankings and other channels alone", () => {
    const weakNearest: ChannelRanking = { channel: "vector", ids: ["a", "b"], strengths: [0.8, 0.4] };
    const full: ChannelRanking = { channel: "vector", ids: ["a", "b"], strengths: [1, 0.4] };
    const lexical: ChannelRanking = { channel: "lexical", ids: ["a", "b"], strengths: [2, 1] };
    const bare: ChannelRanking = { channel: "vector", ids: ["a"] };
    const empty: ChannelRanking = { channel: "vector", ids: [], strengths: [] };
    for (const ranking of [weakNearest, full, lexical, bare, empty]) expect(relativeToNearest(ranking)).toBe(ranking);
  });

  it("keeps the vector channel's order against a support channel's vote", () => {
    // Three neighbours past full strength: capped at 1 they are near-equal RRF votes, and the working channel's vote
    // for the third lifts it over the first. Relative to the nearest, the nearest stays first.
    const vector: ChannelRanking = { channel: "vector", ids: ["near", "mid", "far"], strengths: [1.6, 1.3, 1.1] };
    const working: ChannelRanking = { channel: "working", ids: ["far"] };
    expect(fuse([vector, working])[0]!.id).toBe("far");
    expect(fuse([relativeToNearest(vector), working]).map((c) => c.id)).toEqual(["near", "mid", "far"]);
  });
});
