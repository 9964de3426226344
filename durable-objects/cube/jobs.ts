/**
 * Background jobs of a cube, driven by the Durable Object alarm: each alarm runs one bounded step of every due
 * job and re-arms from the earliest due one, so a long job never holds the cube and survives restarts (the job
 * row and its cursor are in SQLite; the alarm is re-armed from them on start).
 */
import { newJobId } from "../../src/core/ids";
import { toIso } from "../../src/core/time";
import type { JobResult, JobType, JobWire } from "../../src/schemas/jobs";
import type { CubeRef } from "./protocol";

type Row = Record<string, SqlStorageValue>;

/** Attempts before a job fails for good; retries back off 2^attempts seconds. */
export const MAX_JOB_ATTEMPTS = 5;
/** Memories one reindex step reads. */
export const REINDEX_BATCH = 200;

export interface JobRecord {
  id: string;
  type: JobType;
  ref: CubeRef;
  cursor: number;
}

export class CubeJobs {
  constructor(private readonly sql: SqlStorage) {}

  private exec(query: string, ...params: unknown[]): Row[] {
    return this.sql.exec(query, ...(params as SqlStorageValue[])).toArray();
  }

  /**
   * Starts a job of this type, or returns the one already under way: starting twice (a retried request, a cron
   * run overlapping a webhook) must not double the work. `total` is the number of items it expects to visit.
   */
  start(ref: CubeRef, type: JobType, total: number, now: number): JobWire {
    const active = this.exec("SELECT * FROM jobs WHERE type = ? AND status IN ('queued', 'running') LIMIT 1", type)[0];
    if (active) return toJob(active);
    const id = newJobId(ref.cubeId);
    this.exec(
      `INSERT INTO jobs (id, type, status, ref, total, run_at, created_at, updated_at)
       VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)`,
      id,
      type,
      JSON.stringify(ref),
      total,
      now,
      now,
      now,
    );
    return this.get(id)!;
  }

  /**
   * A new job, always (ingest jobs run side by side, one per episode). `id` lets a job be found from the thing it
   * makes (an export's job is `job_` + the export id's body) without scanning its params.
   */
  create(ref: CubeRef, type: JobType, total: number, params: Record<string, unknown>, now: number, id = newJobId(ref.cubeId)): JobWire {
    this.exec(
      `INSERT INTO jobs (id, type, status, ref, params, total, run_at, created_at, updated_at)
       VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)`,
      id,
      type,
      JSON.stringify(ref),
      JSON.stringify(params),
      total,
      now,
      now,
      now,
    );
    return this.get(id)!;
  }

  params(id: string): Record<string, unknown> {
    return JSON.parse(String(this.exec("SELECT params FROM jobs WHERE id = ?", id)[0]?.params ?? "{}")) as Record<string, unknown>;
  }

  /** Adds a step's output to the job's result: lists are appended, other fields set. */
  addResult(id: string, add: Partial<JobResult>): void {
    const current = JSON.parse(String(this.exec("SELECT result FROM jobs WHERE id = ?", id)[0]?.result ?? "{}")) as JobResult;
    const next: JobResult = { ...current };
    for (const [field, value] of Object.entries(add) as [keyof JobResult, unknown][]) {
      (next as Record<string, unknown>)[field] = Array.isArray(value) ? [...((current[field] as unknown[]) ?? []), ...value] : value;
    }
    this.exec("UPDATE jobs SET result = ? WHERE id = ?", JSON.stringify(next), id);
  }

  /** Fails a job for good, now: the error is not one a retry can fix (the model keeps answering malformed output). */
  fail(id: string, reason: string, now: number): void {
    const settled = this.settles(id);
    this.exec("UPDATE jobs SET status = 'failed', error = ?, updated_at = ? WHERE id = ?", reason.slice(0, 500), now, id);
    if (settled) this.recordOutcome(id, "job.failed", now);
  }

  get(id: string): JobWire | null {
    const row = this.exec("SELECT * FROM jobs WHERE id = ?", id)[0];
    return row ? toJob(row) : null;
  }

  /** Jobs whose next step is due. */
  due(now: number): JobRecord[] {
    return this.exec(
      "SELECT id, type, ref, cursor FROM jobs WHERE status IN ('queued', 'running') AND run_at <= ? ORDER BY run_at",
      now,
    ).map((row) => ({
      id: String(row.id),
      type: String(row.type) as JobType,
      ref: JSON.parse(String(row.ref)) as CubeRef,
      cursor: Number(row.cursor),
    }));
  }

  /** When the alarm should next fire, or null when nothing is pending. */
  nextDue(): number | null {
    const row = this.exec("SELECT min(run_at) AS t FROM jobs WHERE status IN ('queued', 'running')")[0];
    return row?.t == null ? null : Number(row.t);
  }

  /** The next memories a reindex step reads, after `cursor` (seq), oldest first. */
  reindexBatch(cursor: number): { seq: number; id: string; content: string }[] {
    return this.exec(
      "SELECT seq, id, content FROM memories WHERE seq > ? AND state != 'forgotten' ORDER BY seq LIMIT ?",
      cursor,
      REINDEX_BATCH,
    ).map((row) => ({ seq: Number(row.seq), id: String(row.id), content: String(row.content) }));
  }

  /** Records a finished step: where to continue, how many were read, and whether that was the last step. */
  advance(id: string, cursor: number, read: number, finished: boolean, now: number): void {
    const settled = finished && this.settles(id);
    this.exec(
      `UPDATE jobs SET cursor = ?, done = done + ?, status = ?, attempts = 0, error = NULL, run_at = ?, updated_at = ?
        WHERE id = ?`,
      cursor,
      read,
      finished ? "done" : "running",
      now,
      now,
      id,
    );
    if (settled) this.recordOutcome(id, "job.completed", now);
  }

  /** A failed step: retried with backoff, then failed for good with its reason kept for the caller. */
  retryOrFail(id: string, reason: string, now: number): void {
    const attempts = Number(this.exec("SELECT attempts FROM jobs WHERE id = ?", id)[0]?.attempts ?? 0) + 1;
    const failed = attempts >= MAX_JOB_ATTEMPTS;
    const settled = failed && this.settles(id);
    this.exec(
      "UPDATE jobs SET attempts = ?, error = ?, status = ?, run_at = ?, updated_at = ? WHERE id = ?",
      attempts,
      reason.slice(0, 500),
      failed ? "failed" : "running",
      now + 2 ** attempts * 1000,
      now,
      id,
    );
    if (settled) this.recordOutcome(id, "job.failed", now);
  }

  /** Whether the job is still under way, so that finishing or failing it now is its one outcome. */
  private settles(id: string): boolean {
    return this.exec("SELECT 1 FROM jobs WHERE id = ? AND status IN ('queued', 'running')", id).length > 0;
  }

  /**
   * Logs how a job ended in the cube's event log (the webhook outbox turns it into `job.completed` / `job.failed`).
   * Like every event it holds no content: the job's id and type, and the error of a failed one. An ingest job acts
   * for the request that started it; other jobs for the system.
   */
  private recordOutcome(id: string, type: JobEventType, now: number): void {
    const row = this.exec("SELECT type, error, params FROM jobs WHERE id = ?", id)[0];
    if (!row) return;
    const params = JSON.parse(String(row.params ?? "{}")) as { actor?: unknown; request_id?: unknown };
    this.exec(
      "INSERT INTO events (at, type, memory_id, version, actor, request_id, data) VALUES (?, ?, NULL, NULL, ?, ?, ?)",
      now,
      type,
      typeof params.actor === "string" ? params.actor : "system",
      typeof params.request_id === "string" && params.request_id !== "" ? params.request_id : null,
      JSON.stringify({ job_id: id, job_type: String(row.type), error: row.error == null ? null : String(row.error) }),
    );
  }
}

/** The events a job's end writes to the cube's event log. */
export type JobEventType = "job.completed" | "job.failed";

function toJob(row: Row): JobWire {
  return {
    id: String(row.id),
    type: String(row.type) as JobWire["type"],
    status: String(row.status) as JobWire["status"],
    cube_id: (JSON.parse(String(row.ref)) as CubeRef).cubeId,
    progress: { done: Math.min(Number(row.done), Number(row.total)), total: Number(row.total) },
    attempts: Number(row.attempts),
    error: row.error == null ? null : String(row.error),
    result: JSON.parse(String(row.result ?? "{}")) as JobResult,
    created_at: toIso(Number(row.created_at)),
    updated_at: toIso(Number(row.updated_at)),
  };
}
