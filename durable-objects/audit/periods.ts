/**
 * Which audit shard holds an entry (issue 14, items 2 and 5; docs/scale.md "Time-sharding the audit object"). A
 * tenant's entries live in AuditDurableObjects named `<tenant>/<period start>`: a UTC day by default; once a day's
 * shard holds more than its split threshold of entries it records a **split point** (the next whole hour after its
 * newest entry) and every entry of that day at or past the split point goes to the shard of its UTC hour instead.
 * So each millisecond belongs to exactly one shard, whatever the order entries arrive in: before the split point
 * the day's shard, from it on the hour's. Pure: the consumer routes with it, the shards check with it.
 */
import { toIso } from "../../src/core/time";

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/**
 * Entries a day's shard holds before the day switches to hourly shards: ~2 GB at the 555 bytes in use per entry
 * measured at `ecf0bb6` (row and four indexes; 979 bytes at the largest measured, 3.5 GB), leaving a day's shard
 * room for the entries of the hour in which it split and late ones, far under one object's 10 GB.
 */
export const DEFAULT_SPLIT_ENTRIES = 3_600_000;

/** A shard's time range, [start, end) in ms: a whole UTC day or a whole UTC hour. */
export interface ShardPeriod {
  start: number;
  end: number;
}

export const dayStart = (at: number) => Math.floor(at / DAY_MS) * DAY_MS;
export const hourStart = (at: number) => Math.floor(at / HOUR_MS) * HOUR_MS;

/** The shard period of an entry at `at`, given its day's split point (null: the day never split). */
export function shardPeriodOf(at: number, splitAt: number | null): ShardPeriod {
  if (splitAt === null || at < splitAt) return { start: dayStart(at), end: dayStart(at) + DAY_MS };
  return { start: hourStart(at), end: hourStart(at) + HOUR_MS };
}

export const isDayPeriod = (period: ShardPeriod) => period.end - period.start === DAY_MS && period.start === dayStart(period.start);
export const isHourPeriod = (period: ShardPeriod) => period.end - period.start === HOUR_MS && period.start === hourStart(period.start);

/**
 * The object name of a tenant's shard: `<tenant>/2026-12-05` for a day, `<tenant>/2026-12-05T13` for an hour.
 * Tenant ids never hold `/` (`ten_` + base32), so no shard name equals a tenant's own object (the directory) or
 * another tenant's shard.
 */
export function auditShardName(tenantId: string, period: ShardPeriod): string {
  const iso = toIso(period.start);
  return `${tenantId}/${isDayPeriod(period) ? iso.slice(0, 10) : iso.slice(0, 13)}`;
}

/**
 * The split point a day's shard records after an append, or null while it holds at most `threshold` entries: the
 * whole hour after its newest entry, so every entry it already holds stays before it.
 */
export function splitPointAfter(entries: number, threshold: number, newestAt: number): number | null {
  return entries > threshold ? hourStart(newestAt) + HOUR_MS : null;
}
