/**
 * Audit days in R2 (`GET /v1/audit/archive[/{day}]`): one NDJSON object per tenant and UTC day,
 * `audit/<tenant>/<YYYY-MM-DD>.ndjson`, one entry a line, oldest first. Written by the tenant's directory's alarm
 * (whole shards, and its legacy rows by day; durable-objects/audit.ts) and by the cron for rows still in D1 from before the object existed (services/audit-archive.ts).
 *
 * Crash-safe in either order of failure: a day is written to R2 before its rows are deleted, and a day written again
 * is merged with what the object holds, by entry id (by D1 `seq` for the oldest D1 rows, which have none), so nothing
 * is lost or doubled.
 */
import type { AuditLogRow } from "./log";
import { toIso } from "../../src/core/time";

export const DAY_MS = 86_400_000;

/** The R2 operations archiving needs (the ARCHIVE bucket; simulated locally, so tests use the binding itself). */
export type AuditArchive = Pick<R2Bucket, "get" | "put" | "list">;

/** The R2 prefix of one tenant's archived days: a listing under it can never reach another tenant's. */
export const tenantArchivePrefix = (tenantId: string) => `audit/${tenantId}/`;

/** The R2 key of one tenant's archived day (`day` is its first millisecond, UTC). */
export function auditArchiveKey(tenantId: string, day: number): string {
  return `${tenantArchivePrefix(tenantId)}${toIso(day).slice(0, 10)}.ndjson`;
}

/** One archived entry, a line of NDJSON: the wire shape of GET /v1/audit plus the store's sequence number and id. */
export interface ArchivedEntry {
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

/** A stored row in either store's column names (D1 rows have `id` null before migration 0004). */
export type ArchivableRow = Omit<AuditLogRow, "id"> & { id: string | null };

export function toArchived(row: ArchivableRow): ArchivedEntry {
  return {
    seq: row.seq,
    id: row.id,
    at: toIso(row.at),
    actor: row.actor,
    action: row.action,
    cube_id: row.cube_id,
    memory_ids: parseJson(row.memory_ids, []),
    request_id: row.request_id,
    status: row.status,
    detail: parseJson(row.detail, {}),
  };
}

/** Where an entry is de-duplicated: its id, or its D1 seq when it has none (rows from before ids existed). */
const identity = (entry: ArchivedEntry) => entry.id ?? `seq:${entry.seq}`;

/** Writes `entries` into the day's object, merged with what it already holds, oldest first. */
export async function appendDay(archive: AuditArchive, key: string, entries: readonly ArchivedEntry[]): Promise<void> {
  const existing = await archive.get(key);
  const merged = new Map<string, ArchivedEntry>();
  if (existing) for (const entry of parseNdjson(await existing.text())) merged.set(identity(entry), entry);
  for (const entry of entries) merged.set(identity(entry), entry);
  const sorted = [...merged.values()].sort((a, b) => (a.at === b.at ? a.seq - b.seq : a.at < b.at ? -1 : 1));
  const body = sorted.map((entry) => JSON.stringify(entry)).join("\n") + "\n";
  await archive.put(key, body, { httpMetadata: { contentType: "application/x-ndjson" } });
}

/** The entries of an archived day's NDJSON text. */
export function parseNdjson(text: string): ArchivedEntry[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as ArchivedEntry);
}

function parseJson(text: string, fallback: unknown): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return fallback;
  }
}
