/**
 * The audit object: one per tenant (named by the tenant id), holding the tenant's audit log out of the one D1
 * database (issue 14, item 1; docs/scale.md). The bookkeeping queue's consumer appends each batch's entries in one
 * call per tenant, `GET /v1/audit` reads a page, an erasure deletes the entries of the erased cubes. Its alarm, once a
 * day, moves whole UTC days past the tenant's `audit_retention_days` to R2 — no central cron.
 *
 * Capacity: appends arrive at most once per tenant per consumer batch (≤ 100 requests each), far under one object's
 * ~1,000 calls/s; what bounds a tenant is storage (10 GB per object), see docs/scale.md.
 */
import { DurableObject } from "cloudflare:workers";
import { AUDIT_ARCHIVE_DAYS_PER_ALARM, archiveDueDays } from "./audit/retention";
import { type AuditLogRow, type AuditPageFilters, type AuditRecord, AuditLog } from "./audit/log";

/** When the daily alarm runs: a few minutes past UTC midnight, spread per object so tenants do not all wake at once. */
const nextDailyRun = (now: number, jitterMs: number) => Math.floor(now / 86_400_000) * 86_400_000 + 86_400_000 + jitterMs;

export class AuditDurableObject extends DurableObject<Env> {
  private readonly log: AuditLog;
  private readonly jitterMs: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.log = new AuditLog(ctx.storage.sql);
    this.jitterMs = Number.parseInt(ctx.id.toString().slice(0, 6), 16) % 600_000;
    void ctx.blockConcurrencyWhile(async () => this.log.migrate());
  }

  /** Stores a batch of the tenant's entries (idempotent by id) and makes sure the retention alarm is armed. */
  async append(tenantId: string, records: AuditRecord[]): Promise<number> {
    this.rememberTenant(tenantId);
    const added = await this.log.append(records);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(nextDailyRun(Date.now(), this.jitterMs));
    return added;
  }

  /** One page of `GET /v1/audit`, newest first, plus one row to tell whether there is more. */
  async page(filters: AuditPageFilters, limit: number): Promise<AuditLogRow[]> {
    return this.log.page(filters, limit);
  }

  /** The entries naming these cubes go; late ones of them are dropped on arrival. */
  async eraseCubes(tenantId: string, cubeIds: string[]): Promise<number> {
    this.rememberTenant(tenantId);
    return this.log.eraseCubes(cubeIds, Date.now());
  }

  /** Daily: days past retention to R2 (a bounded amount per run; more left → again in a minute), tombstones pruned. */
  override async alarm(): Promise<void> {
    const tenantId = this.ctx.storage.kv.get<string>("tenant");
    const now = Date.now();
    this.log.pruneTombstones(now);
    if (tenantId === undefined) return;
    const retentionDays = await this.retentionDays(tenantId);
    const { more } = await archiveDueDays(this.log, this.env.ARCHIVE, tenantId, retentionDays, now, AUDIT_ARCHIVE_DAYS_PER_ALARM);
    if (more) await this.ctx.storage.setAlarm(now + 60_000);
    else if (this.log.oldest() !== null) await this.ctx.storage.setAlarm(nextDailyRun(now, this.jitterMs));
  }

  /** The tenant's retention, read from D1 once per alarm (one query per tenant per day). */
  private async retentionDays(tenantId: string): Promise<number> {
    const row = await this.env.DB.prepare("SELECT audit_retention_days AS days FROM tenants WHERE id = ?").bind(tenantId).first<{ days: number }>();
    return row?.days ?? 90;
  }

  private rememberTenant(tenantId: string): void {
    if (this.ctx.storage.kv.get<string>("tenant") !== tenantId) this.ctx.storage.kv.put("tenant", tenantId);
  }
}
