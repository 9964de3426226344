/**
 * Bookkeeping off the request path (issue 14, items 1 and 2): what a request owes the central store — its audit
 * entry, the owners directory's count and activity of the cube it wrote, its key's last use — leaves as a message on
 * the bookkeeping queue after the response, and the queue's consumer writes a whole batch (up to 100 messages) to D1
 * in one call. Delivery is at least once: a batch that fails is redelivered whole, so every write here is idempotent
 * (audit entries by their id, counts and stamps behind "newer than what is stored" guards).
 */
import { and, eq, isNull, lt, lte, or, sql, type SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { randomBody } from "../core/ids";
import type { Db } from "../db/client";
import { apiKeys, auditLog, cubes, owners } from "../db/schema";
import type { NewAuditEntry } from "./audit-entry";

/** An audit entry with the id that makes its redelivery harmless. */
export type QueuedAuditEntry = NewAuditEntry & { id: string };

export type BookkeepingMessage =
  /** One request's audit entry. */
  | { kind: "audit"; entry: QueuedAuditEntry }
  /** A write left `liveCount` live memories in the cube at `at`. */
  | { kind: "activity"; tenantId: string; cubeId: string; owner: string; liveCount: number; at: number }
  /** The key authenticated a request at `at`. */
  | { kind: "key_used"; keyId: string; at: number };

/** The queue's name in wrangler.toml, which the Worker's one `queue` handler dispatches on. */
export const BOOKKEEPING_QUEUE = "memos-edge-bookkeeping";

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

/** The producer over a Queue binding (one per request: it holds that request's items). */
export function queueBookkeeping(queue: Queue): Bookkeeping {
  let held: BookkeepingMessage[] | null = null;
  const sendNow = async (items: BookkeepingMessage[]) => {
    if (items.length > 0) await queue.send(items, { contentType: "json" });
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

/** A new audit entry id: `aud_` + 26 random base32 characters (130 bits: ids of separate requests never meet). */
export const newAuditId = () => `aud_${randomBody(26)}`;

/** Audit rows per INSERT: 10 columns each keeps a statement under D1's 100 bound parameters. */
const AUDIT_ROWS_PER_INSERT = 9;

/**
 * The D1 statements that apply a batch of messages, collapsed: every audit entry (ignored when its id is already
 * stored), one update per cube and per owner with the newest count, one stamp per key with its latest use.
 */
export function bookkeepingStatements(db: Db, messages: readonly BookkeepingMessage[]): BatchItem<"sqlite">[] {
  const entries: QueuedAuditEntry[] = [];
  const latestByCube = new Map<string, Extract<BookkeepingMessage, { kind: "activity" }>>();
  const lastUseByKey = new Map<string, number>();
  for (const message of messages) {
    if (message.kind === "audit") entries.push(message.entry);
    else if (message.kind === "activity") {
      const seen = latestByCube.get(message.cubeId);
      if (!seen || seen.at <= message.at) latestByCube.set(message.cubeId, message);
    } else lastUseByKey.set(message.keyId, Math.max(lastUseByKey.get(message.keyId) ?? 0, message.at));
  }

  const statements: BatchItem<"sqlite">[] = [];
  for (let i = 0; i < entries.length; i += AUDIT_ROWS_PER_INSERT) {
    statements.push(db.insert(auditLog).values(entries.slice(i, i + AUDIT_ROWS_PER_INSERT)).onConflictDoNothing());
  }
  // Cubes first: an owner's count is the sum over its cubes, read after they are updated (same transaction).
  const latestByOwner = new Map<string, { tenantId: string; owner: string; at: number }>();
  for (const activity of latestByCube.values()) {
    const { tenantId, cubeId, owner, liveCount, at } = activity;
    statements.push(
      db
        .update(cubes)
        .set({ memoryCount: liveCount, lastActiveAt: at })
        .where(and(eq(cubes.id, cubeId), eq(cubes.tenantId, tenantId), lte(cubes.lastActiveAt, at))),
    );
    const ownerKey = `${tenantId}\n${owner}`;
    if ((latestByOwner.get(ownerKey)?.at ?? -1) < at) latestByOwner.set(ownerKey, { tenantId, owner, at });
  }
  for (const { tenantId, owner, at } of latestByOwner.values()) {
    statements.push(
      db
        .update(owners)
        .set({
          memoryCount: sql`(SELECT coalesce(sum(${cubes.memoryCount}), 0) FROM ${cubes} WHERE ${cubes.tenantId} = ${tenantId} AND ${cubes.owner} = ${owner})`,
          lastActiveAt: sql`max(${owners.lastActiveAt}, ${at})`,
        })
        .where(and(eq(owners.tenantId, tenantId), eq(owners.owner, owner))),
    );
  }
  for (const [keyId, at] of lastUseByKey) {
    const newer: SQL = or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, at))!;
    statements.push(db.update(apiKeys).set({ lastUsedAt: at }).where(and(eq(apiKeys.id, keyId), newer)));
  }
  return statements;
}

/** Writes a batch of messages to D1 in one call (one transaction). Throws when D1 does: the queue redelivers. */
export async function applyBookkeeping(db: Db, messages: readonly BookkeepingMessage[]): Promise<void> {
  const statements = bookkeepingStatements(db, messages);
  const [first, ...rest] = statements;
  if (first) await db.batch([first, ...rest]);
}

/**
 * The queue consumer: the items that have the shape of one are applied in one D1 call; anything else is logged and
 * dropped (an item that can never apply must not hold the rest back through retries).
 */
export async function consumeBookkeepingBatch(batch: MessageBatch<unknown>, db: Db): Promise<void> {
  const messages: BookkeepingMessage[] = [];
  for (const message of batch.messages) {
    const items: unknown[] = Array.isArray(message.body) ? message.body : [message.body];
    for (const item of items) {
      if (isBookkeepingMessage(item)) messages.push(item);
      else console.error(`bookkeeping: dropped an item of unknown shape from message ${message.id}`);
    }
  }
  await applyBookkeeping(db, messages);
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
      return isString(message.tenantId) && isString(message.cubeId) && isString(message.owner) && isTime(message.liveCount) && isTime(message.at);
    case "key_used":
      return isString(message.keyId) && isTime(message.at);
    default:
      return false;
  }
}
