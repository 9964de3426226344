/**
 * Sends to a Cloudflare Queue within its documented limits (developers.cloudflare.com/queues/platform/limits/):
 * a message is at most 128 KB (about 100 bytes of it the queue's own metadata), a `sendBatch` at most 100 messages
 * and 256 KB in all. Producers hand this their messages, however many; it groups them into as few `sendBatch` calls
 * as the limits allow, and refuses a message that can never fit before sending anything.
 */

/** Queues' producer limits; KB read as 1,000 bytes, the safe side of both readings. */
export const QUEUE_LIMITS = {
  messageBytes: 128_000,
  batchMessages: 100,
  batchBytes: 256_000,
  /** What the queue adds to each message, counted against the message's limit. */
  metadataBytes: 100,
} as const;

/** The slice of a Queue binding a producer uses. */
export interface QueueSender<Body> {
  sendBatch(messages: Iterable<MessageSendRequest<Body>>): Promise<unknown>;
}

/** A message over the size limit: a bug of the producer (messages carry ids, never content), not a retryable error. */
export class QueueMessageTooLarge extends Error {}

/** A message's size as the queue counts it: its JSON body in UTF-8 and the queue's metadata. */
export function queueMessageBytes(body: unknown): number {
  return new TextEncoder().encode(JSON.stringify(body)).length + QUEUE_LIMITS.metadataBytes;
}

/** Groups messages, in order, into batches within the limits; throws QueueMessageTooLarge for one that cannot fit. */
export function queueBatches<Body>(messages: readonly MessageSendRequest<Body>[]): MessageSendRequest<Body>[][] {
  const batches: MessageSendRequest<Body>[][] = [];
  let current: MessageSendRequest<Body>[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = queueMessageBytes(message.body);
    if (size > QUEUE_LIMITS.messageBytes) throw new QueueMessageTooLarge(`a queue message of ${size} bytes exceeds Queues' ${QUEUE_LIMITS.messageBytes}`);
    if (current.length >= QUEUE_LIMITS.batchMessages || bytes + size > QUEUE_LIMITS.batchBytes) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Sends every message in as few `sendBatch` calls as the limits allow; returns how many calls it made. */
export async function sendWithinLimits<Body>(queue: QueueSender<Body>, messages: readonly MessageSendRequest<Body>[]): Promise<number> {
  const batches = queueBatches(messages);
  for (const batch of batches) await queue.sendBatch(batch);
  return batches.length;
}

/**
 * Packs items, in order, into as few array-bodied messages as fit the message limit (a consumer that reads a message
 * as an array of items takes any split). Throws QueueMessageTooLarge for one item that cannot fit a message alone.
 */
export function packItems<Item>(items: readonly Item[], contentType: QueueContentType = "json"): MessageSendRequest<Item[]>[] {
  const encoder = new TextEncoder();
  const messages: MessageSendRequest<Item[]>[] = [];
  let current: Item[] = [];
  // "[]" plus the queue's metadata; each further item adds its JSON and a comma.
  const empty = 2 + QUEUE_LIMITS.metadataBytes;
  let bytes = empty;
  for (const item of items) {
    const size = encoder.encode(JSON.stringify(item)).length;
    if (current.length > 0 && bytes + 1 + size > QUEUE_LIMITS.messageBytes) {
      messages.push({ body: current, contentType });
      current = [];
      bytes = empty;
    }
    bytes += (current.length > 0 ? 1 : 0) + size;
    current.push(item);
  }
  if (current.length > 0) messages.push({ body: current, contentType });
  return messages;
}

/** Sends items as array-bodied messages ({@link packItems}) in as few calls as the limits allow; returns the calls. */
export async function sendItemsWithinLimits<Item>(queue: QueueSender<Item[]>, items: readonly Item[]): Promise<number> {
  if (items.length === 0) return 0;
  return sendWithinLimits(queue, packItems(items));
}
