/**
 * The consumer's memory of days that went hourly (src/services/audit-log.ts `SplitPoints`), at and just past
 * SPLIT_POINTS_KEPT: full, it keeps every day; one new day more clears it (a forgotten day costs one refused round
 * trip, never a wrong placement — test/durable-objects/audit-shards.test.ts); a known day is updated in place.
 */
import { describe, expect, it } from "vitest";
import { SPLIT_POINTS_KEPT, SplitPoints } from "../../src/services/audit-log";

const DAY = 86_400_000;
const HOUR = 3_600_000;

describe("SplitPoints", () => {
  it("keeps SPLIT_POINTS_KEPT days; the next new day clears them; a known day at capacity is updated, not cleared", () => {
    const points = new SplitPoints(SPLIT_POINTS_KEPT);
    for (let i = 0; i < SPLIT_POINTS_KEPT; i++) points.remember("ten_a", i * DAY, i * DAY + 11 * HOUR);
    expect(points.size).toBe(SPLIT_POINTS_KEPT);
    expect(points.of("ten_a", 0)).toBe(11 * HOUR);
    expect(points.of("ten_a", (SPLIT_POINTS_KEPT - 1) * DAY)).toBe((SPLIT_POINTS_KEPT - 1) * DAY + 11 * HOUR);
    expect(points.of("ten_b", 0)).toBeNull();

    points.remember("ten_a", 0, 12 * HOUR);
    expect(points.size).toBe(SPLIT_POINTS_KEPT);
    expect(points.of("ten_a", 0)).toBe(12 * HOUR);

    points.remember("ten_b", 0, 5 * HOUR);
    expect(points.size).toBe(1);
    expect(points.of("ten_b", 0)).toBe(5 * HOUR);
    expect(points.of("ten_a", 0)).toBeNull();
  });
});
