/**
 * Each tenant's webhook subscribers as the queue consumer sees them (issue 14, items 1 and 3): held in the consumer's
 * isolate for {@link SUBSCRIBERS_STALE_MS}, then asked again of the tenant's directory object
 * (durable-objects/tenant.ts), which holds the list and reads D1 only when a change made it stale — so a busy
 * tenant's fan-out makes no D1 read, whatever the number of isolates, and neither does a tenant without webhooks.
 * A webhook created or deleted through this isolate drops the tenant's entry at once; other isolates see the change
 * within the bound. What the bound means for the promises of docs/webhooks.md:
 *
 * - a new webhook receives every event that happens from at most {@link SUBSCRIBERS_STALE_MS} after its registration,
 *   and never one that happened before it (the event's own time is still compared with the registration);
 * - a deleted webhook may be fanned to for up to the bound, but its deliveries cannot be stored (they reference the
 *   webhook row), and a failed insert re-reads the list from D1 through the object (services/webhook-delivery.ts).
 */
import { ExpiringCache } from "../core/expiring-cache";
import type { Deps } from "./context";
import { type Subscriber, webhookSubscribers } from "./tenant-directory";

export type { Subscriber };

/** How long an isolate believes a tenant's subscriber list. */
export const SUBSCRIBERS_STALE_MS = 5_000;

const subscribers = new ExpiringCache<string, readonly Subscriber[]>({ ttlMs: SUBSCRIBERS_STALE_MS, maxEntries: 10_000 });

/**
 * Reads in flight by tenant, per request (its `deps`, built once per queue batch): the messages of one batch are fanned
 * out at once and share a cache miss. Never shared between requests: workerd ties a promise to the request whose I/O
 * settles it, so a request waiting on another's read hangs or fails when that request ends first (docs/hot-path.md,
 * "Changed, then reverted"); across requests only the list itself is shared, through the cache above.
 */
const loading = new WeakMap<Deps, Map<string, Promise<readonly Subscriber[]>>>();

/** The tenant's webhooks: from this isolate's cache while fresh, else from the tenant's directory object. */
export async function subscribersOf(deps: Deps, tenantId: string, options: { fresh?: boolean } = {}): Promise<readonly Subscriber[]> {
  const now = deps.clock();
  const cached = options.fresh ? undefined : subscribers.get(tenantId, now);
  if (cached) return cached;
  let inFlight = loading.get(deps);
  if (!inFlight) loading.set(deps, (inFlight = new Map()));
  const pending = options.fresh ? undefined : inFlight.get(tenantId);
  if (pending) return pending;
  const load = (async () => {
    const list = await webhookSubscribers(deps, tenantId, options.fresh);
    subscribers.set(tenantId, list, now);
    return list;
  })();
  inFlight.set(tenantId, load);
  try {
    return await load;
  } finally {
    if (inFlight.get(tenantId) === load) inFlight.delete(tenantId);
  }
}

/** A webhook of the tenant was created or deleted here: the next fan-out reads the list again. */
export function forgetSubscribers(tenantId: string): void {
  subscribers.delete(tenantId);
}
