/**
 * The tenant audit log (LogQuery): entries filed after each authenticated request by the audit middleware (app.ts,
 * built by ./audit-entry.ts) and read back by `GET /v1/audit`. Entries hold ids and small facts, never memory content.
 *
 * Two stores answer a page (docs/scale.md, "Audit"): the tenant's audit object, where the bookkeeping queue files
 * every entry, and D1's `audit_log`, which keeps the rows written before the object existed (read through until the
 * cron archives them at retention) and the erasure receipts, which commit in the same D1 batch as their erasure. A
 * page is the newest of both, merged; its cursor tells the stores apart by the sign of its `seq`.
 */
import { and, eq, gte, lt, lte, or, sql, type SQL } from "drizzle-orm";
import type { ArchivableRow } from "../../durable-objects/audit/archive";
import { decodeCursor, encodeCursor } from "../core/cursor";
import { fromIso, toIso } from "../core/time";
import { auditLog } from "../db/schema";
import { ApiError } from "../errors";
import type { AuditEntryWire, AuditQueryWire } from "../schemas/audit";
import { auditObjectPage } from "./audit-log";
import type { TenantContext } from "./context";

/**
 * D1 rows' seqs in a cursor are shifted below zero by this much: at the same millisecond the object's rows (seq > 0)
 * come first, then D1's, each store in its own seq order. Every seq of either store stays a safe integer.
 */
const D1_SEQ_OFFSET = 2 ** 52;

/** The filters of one audit page, in internal form. */
export interface AuditFilters {
  cubeId?: string | undefined;
  actor?: string | undefined;
  action?: string | undefined;
  /** Inclusive lower bound, ms. */
  from?: number | undefined;
  /** Exclusive upper bound, ms. */
  to?: number | undefined;
  /** Strictly after this position in the newest-first order. */
  after?: { at: number; seq: number } | undefined;
}

/** The index a page query walks: the one whose column after tenant_id is filtered on (most selective first). */
function auditIndex(filters: AuditFilters): string {
  if (filters.cubeId !== undefined) return "audit_tenant_cube_at";
  if (filters.actor !== undefined) return "audit_tenant_actor_at";
  if (filters.action !== undefined) return "audit_tenant_action_at";
  return "audit_tenant_at";
}

/**
 * One page of a tenant's entries, newest first, plus one row to tell whether there is more. Each filter is an
 * equality on the column after tenant_id in one of the (tenant, …, at) indexes, and `seq` is the rowid those indexes
 * end with, so one index walked backwards answers without a sort. INDEXED BY names it: without table statistics,
 * SQLite rates (tenant, at) with a two-sided time range as good as (tenant, cube, at) and may pick it, reading a whole
 * tenant's time range to find one cube's entries (test/routes/audit.test.ts checks the plans).
 */
export function auditPageQuery(tenantId: string, filters: AuditFilters, limit: number): SQL {
  const conditions: (SQL | undefined)[] = [eq(auditLog.tenantId, tenantId)];
  if (filters.cubeId !== undefined) conditions.push(eq(auditLog.cubeId, filters.cubeId));
  if (filters.actor !== undefined) conditions.push(eq(auditLog.actor, filters.actor));
  if (filters.action !== undefined) conditions.push(eq(auditLog.action, filters.action));
  if (filters.from !== undefined) conditions.push(gte(auditLog.at, filters.from));
  if (filters.to !== undefined) conditions.push(lt(auditLog.at, filters.to));
  if (filters.after !== undefined) {
    // `at <= ?` is the index range; the OR only trims the rows of the cursor's own millisecond.
    conditions.push(lte(auditLog.at, filters.after.at), or(lt(auditLog.at, filters.after.at), lt(auditLog.seq, filters.after.seq)));
  }
  return sql`SELECT * FROM ${auditLog} INDEXED BY ${sql.identifier(auditIndex(filters))} WHERE ${and(...conditions)}
    ORDER BY ${auditLog.at} DESC, ${auditLog.seq} DESC LIMIT ${limit + 1}`;
}

/** `GET /v1/audit`: the caller's tenant's entries, filtered, newest first. */
export async function listAudit(ctx: TenantContext, query: AuditQueryWire): Promise<{ data: AuditEntryWire[]; next_cursor: string | null }> {
  const position = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  if (position === null) throw new ApiError("invalid_request", "cursor is not one this API issued");
  const filters: AuditFilters = {
    cubeId: query.cube_id,
    actor: query.actor,
    action: query.action,
    from: query.from === undefined ? undefined : fromIso(query.from),
    to: query.to === undefined ? undefined : fromIso(query.to),
    after: position === undefined ? undefined : { at: position.created_at, seq: position.seq },
  };
  const { tenantId } = ctx.principal;
  const after = filters.after;
  const [held, legacy] = await Promise.all([
    auditObjectPage(ctx.deps, tenantId, filters, query.limit),
    ctx.deps.db.all<ArchivableRow>(
      auditPageQuery(tenantId, { ...filters, after: after && { at: after.at, seq: after.seq + D1_SEQ_OFFSET } }, query.limit),
    ),
  ]);
  const rows = [...held, ...legacy.map((row) => ({ ...row, seq: row.seq - D1_SEQ_OFFSET }))]
    .sort((a, b) => b.at - a.at || b.seq - a.seq)
    .slice(0, query.limit + 1);
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    data: page.map(toWire),
    next_cursor: rows.length > query.limit && last ? encodeCursor({ created_at: last.at, seq: last.seq }) : null,
  };
}

function toWire(row: ArchivableRow): AuditEntryWire {
  return {
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

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}
