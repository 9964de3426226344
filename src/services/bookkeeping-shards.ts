/**
 * The bookkeeping queue, sharded (issue 14, item 6). One Cloudflare Queue takes ~5,000 messages/s
 * (developers.cloudflare.com/queues/platform/limits/; a producer past it gets "Too Many Requests" from `send`), and
 * every authenticated request sends one bookkeeping message, so one queue would cap the whole service near 5,000
 * requests/s whatever D1 and the objects could take. Requests spread over {@link BOOKKEEPING_SHARDS} queues by a stable
 * hash of their tenant; one consumer handler takes every shard (the queue handler asks {@link isBookkeepingQueue}).
 *
 * Why by tenant: a tenant's items meet in the same consumer batches, so a batch touches fewer audit objects (one
 * append per tenant it holds) and the consumer isolate's memory of recent stamps (bookkeeping-coalesce.ts) sees the
 * tenant's keys and cubes again. The price: one tenant's requests go to one queue, so a tenant's own rate is bounded
 * by one queue (5,000 requests/s at one message a request) — the same as its audit object's bound (docs/scale.md:
 * ~4,991 requests/s before an hour's shard reaches 10 GB), so it lowers no ceiling the model already has.
 *
 * Why not pack several requests into one message: a send shared by the requests of an isolate makes one request wait
 * on I/O another request started, which workerd refuses (tried and reverted at `1bd724e`, docs/hot-path.md).
 *
 * Changing the count re-maps tenants to other queues. That is safe — the consumer is the same for all, its writes
 * are idempotent and the D1 stamps and counts are guarded by time, so order across queues does not matter — as long
 * as every queue a producer may still send to keeps its consumer: add the new queues (producers and consumers) in
 * one deploy, and remove a queue only after it has drained.
 */
import { familyQueues, queueFamily, shardOf } from "../adapters/queue-shards";

/**
 * Queues the bookkeeping is spread over. Chosen from the target and the measured rate: 50,000 requests/s (issue 14)
 * × 1.0 bookkeeping messages per request (`npm run bench -- scale`, `bookkeeping_messages` of every phase: one per
 * request; docs/scale.md) = 50,000 messages/s, ÷ 5,000 per queue = 10 queues at their limit; ×1.5 for the uneven
 * spread of tenants over hashes and for bursts → 15, rounded up to 16: each queue at ~3,125 messages/s (63%) at the
 * target, and a ceiling of 80,000 requests/s from the queues. Each shard is a `[[queues.producers]]` binding and a
 * `[[queues.consumers]]` entry in wrangler.toml; test/services/bookkeeping-shards.test.ts checks every one delivers.
 */
export const BOOKKEEPING_SHARDS = 16;

/**
 * The shards as wrangler.toml declares them (../adapters/queue-shards.ts): shard 0 keeps the queue and binding of the
 * single queue it replaces (`memos-edge-bookkeeping` on `BOOKKEEPING`), so messages in flight at a deploy land; then
 * `memos-edge-bookkeeping-1` … `-15` on `BOOKKEEPING_1` … `BOOKKEEPING_15`.
 */
const BOOKKEEPING_FAMILY = queueFamily("memos-edge-bookkeeping", "BOOKKEEPING", BOOKKEEPING_SHARDS);
export const BOOKKEEPING_QUEUES = BOOKKEEPING_FAMILY.queues;
export const BOOKKEEPING_BINDINGS = BOOKKEEPING_FAMILY.bindings;

/** Whether a consumer batch comes from one of the bookkeeping shards. */
export const isBookkeepingQueue = (queue: string): boolean => BOOKKEEPING_FAMILY.has(queue);

/** The shard of a tenant (or of whatever key stands for it): FNV-1a modulo the count (../adapters/queue-shards.ts). */
export const bookkeepingShard = (key: string, shards: number = BOOKKEEPING_SHARDS): number => shardOf(key, shards);

/** The shards' producer bindings from `env`, in shard order; names the missing ones instead. */
export const bookkeepingQueues = (env: Env): { queues: Queue[]; missing: string[] } => familyQueues<Queue>(env, BOOKKEEPING_FAMILY);
