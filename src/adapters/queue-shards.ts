/**
 * Queues spread over shards by a stable hash of a key (issue 14, item 6; docs/scale.md, "The queues"). One Cloudflare
 * Queue takes ~5,000 messages/s whoever sends (developers.cloudflare.com/queues/platform/limits/), so a queue the whole
 * service sends to is a global ceiling; N queues of the same consumer lift it N times. Each family is declared once
 * here: its first queue and binding keep the names of the single queue it replaced (messages in flight at a deploy still
 * land), shard i is `<queue>-i` on binding `<BINDING>_i`, and every shard has a `[[queues.consumers]]` entry in
 * wrangler.toml that the Worker's one `queue` handler sends to the family's consumer (`family.has(batch.queue)`).
 *
 * Changing a count re-maps keys to other queues. That is safe for every family here — their consumers are the same
 * for all shards and idempotent, and none relies on order across messages — as long as every queue a producer may
 * still send to keeps its consumer: add queues (producers and consumers) in one deploy, remove one only once drained.
 */
import { ConfigError } from "../errors";
import type { QueueSender } from "./queue-producer";

/** One family of sharded queues, as wrangler.toml declares it. */
export interface QueueFamily {
  /** Queue names by shard: the first, then `<first>-1` … */
  queues: readonly string[];
  /** Producer binding names by shard: the first, then `<FIRST>_1` … */
  bindings: readonly string[];
  /** Whether a consumer batch comes from one of this family's queues. */
  has(queue: string): boolean;
}

/** The family of `shards` queues whose shard 0 is `firstQueue` on `firstBinding`. */
export function queueFamily(firstQueue: string, firstBinding: string, shards: number): QueueFamily {
  const queues = Array.from({ length: shards }, (_, i) => (i === 0 ? firstQueue : `${firstQueue}-${i}`));
  const bindings = Array.from({ length: shards }, (_, i) => (i === 0 ? firstBinding : `${firstBinding}_${i}`));
  return { queues, bindings, has: (queue) => queues.includes(queue) };
}

/**
 * The shard of a key: FNV-1a over its UTF-16 code units, modulo the count. Stable across isolates and deploys of the
 * same count (no per-isolate seed); spreads tenant ids evenly (test/services/bookkeeping-shards.test.ts measures it).
 */
export function shardOf(key: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

/** The family's producer bindings from `env`, in shard order; names the missing ones instead. */
export function familyQueues<Q>(env: object, family: QueueFamily): { queues: Q[]; missing: string[] } {
  const bindings = env as Record<string, Q | undefined>;
  const missing = family.bindings.filter((name) => !bindings[name]);
  return { queues: missing.length > 0 ? [] : family.bindings.map((name) => bindings[name] as Q), missing };
}

/**
 * One producer over a family's shards: each message goes to the shard of `keyOf(body)`, messages of one shard in one
 * `sendBatch` (in their order). A caller that sent one batch still sends at most one call per shard its messages name
 * — one, when they are one tenant's. A failed call fails the send: the callers re-send everything (at least once).
 */
export function shardedSender<Body>(shards: readonly QueueSender<Body>[], keyOf: (body: Body) => string): QueueSender<Body> {
  return {
    async sendBatch(messages) {
      const byShard = new Map<number, MessageSendRequest<Body>[]>();
      for (const message of messages) {
        const shard = shardOf(keyOf(message.body), shards.length);
        byShard.set(shard, [...(byShard.get(shard) ?? []), message]);
      }
      for (const [shard, group] of byShard) await (shards[shard] as QueueSender<Body>).sendBatch(group);
    },
  };
}

/**
 * The webhook queue's shards: the cube outboxes' event messages, the Worker's own events, and the fan-out's delivery
 * messages. Every cube's outbox sends its new events here ~500 ms after a write, webhooks or not (a cube does not know
 * its tenant's subscribers, and the consumer re-checks them anyway), so at scale — many cubes, few writes each — it is
 * one message per write, and a tenant with webhooks adds one delivery message per (event, subscribed webhook).
 * Chosen from that: 50,000 requests/s × 30% writes × 1 event message = 15,000 messages/s, plus as many again if every
 * event had one subscribed webhook = 30,000 = 6 queues at their limit; ×1.5 for the uneven spread and bursts → 9,
 * rounded up to 16 (a power of two, like the bookkeeping): 80,000 messages/s, 266,666 requests/s at one event
 * message a write. Keyed by tenant, so a tenant's events and deliveries meet in the same consumer and its subscriber
 * cache; one tenant is bounded by one queue (5,000 messages/s: 16,666 requests/s at 30% writes, over the rate
 * limiter's ~1,000/s a key). All shards share the one dead-letter queue (`memos-edge-webhooks-dlq`).
 */
export const WEBHOOK_EVENT_SHARDS = 16;
export const WEBHOOK_EVENT_QUEUES = queueFamily("memos-edge-webhooks", "WEBHOOK_EVENTS", WEBHOOK_EVENT_SHARDS);

/**
 * The vectors queue's shards (production with Vectorize only): a cube hands its new vectors over ~2 s after the oldest,
 * one `sendBatch`; a write alone in its cube's window is one message. 50,000 requests/s × 30% writes × 1 = 15,000
 * messages/s = 3 queues at their limit; ×1.5 → 4.5, rounded up to 8: 40,000 messages/s, 133,333 requests/s. Keyed by
 * tenant (the message's `tenant_id`): one tenant is bounded by one queue, as for the webhooks.
 */
export const VECTOR_SHARDS = 8;
export const VECTOR_QUEUES = queueFamily("memos-edge-vectors", "VECTOR_UPSERTS", VECTOR_SHARDS);

/** A message's tenant, the key of the webhook and vectors shards; "" (one fixed shard) for a message without one. */
export const tenantOf = (body: unknown): string => {
  const tenant = typeof body === "object" && body !== null ? (body as { tenant_id?: unknown }).tenant_id : undefined;
  return typeof tenant === "string" ? tenant : "";
};

/**
 * The producer over a family's shard bindings in `env`, sending each message to its tenant's shard; null when the
 * family has no binding at all (not configured); throws naming the missing ones when only some are bound.
 */
export function tenantShardedSender<Body>(env: object, family: QueueFamily): QueueSender<Body> | null {
  const { queues, missing } = familyQueues<QueueSender<Body>>(env, family);
  if (missing.length === family.bindings.length) return null;
  if (missing.length > 0) throw new ConfigError(`missing queue bindings: ${missing.join(", ")} (see wrangler.toml)`);
  return shardedSender(queues, tenantOf);
}
