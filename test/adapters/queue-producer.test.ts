/**
 * Queues' producer limits (issue 17): the stand-in refuses what Cloudflare Queues refuse, at and past each limit, and
 * the producer wrapper our senders use (adapters/queue-producer.ts) stays inside them whatever it is handed.
 */
import { describe, expect, it } from "vitest";
import { QUEUE_LIMITS, QueueMessageTooLarge, packItems, queueMessageBytes, sendItemsWithinLimits, sendWithinLimits } from "../../src/adapters/queue-producer";
import { queueBookkeeping, type BookkeepingMessage } from "../../src/services/bookkeeping";
import { rejection } from "../helpers";
import { QueueStandIn } from "./stand-ins";

/** A message whose size, as the queue counts it, is exactly `bytes`. */
const sized = (bytes: number) => ({ body: "x".repeat(bytes - QUEUE_LIMITS.metadataBytes - 2) });
const small = (n: number) => Array.from({ length: n }, (_, i) => ({ body: { kind: "delivery", delivery_id: `dlv_${i}` } }));

describe("the Queues stand-in", () => {
  it("refuses past 100 messages per sendBatch, 128 KB per message and 256 KB per batch, and takes each limit itself", async () => {
    const queue = new QueueStandIn();
    expect(queueMessageBytes(sized(128_000).body)).toBe(128_000);
    await queue.sendBatch(small(100));
    expect(String(await rejection(queue.sendBatch(small(101))))).toMatch(/exceeds the limit of 100/);
    await queue.sendBatch([sized(128_000)]);
    expect(String(await rejection(queue.sendBatch([sized(128_001)])))).toMatch(/128 KB/);
    await queue.sendBatch([sized(128_000), sized(128_000)]);
    expect(String(await rejection(queue.sendBatch([sized(128_000), sized(128_000), sized(1_000)])))).toMatch(/256 KB/);
    expect(queue.batches.map((batch) => batch.length)).toEqual([100, 1, 2]);
  });
});

describe("sendWithinLimits", () => {
  it("sends 100 messages in one call and 101 in two, in order", async () => {
    const queue = new QueueStandIn();
    expect(await sendWithinLimits(queue, small(100))).toBe(1);
    expect(await sendWithinLimits(queue, small(101))).toBe(2);
    expect(queue.batches.map((batch) => batch.length)).toEqual([100, 100, 1]);
    expect(queue.batches.slice(1).flat()).toEqual(small(101).map((m) => m.body));
  });

  it("splits by bytes: two 128 KB messages fill a batch, a third goes in the next", async () => {
    const queue = new QueueStandIn();
    expect(await sendWithinLimits(queue, [sized(128_000), sized(128_000), sized(128_000)])).toBe(2);
    expect(queue.batches.map((batch) => batch.length)).toEqual([2, 1]);
  });

  it("refuses a message over 128 KB before sending anything", async () => {
    const queue = new QueueStandIn();
    const error = await rejection(sendWithinLimits(queue, [...small(3), sized(128_001)]));
    expect(error).toBeInstanceOf(QueueMessageTooLarge);
    expect(queue.batches).toEqual([]);
  });
});

describe("sendItemsWithinLimits (array-bodied messages: bookkeeping)", () => {
  /** An item whose JSON is exactly `bytes` long. */
  const item = (bytes: number) => "y".repeat(bytes - 2);

  it("fills a message to exactly 128,000 bytes and starts the next one a byte later", () => {
    // "[" + a + "," + b + "]" + metadata: two items of (128,000 - 100 - 3) / 2 bytes fill the message exactly.
    const half = (QUEUE_LIMITS.messageBytes - QUEUE_LIMITS.metadataBytes - 3) / 2;
    const exact = packItems([item(Math.floor(half)), item(Math.ceil(half))]);
    expect(exact).toHaveLength(1);
    expect(queueMessageBytes(exact[0]!.body)).toBe(QUEUE_LIMITS.messageBytes);
    expect(packItems([item(Math.floor(half)), item(Math.ceil(half) + 1)])).toHaveLength(2);
  });

  it("sends what the stand-in takes however many items there are, and refuses an item too big for any message", async () => {
    const queue = new QueueStandIn<string[]>();
    const items = Array.from({ length: 10 }, () => item(60_000));
    expect(await sendItemsWithinLimits(queue, items)).toBe(3);
    expect(queue.batches.map((batch) => batch.map((body) => body.length))).toEqual([[2, 2], [2, 2], [2]]);
    expect(queue.batches.flat(2)).toEqual(items);
    expect(await rejection(sendItemsWithinLimits(queue, [item(128_000)]))).toBeInstanceOf(QueueMessageTooLarge);
    expect(await sendItemsWithinLimits(queue, [])).toBe(0);
  });

  it("bookkeeping's producer sends a request's held items within the limits (it used one `send` of them all)", async () => {
    const queue = new QueueStandIn<BookkeepingMessage[]>();
    const bookkeeping = queueBookkeeping(queue as unknown as Queue);
    // 300 audit entries naming 100 memory ids each: ~1.2 MB, far past one message.
    const memoryIds = JSON.stringify(Array.from({ length: 100 }, (_, i) => `mem_${String(i).padStart(26, "0")}`));
    const entries: BookkeepingMessage[] = Array.from({ length: 300 }, (_, i) => ({
      kind: "audit",
      entry: { id: `aud_${i}`, tenantId: "t", at: 1, actor: "key", action: "memory.read", memoryIds, detail: "{}", status: 200 },
    }));
    bookkeeping.hold();
    for (const entry of entries.slice(0, -1)) await bookkeeping.send(entry);
    expect(queue.batches).toEqual([]);
    await bookkeeping.release(entries.at(-1));
    expect(queue.batches.length).toBeGreaterThan(1);
    expect(queue.batches.flat(2)).toEqual(entries);
    // A single send while not holding goes through the same wrapper.
    await bookkeeping.send(entries[0]!);
    expect(queue.batches.at(-1)).toEqual([[entries[0]]]);
  });
});
