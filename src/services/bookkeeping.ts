/**
 * Bookkeeping off the request path (issue 14, items 1 and 2): what a request owes the central stores — its audit
 * entry, the live count and activity of the cube it wrote (from which the owners directory sums its counts), its key's
 * last use — leaves as a message on the bookkeeping queue of its tenant's shard (./bookkeeping-shards.ts) after the
 * response. The queue's consumer appends a whole
 * batch's (up to 100 messages) audit entries to the tenants' audit shards (one call per shard a
 * batch touches, services/audit-log.ts) and writes the rest to D1 in one call of at most two statements. Delivery is at least once:
 * a batch that fails is redelivered whole, so every write here is idempotent (audit entries by their id, counts and
 * stamps behind "newer than what is stored" guards).
 */
import { sendItemsWithinLimits } from "../adapters/queue-producer";
import { randomBody } from "../core/ids";
import type { NewAuditEntry } from "./audit-entry";
import { appendAuditEntries } from "./audit-log";
import { LAST_USE_PRECISION_MS, RecentFlushes } from "./bookkeeping-coalesce";
import { BOOKKEEPING_QUEUES, bookkeepingShard } from "./bookkeeping-shards";
import type { Deps } from "./context";

/** An audit entry with the id that makes its redelivery harmless. */
export type QueuedAuditEntry = NewAuditEntry & { id: string };

export type BookkeepingMessage =
  /** One request's audit entry. */
  | { kind: "audit"; entry: QueuedAuditEntry }
  /** A write left `liveCount` live memories in the cube at `at`. */
  | { kind: "activity"; tenantId: string; cubeId: string; liveCount: number; at: number }
  /** The key authenticated a request at `at`. */
  | { kind: "key_used"; keyId: string; at: number };

/**
 * The first shard's queue name in wrangler.toml (the one queue before sharding); the Worker's `queue` handler takes
 * every shard's batches (isBookkeepingQueue, ./bookkeeping-shards.ts).
 */
export const BOOKKEEPING_QUEUE = BOOKKEEPING_QUEUES[0] as string;

/**
 * The producer side: where a request puts its bookkeeping. A queue message is an array of items. While held (the
 * API chain holds it for the whole request), items wait so that the request's audit entry and whatever its handler
 * recorded leave as one message; otherwise each is sent at once.
 */
export interface Bookkeeping {
  send(message: BookkeepingMessage): Promise<void>;
  /** From now on, keep items until {@link release}. */
  hold(): void;
  /** Sends the held items and `last` as one message and stops holding. */
  release(last?: BookkeepingMessage): Promise<void>;
}

/**
 * The producer over the shards' Queue bindings (one per request: it holds that request's items). Items go to the
 * shard of their tenant (./bookkeeping-shards.ts); a request's items are one tenant's, so they leave together. One
 * binding (a test's) is one shard.
 */
export function queueBookkeeping(shards: Queue | readonly Queue[]): Bookkeeping {
  const queues = Array.isArray(shards) ? (shards as readonly Queue[]) : [shards as Queue];
  let held: BookkeepingMessage[] | null = null;
  const sendNow = async (items: BookkeepingMessage[]) => {
    if (items.length === 0) return;
    const queue = queues[bookkeepingShard(shardKeyOf(items), queues.length)] as Queue;
    // Through the producer wrapper: a request holding many items (e.g. audit entries naming 100 memories each)
    // leaves as several messages rather than one Queues would refuse (docs/platform-limits.md, Queues). Each request
    // sends its own: a send shared by the requests of an isolate (tried in the sixth session) makes one request wait
    // on a promise another request's I/O fulfils, which workerd refuses ("Cannot perform I/O on behalf of a different
    // request", test/concurrency/one-cube.test.ts saw it); docs/hot-path.md, "Fifth pass".
    await sendItemsWithinLimits(queue, items);
  };
  return {
    send: async (message) => {
      if (held) held.push(message);
      else await sendNow([message]);
    },
    hold: () => {
      held ??= [];
    },
    release: async (last) => {
      const items = [...(held ?? []), ...(last ? [last] : [])];
      held = null;
      await sendNow(items);
    },
  };
}

/**
 * What picks a message's shard: the tenant of the first item that names one. A key's stamp names only the key: sent
 * alone (a request with no audit entry), it is sharded by the key id — its tenant's other items may be on another
 * shard, which is harmless (stamps are guarded by time, not by order).
 */
function shardKeyOf(items: readonly BookkeepingMessage[]): string {
  for (const item of items) {
    if (item.kind === "audit") return item.entry.tenantId;
    if (item.kind === "activity") return item.tenantId;
  }
  const first = items[0];
  return first?.kind === "key_used" ? first.keyId : "";
}

/** A new audit entry id: `aud_` + 26 random base32 characters (130 bits: ids of separate requests never meet). */
export const newAuditId = () => `aud_${randomBody(26)}`;

/**
 * Bytes of JSON one statement's parameter carries. D1 takes a string of up to 2 MB; a batch of 100 audit entries is
 * far below even at their largest (100 memory ids each), so this splits only in theory — but the bound is the code's.
 */
const JSON_PARAMETER_BYTES = 1_000_000;

/** Splits `rows` into runs whose JSON stays under {@link JSON_PARAMETER_BYTES} (one run unless rows are huge). */
function jsonRuns(rows: readonly unknown[]): string[] {
  const runs: string[] = [];
  let run: string[] = [];
  let bytes = 2;
  for (const row of rows) {
    const json = JSON.stringify(row);
    if (run.length > 0 && bytes + json.length + 1 > JSON_PARAMETER_BYTES) {
      runs.push(`[${run.join(",")}]`);
      run = [];
      bytes = 2;
    }
    run.push(json);
    bytes += json.length + 1;
  }
  if (run.length > 0) runs.push(`[${run.join(",")}]`);
  return runs;
}

/**
 * The D1 statements that apply a batch of messages (audit entries aside: they go to the audit objects), collapsed to
 * one statement per kind whatever the batch holds: each kind's rows travel as one JSON parameter read with
 * `json_each` (D1 counts statements, not rows, against its one-query-at-a-time budget, and binds at most 100
 * parameters). Each cube gets its newest count; each key its latest use: at most two statements, and one for a batch
 * whose keys' stamps are not due. Plain SQL over the table names of src/db/schema.ts (cubes, api_keys).
 */
export function bookkeepingStatements(d1: D1Database, messages: readonly BookkeepingMessage[]): D1PreparedStatement[] {
  const latestByCube = new Map<string, Extract<BookkeepingMessage, { kind: "activity" }>>();
  const lastUseByKey = new Map<string, number>();
  for (const message of messages) {
    if (message.kind === "audit") continue;
    if (message.kind === "activity") {
      const seen = latestByCube.get(message.cubeId);
      if (!seen || seen.at <= message.at) latestByCube.set(message.cubeId, message);
    } else lastUseByKey.set(message.keyId, Math.max(lastUseByKey.get(message.keyId) ?? 0, message.at));
  }

  const statements: D1PreparedStatement[] = [];
  const statement = (text: string, run: string) => d1.prepare(text).bind(run);
  // Cubes only: an owner's count and last activity are read from its cubes' rows when listed (services/owners.ts),
  // so a batch of writes costs D1 one statement, not one for the cubes and one for their owners.
  const cubeRows = [...latestByCube.values()].map(({ tenantId, cubeId, liveCount, at }) => ({ tenantId, cubeId, liveCount, at }));
  for (const run of jsonRuns(cubeRows)) {
    statements.push(
      statement(
        `UPDATE cubes SET memory_count = j.live, last_active_at = j.at
         FROM (SELECT value ->> 'tenantId' AS tenant, value ->> 'cubeId' AS cube, value ->> 'liveCount' AS live,
                 value ->> 'at' AS at FROM json_each(?)) AS j
         WHERE cubes.id = j.cube AND cubes.tenant_id = j.tenant AND cubes.last_active_at <= j.at
           AND (cubes.memory_count IS NOT j.live OR cubes.last_active_at <= j.at - ${LAST_USE_PRECISION_MS})`,
        run,
      ),
    );
  }
  for (const run of jsonRuns([...lastUseByKey].map(([keyId, at]) => ({ keyId, at })))) {
    statements.push(
      statement(
        `UPDATE api_keys SET last_used_at = j.at
         FROM (SELECT value ->> 'keyId' AS key, value ->> 'at' AS at FROM json_each(?)) AS j
         WHERE api_keys.id = j.key AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at <= j.at - ${LAST_USE_PRECISION_MS})`,
        run,
      ),
    );
  }
  return statements;
}

/**
 * Applies a batch of messages: audit entries to the tenants' audit shards, the rest to D1 in one call (one
 * transaction). Throws when either does: the queue redelivers, and both sides ignore what they already hold.
 */
export async function applyBookkeeping(
  deps: Pick<Deps, "db" | "auditLogs" | "clock">,
  messages: readonly BookkeepingMessage[],
  recent: RecentFlushes = recentFlushes,
): Promise<void> {
  const entries = messages.flatMap((message) => (message.kind === "audit" ? [message.entry] : []));
  const due = recent.due(messages, deps.clock());
  // Raw D1 statements: drizzle 0.45 cannot batch a raw SQL statement that has parameters.
  const statements = bookkeepingStatements(deps.db.$client, due);
  await Promise.all([
    entries.length > 0 ? appendAuditEntries(deps, entries) : undefined,
    statements.length > 0 ? deps.db.$client.batch(statements).then(() => recent.record(due, deps.clock())) : undefined,
  ]);
}

/** This consumer isolate's memory of the stamps it wrote (./bookkeeping-coalesce.ts). */
const recentFlushes = new RecentFlushes();

/**
 * The queue consumer: the items that have the shape of one are applied in one D1 call; anything else is logged and
 * dropped (an item that can never apply must not hold the rest back through retries).
 */
export async function consumeBookkeepingBatch(
  batch: MessageBatch<unknown>,
  deps: Pick<Deps, "db" | "auditLogs" | "clock">,
  recent: RecentFlushes = recentFlushes,
): Promise<void> {
  const messages: BookkeepingMessage[] = [];
  for (const message of batch.messages) {
    const items: unknown[] = Array.isArray(message.body) ? message.body : [message.body];
    for (const item of items) {
      if (isBookkeepingMessage(item)) messages.push(item);
      else console.error(`bookkeeping: dropped an item of unknown shape from message ${message.id}`);
    }
  }
  await applyBookkeeping(deps, messages, recent);
  batch.ackAll();
}

function isBookkeepingMessage(body: unknown): body is BookkeepingMessage {
  if (typeof body !== "object" || body === null) return false;
  const message = body as Record<string, unknown>;
  const isString = (v: unknown) => typeof v === "string";
  const isTime = (v: unknown) => Number.isSafeInteger(v);
  switch (message.kind) {
    case "audit": {
      const entry = message.entry as Record<string, unknown> | null;
      return (
        typeof entry === "object" && entry !== null && isString(entry.id) && isString(entry.tenantId) &&
        isTime(entry.at) && isString(entry.actor) && isString(entry.action)
      );
    }
    case "activity":
      return isString(message.tenantId) && isString(message.cubeId) && isTime(message.liveCount) && isTime(message.at);
    case "key_used":
      return isString(message.keyId) && isTime(message.at);
    default:
      return false;
  }
}
