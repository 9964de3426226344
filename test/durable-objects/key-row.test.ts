/**
 * The key row a rate limiter holds for the isolates' key caches (durable-objects/rate-limiter/key-row.ts): served
 * for KEY_ROW_HELD_MS, dropped by a change, and a D1 read that a change overtook is answered but never kept.
 * Runs on the object's real storage; only the D1 read is injected, so it can be held open across a change.
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type HeldKeyRow, KEY_ROW_HELD_MS, KeyRowHold } from "../../durable-objects/rate-limiter/key-row";

const row = (id: string, rateLimitRequests: number | null): HeldKeyRow => ({
  id,
  tenantId: "ten_0123456789abcdef",
  secretHash: "ab".repeat(32),
  scopes: '["read"]',
  lastUsedAt: null,
  expiresAt: null,
  revokedAt: null,
  allowedOwners: null,
  allowedCubes: null,
  rateLimitRequests,
  rateLimitWriteBytes: null,
});

describe("the key row a limiter holds", () => {
  it("is served for its hold, read again after it or after a change, and a read overtaken by a change is not kept", async () => {
    await runInDurableObject(env.RATE_LIMITER.getByName("key-row-hold-test"), async (_instance, state) => {
      let now = 1_000_000;
      let stored = 1;
      let reads = 0;
      let release: (() => void) | undefined;
      const hold = new KeyRowHold(
        async (keyId) => {
          reads += 1;
          const value = stored;
          if (release === undefined) await new Promise<void>((resolve) => (release = resolve));
          return row(keyId, value);
        },
        state.storage.kv,
        () => now,
      );

      // A read held open while the row changes in D1 and the change is told: answered, never kept.
      const racing = hold.row("key_a");
      stored = 2;
      hold.forget();
      release!();
      expect((await racing)?.rateLimitRequests).toBe(1);
      expect((await hold.row("key_a"))?.rateLimitRequests).toBe(2);
      expect(reads).toBe(2);

      // Held: no read until the hold is over, whatever D1 says meanwhile.
      stored = 3;
      now += KEY_ROW_HELD_MS - 1;
      expect((await hold.row("key_a"))?.rateLimitRequests).toBe(2);
      expect(reads).toBe(2);
      now += 1;
      expect((await hold.row("key_a"))?.rateLimitRequests).toBe(3);
      expect(reads).toBe(3);

      // Another key's id never gets this one's row (the object is named by its key).
      expect((await hold.row("key_b"))?.id).toBe("key_b");
      expect(reads).toBe(4);
    });
  });
});
