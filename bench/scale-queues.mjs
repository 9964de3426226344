// The queues' part of the scale model (issue 14, item 6; docs/scale.md, "The queues"). A Cloudflare Queue takes
// ~5,000 messages/s whoever sends to it (developers.cloudflare.com/queues/platform/limits/), so every queue a request
// sends to is a global ceiling: its limit × its shards ÷ the messages a request sends to it. This projects each from
// the messages the run counted (per producer binding: src/scale-probe.ts counts `send` as one and `sendBatch` as its
// length), and the global ceiling as the least of D1's and the queues'.
import { readFileSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");

/** A bookkeeping shard's producer binding (src/services/bookkeeping-shards.ts): BOOKKEEPING, BOOKKEEPING_1, … */
const BOOKKEEPING_BINDING = /^BOOKKEEPING(_\d+)?$/;

/**
 * The other sharded queues (src/adapters/queue-shards.ts): a family's messages are counted together, under its first
 * binding's name, and its ceiling is its shards × one queue's limit.
 */
const SHARDED_FAMILIES = {
  WEBHOOK_EVENTS: { binding: /^WEBHOOK_EVENTS(_\d+)?$/, constant: "WEBHOOK_EVENT_SHARDS" },
  VECTOR_UPSERTS: { binding: /^VECTOR_UPSERTS(_\d+)?$/, constant: "VECTOR_SHARDS" },
};

/** The family (first binding name) a producer binding belongs to, or the binding itself. */
const familyOf = (/** @type {string} */ binding) => Object.entries(SHARDED_FAMILIES).find(([, f]) => f.binding.test(binding))?.[0] ?? binding;

/**
 * Messages one write-type request may send to a queue at worst, from the code rather than the run (the run writes
 * one cube, one request at a time, so its cube's drains carry many writes each):
 * - WEBHOOK_EVENTS: a cube hands new events to the queue 500 ms after a write (OUTBOX_DELAY_MS, durable-objects/cube.ts),
 *   20 events a message; a write alone in its cube's window is one message. Every cube does, webhooks or not;
 *   deliveries (tenants with webhooks) come on top. Spread over WEBHOOK_EVENT_SHARDS queues by tenant.
 * - VECTOR_UPSERTS (production with Vectorize only; local mode has no shared index, so the run counts 0): a cube
 *   hands its new vectors over 2 s after the oldest (SEND_DELAY_MS), one sendBatch of ≤ 100 messages; a write alone
 *   in its cube's window is one message. Spread over VECTOR_SHARDS queues by tenant.
 */
export const WORST_CASE_MESSAGES_PER_WRITE = { WEBHOOK_EVENTS: 1, VECTOR_UPSERTS: 1 };

/**
 * The bookkeeping shards as deployed: producer bindings in wrangler.toml, each with a consumer, and the same count
 * as BOOKKEEPING_SHARDS in src/services/bookkeeping-shards.ts (which the producer hashes over). Throws if they differ:
 * the model must not project shards the Worker does not use.
 */
export function readBookkeepingShards() {
  return readShards("bookkeeping", BOOKKEEPING_BINDING, path.join("src", "services", "bookkeeping-shards.ts"), "BOOKKEEPING_SHARDS");
}

/** The webhook and vectors queues' shard counts, checked the same way against src/adapters/queue-shards.ts. */
export function readOtherQueueShards() {
  return Object.fromEntries(
    Object.entries(SHARDED_FAMILIES).map(([name, f]) => [name, readShards(name, f.binding, path.join("src", "adapters", "queue-shards.ts"), f.constant)]),
  );
}

/** Producer bindings matching `binding` in wrangler.toml, each with a consumer, and as many as `constant` in `file`. */
function readShards(/** @type {string} */ name, /** @type {RegExp} */ binding, /** @type {string} */ file, /** @type {string} */ constantName) {
  const toml = readFileSync(path.join(root, "wrangler.toml"), "utf8");
  const producers = [...toml.matchAll(/\[\[queues\.producers\]\]\s*binding\s*=\s*"([^"]+)"\s*queue\s*=\s*"([^"]+)"/g)]
    .filter((m) => binding.test(String(m[1])))
    .map((m) => String(m[2]));
  const consumers = new Set([...toml.matchAll(/\[\[queues\.consumers\]\]\s*queue\s*=\s*"([^"]+)"/g)].map((m) => String(m[1])));
  const source = readFileSync(path.join(root, file), "utf8");
  const constant = Number(new RegExp(`export const ${constantName} = (\\d+);`).exec(source)?.[1]);
  const withoutConsumer = producers.filter((queue) => !consumers.has(queue));
  if (producers.length !== constant || withoutConsumer.length > 0) {
    throw new Error(
      `${name} shards disagree: ${constantName} = ${constant}, ${producers.length} producer bindings in wrangler.toml` +
        (withoutConsumer.length > 0 ? `, without a consumer: ${withoutConsumer.join(", ")}` : ""),
    );
  }
  return producers.length;
}

/**
 * @param {{ costs: Record<string, any>, mix: Record<string, number>, types: string[], limits: { queueMessagesPerSecond: number },
 *   bookkeepingShards: number, otherShards?: Record<string, number>, d1CeilingsByActiveTenants: Record<string, number | string> }} input
 */
export function queueProjection({ costs, mix, types, limits, bookkeepingShards, otherShards = readOtherQueueShards(), d1CeilingsByActiveTenants }) {
  const perQueue = limits.queueMessagesPerSecond;
  const mixed = (/** @type {(cost: any) => number} */ pick) => types.reduce((a, t) => a + (mix[t] ?? 0) * pick(costs[t]), 0);
  const bookkeeping = mixed((c) => c.bookkeeping_messages);
  // The other queues by producer binding, as counted (bookkeeping shards apart; a sharded family's bindings together).
  const bindings = new Set(types.flatMap((t) => Object.keys(costs[t].queue_messages_by_binding)).filter((b) => !BOOKKEEPING_BINDING.test(b)).map(familyOf));
  /** Messages of a request type's cost to a binding, or to every binding of its family. */
  const countOf = (/** @type {any} */ c, /** @type {string} */ family) =>
    Object.entries(c.queue_messages_by_binding).reduce((a, [b, n]) => a + (familyOf(b) === family ? Number(n) : 0), 0);
  for (const binding of Object.keys(WORST_CASE_MESSAGES_PER_WRITE)) bindings.add(binding);
  /** @type {Record<string, { shards: number, messages_per_request: number, ceiling_requests_per_second: number | string, worst_case_messages_per_request: number, worst_case_ceiling_requests_per_second: number | string, worst_case_ceiling_requests_per_second_per_tenant: number | string }>} */
  const others = {};
  for (const binding of [...bindings].sort()) {
    const shards = otherShards[binding] ?? 1;
    const measured = mixed((c) => countOf(c, binding));
    const worst = Math.max(measured, (mix.write ?? 0) * (/** @type {Record<string, number>} */ (WORST_CASE_MESSAGES_PER_WRITE)[binding] ?? 0));
    others[binding] = {
      shards,
      messages_per_request: round4(measured),
      ceiling_requests_per_second: ceiling(perQueue * shards, measured),
      worst_case_messages_per_request: round4(worst),
      worst_case_ceiling_requests_per_second: ceiling(perQueue * shards, worst),
      // A tenant's messages are on one shard (hashed by tenant).
      worst_case_ceiling_requests_per_second_per_tenant: ceiling(perQueue, worst),
    };
  }
  const bookkeepingCeiling = ceiling(perQueue * bookkeepingShards, bookkeeping);
  /** The least of D1's ceiling (with `tenants` active) and every queue's: the global ceiling, and what sets it. */
  const globalCeiling = (/** @type {number | string} */ d1, /** @type {"ceiling_requests_per_second" | "worst_case_ceiling_requests_per_second"} */ field) => {
    const bounds = [
      ["d1", d1],
      ["bookkeeping_queues", bookkeepingCeiling],
      ...Object.entries(others).map(([binding, q]) => [`queue ${binding}`, q[field]]),
    ].filter(([, v]) => typeof v === "number");
    const value = Math.min(...bounds.map(([, v]) => Number(v)));
    return { requests_per_second: value, bound_by: bounds.filter(([, v]) => v === value).map(([by]) => by).join(", ") };
  };
  return {
    bookkeeping_messages_per_request: round4(bookkeeping),
    bookkeeping_shards: bookkeepingShards,
    bookkeeping_messages_per_second_per_shard_at_50k: Math.round((50_000 * bookkeeping) / bookkeepingShards),
    requests_per_second_ceiling_bookkeeping_one_queue: ceiling(perQueue, bookkeeping),
    requests_per_second_ceiling_bookkeeping_queues: bookkeepingCeiling,
    // A tenant's bookkeeping is on one shard (hashed by tenant): its own rate is bounded by one queue.
    requests_per_second_ceiling_bookkeeping_per_tenant: ceiling(perQueue, bookkeeping),
    other_queues: others,
    // Measured: the queues at the messages this run counted. Worst case: the webhook and vectors queues at one message
    // per write (every write alone in its cube's drain window; see WORST_CASE_MESSAGES_PER_WRITE).
    requests_per_second_ceiling_global_by_active_tenants: Object.fromEntries(
      Object.entries(d1CeilingsByActiveTenants).map(([tenants, d1]) => [tenants, globalCeiling(d1, "ceiling_requests_per_second")]),
    ),
    requests_per_second_ceiling_global_worst_case_by_active_tenants: Object.fromEntries(
      Object.entries(d1CeilingsByActiveTenants).map(([tenants, d1]) => [tenants, globalCeiling(d1, "worst_case_ceiling_requests_per_second")]),
    ),
  };
}

const round4 = (/** @type {number} */ x) => Math.round(x * 10_000) / 10_000;
const ceiling = (/** @type {number} */ messagesPerSecond, /** @type {number} */ perRequest) =>
  perRequest > 0 ? Math.floor(messagesPerSecond / perRequest) : "unbounded (no message per request)";
