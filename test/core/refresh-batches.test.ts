import { describe, expect, it } from "vitest";
import { RefreshBatches } from "../../src/core/refresh-batches";

const batches = () => new RefreshBatches<string, string>({ windowMs: 5_000, maxIdsPerBatch: 3, maxBatches: 2 });

describe("RefreshBatches", () => {
  it("holds a group's ids until its window is over, then hands the whole batch to one caller", () => {
    const due = batches();
    expect(due.take("t1", ["a"], 1_000)).toEqual([]);
    expect(due.take("t1", ["b", "a"], 3_000)).toEqual([]);
    expect(due.take("t1", [], 5_999)).toEqual([]);
    expect(due.take("t1", [], 6_000)).toEqual(["a", "b"]);
    // Taken: the next caller starts afresh.
    expect(due.take("t1", [], 6_001)).toEqual([]);
    expect(due.take("t1", ["c"], 6_002)).toEqual([]);
  });

  it("opens no batch without ids, keeps groups apart, and bounds ids and groups", () => {
    const due = batches();
    expect(due.take("t1", [], 0)).toEqual([]);
    expect(due.take("t1", ["a", "b", "c", "d"], 0)).toEqual([]);
    expect(due.take("t2", ["x"], 1_000)).toEqual([]);
    expect(due.take("t1", [], 5_000)).toEqual(["a", "b", "c"]);
    expect(due.take("t3", ["y"], 5_000)).toEqual([]);
    // Two batches at most: t2's (the oldest) made room for t4's.
    expect(due.take("t4", ["z"], 5_000)).toEqual([]);
    expect(due.take("t2", [], 9_999)).toEqual([]);
    expect(due.take("t3", [], 10_000)).toEqual(["y"]);
  });

  it("hands a batch over when the clock stepped back", () => {
    const due = batches();
    due.take("t1", ["a"], 10_000);
    expect(due.take("t1", [], 9_000)).toEqual(["a"]);
  });
});
