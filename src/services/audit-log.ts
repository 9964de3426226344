/**
 * The service side of the tenants' audit objects (durable-objects/audit.ts): where the bookkeeping consumer appends
 * entries, `GET /v1/audit` reads and an erasure deletes. A tenant's entries live in time shards named
 * `<tenant>/<period start>` (durable-objects/audit/periods.ts); the tenant's own object (`<tenant>`) is their
 * directory and holds the entries from before sharding.
 */
import type { AuditPagePlan } from "../../durable-objects/audit";
import type { AuditLogRow, AuditPageFilters, AuditRecord } from "../../durable-objects/audit/log";
import { type ShardPeriod, auditShardName, dayStart, shardPeriodOf } from "../../durable-objects/audit/periods";
import type { Deps } from "./context";
import type { QueuedAuditEntry } from "./bookkeeping";

type AuditDeps = Pick<Deps, "auditLogs">;

const directoryOf = (deps: AuditDeps, tenantId: string) => deps.auditLogs.getByName(tenantId);
const shardOf = (deps: AuditDeps, tenantId: string, period: ShardPeriod) => deps.auditLogs.getByName(auditShardName(tenantId, period));

/**
 * Split points an isolate has learnt, by `<tenant>/<day start>`: a day that went hourly sends its later entries
 * straight to their hour's shard. Unknown (a new isolate) costs one refused round trip, never a wrong placement: the
 * day's shard refuses what is past its split point. Bounded: cleared when a new day would pass `capacity` (a day's
 * point is learnt again); a day already known is updated in place.
 */
export class SplitPoints {
  private readonly points = new Map<string, number>();
  constructor(private readonly capacity: number) {}

  remember(tenantId: string, day: number, splitAt: number): void {
    const key = `${tenantId}/${day}`;
    if (!this.points.has(key) && this.points.size >= this.capacity) this.points.clear();
    this.points.set(key, splitAt);
  }

  of(tenantId: string, day: number): number | null {
    return this.points.get(`${tenantId}/${day}`) ?? null;
  }

  get size(): number {
    return this.points.size;
  }
}

/** Days whose split point an isolate keeps (~100 bytes each: ~1 MB). */
export const SPLIT_POINTS_KEPT = 10_000;
const splitPoints = new SplitPoints(SPLIT_POINTS_KEPT);

/** The records grouped by the shard they belong to, as far as this isolate knows the days' split points. */
function byShard(tenantId: string, records: readonly AuditRecord[]): Map<string, { period: ShardPeriod; records: AuditRecord[] }> {
  const groups = new Map<string, { period: ShardPeriod; records: AuditRecord[] }>();
  for (const record of records) {
    const period = shardPeriodOf(record.at, splitPoints.of(tenantId, dayStart(record.at)));
    const key = `${period.start}:${period.end}`;
    const group = groups.get(key);
    if (group) group.records.push(record);
    else groups.set(key, { period, records: [record] });
  }
  return groups;
}

/** Appends one tenant's records: one call per shard, and a second round for what a day's shard refused as past its split. */
async function appendTenant(deps: AuditDeps, tenantId: string, records: readonly AuditRecord[], round = 0): Promise<void> {
  const refused: AuditRecord[] = [];
  await settleAll(
    [...byShard(tenantId, records).values()].map(async ({ period, records: group }) => {
      const result = await shardOf(deps, tenantId, period).append(tenantId, period, group);
      if (result.splitAt !== null) splitPoints.remember(tenantId, period.start, result.splitAt);
      if (result.refused.length > 0) {
        const ids = new Set(result.refused);
        refused.push(...group.filter((r) => ids.has(r.id)));
      }
    }),
  );
  if (refused.length === 0) return;
  // With the split point learnt, refused entries route to hourly shards, which never refuse.
  if (round > 0) throw new Error(`audit shards of ${tenantId} refused ${refused.length} entries twice`);
  await appendTenant(deps, tenantId, refused, round + 1);
}

/**
 * Appends a batch's entries: one call per shard (a tenant's batch usually falls in one), all at once. Throws when any
 * shard does: the queue redelivers the whole batch and the shards that already took their entries ignore them by id.
 */
export async function appendAuditEntries(deps: AuditDeps, entries: readonly QueuedAuditEntry[]): Promise<void> {
  const byTenant = new Map<string, AuditRecord[]>();
  for (const e of entries) {
    const record: AuditRecord = {
      id: e.id,
      at: e.at,
      actor: e.actor,
      action: e.action,
      cubeId: e.cubeId ?? null,
      memoryIds: e.memoryIds ?? "[]",
      requestId: e.requestId ?? null,
      status: e.status ?? null,
      detail: e.detail ?? "{}",
    };
    const list = byTenant.get(e.tenantId);
    if (list) list.push(record);
    else byTenant.set(e.tenantId, [record]);
  }
  await settleAll([...byTenant].map(([tenantId, records]) => appendTenant(deps, tenantId, records)));
}

/** Waits for every call, then throws the first failure: a failed batch leaves no append still running behind it. */
async function settleAll(work: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
}

/** The directory's part of a page: its legacy entries and the shards to walk, newest first. */
export function auditPagePlan(deps: AuditDeps, tenantId: string, filters: AuditPageFilters, limit: number, maxShards: number): Promise<AuditPagePlan> {
  return directoryOf(deps, tenantId).plan(filters, limit, maxShards);
}

/** One page of one shard's entries, newest first, plus one to tell whether there is more. */
export function auditShardPage(deps: AuditDeps, shardName: string, filters: AuditPageFilters, limit: number): Promise<AuditLogRow[]> {
  return deps.auditLogs.getByName(shardName).page(filters, limit);
}

/**
 * Deletes the tenant's audit entries naming these cubes — in the legacy log and in the shards whose cube set may
 * name one, no other — and makes late entries of them still on the queue be dropped. Called before the erasure's D1
 * commit, like the wipe of the cubes themselves: a failure fails the request, which a retry repeats whole.
 */
export async function eraseAuditOfCubes(deps: AuditDeps, tenantId: string, cubeIds: readonly string[]): Promise<void> {
  if (cubeIds.length === 0) return;
  const { erasedAt, shards } = await directoryOf(deps, tenantId).eraseCubes(tenantId, [...cubeIds]);
  await Promise.all(shards.map((name) => deps.auditLogs.getByName(name).eraseInShard([...cubeIds], erasedAt)));
}
