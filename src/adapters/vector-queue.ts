/**
 * Coalescing shared-index upserts across cubes (issue 17, item 8). Each cube sends its own vectors, so a million cubes
 * each writing one memory made a million one-vector upserts, and Vectorize's mutation queue (and with it the
 * "seconds" of eventual consistency) grew with the number of writers rather than the number of vectors. A cube with
 * few vectors to send hands them to the vectors queue instead; its consumer (services/vector-queue.ts) upserts the
 * vectors of up to 100 messages — many cubes — in calls of up to 1,000, and tells each cube what it sent.
 *
 * The rule that decides (`fitsOneSend`): a cube hands its vectors to the queue only when they fit ONE `sendBatch`
 * (100 messages, 256 KB: about 46 bge-m3 vectors of 1,024 floats, 68 of bge-base's 768). A cube with more makes
 * upserts of up to 1,000 itself, as before — already large batches, and cheaper than the ≥ 2 queue calls they would take.
 *
 * Vectors travel as base64 of their float32 bytes (5,464 characters for 1,024 floats, against ~20,000 as JSON numbers).
 */
import { QUEUE_LIMITS, type QueueSender, queueBatches, queueMessageBytes, sendWithinLimits } from "./queue-producer";
import type { VectorRecord } from "./types";

/** The first shard's queue name in wrangler.toml (the one queue before sharding; all shards: VECTOR_QUEUES, ./queue-shards.ts). */
export const VECTOR_QUEUE = "memos-edge-vectors";

/** One cube's vectors, handed to the queue at `handed_at` (the cube matches the consumer's report against it). */
export interface VectorQueueMessage {
  tenant_id: string;
  /** The cube: its Durable Object and its namespace in the shared index. */
  cube_id: string;
  /** The embedding space the vectors are in. */
  embedder: string;
  handed_at: number;
  /** `v`: base64 of the vector's float32 bytes (little-endian). */
  vectors: { id: string; v: string }[];
}

/** The producer a cube hands its vectors to; absent when no vectors queue is configured. */
export type VectorQueue = QueueSender<VectorQueueMessage>;

/** The vector's float32 bytes (little-endian, as every Workers platform stores them) in base64. */
export function encodeVector(vector: Float32Array): string {
  const bytes = new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** The inverse of {@link encodeVector}; throws on text that is not a whole number of float32s. */
export function decodeVector(text: string): Float32Array {
  const binary = atob(text);
  if (binary.length % 4 !== 0) throw new Error(`a queued vector of ${binary.length} bytes is not float32s`);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

/** One cube's vectors as messages, each within Queues' message limit, in order. */
export function vectorMessages(head: Omit<VectorQueueMessage, "vectors">, records: readonly VectorRecord[]): MessageSendRequest<VectorQueueMessage>[] {
  const messages: MessageSendRequest<VectorQueueMessage>[] = [];
  let current: VectorQueueMessage = { ...head, vectors: [] };
  let bytes = queueMessageBytes(current);
  for (const record of records) {
    const entry = { id: record.id, v: encodeVector(record.vector) };
    const size = new TextEncoder().encode(JSON.stringify(entry)).length;
    // A further entry costs its JSON and a comma.
    if (current.vectors.length > 0 && bytes + 1 + size > QUEUE_LIMITS.messageBytes) {
      messages.push({ body: current, contentType: "json" });
      current = { ...head, vectors: [] };
      bytes = queueMessageBytes(current);
    }
    bytes += (current.vectors.length > 0 ? 1 : 0) + size;
    current.vectors.push(entry);
  }
  if (current.vectors.length > 0) messages.push({ body: current, contentType: "json" });
  return messages;
}

/** Whether these messages go in one `sendBatch` (see the file comment for why that is the rule). */
export function fitsOneSend(messages: readonly MessageSendRequest<VectorQueueMessage>[]): boolean {
  return messages.length > 0 && queueBatches(messages).length === 1;
}

/** Sends the messages (one call when {@link fitsOneSend}). */
export async function handVectors(queue: VectorQueue, messages: readonly MessageSendRequest<VectorQueueMessage>[]): Promise<number> {
  return sendWithinLimits(queue, messages);
}
