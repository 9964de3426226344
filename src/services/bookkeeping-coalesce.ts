/**
 * Last-use stamps coalesced (issue 14, item 2): a cube's or owner's `last_active_at` and a key's `last_used_at` are
 * written at most once per {@link LAST_USE_PRECISION_MS} per row, so a busy key or cube costs D1 one write per window,
 * not one per bookkeeping batch. Precision: a stored stamp is at most that much older than the row's true last use.
 * A cube's live count is not a stamp: a changed count is written by the next batch whatever the window.
 *
 * Two layers: the SQL guards in services/bookkeeping.ts make the bound hold for every writer (a fresh isolate, a
 * redelivery); {@link RecentFlushes}, the consumer isolate's memory of what it wrote, leaves rows it knows are fresh out
 * of the batch, so a batch with nothing due makes no D1 query at all.
 */
import { ExpiringCache } from "../core/expiring-cache";
import type { BookkeepingMessage } from "./bookkeeping";

/** How much older than the truth a stored last-use stamp may be. */
export const LAST_USE_PRECISION_MS = 5 * 60_000;

/** What this isolate last wrote for each cube and key, forgotten after the window (memory bounded by its count). */
export class RecentFlushes {
  private readonly cubes = new ExpiringCache<string, { liveCount: number; at: number }>({ ttlMs: LAST_USE_PRECISION_MS, maxEntries: 50_000 });
  private readonly keys = new ExpiringCache<string, number>({ ttlMs: LAST_USE_PRECISION_MS, maxEntries: 50_000 });

  /** The messages still worth writing: audit entries, changed counts, and stamps past the window of the last write. */
  due(messages: readonly BookkeepingMessage[], now: number): BookkeepingMessage[] {
    return messages.filter((message) => {
      if (message.kind === "activity") {
        const last = this.cubes.get(cubeKey(message), now);
        return !last || last.liveCount !== message.liveCount || message.at - last.at >= LAST_USE_PRECISION_MS;
      }
      if (message.kind === "key_used") {
        const last = this.keys.get(message.keyId, now);
        return last === undefined || message.at - last >= LAST_USE_PRECISION_MS;
      }
      return true;
    });
  }

  /** After D1 took them: what was written, the newest of each row. */
  record(written: readonly BookkeepingMessage[], now: number): void {
    for (const message of written) {
      if (message.kind === "activity") {
        const last = this.cubes.get(cubeKey(message), now);
        if (!last || last.at <= message.at) this.cubes.set(cubeKey(message), { liveCount: message.liveCount, at: message.at }, now);
      } else if (message.kind === "key_used") {
        if ((this.keys.get(message.keyId, now) ?? -Infinity) <= message.at) this.keys.set(message.keyId, message.at, now);
      }
    }
  }
}

const cubeKey = (message: { tenantId: string; cubeId: string }) => `${message.tenantId}\n${message.cubeId}`;
