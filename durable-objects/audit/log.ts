/**
 * One tenant's audit log inside its AuditDurableObject (issue 14, item 1): the rows `GET /v1/audit` reads, kept out
 * of the one D1 database. Same columns and order as D1's `audit_log` (src/db/schema.ts) minus `tenant_id` — the
 * object is the tenant. Retention: `tenants.audit_retention_days` hot here, older whole UTC days moved to R2 by the
 * object's alarm (./archive.ts); tombstones of erased cubes kept {@link ERASED_CUBE_TOMBSTONE_MS}.
 */

/** An entry as the bookkeeping consumer hands it over: `id` makes a redelivered one harmless. */
export interface AuditRecord {
  id: string;
  at: number;
  actor: string;
  action: string;
  cubeId: string | null;
  /** JSON array of memory ids. */
  memoryIds: string;
  requestId: string | null;
  status: number | null;
  /** JSON object. */
  detail: string;
}

/** A stored row, as SQL returns it. */
export type AuditLogRow = {
  seq: number;
  id: string;
  at: number;
  actor: string;
  action: string;
  cube_id: string | null;
  memory_ids: string;
  request_id: string | null;
  status: number | null;
  detail: string;
};

/** Filters of one page (the same as services/audit.ts's, `after.seq` in this object's numbering). */
export interface AuditPageFilters {
  cubeId?: string | undefined;
  actor?: string | undefined;
  action?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
  after?: { at: number; seq: number } | undefined;
}

/** How long an erased cube's tombstone stops late entries naming it: longer than any bookkeeping message waits. */
export const ERASED_CUBE_TOMBSTONE_MS = 7 * 24 * 3600_000;

/** Schema, idempotent: applied under blockConcurrencyWhile when the object starts. */
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS audit_log (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     at INTEGER NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     cube_id TEXT,
     memory_ids TEXT NOT NULL DEFAULT '[]',
     request_id TEXT,
     status INTEGER,
     detail TEXT NOT NULL DEFAULT '{}'
   )`,
  `CREATE INDEX IF NOT EXISTS audit_at ON audit_log (at)`,
  `CREATE INDEX IF NOT EXISTS audit_cube_at ON audit_log (cube_id, at)`,
  `CREATE INDEX IF NOT EXISTS audit_actor_at ON audit_log (actor, at)`,
  `CREATE INDEX IF NOT EXISTS audit_action_at ON audit_log (action, at)`,
  // Erased cubes by SHA-256 of their id (like D1's erased_cubes): the object never keeps an erased cube's id.
  `CREATE TABLE IF NOT EXISTS erased_cubes (cube_sha256 TEXT PRIMARY KEY, erased_at INTEGER NOT NULL)`,
];

/** The page query's index: the one whose first column is filtered on (most selective first), as in D1. */
function pageIndex(filters: AuditPageFilters): string {
  if (filters.cubeId !== undefined) return "audit_cube_at";
  if (filters.actor !== undefined) return "audit_actor_at";
  if (filters.action !== undefined) return "audit_action_at";
  return "audit_at";
}

export const sha256Hex = async (text: string) =>
  [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)))].map((b) => b.toString(16).padStart(2, "0")).join("");

/** The cube ids an entry names: its own, and those of a request that spanned several (`detail.cube_ids`). */
export function cubesNamed(record: Pick<AuditRecord, "cubeId" | "detail">): string[] {
  const ids = record.cubeId === null ? [] : [record.cubeId];
  try {
    const detail = JSON.parse(record.detail) as { cube_ids?: unknown };
    if (Array.isArray(detail.cube_ids)) for (const id of detail.cube_ids) if (typeof id === "string") ids.push(id);
  } catch {
    // Not JSON: names no further cube.
  }
  return ids;
}

export class AuditLog {
  constructor(private readonly sql: SqlStorage) {}

  migrate(): void {
    for (const statement of SCHEMA) this.sql.exec(statement);
  }

  /**
   * Stores the entries not stored yet (by id) and not naming a cube erased after they happened (they were on the
   * queue when the erasure ran). Returns how many rows were new.
   */
  async append(records: readonly AuditRecord[]): Promise<number> {
    const erased = await this.erasedAmong(records);
    let added = 0;
    for (const r of records) {
      if (cubesNamed(r).some((cubeId) => (erased.get(cubeId) ?? -Infinity) >= r.at)) continue;
      // RETURNING, not rowsWritten: a conflict that inserts nothing still counts written rows (index lookups).
      added += this.sql.exec(
        `INSERT INTO audit_log (id, at, actor, action, cube_id, memory_ids, request_id, status, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING seq`,
        r.id, r.at, r.actor, r.action, r.cubeId, r.memoryIds, r.requestId, r.status, r.detail,
      ).toArray().length;
    }
    return added;
  }

  /** Erasure times of the cubes the records name, by cube id (one lookup per distinct cube). */
  private async erasedAmong(records: readonly AuditRecord[]): Promise<Map<string, number>> {
    const erased = new Map<string, number>();
    const any = this.sql.exec("SELECT 1 FROM erased_cubes LIMIT 1").toArray().length > 0;
    if (!any) return erased;
    const cubeIds = new Set(records.flatMap(cubesNamed));
    for (const cubeId of cubeIds) {
      const row = this.sql.exec<{ erased_at: number }>("SELECT erased_at FROM erased_cubes WHERE cube_sha256 = ?", await sha256Hex(cubeId)).toArray()[0];
      if (row) erased.set(cubeId, row.erased_at);
    }
    return erased;
  }

  /** One page, newest first (at, then seq), plus one row to tell whether there is more. */
  page(filters: AuditPageFilters, limit: number): AuditLogRow[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (clause: string, ...values: (string | number)[]) => {
      where.push(clause);
      params.push(...values);
    };
    if (filters.cubeId !== undefined) add("cube_id = ?", filters.cubeId);
    if (filters.actor !== undefined) add("actor = ?", filters.actor);
    if (filters.action !== undefined) add("action = ?", filters.action);
    if (filters.from !== undefined) add("at >= ?", filters.from);
    if (filters.to !== undefined) add("at < ?", filters.to);
    if (filters.after !== undefined) add("at <= ? AND (at < ? OR seq < ?)", filters.after.at, filters.after.at, filters.after.seq);
    const text = `SELECT * FROM audit_log INDEXED BY ${pageIndex(filters)} ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY at DESC, seq DESC LIMIT ?`;
    return this.sql.exec<AuditLogRow>(text, ...params, limit + 1).toArray();
  }

  /**
   * Deletes the rows naming these cubes (filed under one, or spanning one in `detail.cube_ids`) and remembers each
   * cube as erased at `now`, so entries of it still on the queue are dropped when they arrive.
   */
  async eraseCubes(cubeIds: readonly string[], now: number): Promise<number> {
    let deleted = 0;
    for (const cubeId of cubeIds) {
      // RETURNING counts rows; rowsWritten would count their index entries too.
      deleted += this.sql.exec("DELETE FROM audit_log WHERE cube_id = ? RETURNING seq", cubeId).toArray().length;
      deleted += this.sql.exec(
        `DELETE FROM audit_log WHERE cube_id IS NULL AND EXISTS (SELECT 1 FROM json_each(detail, '$.cube_ids') WHERE value = ?) RETURNING seq`,
        cubeId,
      ).toArray().length;
      this.sql.exec(
        "INSERT INTO erased_cubes (cube_sha256, erased_at) VALUES (?, ?) ON CONFLICT (cube_sha256) DO UPDATE SET erased_at = excluded.erased_at",
        await sha256Hex(cubeId),
        now,
      );
    }
    return deleted;
  }

  /** The oldest entry's time, or null when the log is empty. */
  oldest(): number | null {
    return this.sql.exec<{ at: number | null }>("SELECT min(at) AS at FROM audit_log").one().at;
  }

  /** Entries of [from, to), oldest first, at most `limit`. */
  range(from: number, to: number, limit: number): AuditLogRow[] {
    return this.sql.exec<AuditLogRow>("SELECT * FROM audit_log WHERE at >= ? AND at < ? ORDER BY at, seq LIMIT ?", from, to, limit).toArray();
  }

  /** Entries after `seq` in the order they were stored, at most `limit` (a shard's archiving walk). */
  rowsAfter(seq: number, limit: number): AuditLogRow[] {
    return this.sql.exec<AuditLogRow>("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", seq, limit).toArray();
  }

  /** Keeps erasure tombstones learnt elsewhere (from the directory): the later erasure of a cube wins. */
  keepTombstones(tombstones: readonly { cubeSha256: string; erasedAt: number }[]): void {
    for (const { cubeSha256, erasedAt } of tombstones) {
      this.sql.exec(
        "INSERT INTO erased_cubes (cube_sha256, erased_at) VALUES (?, ?) ON CONFLICT (cube_sha256) DO UPDATE SET erased_at = max(erased_at, excluded.erased_at)",
        cubeSha256,
        erasedAt,
      );
    }
  }

  /** Deletes the rows with these seqs (after they were archived). */
  deleteSeqs(seqs: readonly number[]): void {
    for (const seq of seqs) this.sql.exec("DELETE FROM audit_log WHERE seq = ?", seq);
  }

  /** Tombstones past their use go. */
  pruneTombstones(now: number): void {
    this.sql.exec("DELETE FROM erased_cubes WHERE erased_at < ?", now - ERASED_CUBE_TOMBSTONE_MS);
  }
}
