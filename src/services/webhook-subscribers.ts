/**
 * Each tenant's webhook subscribers as the queue consumer sees them (issue 14, item 3): read from D1 once, then held
 * in the consumer's isolate for {@link SUBSCRIBERS_STALE_MS}, so the fan-out of a busy tenant's event batches makes no
 * D1 read per batch. A webhook created or deleted through this isolate drops the tenant's entry at once; other
 * isolates see the change within the bound. What the bound means for the promises of docs/webhooks.md:
 *
 * - a new webhook receives every event that happens from at most {@link SUBSCRIBERS_STALE_MS} after its registration,
 *   and never one that happened before it (the event's own time is still compared with the registration);
 * - a deleted webhook may be fanned to for up to the bound, but its deliveries cannot be stored (they reference the
 *   webhook row), and a failed insert re-reads the list (services/webhook-delivery.ts).
 */
import { eq } from "drizzle-orm";
import { ExpiringCache } from "../core/expiring-cache";
import { webhooks } from "../db/schema";
import type { Deps } from "./context";

/** How long an isolate believes a tenant's subscriber list. */
export const SUBSCRIBERS_STALE_MS = 5_000;

/** One subscribed webhook: what the fan-out needs to match an event. */
export interface Subscriber {
  id: string;
  /** The event types it asked for. */
  events: readonly string[];
  createdAt: number;
}

const subscribers = new ExpiringCache<string, readonly Subscriber[]>({ ttlMs: SUBSCRIBERS_STALE_MS, maxEntries: 10_000 });

/** Reads in flight by tenant: the messages of one batch are fanned out at once and share a cache miss. */
const loading = new Map<string, Promise<readonly Subscriber[]>>();

/** The tenant's webhooks: from this isolate's cache while fresh, else one indexed D1 read. */
export async function subscribersOf(deps: Deps, tenantId: string, options: { fresh?: boolean } = {}): Promise<readonly Subscriber[]> {
  const now = deps.clock();
  const cached = options.fresh ? undefined : subscribers.get(tenantId, now);
  if (cached) return cached;
  const pending = options.fresh ? undefined : loading.get(tenantId);
  if (pending) return pending;
  const load = (async () => {
    const rows = await deps.db
      .select({ id: webhooks.id, events: webhooks.events, createdAt: webhooks.createdAt })
      .from(webhooks)
      .where(eq(webhooks.tenantId, tenantId));
    const list = rows.map((row) => ({ id: row.id, events: JSON.parse(row.events) as string[], createdAt: row.createdAt }));
    subscribers.set(tenantId, list, now);
    return list;
  })();
  loading.set(tenantId, load);
  try {
    return await load;
  } finally {
    if (loading.get(tenantId) === load) loading.delete(tenantId);
  }
}

/** A webhook of the tenant was created or deleted here: the next fan-out reads the list again. */
export function forgetSubscribers(tenantId: string): void {
  subscribers.delete(tenantId);
  loading.delete(tenantId);
}
