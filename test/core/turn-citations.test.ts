/** The turn tier's citation mapping (core/reader/turn-citations.ts): turns → memories, and turn hits → memory ranks. */
import { describe, expect, it } from "vitest";
import { TURN_CONTEXT_CHARS, citedRanking, turnCitations, turnDocuments, turnText } from "../../src/core/reader/turn-citations";
import type { ReaderMessage } from "../../src/core/reader/types";

const message = (id: string, content: string, name: string | null = "Caroline", role: ReaderMessage["role"] = "user"): ReaderMessage => ({
  id,
  role,
  name,
  content,
  createdAt: null,
});

describe("turnCitations", () => {
  it("maps each cited turn to the memories holding what it said, in first-cited order, each memory once", () => {
    const candidates = [{ messageIds: ["D1:3"] }, { messageIds: ["D1:3", "D1:5"] }, { messageIds: ["D1:7"] }, { messageIds: ["D1:5"] }, { messageIds: ["D1:3"] }];
    // The second candidate was written; the fourth duplicated mem_a (which holds what D1:5 said); the third held nothing.
    const cited = turnCitations(candidates, ["mem_a", "mem_b", null, "mem_a", "mem_a"]);
    expect([...cited]).toEqual([
      ["D1:3", ["mem_a", "mem_b"]],
      ["D1:5", ["mem_b", "mem_a"]],
    ]);
  });

  it("cites nothing when no candidate became or repeated a memory", () => {
    expect(turnCitations([{ messageIds: ["m0"] }], [null]).size).toBe(0);
    expect(turnCitations([], []).size).toBe(0);
  });
});

describe("turnDocuments", () => {
  const messages = [
    message("m0", "You are a helpful assistant.", null, "system"),
    message("D1:1", "Did you paint that?", "Melanie"),
    message("D1:2", "   ", "Caroline"),
    message("D1:3", "Yes, the lake at sunrise."),
    message("D1:4", "Lovely!", null, "assistant"),
  ];

  it("indexes a turn as '<speaker>: <text>' with its nearest turns that say something as context, at its place among them", () => {
    expect(turnDocuments(messages, new Set(["D1:3", "D1:1", "nope"]))).toEqual([
      { messageId: "D1:1", position: 1, text: "Melanie: Did you paint that?", context: "system: You are a helpful assistant.\nCaroline: Yes, the lake at sunrise." },
      { messageId: "D1:3", position: 2, text: "Caroline: Yes, the lake at sunrise.", context: "Melanie: Did you paint that?\nassistant: Lovely!" },
    ]);
  });

  it("bounds each neighbour's part of the context", () => {
    const long = message("D2:1", "x".repeat(TURN_CONTEXT_CHARS * 2), "Melanie");
    const [doc] = turnDocuments([long, message("D2:2", "Short.")], new Set(["D2:2"]));
    expect(doc!.context).toHaveLength(TURN_CONTEXT_CHARS);
    expect(turnText(message("a", "hi", null, "assistant"))).toBe("assistant: hi");
  });
});

describe("citedRanking", () => {
  it("ranks each memory at its best citing turn, once, up to the depth", () => {
    const rows = ["mem_b", "mem_a", "mem_b", "mem_c", "mem_a", "mem_d"].map((memoryId) => ({ memoryId }));
    expect(citedRanking(rows, 10)).toEqual(["mem_b", "mem_a", "mem_c", "mem_d"]);
    expect(citedRanking(rows, 2)).toEqual(["mem_b", "mem_a"]);
    expect(citedRanking([], 5)).toEqual([]);
  });
});
