/**
 * Audit retention (issue 14, item 2): each tenant keeps `tenants.audit_retention_days` (default 90) of audit entries
 * hot, older whole days move to R2, a folder of NDJSON objects per tenant and day (durable-objects/audit/archive.ts). Entries
 * live in the tenant's audit shards, which the directory's alarm archives whole (durable-objects/audit.ts); this module lists and opens the archived days
 * and, from the cron, archives the rows still in D1's `audit_log` (written before the audit object existed, and
 * erasure receipts, which commit with their erasure) the same way, into the same day folders, a chunk of at most
 * ENTRIES_PER_READ rows per object (`d1-<at>-<seq>.ndjson`). Reading the days: ./audit-archive-reader.ts.
 */
import { and, asc, eq, gte, inArray, lt, sql } from "drizzle-orm";
import { type ArchivableRow, type AuditArchive, putChunk } from "../../durable-objects/audit/archive";
import { auditLog, tenants } from "../db/schema";
import type { Deps } from "./context";

const DAY_MS = 86_400_000;
/** Per cron run: days archived across tenants, and entries read per day at a time (D1 stays responsive). */
const MAX_DAYS_PER_RUN = 50;
const ENTRIES_PER_READ = 2_000;
/** Row ids per DELETE: under D1's 100 bound parameters. */
const DELETE_CHUNK = 90;

export type { AuditArchive } from "../../durable-objects/audit/archive";
export { auditArchiveKey, auditDayPrefix, parseNdjson } from "../../durable-objects/audit/archive";
export { listArchivedDays, openArchivedDay } from "./audit-archive-reader";

export interface AuditArchiveReport {
  /** R2 objects written (a chunk of at most ENTRIES_PER_READ rows each). */
  objects: number;
  /** Entries moved out of D1. */
  entries: number;
}

/**
 * Moves every tenant's D1 audit rows older than its retention (whole UTC days) to R2, at most MAX_DAYS_PER_RUN
 * day-reads per run; what is left goes on the next run.
 */
export async function archiveAudit(deps: Deps, archive: AuditArchive, budget = MAX_DAYS_PER_RUN): Promise<AuditArchiveReport> {
  const { db } = deps;
  const now = deps.clock();
  // One index seek per tenant (audit_tenant_at) for its oldest entry.
  // Spelled out: drizzle leaves columns unqualified here, and audit_log has an `id` of its own.
  const oldestOf = sql<number | null>`(SELECT min(a.at) FROM audit_log AS a WHERE a.tenant_id = "tenants"."id")`;
  const due = await db
    .select({
      tenantId: tenants.id,
      retentionDays: tenants.auditRetentionDays,
      oldest: oldestOf,
    })
    .from(tenants)
    .all();
  const report: AuditArchiveReport = { objects: 0, entries: 0 };
  for (const { tenantId, retentionDays } of due) {
    let { oldest } = due.find((row) => row.tenantId === tenantId)!;
    const cutoff = Math.floor((now - retentionDays * DAY_MS) / DAY_MS) * DAY_MS;
    // Day by day from the oldest entry left; empty days are skipped by asking for the oldest again.
    while (oldest !== null && oldest < cutoff && budget > 0) {
      budget -= 1;
      const day = Math.floor(oldest / DAY_MS) * DAY_MS;
      const rows = await db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.tenantId, tenantId), gte(auditLog.at, day), lt(auditLog.at, day + DAY_MS)))
        .orderBy(asc(auditLog.at), asc(auditLog.seq))
        .limit(ENTRIES_PER_READ)
        .all();
      await putChunk(archive, tenantId, "d1", rows.map(toArchivableRow));
      const seqs = rows.map((row) => row.seq);
      const deletes = [];
      for (let i = 0; i < seqs.length; i += DELETE_CHUNK) deletes.push(db.delete(auditLog).where(inArray(auditLog.seq, seqs.slice(i, i + DELETE_CHUNK))));
      const [first, ...rest] = deletes;
      if (first) await db.batch([first, ...rest]);
      report.objects += 1;
      report.entries += rows.length;
      const next = await db.select({ at: sql<number | null>`min(${auditLog.at})` }).from(auditLog).where(eq(auditLog.tenantId, tenantId)).get();
      oldest = next?.at ?? null;
    }
    if (budget <= 0) break;
  }
  return report;
}

function toArchivableRow(row: typeof auditLog.$inferSelect): ArchivableRow {
  return {
    seq: row.seq,
    id: row.id,
    at: row.at,
    actor: row.actor,
    action: row.action,
    cube_id: row.cubeId,
    memory_ids: row.memoryIds,
    request_id: row.requestId,
    status: row.status,
    detail: row.detail,
  };
}
