import { describe, expect, it } from "vitest";
import { kthLargest, kthSmallest } from "../../src/core/quickselect";

describe("quickselect", () => {
  it("answers every rank of a shuffled array with duplicates, as a sort would", () => {
    const values = [5, 3, 9, 3, 1, 7, 9, 0, -2, 3];
    const ascending = [...values].sort((a, b) => a - b);
    for (let k = 1; k <= values.length; k++) {
      expect(kthSmallest(Float64Array.from(values), k), `smallest ${k}`).toBe(ascending[k - 1]);
      expect(kthLargest(Float64Array.from(values), k), `largest ${k}`).toBe(ascending[values.length - k]);
    }
    expect(kthSmallest(Float64Array.of(4), 1)).toBe(4);
  });
});
