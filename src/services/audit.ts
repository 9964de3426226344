/**
 * The tenant audit log (LogQuery): entries filed after each authenticated request by the audit middleware (app.ts,
 * built by ./audit-entry.ts) and read back by `GET /v1/audit`. Entries hold ids and small facts, never memory content.
 *
 * Three stores answer a page (docs/scale.md, "Audit"): the tenant's audit shards (durable-objects/audit/periods.ts),
 * where the bookkeeping queue files every entry, walked newest first and skipped when the filters exclude them whole;
 * the tenant's own audit object, whose entries from before sharding are read as one more shard; and D1's
 * `audit_log`, which keeps the rows written before the objects existed (read through until the cron archives them at
 * retention) and the erasure receipts, which commit in the same D1 batch as their erasure. A page is the newest of
 * all, merged; its cursor tells the stores apart by the range of its `seq`.
 */
import { and, eq, gte, lt, lte, or, sql, type SQL } from "drizzle-orm";
import type { ArchivableRow } from "../../durable-objects/audit/archive";
import { decodeCursor, encodeCursor } from "../core/cursor";
import { fromIso, toIso } from "../core/time";
import { auditLog } from "../db/schema";
import { ApiError } from "../errors";
import type { AuditEntryWire, AuditQueryWire } from "../schemas/audit";
import { auditPagePlan, auditShardPage } from "./audit-log";
import type { TenantContext } from "./context";

/**
 * A page's order is newest first by `at`, then by the position a cursor's `seq` gives each store, highest first: a
 * shard's rows (their seq + SHARD_SEQ_OFFSET), the directory's legacy rows (their seq, as cursors issued before
 * sharding carry), D1's rows (their seq − D1_SEQ_OFFSET, below zero). A cursor needs no shard name: each millisecond
 * belongs to exactly one shard (durable-objects/audit/periods.ts), so its `at` names it. Every value stays a safe integer.
 */
const SHARD_SEQ_OFFSET = 2 ** 51;
const D1_SEQ_OFFSET = 2 ** 52;
/** The lowest position of a millisecond: a cursor there resumes strictly before it. */
const BEFORE_ALL_OF_MS = -D1_SEQ_OFFSET;
/** Shards one page visits at most (a cursor resumes past them), and how many it asks at once. */
export const AUDIT_SHARDS_PER_PAGE = 48;
const SHARDS_AT_ONCE = 4;

type Store = "shard" | "legacy" | "d1";
const RANK: Record<Store, number> = { d1: 0, legacy: 1, shard: 2 };
const storeOf = (cursorSeq: number): Store => (cursorSeq >= SHARD_SEQ_OFFSET ? "shard" : cursorSeq > 0 ? "legacy" : "d1");
const toCursorSeq = (store: Store, seq: number) => (store === "shard" ? seq + SHARD_SEQ_OFFSET : store === "legacy" ? seq : seq - D1_SEQ_OFFSET);

/** The `after` bound of one store for a cursor position: its own seq when the cursor is in it, else all or none of that millisecond. */
function afterIn(store: Store, position: { at: number; seq: number } | undefined): { at: number; seq: number } | undefined {
  if (position === undefined) return undefined;
  const at = storeOf(position.seq);
  if (at === store) return { at: position.at, seq: store === "shard" ? position.seq - SHARD_SEQ_OFFSET : store === "legacy" ? position.seq : position.seq + D1_SEQ_OFFSET };
  return { at: position.at, seq: RANK[store] < RANK[at] ? Number.MAX_SAFE_INTEGER : 0 };
}

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
  const { after, ...unbounded } = filters;
  const limit = query.limit;
  const [plan, legacy] = await Promise.all([
    auditPagePlan(ctx.deps, tenantId, { ...unbounded, after: afterIn("legacy", after) }, limit, AUDIT_SHARDS_PER_PAGE + 1),
    ctx.deps.db.all<ArchivableRow>(auditPageQuery(tenantId, { ...unbounded, after: afterIn("d1", after) }, limit)),
  ]);
  type Positioned = ArchivableRow & { position: number };
  const rows: Positioned[] = [
    ...plan.held.map((row) => ({ ...row, position: toCursorSeq("legacy", row.seq) })),
    ...legacy.map((row) => ({ ...row, position: toCursorSeq("d1", row.seq) })),
  ];
  const newestFirst = (a: Positioned, b: Positioned) => b.at - a.at || b.position - a.position;
  // Shards newest first (by period end), a few at a time, until the page is full with rows no later shard can beat.
  const shards = plan.shards;
  const visitable = Math.min(shards.length, AUDIT_SHARDS_PER_PAGE);
  let visited = 0;
  while (visited < visitable) {
    rows.sort(newestFirst);
    const next = shards[visited]!;
    if (rows.length > limit && rows[limit]!.at >= next.end) break;
    const group = shards.slice(visited, Math.min(visited + SHARDS_AT_ONCE, visitable));
    const pages = await Promise.all(group.map((shard) => auditShardPage(ctx.deps, shard.name, { ...unbounded, after: afterIn("shard", after) }, limit)));
    for (const page of pages) rows.push(...page.map((row) => ({ ...row, position: toCursorSeq("shard", row.seq) })));
    visited += group.length;
  }
  rows.sort(newestFirst);
  // Shards left unvisited (the per-page bound) hold only rows before the newest of their ends: the page stops there.
  const boundary = visited < shards.length ? shards[visited]!.end : undefined;
  const eligible = boundary === undefined ? rows : rows.filter((row) => row.at >= boundary);
  const page = eligible.slice(0, limit);
  const last = page.at(-1);
  let next_cursor: string | null = null;
  if (eligible.length > limit && last) next_cursor = encodeCursor({ created_at: last.at, seq: last.position });
  else if (boundary !== undefined) next_cursor = encodeCursor({ created_at: boundary, seq: BEFORE_ALL_OF_MS });
  return { data: page.map(toWire), next_cursor };
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
