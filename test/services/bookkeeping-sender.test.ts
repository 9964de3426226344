/**
 * Bookkeeping sends coalesced per isolate (src/services/bookkeeping-sender.ts; docs/hot-path.md, "Fifth pass"): the
 * items of requests finishing within COALESCE_MS leave in one call, each caller is answered when the flush carrying
 * its items has been sent, a full flush leaves at once, and a failed send reaches every caller it carried.
 */
import { describe, expect, it } from "vitest";
import { COALESCE_MAX_ITEMS, COALESCE_MS, coalescedSend } from "../../src/services/bookkeeping-sender";
import { queueBookkeeping, type BookkeepingMessage } from "../../src/services/bookkeeping";
import { rejection } from "../helpers";
import { QueueStandIn } from "../adapters/stand-ins";

const used = (i: number): BookkeepingMessage => ({ kind: "key_used", keyId: `key_${i}`, at: i });

describe("coalesced bookkeeping sends", () => {
  it("sends the items of requests released together in one call, and answers each once they are sent", async () => {
    const queue = new QueueStandIn<BookkeepingMessage[]>();
    const requests = Array.from({ length: 5 }, (_, i) => {
      const bookkeeping = queueBookkeeping(queue as unknown as Queue);
      bookkeeping.hold();
      void bookkeeping.send(used(i));
      return bookkeeping;
    });
    const released = requests.map((bookkeeping, i) => bookkeeping.release(used(100 + i)));
    // Nothing has left yet: the flush waits for the other requests of its window.
    expect(queue.batches).toEqual([]);
    await Promise.all(released);
    expect(queue.batches).toHaveLength(1);
    expect(queue.batches.flat(2)).toEqual(requests.flatMap((_, i) => [used(i), used(100 + i)]));
  });

  it("keeps later items for the next flush", async () => {
    const queue = new QueueStandIn<BookkeepingMessage[]>();
    await coalescedSend(queue, [used(1)]);
    await coalescedSend(queue, [used(2)]);
    expect(queue.batches.map((batch) => batch.flat())).toEqual([[used(1)], [used(2)]]);
  });

  it("sends a full flush at once, without waiting for its window", async () => {
    const queue = new QueueStandIn<BookkeepingMessage[]>();
    const started = Date.now();
    const items = Array.from({ length: COALESCE_MAX_ITEMS }, (_, i) => used(i));
    const first = coalescedSend(queue, items.slice(0, -1));
    const full = coalescedSend(queue, items.slice(-1));
    expect(queue.batches).toHaveLength(1);
    await Promise.all([first, full]);
    expect(Date.now() - started).toBeLessThan(COALESCE_MS);
    expect(queue.batches.flat(2)).toEqual(items);
    // The next item opens a new flush.
    await coalescedSend(queue, [used(-1)]);
    expect(queue.batches.at(-1)).toEqual([[used(-1)]]);
  });

  it("rejects every caller whose items a failed send carried", async () => {
    const failing = { sendBatch: async () => Promise.reject(new Error("queue unavailable")) };
    const calls = [coalescedSend(failing, [used(1)]), coalescedSend(failing, [used(2)])];
    for (const call of calls) expect(String(await rejection(call))).toMatch(/queue unavailable/);
  });

  it("answers a release with nothing to send at once", async () => {
    const queue = new QueueStandIn<BookkeepingMessage[]>();
    await coalescedSend(queue, []);
    expect(queue.batches).toEqual([]);
  });
});
