/**
 * The directory's legacy entries (from before sharding) past the tenant's `audit_retention_days` move to R2 by whole
 * UTC days, a chunk of at most ENTRIES_PER_READ at a time, each its own object in the day's folder (./archive.ts) —
 * written first, deleted after: a crash in between writes the same chunk under the same name again.
 */
import { DAY_MS, type AuditArchive, putChunk } from "./archive";
import type { AuditLog } from "./log";

/** Day-reads per alarm run; a backlog continues on the next run a minute later. */
export const AUDIT_ARCHIVE_DAYS_PER_ALARM = 20;
/** Entries read (and written to one R2 object) at a time: a step holds at most this many rows. */
const ENTRIES_PER_READ = 2_000;

/** Archives due days, oldest first, at most `budget` reads; `more` when due days are left. */
export async function archiveDueDays(
  log: AuditLog,
  archive: AuditArchive,
  tenantId: string,
  retentionDays: number,
  now: number,
  budget: number,
): Promise<{ entries: number; more: boolean }> {
  const cutoff = Math.floor((now - retentionDays * DAY_MS) / DAY_MS) * DAY_MS;
  let entries = 0;
  let oldest = log.oldest();
  while (oldest !== null && oldest < cutoff) {
    if (budget <= 0) return { entries, more: true };
    budget -= 1;
    const day = Math.floor(oldest / DAY_MS) * DAY_MS;
    const rows = log.range(day, day + DAY_MS, ENTRIES_PER_READ);
    await putChunk(archive, tenantId, "legacy", rows);
    log.deleteSeqs(rows.map((row) => row.seq));
    entries += rows.length;
    oldest = log.oldest();
  }
  return { entries, more: false };
}
