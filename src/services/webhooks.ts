/**
 * Outbound webhooks, the tenant's side: register endpoints for event types, list and delete them, rotate their
 * signing secret, read the delivery log and replay a delivery. Delivery itself is webhook-delivery.ts (the queue
 * consumer); events come from each cube's outbox (durable-objects/cube/outbox.ts) and from {@link publishEvent}.
 */
import { and, desc, eq, lt, or, sql } from "drizzle-orm";
import { sendWithinLimits } from "../adapters/queue-producer";
import { randomBody } from "../core/ids";
import { toIso, toIsoOrNull } from "../core/time";
import { webhookDeliveries, webhooks } from "../db/schema";
import { ApiError } from "../errors";
import {
  type CreateWebhookWire,
  MAX_WEBHOOKS_PER_TENANT,
  type WebhookDeliveryWire,
  type WebhookEventType,
  type WebhookEventWire,
  type WebhookQueue,
  type WebhookQueueMessage,
  type WebhookWire,
  type WebhookWithSecretWire,
} from "../schemas/webhooks";
import type { Deps, Principal, TenantPrincipal } from "./context";
import { requireTenant } from "./auth";
import { openSecret, sealSecret } from "./secret-box";
import { type UrlPolicy, checkWebhookUrl } from "./url-policy";
import { changeWebhooks } from "./tenant-directory";
import { forgetSubscribers } from "./webhook-subscribers";

/** What webhooks need beyond {@link Deps}; built from the bindings by `createWebhookDeps` (src/deps.ts). */
export interface WebhookDeps {
  /** The webhook queue: events in, deliveries (re-)enqueued. */
  queue: WebhookQueue;
  /** The fetch deliveries go out with. Injected in tests: the Workers test runtime has no network. */
  fetch: (input: string, init: RequestInit) => Promise<Response>;
  /** Which URLs deliveries may go to (local mode or not). */
  policy: UrlPolicy;
}

const SEAL_PURPOSE = "webhook-secret";
/** `whsec_` plus 8 characters. */
const PREFIX_LENGTH = 14;

type WebhookRow = typeof webhooks.$inferSelect;
type DeliveryRow = typeof webhookDeliveries.$inferSelect;

/** Webhooks deliver every cube's events of the tenant, so only an admin key without owner or cube confinement manages them. */
export function requireWebhookAdmin(principal: Principal): TenantPrincipal {
  const tenant = requireTenant(principal, "admin");
  const restrictions = tenant.restrictions;
  if (restrictions && (restrictions.allowedOwners !== null || restrictions.allowedCubes !== null)) {
    throw new ApiError("forbidden", "webhooks receive events of every cube in the tenant: a key restricted to owners or cubes cannot manage them");
  }
  return tenant;
}

export const newWebhookId = () => `whk_${randomBody()}`;
export const newDeliveryId = () => `dlv_${randomBody()}`;

const sealBinding = (tenantId: string, webhookId: string) => `${tenantId}/${webhookId}`;

/** A new signing secret, sealed for its row. */
async function newSecret(deps: Deps, tenantId: string, webhookId: string) {
  const secret = `whsec_${randomBody(40)}`;
  return { secret, sealed: await sealSecret(deps.rootKey, SEAL_PURPOSE, sealBinding(tenantId, webhookId), secret), prefix: secret.slice(0, PREFIX_LENGTH) };
}

/** A webhook's signing secret in clear, or null when it cannot be opened (ROOT_KEY changed since it was made). */
export function openWebhookSecret(deps: Deps, row: { id: string; tenantId: string; sealedSecret: string }): Promise<string | null> {
  return openSecret(deps.rootKey, SEAL_PURPOSE, sealBinding(row.tenantId, row.id), row.sealedSecret);
}

function toWebhook(row: WebhookRow): WebhookWire {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events) as WebhookEventType[],
    secret_prefix: row.secretPrefix,
    created_at: toIso(row.createdAt),
    secret_created_at: toIso(row.secretCreatedAt),
  };
}

/** Registers an endpoint (the URL checked against the deployment's policy); the secret is returned this once. */
export async function createWebhook(deps: Deps, policy: UrlPolicy, tenantId: string, input: CreateWebhookWire): Promise<WebhookWithSecretWire> {
  const verdict = checkWebhookUrl(input.url, policy);
  if (!verdict.ok) throw new ApiError("invalid_request", verdict.reason, [{ in: "json", path: "url", message: verdict.reason }]);
  const id = newWebhookId();
  const { secret, sealed, prefix } = await newSecret(deps, tenantId, id);
  const now = deps.clock();
  const row: WebhookRow = {
    id,
    tenantId,
    url: verdict.url,
    events: JSON.stringify([...new Set(input.events)]),
    sealedSecret: sealed,
    secretPrefix: prefix,
    createdAt: now,
    secretCreatedAt: now,
  };
  // The cap is checked by the insert itself, so two registrations at once cannot both pass it.
  const inserted = await changeWebhooks(deps, tenantId, () =>
    deps.db
      .insert(webhooks)
      .select(
        sql`SELECT ${row.id}, ${row.tenantId}, ${row.url}, ${row.events}, ${row.sealedSecret}, ${row.secretPrefix}, ${row.createdAt}, ${row.secretCreatedAt}
          WHERE (SELECT count(*) FROM ${webhooks} WHERE ${webhooks.tenantId} = ${tenantId}) < ${MAX_WEBHOOKS_PER_TENANT}`,
      )
      .returning({ id: webhooks.id }),
  );
  forgetSubscribers(tenantId);
  if (inserted.length === 0) {
    throw new ApiError("conflict", `a tenant may register at most ${MAX_WEBHOOKS_PER_TENANT} webhooks; delete one first`);
  }
  return { ...toWebhook(row), secret };
}

/** The tenant's webhooks, newest first. */
export async function listWebhooks(deps: Deps, tenantId: string): Promise<WebhookWire[]> {
  const rows = await deps.db.select().from(webhooks).where(eq(webhooks.tenantId, tenantId)).orderBy(desc(webhooks.createdAt), desc(webhooks.id));
  return rows.map(toWebhook);
}

async function ownWebhook(deps: Deps, tenantId: string, id: string): Promise<WebhookRow> {
  const row = await deps.db.select().from(webhooks).where(and(eq(webhooks.id, id), eq(webhooks.tenantId, tenantId))).get();
  if (!row) throw new ApiError("not_found", "webhook not found");
  return row;
}

/** Deletes a webhook and its delivery log; deliveries still queued for it are dropped when they come up. */
export async function deleteWebhook(deps: Deps, tenantId: string, id: string): Promise<WebhookWire> {
  const row = await ownWebhook(deps, tenantId, id);
  const { db } = deps;
  await changeWebhooks(deps, tenantId, () =>
    db.batch([
      db.delete(webhookDeliveries).where(eq(webhookDeliveries.webhookId, id)),
      db.delete(webhooks).where(and(eq(webhooks.id, id), eq(webhooks.tenantId, tenantId))),
    ]),
  );
  forgetSubscribers(tenantId);
  return toWebhook(row);
}

/**
 * Replaces a webhook's secret; returned this once. Every attempt from now on — retries of older deliveries
 * included — is signed with the new one.
 */
export async function rotateWebhookSecret(deps: Deps, tenantId: string, id: string): Promise<WebhookWithSecretWire> {
  const row = await ownWebhook(deps, tenantId, id);
  const { secret, sealed, prefix } = await newSecret(deps, tenantId, id);
  const now = deps.clock();
  await deps.db
    .update(webhooks)
    .set({ sealedSecret: sealed, secretPrefix: prefix, secretCreatedAt: now })
    .where(and(eq(webhooks.id, id), eq(webhooks.tenantId, tenantId)));
  return { ...toWebhook({ ...row, sealedSecret: sealed, secretPrefix: prefix, secretCreatedAt: now }), secret };
}

export function toDelivery(row: DeliveryRow): WebhookDeliveryWire {
  return {
    id: row.id,
    webhook_id: row.webhookId,
    event_id: row.eventId,
    event_type: row.eventType as WebhookEventType,
    status: row.status,
    attempts: row.attempts,
    last_status_code: row.lastStatusCode,
    last_error: row.lastError,
    next_attempt_at: row.status === "queued" || row.status === "failed" ? toIsoOrNull(row.nextAttemptAt) : null,
    delivered_at: toIsoOrNull(row.deliveredAt),
    created_at: toIso(row.createdAt),
    updated_at: toIso(row.updatedAt),
    event: JSON.parse(row.payload) as WebhookEventWire,
  };
}

export interface DeliveryQuery {
  status?: DeliveryRow["status"] | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** A webhook's deliveries, newest first, optionally of one status; paginated by an opaque cursor. */
export async function listDeliveries(
  deps: Deps,
  tenantId: string,
  webhookId: string,
  query: DeliveryQuery,
): Promise<{ data: WebhookDeliveryWire[]; next_cursor: string | null }> {
  await ownWebhook(deps, tenantId, webhookId);
  const after = query.cursor === undefined ? null : decodeDeliveryCursor(query.cursor);
  if (query.cursor !== undefined && after === null) throw new ApiError("invalid_request", "cursor is not one this API issued");
  const rows = await deps.db
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.webhookId, webhookId),
        eq(webhookDeliveries.tenantId, tenantId),
        query.status === undefined ? undefined : eq(webhookDeliveries.status, query.status),
        after === null
          ? undefined
          : or(
              lt(webhookDeliveries.createdAt, after.createdAt),
              and(eq(webhookDeliveries.createdAt, after.createdAt), lt(webhookDeliveries.id, after.id)),
            ),
      ),
    )
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    data: page.map(toDelivery),
    next_cursor: rows.length > query.limit && last ? encodeDeliveryCursor(last.createdAt, last.id) : null,
  };
}

function encodeDeliveryCursor(createdAt: number, id: string): string {
  return btoa(JSON.stringify([createdAt, id])).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeDeliveryCursor(cursor: string): { createdAt: number; id: string } | null {
  if (!/^[A-Za-z0-9_-]{1,300}$/.test(cursor)) return null;
  try {
    const parsed: unknown = JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/")));
    if (!Array.isArray(parsed) || parsed.length !== 2) return null;
    const [createdAt, id] = parsed as unknown[];
    if (!Number.isSafeInteger(createdAt) || typeof id !== "string" || !/^dlv_[0-9a-z]{16}$/.test(id)) return null;
    return { createdAt: createdAt as number, id };
  } catch {
    return null;
  }
}

/**
 * Sends a finished delivery (delivered or dead) again: a new round of attempts from 0, the same event and event
 * id, so a receiver that already has it can tell. One still being retried answers 409.
 */
export async function replayDelivery(deps: Deps, queue: WebhookQueue, tenantId: string, webhookId: string, deliveryId: string): Promise<WebhookDeliveryWire> {
  await ownWebhook(deps, tenantId, webhookId);
  const now = deps.clock();
  const where = and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.webhookId, webhookId), eq(webhookDeliveries.tenantId, tenantId));
  const [reset] = await deps.db
    .update(webhookDeliveries)
    .set({ status: "queued", attempts: 0, lastStatusCode: null, lastError: null, nextAttemptAt: now, lockedUntil: null, deliveredAt: null, updatedAt: now })
    .where(and(where, sql`${webhookDeliveries.status} IN ('delivered', 'dead')`))
    .returning();
  if (!reset) {
    const current = await deps.db.select({ status: webhookDeliveries.status }).from(webhookDeliveries).where(where).get();
    if (!current) throw new ApiError("not_found", "delivery not found");
    throw new ApiError("conflict", `the delivery is ${current.status}: it is still being attempted; replay it once it is delivered or dead`);
  }
  // If this send is lost, the cron's sweep re-enqueues the queued delivery (webhook-delivery.ts).
  await sendWithinLimits(queue, [{ body: { kind: "delivery", delivery_id: deliveryId, tenant_id: tenantId }, contentType: "json" }]);
  return toDelivery(reset);
}

/** An event the Worker raises itself (the cubes' events come from their outboxes). */
export interface NewWebhookEvent {
  type: WebhookEventType;
  data: Record<string, unknown>;
  /** A stable id makes a retried publication de-duplicate; default a fresh `evt_…`. */
  id?: string;
  cube_id?: string | null;
  owner?: string | null;
}

/**
 * Publishes an event of `tenantId` to its webhooks (e.g. `owner.deleted` after an owner's data is erased). Throws
 * when the queue refuses it; callers whose own work is already done should log that rather than fail. Never put
 * memory content in `data`.
 */
export async function publishEvent(queue: WebhookQueue, tenantId: string, event: NewWebhookEvent, now: number = Date.now()): Promise<WebhookEventWire> {
  const published: WebhookEventWire = {
    id: event.id ?? `evt_${randomBody(24)}`,
    type: event.type,
    created_at: toIso(now),
    tenant_id: tenantId,
    cube_id: event.cube_id ?? null,
    owner: event.owner ?? null,
    data: event.data,
  };
  const message: WebhookQueueMessage = { kind: "events", tenant_id: tenantId, events: [published] };
  await sendWithinLimits(queue, [{ body: message, contentType: "json" }]);
  return published;
}
