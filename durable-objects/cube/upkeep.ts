/**
 * A cube schedules its own lifecycle (issue 14, item 4) and keeps its tables bounded (item 5). No central sweep
 * visits cubes: every write notes the cube as changed (one row, in the write's own transaction), and the cube's
 * alarm — already armed after every write for the webhook outbox — comes back once the cube has been quiet for
 * QUIET_MS plus a per-burst jitter, starts `consolidate` (and `archive` when something is cold enough), prunes its
 * event log and finished jobs in bounded batches, and arms the next archive check for the moment its oldest
 * memory turns cold. A cube nobody writes to and with nothing about to turn cold has no alarm at all: a million
 * idle cubes cost nothing. The cron only repairs cubes whose schedule was lost (src/services/lifecycle-sweep.ts).
 */
import type { ArchivePolicy } from "./lifecycle";

/** How long a cube must go without writes before its upkeep runs: consolidating mid-burst would redo the work. */
export const QUIET_MS = 15 * 60_000;
/** Upper bound of the random delay added per burst, so cubes that went quiet together do not all run together. */
export const QUIET_JITTER_MS = 15 * 60_000;
/** A cube written without a pause this long is still consolidated: upkeep runs at most this long after its first change. */
export const MAX_DEFER_MS = 6 * 3600_000;
/** When a prune left rows behind, the alarm comes back this soon for the next batch. */
export const PRUNE_AGAIN_MS = 60_000;
/** Rows one prune batch looks at (events) or deletes (jobs): each alarm stays short. */
export const PRUNE_BATCH = 500;
/**
 * Event log entries older than this are pruned once the webhook outbox has sent them, unless they are the history of
 * a memory the cube still holds (its provenance). 30 days: past the webhook delivery log's own retention window.
 */
export const EVENT_RETENTION_MS = 30 * 24 * 3600_000;
/** Finished (done/failed) jobs are kept this long for `GET /v1/jobs/{id}`; an ingest job lives as long as its episode. */
export const JOB_RETENTION_MS = 30 * 24 * 3600_000;
/**
 * Event types that are not part of a memory's history: repeated for the same memory as often as callers repeat
 * themselves (a pin toggled, a duplicate re-sent), so they are pruned even while the memory lives.
 */
export const TRANSIENT_EVENT_TYPES = ["memory.pinned", "memory.unpinned", "memory.duplicate_ignored", "memory.conflict_kept"] as const;

type Row = Record<string, SqlStorageValue>;

/** The schedule row (cube migration 12), or null for a cube never written since upkeep existed. */
interface Schedule {
  /** First change not yet followed by an upkeep run; null = nothing changed since the last run. */
  dirtySince: number | null;
  lastWriteAt: number | null;
  /** This burst's jitter (ms), drawn at its first change. */
  jitter: number;
  /** When a memory next turns cold enough to archive; null = none can. */
  archiveCheckAt: number | null;
  /** Prune batches left rows behind: come back soon. */
  pruneMore: boolean;
  /** The last event seq the event prune has looked at. */
  pruneCursor: number;
  lastRunAt: number | null;
}

/** What one upkeep run did, for logs and tests. */
export interface UpkeepReport {
  started: ("consolidate" | "archive")[];
  prunedEvents: number;
  prunedJobs: number;
  next: number | null;
}

/** What upkeep needs of the cube besides SQL: start a job, count archive candidates, the policy and the outbox's position. */
export interface UpkeepHost {
  startJob(type: "consolidate" | "archive", now: number): void;
  archivePolicy(now: number): ArchivePolicy;
  archiveCandidateCount(policy: ArchivePolicy): number;
  /** The last event seq handed to the webhook queue: later events must stay until sent. */
  outboxSeq(): number;
  random(): number;
}

export class CubeUpkeep {
  constructor(
    private readonly sql: SqlStorage,
    private readonly host: UpkeepHost,
  ) {}

  private exec(query: string, ...params: unknown[]): Row[] {
    return this.sql.exec(query, ...(params as SqlStorageValue[])).toArray();
  }

  /** Called inside every committed write's transaction: one upsert, no alarm (the outbox's alarm brings upkeep back). */
  noteWrite(now: number): void {
    this.exec(
      `INSERT INTO lifecycle_schedule (id, dirty_since, last_write_at, jitter) VALUES (1, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET dirty_since = coalesce(dirty_since, excluded.dirty_since), last_write_at = excluded.last_write_at,
         jitter = CASE WHEN dirty_since IS NULL THEN excluded.jitter ELSE jitter END`,
      now,
      now,
      Math.floor(this.host.random() * QUIET_JITTER_MS),
    );
  }

  private schedule(): Schedule | null {
    const row = this.exec("SELECT * FROM lifecycle_schedule WHERE id = 1")[0];
    if (!row) return null;
    const num = (value: SqlStorageValue | undefined) => (value == null ? null : Number(value));
    return {
      dirtySince: num(row.dirty_since),
      lastWriteAt: num(row.last_write_at),
      jitter: Number(row.jitter ?? 0),
      archiveCheckAt: num(row.archive_check_at),
      pruneMore: Number(row.prune_more ?? 0) === 1,
      pruneCursor: Number(row.prune_cursor ?? 0),
      lastRunAt: num(row.last_run_at),
    };
  }

  /** When upkeep is next due, or null when nothing is pending (the alarm is re-armed from it). */
  nextDue(): number | null {
    const s = this.schedule();
    if (!s) return null;
    const due: number[] = [];
    if (s.dirtySince !== null) due.push(Math.min((s.lastWriteAt ?? s.dirtySince) + QUIET_MS + s.jitter, s.dirtySince + MAX_DEFER_MS));
    if (s.archiveCheckAt !== null) due.push(s.archiveCheckAt);
    if (s.pruneMore && s.lastRunAt !== null) due.push(s.lastRunAt + PRUNE_AGAIN_MS);
    return due.length > 0 ? Math.min(...due) : null;
  }

  /**
   * Runs upkeep when due (call inside a transaction, from the alarm): starts the jobs the alarm's job loop then
   * steps, prunes one batch of each table, and records the next archive check. Returns null when not due.
   */
  runIfDue(now: number): UpkeepReport | null {
    const due = this.nextDue();
    if (due === null || due > now) return null;
    const s = this.schedule()!;
    const started: UpkeepReport["started"] = [];
    const policy = this.host.archivePolicy(now);
    if (s.dirtySince !== null) {
      this.host.startJob("consolidate", now);
      started.push("consolidate");
    }
    if (this.host.archiveCandidateCount(policy) > 0) {
      this.host.startJob("archive", now);
      started.push("archive");
    }
    const events = this.pruneEvents(now, s.pruneCursor);
    const prunedJobs = this.pruneJobs(now);
    const pruneMore = events.more || prunedJobs === PRUNE_BATCH;
    this.exec(
      `UPDATE lifecycle_schedule SET dirty_since = NULL, jitter = 0, archive_check_at = ?, prune_more = ?, prune_cursor = ?, last_run_at = ?
        WHERE id = 1`,
      this.nextColdAt(policy, now),
      pruneMore ? 1 : 0,
      events.cursor,
      now,
    );
    return { started, prunedEvents: events.pruned, prunedJobs, next: this.nextDue() };
  }

  /**
   * When the next memory turns cold enough to archive: the earliest last touch (read or write) among hot, unpinned,
   * unfrozen memories of low importance, plus the archive age. Memories already cold are the archive job's; a read
   * since only makes the check find fewer, and the run after it looks again.
   */
  private nextColdAt(policy: ArchivePolicy, now: number): number | null {
    const row = this.exec(
      `SELECT min(max(updated_at, coalesce(last_accessed_at, 0))) AS t FROM memories
        WHERE state IN ('generated', 'activated') AND frozen = 0 AND pinned = 0 AND importance <= ?
          AND max(updated_at, coalesce(last_accessed_at, 0)) >= ?`,
      policy.maxImportance,
      policy.coldBefore,
    )[0];
    if (row?.t == null) return null;
    // coldBefore = now - archive age, so a memory last touched at t turns cold at t + (now - coldBefore).
    return Number(row.t) + (now - policy.coldBefore) + 1;
  }

  /**
   * One batch of the event log after the prune cursor: events older than EVENT_RETENTION_MS that the outbox has
   * sent go, unless they are the history of a memory still in the cube. The cursor only moves past events old
   * enough to judge, so each event is looked at once, and work is proportional to new events, not to the log.
   */
  private pruneEvents(now: number, cursor: number): { pruned: number; cursor: number; more: boolean } {
    const limit = Math.min(this.host.outboxSeq(), Number.MAX_SAFE_INTEGER);
    const rows = this.exec(
      "SELECT seq FROM events WHERE seq > ? AND seq <= ? AND at < ? ORDER BY seq LIMIT ?",
      cursor,
      limit,
      now - EVENT_RETENTION_MS,
      PRUNE_BATCH,
    );
    if (rows.length === 0) return { pruned: 0, cursor, more: false };
    const through = Number(rows.at(-1)!.seq);
    const transient = TRANSIENT_EVENT_TYPES.map((t) => `'${t}'`).join(", ");
    const deleted = this.exec(
      `DELETE FROM events WHERE seq > ? AND seq <= ? AND at < ?
         AND (memory_id IS NULL OR type IN (${transient}) OR NOT EXISTS (SELECT 1 FROM memories WHERE memories.id = events.memory_id))
       RETURNING seq`,
      cursor,
      through,
      now - EVENT_RETENTION_MS,
    );
    return { pruned: deleted.length, cursor: through, more: rows.length === PRUNE_BATCH };
  }

  /** One batch of finished jobs past JOB_RETENTION_MS; ingest jobs stay with their episode (its replay answers with the job). */
  private pruneJobs(now: number): number {
    return this.exec(
      `DELETE FROM jobs WHERE id IN (
         SELECT id FROM jobs INDEXED BY jobs_finished
          WHERE status IN ('done', 'failed') AND type != 'ingest' AND updated_at < ? ORDER BY updated_at LIMIT ?)
       RETURNING id`,
      now - JOB_RETENTION_MS,
      PRUNE_BATCH,
    ).length;
  }
}
