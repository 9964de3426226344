/**
 * The webhook queue's consumer. Two kinds of message (schemas/webhooks.ts):
 *
 * - `events`: a tenant's new events. Fan-out: one delivery row per (subscribed webhook, event) — unique, so an
 *   event that arrives twice makes no second delivery — and one `delivery` message per new row.
 * - `delivery`: one attempt at one delivery: POST the event, signed, to the endpoint. 2xx → `delivered`; anything
 *   else → `failed` and the message is retried after 10 s × 2^(attempts − 1); after {@link MAX_DELIVERY_ATTEMPTS}
 *   attempts → `dead`, the dead-letter record, which the API lists and can replay. Each delivery is its own
 *   message, so a failing endpoint is retried alone and never re-sends to endpoints that already succeeded.
 *
 * Signature: `X-Memos-Signature: v1=<hex HMAC-SHA256(secret, "<X-Memos-Timestamp>.<body>")>`, the scheme of the
 * inbound lifecycle hook, with a fresh timestamp per attempt. Delivery is at-least-once; receivers de-duplicate by
 * `X-Memos-Event-Id`.
 */
import { and, eq, getTableColumns, inArray, isNull, lt, lte, or, sql } from "drizzle-orm";
import { z } from "@hono/zod-openapi";
import { sendWithinLimits } from "../adapters/queue-producer";
import { ID_LIST_CHUNK, rowsPerInsert } from "../core/sql-limits";
import { webhookDeliveries, webhooks } from "../db/schema";
import { WEBHOOK_EVENT_TYPES, type WebhookEventWire, type WebhookQueueMessage } from "../schemas/webhooks";
import type { Deps } from "./context";
import { payloadAfterDelivery, pruneErasedCubes, withoutErasedEvents } from "./erasure";
import { checkWebhookUrl } from "./url-policy";
import { type Subscriber, subscribersOf } from "./webhook-subscribers";
import { type WebhookDeps, newDeliveryId, openWebhookSecret } from "./webhooks";

/** HTTP attempts per delivery round: 13 retries spread over ~22.7 h (10 s, 20 s, … 11.4 h). */
export const MAX_DELIVERY_ATTEMPTS = 14;
/** The first retry's delay; each next one doubles. */
export const FIRST_RETRY_SECONDS = 10;
/** Queues refuses delays beyond 12 hours. */
export const MAX_RETRY_SECONDS = 12 * 3600;
/** How long an endpoint has to answer. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** A consumer holds a delivery this long while it POSTs (more than the timeout), so a duplicate message waits. */
export const DELIVERY_LEASE_MS = 30_000;
/** A queued or failed delivery this far past its due time lost its queue message; the cron sends a new one. */
export const STALLED_AFTER_MS = 15 * 60_000;
/** Delivered and dead deliveries are kept this long for the delivery log, then pruned by the cron. */
export const DELIVERY_RETENTION_MS = 30 * 24 * 3600_000;
/** Rows one cron run re-enqueues, and rows it prunes. */
const REQUEUE_LIMIT = 200;
const PRUNE_LIMIT = 2000;
/**
 * Delivery rows per insert statement. drizzle binds a value for every column it has one for, defaults included
 * (`attempts`), so 10 rows of 10 given values bound 110 parameters and every fan-out of 10+ deliveries failed
 * (issue 16, D6). Bounded by the table's column count, it stays under D1's 100 whatever the schema grows to.
 */
const INSERT_CHUNK = rowsPerInsert(Object.keys(getTableColumns(webhookDeliveries)).length);

const USER_AGENT = "MemOS-Edge-Webhooks/1";

/** Seconds before the retry that follows attempt `attempts` (1-based): 10, 20, 40, … capped at 12 h. */
export const retryDelaySeconds = (attempts: number) => Math.min(FIRST_RETRY_SECONDS * 2 ** Math.max(0, attempts - 1), MAX_RETRY_SECONDS);

const EventMessage = z.object({
  kind: z.literal("events"),
  tenant_id: z.string().min(1),
  events: z.array(
    z.object({
      id: z.string().min(1).max(200),
      type: z.enum(WEBHOOK_EVENT_TYPES),
      created_at: z.string(),
      tenant_id: z.string(),
      cube_id: z.string().nullable(),
      owner: z.string().nullable(),
      data: z.record(z.string(), z.unknown()),
    }),
  ),
});
const DeliveryMessage = z.object({ kind: z.literal("delivery"), delivery_id: z.string().min(1).max(64) });
const QueueMessage = z.discriminatedUnion("kind", [EventMessage, DeliveryMessage]);

/** What to do with a message after handling it. */
type Settle = { ack: true } | { ack: false; delaySeconds: number };
const ACK: Settle = { ack: true };

/**
 * The `queue` handler's work: every message settles on its own (ack, or retry with its delay), so one failure
 * never re-runs the rest of the batch. An unexpected error retries its message with backoff by the queue's count.
 */
export async function consumeWebhookBatch(batch: MessageBatch<unknown>, deps: Deps, hooks: WebhookDeps): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      let settle: Settle;
      try {
        const parsed = QueueMessage.safeParse(message.body);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          console.error(`webhook queue: dropping a malformed message ${message.id}: ${issue ? `${issue.path.join(".")}: ${issue.message}` : "not a webhook message"}`);
          settle = ACK;
        } else if (parsed.data.kind === "events") {
          await fanOut(deps, hooks, parsed.data.tenant_id, parsed.data.events);
          settle = ACK;
        } else {
          settle = await attemptDelivery(deps, hooks, parsed.data.delivery_id);
        }
      } catch (error) {
        console.error(`webhook queue: message ${message.id} failed (attempt ${message.attempts}); retrying`, error);
        settle = { ack: false, delaySeconds: retryDelaySeconds(message.attempts) };
      }
      if (settle.ack) message.ack();
      else message.retry({ delaySeconds: settle.delaySeconds });
    }),
  );
}

/**
 * One delivery per (webhook subscribed to the event's type, event); a delivery that already exists is left alone,
 * so a duplicated event message delivers nothing twice. Returns the ids of the deliveries it created.
 */
export async function fanOut(deps: Deps, hooks: WebhookDeps, tenantId: string, events: readonly WebhookEventWire[]): Promise<string[]> {
  const mine = events.filter((event) => event.tenant_id === tenantId);
  if (mine.length < events.length) console.error(`webhook queue: ${events.length - mine.length} event(s) named another tenant than their message; dropped`);
  if (mine.length === 0) return [];
  // Subscribers first, from the isolate's cache: a tenant no webhook listens to costs no D1 read at all, and the
  // erasure tombstones are read fresh whenever a delivery might be made (erased cubes never leak).
  const interested = (list: readonly Subscriber[]) => list.some((hook) => mine.some((event) => hook.events.includes(event.type)));
  if (!interested(await subscribersOf(deps, tenantId))) return [];
  const own = await withoutErasedEvents(deps, tenantId, mine);
  if (own.length === 0) return [];
  let created: string[];
  try {
    created = await insertDeliveries(deps, tenantId, own, await subscribersOf(deps, tenantId));
  } catch (error) {
    // A webhook deleted in another isolate within the cache's bound: its rows cannot be stored. Read the list afresh once.
    console.error("webhook fan-out: insert failed with the cached subscribers; re-reading them", error);
    created = await insertDeliveries(deps, tenantId, own, await subscribersOf(deps, tenantId, { fresh: true }));
  }
  // A lost send leaves the rows queued; the cron's sweep finds and re-sends them (requeueStalledDeliveries).
  await enqueueDeliveries(hooks, created, tenantId);
  return created;
}

/** Stores one delivery per (subscriber, event) it wants; the ids of the rows that were new. */
async function insertDeliveries(deps: Deps, tenantId: string, own: readonly WebhookEventWire[], subscribed: readonly Subscriber[]): Promise<string[]> {
  const now = deps.clock();
  // A webhook receives the events that happen after it was registered (docs/webhooks.md): the queue may bring an
  // earlier event after the registration, so the event's own time decides, not the time it reaches this consumer.
  const rows = own.flatMap((event) =>
    subscribed
      .filter((hook) => hook.createdAt <= Date.parse(event.created_at) && hook.events.includes(event.type))
      .map((hook) => ({
        id: newDeliveryId(),
        webhookId: hook.id,
        tenantId,
        eventId: event.id,
        eventType: event.type,
        payload: JSON.stringify(event),
        status: "queued" as const,
        nextAttemptAt: now,
        createdAt: now,
        updatedAt: now,
      })),
  );
  if (rows.length === 0) return [];
  const { db } = deps;
  const inserts = [];
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    inserts.push(db.insert(webhookDeliveries).values(rows.slice(i, i + INSERT_CHUNK)).onConflictDoNothing().returning({ id: webhookDeliveries.id }));
  }
  return (await db.batch(nonEmpty(inserts))).flat().map((row) => row.id);
}

/** Delivery messages on the tenant's queue shard when it is known (the cron's sweep sends without: one fixed shard). */
async function enqueueDeliveries(hooks: WebhookDeps, ids: readonly string[], tenantId?: string): Promise<void> {
  const body = (id: string): WebhookQueueMessage => (tenantId === undefined ? { kind: "delivery", delivery_id: id } : { kind: "delivery", delivery_id: id, tenant_id: tenantId });
  const messages = ids.map((id) => ({ body: body(id), contentType: "json" as const }));
  await sendWithinLimits(hooks.queue, messages);
}

/**
 * One attempt at one delivery. A duplicate message finds the delivery finished (ack), not yet due or held by another
 * attempt (retried when it would be due); otherwise this attempt takes the lease, POSTs and records the outcome.
 */
export async function attemptDelivery(deps: Deps, hooks: WebhookDeps, deliveryId: string): Promise<Settle> {
  const { db } = deps;
  const row = await db
    .select({
      status: webhookDeliveries.status,
      payload: webhookDeliveries.payload,
      eventId: webhookDeliveries.eventId,
      eventType: webhookDeliveries.eventType,
      nextAttemptAt: webhookDeliveries.nextAttemptAt,
      lockedUntil: webhookDeliveries.lockedUntil,
      webhookId: webhooks.id,
      tenantId: webhooks.tenantId,
      url: webhooks.url,
      sealedSecret: webhooks.sealedSecret,
    })
    .from(webhookDeliveries)
    .innerJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId))
    .where(eq(webhookDeliveries.id, deliveryId))
    .get();
  // Gone with its webhook, or finished: a late or duplicate message.
  if (!row || row.status === "delivered" || row.status === "dead") return ACK;
  const now = deps.clock();
  if (row.nextAttemptAt !== null && row.nextAttemptAt > now) return { ack: false, delaySeconds: secondsUntil(row.nextAttemptAt, now) };
  if (row.lockedUntil !== null && row.lockedUntil > now) return { ack: false, delaySeconds: secondsUntil(row.lockedUntil, now) };

  const lease = now + DELIVERY_LEASE_MS;
  const [claimed] = await db
    .update(webhookDeliveries)
    .set({ lockedUntil: lease })
    .where(
      and(
        eq(webhookDeliveries.id, deliveryId),
        inArray(webhookDeliveries.status, ["queued", "failed"]),
        or(isNull(webhookDeliveries.lockedUntil), lte(webhookDeliveries.lockedUntil, now)),
      ),
    )
    .returning({ attempts: webhookDeliveries.attempts });
  if (!claimed) return { ack: false, delaySeconds: secondsUntil(lease, now) };

  const attempts = claimed.attempts + 1;
  const outcome = await post(deps, hooks, row, deliveryId, attempts);
  const finishedAt = deps.clock();
  const status = outcome.ok ? "delivered" : outcome.final || attempts >= MAX_DELIVERY_ATTEMPTS ? "dead" : "failed";
  const delaySeconds = retryDelaySeconds(attempts);
  await db
    .update(webhookDeliveries)
    .set({
      status,
      attempts,
      lastStatusCode: outcome.statusCode,
      lastError: outcome.error,
      nextAttemptAt: status === "failed" ? finishedAt + delaySeconds * 1000 : null,
      lockedUntil: null,
      deliveredAt: outcome.ok ? finishedAt : null,
      updatedAt: finishedAt,
      // An erased owner's id is kept only until the event announcing the erasure is sent (services/erasure.ts).
      ...(status === "failed" ? {} : { payload: (await payloadAfterDelivery(row.eventType, row.payload)) ?? undefined }),
    })
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.lockedUntil, lease)));
  return status === "failed" ? { ack: false, delaySeconds } : ACK;
}

const secondsUntil = (at: number, now: number) => Math.min(Math.max(1, Math.ceil((at - now) / 1000)), MAX_RETRY_SECONDS);

interface AttemptOutcome {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  /** No retry can fix it (the URL is no longer allowed, the secret cannot be opened): dead at once. */
  final: boolean;
}

interface DeliveryTarget {
  webhookId: string;
  tenantId: string;
  url: string;
  sealedSecret: string;
  payload: string;
  eventId: string;
  eventType: string;
}

async function post(deps: Deps, hooks: WebhookDeps, target: DeliveryTarget, deliveryId: string, attempt: number): Promise<AttemptOutcome> {
  // Checked again at every attempt: the deployment may have left local mode since the webhook was registered.
  const verdict = checkWebhookUrl(target.url, hooks.policy);
  if (!verdict.ok) return { ok: false, statusCode: null, error: `${verdict.reason}; register a URL this deployment allows`, final: true };
  const secret = await openWebhookSecret(deps, { id: target.webhookId, tenantId: target.tenantId, sealedSecret: target.sealedSecret });
  if (secret === null) {
    return { ok: false, statusCode: null, error: "the signing secret cannot be opened (ROOT_KEY changed): rotate the secret, then replay", final: true };
  }
  const timestamp = String(Math.floor(deps.clock() / 1000));
  const headers = {
    "Content-Type": "application/json",
    "User-Agent": USER_AGENT,
    "X-Memos-Event-Id": target.eventId,
    "X-Memos-Event-Type": target.eventType,
    "X-Memos-Delivery-Id": deliveryId,
    "X-Memos-Delivery-Attempt": String(attempt),
    "X-Memos-Timestamp": timestamp,
    "X-Memos-Signature": await signWebhook(secret, timestamp, target.payload),
  };
  let response: Response;
  try {
    // Redirects are not followed: a public endpoint must not be able to bounce a delivery to a private address.
    response = await hooks.fetch(verdict.url, {
      method: "POST",
      headers,
      body: target.payload,
      redirect: "manual",
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    const reason = timedOut ? `no answer within ${DELIVERY_TIMEOUT_MS / 1000} s` : `request failed: ${error instanceof Error ? error.message : String(error)}`;
    return { ok: false, statusCode: null, error: reason.slice(0, 500), final: false };
  }
  // The body is not read: only the status counts, and an endpoint must not be able to hold the consumer.
  await response.body?.cancel().catch(() => undefined);
  if (response.status >= 200 && response.status < 300) return { ok: true, statusCode: response.status, error: null, final: false };
  const why = response.status >= 300 && response.status < 400 ? " (redirects are not followed)" : "";
  return { ok: false, statusCode: response.status, error: `HTTP ${response.status}${why}`, final: false };
}

const utf8 = new TextEncoder();

/** `v1=` + hex HMAC-SHA256 keyed with the secret's UTF-8 bytes over `<timestamp>.<body>`. */
export async function signWebhook(secret: string, timestamp: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", utf8.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8.encode(`${timestamp}.${body}`)));
  return `v1=${[...mac].map((byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * The cron's part: re-enqueues deliveries whose queue message was lost (a fan-out or replay whose send failed, a
 * message the queue gave up on) and prunes finished deliveries past retention. Bounded per run.
 */
export async function sweepWebhookDeliveries(deps: Deps, hooks: WebhookDeps): Promise<{ requeued: number; pruned: number }> {
  const { db } = deps;
  const now = deps.clock();
  const stalled = await db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(
      and(
        sql`${webhookDeliveries.status} IN ('queued', 'failed')`,
        lt(webhookDeliveries.nextAttemptAt, now - STALLED_AFTER_MS),
        or(isNull(webhookDeliveries.lockedUntil), lte(webhookDeliveries.lockedUntil, now)),
      ),
    )
    .limit(REQUEUE_LIMIT);
  const ids = stalled.map((row) => row.id);
  if (ids.length > 0) {
    // Due now, so the new message is not mistaken for an early duplicate; then re-sent.
    await db.batch(nonEmpty(chunks(ids).map((part) => db.update(webhookDeliveries).set({ nextAttemptAt: now, updatedAt: now }).where(inArray(webhookDeliveries.id, part)))));
    await enqueueDeliveries(hooks, ids);
  }
  const old = await db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(and(sql`${webhookDeliveries.status} IN ('delivered', 'dead')`, lt(webhookDeliveries.updatedAt, now - DELIVERY_RETENTION_MS)))
    .limit(PRUNE_LIMIT);
  if (old.length > 0) {
    await db.batch(nonEmpty(chunks(old.map((row) => row.id)).map((part) => db.delete(webhookDeliveries).where(inArray(webhookDeliveries.id, part)))));
  }
  await pruneErasedCubes(deps, now);
  return { requeued: ids.length, pruned: old.length };
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += ID_LIST_CHUNK) out.push(items.slice(i, i + ID_LIST_CHUNK));
  return out;
}

/** db.batch wants a non-empty tuple. */
function nonEmpty<T>(items: T[]): [T, ...T[]] {
  if (items.length === 0) throw new Error("an empty batch");
  return items as [T, ...T[]];
}
