/**
 * Erasure completeness (issue 16, item 5): what deleting an owner or a cube must also remove from the control plane
 * besides the cubes, grants and audit rows services/portability.ts deletes — the keys that name them and the webhook
 * deliveries that carry their ids. Everything here is a statement for the deletion's own D1 batch, so it commits
 * with the deletion or not at all (a retried deletion after a failure still finds the owner and does it again).
 *
 * What is kept, on purpose (docs/erasure-and-undo.md): the `owner.delete` / `cube.delete` audit receipt (owner as
 * SHA-256), and the `owner.deleted` event until its delivery finishes — it must name the owner, or the receiving
 * app cannot erase its own copy; once delivered (or dead) its stored payload keeps only the owner's SHA-256.
 */
import { and, eq, inArray, lt, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { sha256Hex } from "../core/hash";
import { apiKeys, erasedCubes, webhookDeliveries } from "../db/schema";
import type { WebhookEventWire } from "../schemas/webhooks";
import type { Deps } from "./context";
import { destroySnapshots, memstoreErasure } from "./memstore-erasure";
import { type KeyChange, type KeyRow, forgetKey, keyChange } from "./tenants";

/** What an erasure adds to the deletion's batch, and what to do once that batch committed. */
export interface ErasureSteps {
  statements: BatchItem<"sqlite">[];
  /** `background` runs work after the answer (TenantContext.background). */
  afterCommit: (background: (work: Promise<unknown>) => void) => void;
}

/**
 * Keys and webhook deliveries naming `owner` (null: a named cube only, the owner stays) or one of `cubeIds`:
 * - a key for that owner alone, or confined to those cubes alone, is revoked — and its restriction lists lose the
 *   erased entries (a revoked key must not keep naming the owner either);
 * - a key for several owners, or several cubes, is narrowed to the others and stays active;
 * - every webhook delivery whose event names the owner or one of the cubes is deleted, whatever its state: its
 *   events are about data that no longer exists, and its payload carries the ids;
 * - every MemStore listing published from one of the cubes is unpublished in the batch, its snapshot cubes
 *   destroyed after the commit (services/memstore-erasure.ts).
 */
export async function erasureSteps(deps: Deps, tenantId: string, owner: string | null, cubeIds: readonly string[]): Promise<ErasureSteps> {
  const cubesJson = JSON.stringify(cubeIds);
  const keys = await deps.db
    .select()
    .from(apiKeys)
    .where(
      and(
        eq(apiKeys.tenantId, tenantId),
        sql`(EXISTS (SELECT 1 FROM json_each(${apiKeys.allowedOwners}) WHERE value = ${owner ?? ""})
          OR EXISTS (SELECT 1 FROM json_each(${apiKeys.allowedCubes}) WHERE value IN (SELECT value FROM json_each(${cubesJson}))))`,
      ),
    )
    .all();
  const now = deps.clock();
  const changed = keys.map((row) => ({ row, change: narrowed(row, owner, new Set(cubeIds), now) }));
  const payloadNames = sql`(json_extract(${webhookDeliveries.payload}, '$.owner') = ${owner ?? ""}
    OR json_extract(${webhookDeliveries.payload}, '$.cube_id') IN (SELECT value FROM json_each(${cubesJson})))`;
  // Keys left with nothing to act for are revoked the way DELETE /v1/keys/{id} does: their rate limiter first, which
  // refuses them in every isolate within KEY_REVOCATION_BOUND_MS (services/auth.ts), then the D1 record below.
  await Promise.all(changed.filter(({ change }) => change.revokedAt !== undefined).map(({ row }) => deps.limiters.getByName(row.id).revoke()));
  const listings = await memstoreErasure(deps, tenantId, cubeIds);
  const tombstones = await Promise.all(cubeIds.map(async (cubeId) => ({ tenantId, cubeSha256: await sha256Hex(cubeId), erasedAt: now })));
  return {
    statements: [
      ...changed.map(({ row, change }) => keyChange(deps, row, change)),
      ...listings.statements,
      deps.db.delete(webhookDeliveries).where(and(eq(webhookDeliveries.tenantId, tenantId), payloadNames)),
      ...tombstones.map((row) => deps.db.insert(erasedCubes).values(row).onConflictDoUpdate({ target: [erasedCubes.tenantId, erasedCubes.cubeSha256], set: { erasedAt: now } })),
    ],
    afterCommit: (background) => {
      for (const { row } of changed) background(forgetKey(deps, row));
      if (listings.snapshots.length > 0) background(destroySnapshots(deps, listings.snapshots));
    },
  };
}

/** A key's restrictions without the erased owner and cubes; revoked when nothing of its confinement is left. */
function narrowed(row: KeyRow, owner: string | null, cubeIds: ReadonlySet<string>, now: number): KeyChange {
  const owners = parseList(row.allowedOwners);
  const cubes = parseList(row.allowedCubes);
  const keptOwners = owners?.filter((o) => o !== owner) ?? null;
  const keptCubes = cubes?.filter((c) => !cubeIds.has(c)) ?? null;
  // An empty list would read as "no owner / cube at all", never as "every owner": still, a key whose whole
  // confinement was erased has nothing left to do and is revoked, like through DELETE /v1/keys/{id}.
  const emptied = (owners !== null && keptOwners!.length === 0) || (cubes !== null && keptCubes!.length === 0);
  return {
    allowedOwners: keptOwners && JSON.stringify(keptOwners),
    allowedCubes: keptCubes && JSON.stringify(keptCubes),
    ...(emptied && row.revokedAt === null ? { revokedAt: now } : {}),
  };
}

const parseList = (json: string | null): string[] | null => (json === null ? null : (JSON.parse(json) as string[]));

/**
 * The payload a finished delivery keeps: an `owner.deleted` event names the erased owner only until it is delivered
 * (or dead) — then the stored copy keeps the owner's SHA-256 instead (`data.owner_sha256`, `owner` null). Other
 * events are kept as sent. Null: nothing to change.
 */
export async function payloadAfterDelivery(eventType: string, payload: string): Promise<string | null> {
  if (eventType !== "owner.deleted") return null;
  const event = JSON.parse(payload) as { owner?: string | null; data?: Record<string, unknown> };
  if (typeof event.owner !== "string") return null;
  return JSON.stringify({ ...event, owner: null, data: { ...event.data, owner_sha256: await sha256Hex(event.owner) } });
}

/** How long an erased cube's tombstone is kept: far longer than any queue message waits before its fan-out. */
export const ERASED_CUBE_RETENTION_MS = 7 * 24 * 3600_000;

/**
 * Events the fan-out may deliver: not those of a cube erased after they happened (they were on the queue when the
 * deletion committed). A cube created again later (a default cube's id is deterministic) delivers its new events.
 */
export async function withoutErasedEvents(deps: Deps, tenantId: string, events: readonly WebhookEventWire[]): Promise<WebhookEventWire[]> {
  const hashes = new Map<string, string>();
  for (const event of events) if (event.cube_id !== null && !hashes.has(event.cube_id)) hashes.set(event.cube_id, await sha256Hex(event.cube_id));
  if (hashes.size === 0) return [...events];
  // A fan-out message holds at most OUTBOX_EVENTS_PER_MESSAGE events, so the list stays well within D1's 100 parameters.
  const rows = await deps.db
    .select({ cubeSha256: erasedCubes.cubeSha256, erasedAt: erasedCubes.erasedAt })
    .from(erasedCubes)
    .where(and(eq(erasedCubes.tenantId, tenantId), inArray(erasedCubes.cubeSha256, [...new Set(hashes.values())])));
  if (rows.length === 0) return [...events];
  const erased = new Map(rows.map((row) => [row.cubeSha256, row.erasedAt]));
  return events.filter((event) => {
    const at = event.cube_id === null ? undefined : erased.get(hashes.get(event.cube_id)!);
    return at === undefined || Date.parse(event.created_at) > at;
  });
}

/** The cron's part: tombstones past retention go. */
export function pruneErasedCubes(deps: Deps, now: number) {
  return deps.db.delete(erasedCubes).where(lt(erasedCubes.erasedAt, now - ERASED_CUBE_RETENTION_MS));
}
