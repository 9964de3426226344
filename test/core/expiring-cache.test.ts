import { describe, expect, it } from "vitest";
import { ExpiringCache } from "../../src/core/expiring-cache";

describe("ExpiringCache", () => {
  it("answers until the TTL has passed, then forgets", () => {
    const cache = new ExpiringCache<string, number>({ ttlMs: 1_000, maxEntries: 10 });
    cache.set("a", 1, 5_000);
    expect(cache.get("a", 5_999)).toBe(1);
    expect(cache.get("a", 6_000)).toBeUndefined();
    // Forgotten for good, not only hidden.
    expect(cache.get("a", 5_500)).toBeUndefined();
  });

  it("evicts the oldest entry set when full; setting again refreshes an entry", () => {
    const cache = new ExpiringCache<string, number>({ ttlMs: 1_000, maxEntries: 2 });
    cache.set("a", 1, 0);
    cache.set("b", 2, 0);
    cache.set("a", 10, 100);
    cache.set("c", 3, 200);
    expect([cache.get("a", 300), cache.get("b", 300), cache.get("c", 300)]).toEqual([10, undefined, 3]);
    expect(cache.get("a", 1_099)).toBe(10);
    cache.delete("a");
    expect(cache.get("a", 300)).toBeUndefined();
  });
});
