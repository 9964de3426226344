/**
 * Audit retention (issue 14, item 2): each tenant keeps `tenants.audit_retention_days` (default 90) of audit entries
 * hot in D1, where `GET /v1/audit` reads them; the cron moves whole older days to R2, one NDJSON object per tenant
 * and day (`audit/<tenant>/<YYYY-MM-DD>.ndjson`, one entry a line, oldest first), and deletes them from D1.
 *
 * Crash-safe in either order of failure: a day is written to R2 before its rows leave D1, and a day written again
 * (a run that died between the two, or entries that arrived late for an archived day) is merged with what the
 * object holds, by the entries' D1 sequence number, so nothing is lost or doubled.
 */
import { and, asc, eq, gte, inArray, lt, sql } from "drizzle-orm";
import { toIso } from "../core/time";
import { auditLog, tenants } from "../db/schema";
import { ApiError } from "../errors";
import type { AuditArchiveDayWire, AuditArchiveQueryWire } from "../schemas/audit";
import type { Deps } from "./context";

const DAY_MS = 86_400_000;
/** Per cron run: days archived across tenants, and entries read per day at a time (D1 stays responsive). */
const MAX_DAYS_PER_RUN = 50;
const ENTRIES_PER_READ = 2_000;
/** Row ids per DELETE: under D1's 100 bound parameters. */
const DELETE_CHUNK = 90;

/** Where archived days go: the ARCHIVE bucket (R2 is simulated locally, so the binding itself serves tests). */
export type AuditArchive = Pick<R2Bucket, "get" | "put" | "list">;

/** The R2 prefix of one tenant's archived days: a listing under it can never reach another tenant's. */
const tenantPrefix = (tenantId: string) => `audit/${tenantId}/`;

/** The R2 key of one tenant's archived day (`day` is its first millisecond, UTC). */
export function auditArchiveKey(tenantId: string, day: number): string {
  return `${tenantPrefix(tenantId)}${toIso(day).slice(0, 10)}.ndjson`;
}

/**
 * The tenant's archived days, oldest first, a page at a time (`GET /v1/audit/archive`, admin scope). The cursor is
 * the last day listed, so it needs no signing: it can only move within the tenant's own prefix.
 */
export async function listArchivedDays(
  archive: AuditArchive,
  tenantId: string,
  query: AuditArchiveQueryWire,
): Promise<{ data: AuditArchiveDayWire[]; next_cursor: string | null }> {
  const prefix = tenantPrefix(tenantId);
  const listed = await archive.list({
    prefix,
    limit: query.limit,
    ...(query.cursor === undefined ? {} : { startAfter: `${prefix}${query.cursor}.ndjson` }),
  });
  const data = listed.objects.map((object) => ({
    day: object.key.slice(prefix.length, -".ndjson".length),
    bytes: object.size,
    archived_at: toIso(object.uploaded.getTime()),
  }));
  return { data, next_cursor: listed.truncated && data.length > 0 ? data.at(-1)!.day : null };
}

/** One archived day's NDJSON (`GET /v1/audit/archive/{day}`), streamed from R2; 404 when the tenant has none for it. */
export async function openArchivedDay(archive: AuditArchive, tenantId: string, day: string): Promise<{ body: ReadableStream; bytes: number }> {
  const object = await archive.get(`${tenantPrefix(tenantId)}${day}.ndjson`);
  if (!object) throw new ApiError("not_found", `no archived audit entries for ${day}`);
  return { body: object.body, bytes: object.size };
}

/** One archived entry, as a line of NDJSON: the wire shape of GET /v1/audit plus its D1 sequence number. */
interface ArchivedEntry {
  seq: number;
  id: string | null;
  at: string;
  actor: string;
  action: string;
  cube_id: string | null;
  memory_ids: unknown;
  request_id: string | null;
  status: number | null;
  detail: unknown;
}

export interface AuditArchiveReport {
  /** R2 objects written (a day may take several when it is large). */
  objects: number;
  /** Entries moved out of D1. */
  entries: number;
}

/**
 * Moves every tenant's audit entries older than its retention (whole UTC days) to R2, at most MAX_DAYS_PER_RUN
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
      await appendDay(archive, auditArchiveKey(tenantId, day), rows.map(toArchived));
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

/** Writes `entries` into the day's object, merged with what it already holds (by seq), oldest first. */
async function appendDay(archive: AuditArchive, key: string, entries: ArchivedEntry[]): Promise<void> {
  const existing = await archive.get(key);
  const bySeq = new Map<number, ArchivedEntry>();
  if (existing) for (const entry of parseNdjson(await existing.text())) bySeq.set(entry.seq, entry);
  for (const entry of entries) bySeq.set(entry.seq, entry);
  const merged = [...bySeq.values()].sort((a, b) => (a.at === b.at ? a.seq - b.seq : a.at < b.at ? -1 : 1));
  const body = merged.map((entry) => JSON.stringify(entry)).join("\n") + "\n";
  await archive.put(key, body, { httpMetadata: { contentType: "application/x-ndjson" } });
}

/** The entries of an archived day's NDJSON text. */
export function parseNdjson(text: string): ArchivedEntry[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as ArchivedEntry);
}

function toArchived(row: typeof auditLog.$inferSelect): ArchivedEntry {
  return {
    seq: row.seq,
    id: row.id,
    at: toIso(row.at),
    actor: row.actor,
    action: row.action,
    cube_id: row.cubeId,
    memory_ids: parseJson(row.memoryIds, []),
    request_id: row.requestId,
    status: row.status,
    detail: parseJson(row.detail, {}),
  };
}

function parseJson(text: string, fallback: unknown): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return fallback;
  }
}
