/**
 * The audit object (issue 14, items 1, 2 and 5; docs/scale.md "Audit"). One class, two roles by name:
 * - `<tenant>/<period start>`, a **shard**: the tenant's entries of one UTC day, or of one UTC hour once a day's
 *   shard passed its split threshold (./audit/periods.ts). The bookkeeping consumer appends each batch's entries with
 *   one call per shard; `GET /v1/audit` reads pages of it; an erasure deletes in it; it is archived and deleted whole.
 * - `<tenant>`, the tenant's **directory** (./audit/directory.ts): one row per shard with its period, counts and the
 *   cubes it names, the erasure tombstones, and the entries written before sharding (read as a legacy shard). Its
 *   alarm, once a day while it lists anything, moves shards (and legacy days) past the tenant's retention to R2.
 * Shards have no alarm: a tenant with nothing in its retention window costs nothing.
 */
import { DurableObject } from "cloudflare:workers";
import { ArchiveErasure, type ArchiveErasurePass } from "./audit/archive-erasure";
import { AuditDirectory, type ReportAnswer, type ShardRef, type ShardReport } from "./audit/directory";
import { type AuditLogRow, type AuditPageFilters, type AuditRecord, AuditLog, sha256Hex } from "./audit/log";
import { type ShardPeriod, DAY_MS, auditShardName } from "./audit/periods";
import { AUDIT_ARCHIVE_DAYS_PER_ALARM, archiveDueDays } from "./audit/retention";
import { AuditShard, type ShardAppendResult } from "./audit/shard";
import type { ShardArchiveProgress } from "./audit/shard-archive";

/** When the daily alarm runs: a few minutes past UTC midnight, spread per object so tenants do not all wake at once. */
const nextDailyRun = (now: number, jitterMs: number) => Math.floor(now / DAY_MS) * DAY_MS + DAY_MS + jitterMs;

/** Bounded steps (./audit/shard-archive.ts, ≤ 1 MiB of entries each) a shard takes per call: a 2 GB shard needs ~40 alarm runs. */
const SHARD_ARCHIVE_STEPS_PER_CALL = 50;

/** Steps of the archive's erasure (./audit/archive-erasure.ts, ≤ 4 MiB read each) per alarm run: ≤ 128 MiB, ~100 R2 calls. */
const ARCHIVE_ERASURE_STEPS_PER_ALARM = 32;
/** While an archive erasure has work left, the alarm runs again this soon. */
const ARCHIVE_ERASURE_CONTINUE_MS = 5_000;

/** What the directory answers a page: its legacy entries' page and the shards to walk, newest first. */
export interface AuditPagePlan {
  held: AuditLogRow[];
  shards: ShardRef[];
}

export class AuditDurableObject extends DurableObject<Env> {
  private readonly log: AuditLog;
  private readonly directory: AuditDirectory;
  private readonly shard: AuditShard;
  private readonly archiveErasure: ArchiveErasure;
  private readonly jitterMs: number;
  /** False after a shard deleted itself whole (which drops its tables too): the next call recreates them. */
  private schemaReady = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.log = new AuditLog(ctx.storage.sql);
    this.directory = new AuditDirectory(ctx.storage.sql);
    this.shard = new AuditShard(ctx.storage.sql, this.log);
    this.archiveErasure = new ArchiveErasure(ctx.storage.sql, env.ARCHIVE);
    this.jitterMs = Number.parseInt(ctx.id.toString().slice(0, 6), 16) % 600_000;
    void ctx.blockConcurrencyWhile(async () => this.schema());
  }

  /** Schema, idempotent: at start, and again in the first call after the object deleted itself whole. */
  private schema(): void {
    if (this.schemaReady) return;
    this.log.migrate();
    this.directory.migrate();
    this.shard.migrate();
    ArchiveErasure.migrate(this.ctx.storage.sql);
    this.schemaReady = true;
  }

  // ── as a shard ──

  /** Stores a batch's entries of this shard's period (idempotent by id); those past its day's split point are refused. */
  async append(tenantId: string, period: ShardPeriod, records: AuditRecord[]): Promise<ShardAppendResult> {
    this.schema();
    const directory = this.env.AUDIT.getByName(tenantId);
    return this.shard.append(auditShardName(tenantId, period), period, records, (report) => directory.report(tenantId, report));
  }

  /** One page of this object's entries (a shard's, or the directory's legacy ones), newest first, plus one more. */
  async page(filters: AuditPageFilters, limit: number): Promise<AuditLogRow[]> {
    this.schema();
    return this.log.page(filters, limit);
  }

  /** An erasure the directory sent here: the entries naming these cubes go, late ones are dropped on arrival. */
  async eraseInShard(cubeIds: string[], erasedAt: number): Promise<number> {
    this.schema();
    return this.shard.eraseCubes(cubeIds, erasedAt);
  }

  /** Retention: copies this shard to R2 (bounded steps); once all of it is there, the shard deletes itself whole. */
  async archiveShard(tenantId: string, steps: number): Promise<ShardArchiveProgress> {
    this.schema();
    const result = await this.shard.archiveSteps(this.env.ARCHIVE, tenantId, steps);
    if (result.done) {
      await this.ctx.storage.deleteAll();
      this.schemaReady = false;
    }
    return result;
  }

  // ── as the tenant's directory ──

  /** A shard's first append, or one naming cubes new to it: listed, and told the tombstones it must keep. */
  async report(tenantId: string, report: ShardReport): Promise<ReportAnswer> {
    this.rememberTenant(tenantId);
    const answer = this.directory.report(report);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(nextDailyRun(Date.now(), this.jitterMs));
    return answer;
  }

  /** What a page of `GET /v1/audit` reads: the legacy entries' page and up to `maxShards` shards, newest first. */
  async plan(filters: AuditPageFilters, limit: number, maxShards: number): Promise<AuditPagePlan> {
    const shards = this.directory.shardsForPage(
      {
        cubeSha256: filters.cubeId === undefined ? undefined : await sha256Hex(filters.cubeId),
        from: filters.from,
        to: filters.to,
        atOrBefore: filters.after?.at,
      },
      maxShards,
    );
    return { held: this.log.page(filters, limit), shards };
  }

  /**
   * Erases these cubes' entries from the legacy log, keeps their tombstones, and names the shards that may hold
   * entries of them (the caller visits those, with `erasedAt`). Tombstones first: a shard reporting one of these
   * cubes afterwards is told, one that reported it before is named.
   */
  async eraseCubes(tenantId: string, cubeIds: string[]): Promise<{ deleted: number; erasedAt: number; shards: string[] }> {
    this.rememberTenant(tenantId);
    const erasedAt = Date.now();
    const deleted = await this.log.eraseCubes(cubeIds, erasedAt);
    const hashes = await Promise.all(cubeIds.map(sha256Hex));
    // Their entries already in R2 go too, by the alarm's bounded job (./audit/archive-erasure.ts).
    this.archiveErasure.record(hashes, erasedAt);
    await this.armBy(this.archiveErasure.nextAt(Date.now()));
    return { deleted, erasedAt, shards: this.directory.shardsNaming(hashes) };
  }

  /** Daily: shards and legacy days past retention to R2 (a bounded amount per run; more left → again in a minute). */
  override async alarm(): Promise<void> {
    const tenantId = this.ctx.storage.kv.get<string>("tenant");
    const now = Date.now();
    this.log.pruneTombstones(now);
    if (tenantId === undefined) return;
    const retentionDays = await this.retentionDays(tenantId);
    const legacy = await archiveDueDays(this.log, this.env.ARCHIVE, tenantId, retentionDays, now, AUDIT_ARCHIVE_DAYS_PER_ALARM);
    const shards = await this.archiveDueShards(tenantId, retentionDays, now, AUDIT_ARCHIVE_DAYS_PER_ALARM);
    if (legacy.more || shards.more) await this.ctx.storage.setAlarm(now + 60_000);
    else if (this.log.oldest() !== null || this.directory.count() > 0) await this.ctx.storage.setAlarm(nextDailyRun(now, this.jitterMs));
    try {
      const erasure = await this.archiveErasure.run(tenantId, now, ARCHIVE_ERASURE_STEPS_PER_ALARM);
      await this.armBy(erasure.nextAt === null ? null : Math.max(erasure.nextAt, now + ARCHIVE_ERASURE_CONTINUE_MS));
    } catch (error) {
      // R2 failed mid-step: the step is redone from its last commit a minute later.
      console.error("audit archive erasure: step failed, retrying in a minute", error);
      await this.armBy(now + 60_000);
    }
  }

  /** The alarm fires by `at` (null: no need): an earlier one stays. */
  private async armBy(at: number | null): Promise<void> {
    if (at === null) return;
    const armed = await this.ctx.storage.getAlarm();
    if (armed === null || armed > at) await this.ctx.storage.setAlarm(at);
  }

  /** The archive erasure's finished passes, newest first (operators; tests). */
  async archiveErasurePasses(): Promise<ArchiveErasurePass[]> {
    this.schema();
    return this.archiveErasure.passes();
  }

  /** Whole shards whose period ended before the retention cutoff (a UTC day boundary) go to R2, then away. */
  private async archiveDueShards(tenantId: string, retentionDays: number, now: number, budget: number): Promise<{ more: boolean }> {
    const cutoff = Math.floor((now - retentionDays * DAY_MS) / DAY_MS) * DAY_MS;
    for (const shard of this.directory.dueBefore(cutoff, budget)) {
      const { done } = await this.env.AUDIT.getByName(shard.name).archiveShard(tenantId, SHARD_ARCHIVE_STEPS_PER_CALL);
      if (!done) return { more: true };
      this.directory.remove(shard.name, shard.reports);
      budget -= 1;
      if (budget <= 0) break;
    }
    return { more: this.directory.dueBefore(cutoff, 1).length > 0 };
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
