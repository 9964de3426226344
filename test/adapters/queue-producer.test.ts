/**
 * Queues' producer limits (issue 17): the stand-in refuses what Cloudflare Queues refuse, at and past each limit, and
 * the producer wrapper our senders use (adapters/queue-producer.ts) stays inside them whatever it is handed.
 */
import { describe, expect, it } from "vitest";
import { QUEUE_LIMITS, QueueMessageTooLarge, queueMessageBytes, sendWithinLimits } from "../../src/adapters/queue-producer";
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
