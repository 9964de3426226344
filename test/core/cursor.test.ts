import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../src/core/cursor";

describe("cursor", () => {
  it("round-trips a position", () => {
    const position = { created_at: 1_764_000_000_000, seq: 42 };
    expect(decodeCursor(encodeCursor(position))).toEqual(position);
  });

  it.each(["", "!!!", "bm90IGpzb24", btoa("[1]"), btoa('["a",1]'), btoa("[1.5,2]"), "x".repeat(300)])(
    "rejects %j",
    (cursor) => expect(decodeCursor(cursor)).toBeNull(),
  );
});
