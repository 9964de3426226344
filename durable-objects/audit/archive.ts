/**
 * Audit days in R2 (`GET /v1/audit/archive[/{day}]`). A tenant's UTC day is a folder of NDJSON objects,
 * `audit/<tenant>/<YYYY-MM-DD>/…`, one entry a line, each object oldest first; the day's reader merges them
 * (src/services/audit-archive-reader.ts). Three writers, each with its own name prefix inside the folder, so each
 * kind's objects follow one another in time when listed in key order:
 * - `shard-<HH>-<generation>.ndjson`: a whole audit shard (a day's from hour 00, an hour's from its hour), written by
 *   the shard itself in bounded steps as one R2 multipart upload (./shard-archive.ts);
 * - `legacy-<at>-<seq>.ndjson`: up to 2,000 of the directory's entries from before sharding (./retention.ts);
 * - `d1-<at>-<seq>.ndjson`: up to 2,000 rows of D1's `audit_log` (src/services/audit-archive.ts).
 * Days archived before this layout are one object `audit/<tenant>/<YYYY-MM-DD>.ndjson`, still read with the folder.
 *
 * No writer reads what R2 holds to merge into it (a busy day is GBs: it would not fit a Worker's 128 MB): every
 * object is written once from the store's rows, before those rows are deleted, under a name its rows fix — so a
 * crash between the two only writes the same object again. An entry stored twice (redelivered after its shard was
 * archived) is dropped by the reader, by id.
 */
import type { AuditLogRow } from "./log";
import { toIso } from "../../src/core/time";

export const DAY_MS = 86_400_000;

/** The R2 operations archiving needs (the ARCHIVE bucket; simulated locally, so tests use the binding itself). */
export type AuditArchive = Pick<R2Bucket, "get" | "put" | "list" | "head" | "delete" | "createMultipartUpload" | "resumeMultipartUpload">;

/** The R2 prefix of one tenant's archived days: a listing under it can never reach another tenant's. */
export const tenantArchivePrefix = (tenantId: string) => `audit/${tenantId}/`;

/** `YYYY-MM-DD` of a day's first millisecond. */
export const dayName = (day: number) => toIso(day).slice(0, 10);

/** The folder of one tenant's archived day (`day` is its first millisecond, UTC). */
export const auditDayPrefix = (tenantId: string, day: number) => `${tenantArchivePrefix(tenantId)}${dayName(day)}/`;

/** The one object of a day archived before days became folders (read, never written). */
export function auditArchiveKey(tenantId: string, day: number): string {
  return `${tenantArchivePrefix(tenantId)}${dayName(day)}.ndjson`;
}

/** The suffix of an object rewritten by an archive erasure (./archive-erasure.ts): `~r` and the pass, before `.ndjson`. */
const REWRITTEN = /~r\d{6}\.ndjson$/;

/**
 * The name of `key`'s version written by erasure pass `pass`: the same name with `~r<pass>` before `.ndjson`. It sorts
 * right after the original and after earlier versions ("." < "~", the pass zero-padded), so a listing in key order
 * meets a name's versions one after another, newest last.
 */
export function rewrittenKey(key: string, pass: number): string {
  return `${originalKey(key).slice(0, -".ndjson".length)}~r${String(pass).padStart(6, "0")}.ndjson`;
}

/** The name an object had when it was first written (itself, unless an erasure rewrote it). */
export const originalKey = (key: string) => key.replace(REWRITTEN, ".ndjson");

/** The kinds of object in a day's folder, by name prefix. */
export type ArchiveSource = "shard" | "legacy" | "d1";

/** A chunk of store rows, named by its first entry (`at`, then `seq`): the same rows always give the same name. */
export function chunkKey(tenantId: string, source: "legacy" | "d1", first: { at: number; seq: number }): string {
  return `${auditDayPrefix(tenantId, first.at)}${source}-${String(first.at).padStart(15, "0")}-${String(first.seq).padStart(12, "0")}.ndjson`;
}

/** A shard's object: its period's first hour (00 for a day's shard, which starts the day) and its archiving generation. */
export function shardObjectKey(tenantId: string, periodStart: number, generation: string): string {
  return `${auditDayPrefix(tenantId, periodStart)}shard-${toIso(periodStart).slice(11, 13)}-${generation}.ndjson`;
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
export const identity = (entry: Pick<ArchivedEntry, "id" | "seq">) => entry.id ?? `seq:${entry.seq}`;

export const NDJSON_METADATA = { httpMetadata: { contentType: "application/x-ndjson" } };

/** Writes one chunk of rows (oldest first, at most a few MB) as its own object, under the name its first row fixes. */
export async function putChunk(archive: AuditArchive, tenantId: string, source: "legacy" | "d1", rows: readonly ArchivableRow[]): Promise<void> {
  if (rows.length === 0) return;
  const sorted = [...rows].sort((a, b) => (a.at === b.at ? a.seq - b.seq : a.at - b.at));
  const body = sorted.map((row) => JSON.stringify(toArchived(row))).join("\n") + "\n";
  await archive.put(chunkKey(tenantId, source, sorted[0]!), body, NDJSON_METADATA);
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
