/**
 * Export as a stepwise job on the cube's alarm (issue 17, item 5). Exporting reads one R2 object per episode and per
 * archived memory and uploads the file in 5 MiB multipart parts: for a large cube that is more calls than one
 * invocation may make (50 subrequests on Workers Free, 1,000 on older Paid pages). So each step — the first in the
 * request that starts the export, the rest on the alarm — makes at most `budget` R2 calls, and everything it needs to
 * go on is in the cube's SQLite (cube migration 21): the phase and cursor (episodes by (received_at, id), then
 * memories by seq), the multipart upload id, the committed parts (number + etag) and the bytes not yet in a part.
 *
 * A step commits in one transaction at its end: its cursor, its parts and its buffer together. A step cut short
 * (eviction, crash, a failed call) is redone from the last commit: it regenerates the same lines, re-uploads the part
 * numbers it had reached (R2 keeps the last upload of a part number) and commits their new etags — so the file has
 * every line once, and is byte for byte what writing it in one go would have given. The upload id is committed as
 * soon as it exists, so a failed job can always abort it; R2 aborts a forgotten one after 7 days anyway.
 *
 * A MemStore snapshot (cube/snapshot.ts) is the same job with other lines: a `snapshot` job writes only the
 * publishable memories (no episodes) to the snapshot cube's exports/ prefix and, once the file is whole, hands it to
 * the snapshot cube to load (an import job of the same id there): the job is done only when that cube took it, so a
 * version's file is never read half-written.
 */
import type { JobResult, JobWire } from "../../src/schemas/jobs";
import type { ExportEndLineWire, ExportLineWire } from "../../src/schemas/portability";
import type { StoredEpisode } from "./ingest";
import { PermanentError } from "./job-steps";
import type { CubeJobs, JobRecord } from "./jobs";
import type { ArchivedPayload } from "./lifecycle";
import { type CubePortability, type ExportOptions, type MemoryToExport, PART_BYTES, episodeLine, exportKey } from "./portability";
import type { CubeRef } from "./protocol";
import type { CubeSnapshots, SnapshotTarget } from "./snapshot";

/** R2 calls one step makes at most: under Workers Free's 50 subrequests per invocation, with room for the alarm's other work. */
export const EXPORT_CALLS_PER_STEP = 40;
/** Memory lines one step writes at most (bounds its CPU time when nothing is archived: no R2 call to stop it). */
export const EXPORT_MEMORIES_PER_STEP = 1000;
/** Rows one SQL read takes (memories with their versions and events, or episodes). */
const EXPORT_READ_BATCH = 200;
/** R2 takes at most 10,000 parts per multipart upload: an export stops at 50 GB (the job's default `maxParts`). */
export const MAX_EXPORT_PARTS = 10_000;
/** The buffer is stored in chunks under Durable Object SQLite's 2 MB per row. */
const BUFFER_CHUNK_BYTES = 1 << 20;
/** Exports of one cube running at once: each holds up to one part (5 MiB) of buffer in the cube's storage. */
export const MAX_RUNNING_EXPORTS = 3;

const NDJSON = { httpMetadata: { contentType: "application/x-ndjson" } };

type Row = Record<string, SqlStorageValue>;
/** episodes, memories: lines being written; end: the end line is next; complete: every byte is in R2 or the buffer, the object is next. */
type Phase = "episodes" | "memories" | "end" | "complete";
type Progress = NonNullable<JobResult["export"]>;

/** What an export job keeps in its params. */
export interface ExportParams {
  export_id: string;
  include_vectors: boolean;
  embedder: string;
  /** When the export started (ms): its header's `exported_at`. */
  started_at: number;
  actor: string;
  request_id: string;
  /** A MemStore snapshot's job: where its file goes and which cube loads it. */
  snapshot?: SnapshotTarget;
}

/** Starts the snapshot cube's import of a written snapshot file, as job `jobId` there (R2 calls: none; one RPC). */
export type SnapshotHandOff = (ref: CubeRef, target: SnapshotTarget, jobId: string) => Promise<void>;

interface ExportState {
  key: string;
  phase: Phase;
  episodeAt: number;
  episodeId: string;
  uploadId: string | null;
  parts: R2UploadedPart[];
  step: number;
}

/** An export's file, its job while that runs (or after it failed), or nothing. */
export type ExportFile = { body: ReadableStream; bytes: number } | { running: JobWire } | null;

export class CubeExportJob {
  /** R2 calls per step; tests make it small to drive a cube bigger than one step. */
  budget = EXPORT_CALLS_PER_STEP;
  /** Memory lines per step; tests make it small to force step boundaries between R2 calls. */
  memoriesPerStep = EXPORT_MEMORIES_PER_STEP;
  /** Parts one file may have; past it the job fails and its upload is aborted. Tests make it small to reach it. */
  maxParts = MAX_EXPORT_PARTS;
  /** Jobs with a step under way in this object: the request's first step and an alarm must not interleave. */
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly sql: SqlStorage,
    private readonly jobs: CubeJobs,
    private readonly portability: CubePortability,
    private readonly snapshots: CubeSnapshots,
    private readonly handOff: SnapshotHandOff,
    private readonly bucket: R2Bucket,
    private readonly transaction: <T>(write: () => T) => T,
    private readonly clock: () => number,
  ) {}

  private exec(query: string, ...params: unknown[]): Row[] {
    return this.sql.exec(query, ...(params as SqlStorageValue[])).toArray();
  }

  /** Exports of this cube still running. */
  running(): number {
    return Number(this.exec("SELECT count(*) AS n FROM export_state")[0]?.n ?? 0);
  }

  /**
   * Creates the job (inside the caller's transaction): its header line goes into the buffer now, so the header's
   * counts are the cube's as the export starts. Its total is the episodes and memories the cube holds.
   */
  start(ref: CubeRef, params: ExportParams): JobWire {
    const options: ExportOptions = { exportId: params.export_id, includeVectors: params.include_vectors, embedderId: params.embedder, now: params.started_at };
    const header = this.portability.headerLine(ref, options);
    const total = header.counts.memories + header.counts.episodes;
    const job = this.jobs.create(ref, "export", total, { ...params }, params.started_at, exportJobId(params.export_id));
    const key = exportKey(ref, params.export_id);
    this.exec("INSERT INTO export_state (job_id, export_key, phase) VALUES (?, ?, 'episodes')", job.id, key);
    const bytes = encodeLine(header);
    this.exec("INSERT INTO export_buffer (job_id, seq, data) VALUES (?, 0, ?)", job.id, bytes);
    const progress: Progress = { export_id: params.export_id, key, bytes: bytes.length, memories: 0, versions: 0, episodes: 0, vectors: 0, parts: 0 };
    this.jobs.addResult(job.id, { export: progress });
    return this.jobs.get(job.id)!;
  }

  /**
   * Creates a MemStore snapshot's job (inside the caller's transaction), named after the snapshot id like an export's:
   * the publishable memories to `target.key`, then handed to the snapshot cube. Its header counts what is publishable now.
   */
  startSnapshot(ref: CubeRef, target: SnapshotTarget, embedder: string, now: number): JobWire {
    const header = this.snapshots.headerLine(target, embedder, now);
    const params: ExportParams = { export_id: target.snapshotId, include_vectors: true, embedder, started_at: now, actor: "memstore", request_id: "", snapshot: target };
    const job = this.jobs.create(ref, "snapshot", header.counts.memories, { ...params }, now, exportJobId(target.snapshotId));
    this.exec("INSERT INTO export_state (job_id, export_key, phase) VALUES (?, ?, 'memories')", job.id, target.key);
    const bytes = encodeLine(header);
    this.exec("INSERT INTO export_buffer (job_id, seq, data) VALUES (?, 0, ?)", job.id, bytes);
    const progress: Progress = { export_id: target.snapshotId, key: target.key, bytes: bytes.length, memories: 0, versions: 0, episodes: 0, vectors: 0, parts: 0 };
    this.jobs.addResult(job.id, { export: progress });
    return this.jobs.get(job.id)!;
  }

  /**
   * Ends a snapshot job still running (its listing was unpublished): failed with `reason`, its upload aborted. A step
   * under way does not commit after this (its state is gone). False when there is no such running job.
   */
  async cancel(jobId: string, reason: string): Promise<boolean> {
    if (!this.state(jobId)) return false;
    this.jobs.fail(jobId, reason, this.clock());
    await this.discard(jobId);
    return true;
  }

  /** The job of an export, or null (an export made before exports were jobs, a pruned job, or none). */
  jobOf(exportId: string): JobWire | null {
    const job = this.jobs.get(exportJobId(exportId));
    return job?.type === "export" ? job : null;
  }

  /** The finished file to stream; its job while it runs or after it failed; null when there is no such export. */
  async file(ref: CubeRef, exportId: string): Promise<ExportFile> {
    const job = this.jobOf(exportId);
    if (job && job.status !== "done") return { running: job };
    const object = await this.bucket.get(exportKey(ref, exportId));
    return object ? { body: object.body, bytes: object.size } : null;
  }

  /**
   * One step of `job`. A failed step backs off and is retried from its last commit; when the job fails for good its
   * multipart upload is aborted and its state deleted.
   */
  async step(job: JobRecord): Promise<void> {
    if (this.inFlight.has(job.id)) return;
    this.inFlight.add(job.id);
    try {
      await this.runStep(job);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (error instanceof PermanentError) this.jobs.fail(job.id, reason, this.clock());
      else this.jobs.retryOrFail(job.id, reason, this.clock());
      if (this.jobs.get(job.id)?.status === "failed") await this.discard(job.id);
    } finally {
      this.inFlight.delete(job.id);
    }
  }

  /** Aborts every running export's upload (the cube is being destroyed); best effort, R2 expires them in 7 days. */
  async abortAll(): Promise<void> {
    for (const row of this.exec("SELECT job_id FROM export_state WHERE upload_id IS NOT NULL")) await this.discard(String(row.job_id));
  }

  private async discard(jobId: string): Promise<void> {
    const state = this.state(jobId);
    // The state goes first: a step of this job under way when it is discarded finds it gone and does not commit.
    this.exec("DELETE FROM export_state WHERE job_id = ?", jobId);
    this.exec("DELETE FROM export_buffer WHERE job_id = ?", jobId);
    if (state?.uploadId) await this.bucket.resumeMultipartUpload(state.key, state.uploadId).abort().catch((error: unknown) => console.error(`aborting export upload of ${jobId} failed`, error));
  }

  private state(jobId: string): ExportState | null {
    const row = this.exec("SELECT * FROM export_state WHERE job_id = ?", jobId)[0];
    if (!row) return null;
    return {
      key: String(row.export_key),
      phase: String(row.phase) as Phase,
      episodeAt: Number(row.episode_at),
      episodeId: String(row.episode_id),
      uploadId: row.upload_id == null ? null : String(row.upload_id),
      parts: JSON.parse(String(row.parts)) as R2UploadedPart[],
      step: Number(row.step),
    };
  }

  private async runStep(job: JobRecord): Promise<void> {
    const state = this.state(job.id);
    const progress = this.jobs.get(job.id)?.result.export;
    if (!state || !progress) throw new PermanentError(`the export job ${job.id} lost its state`);
    const params = this.jobs.params(job.id) as unknown as ExportParams;
    const chunks = this.exec("SELECT data FROM export_buffer WHERE job_id = ? ORDER BY seq", job.id).map((row) => new Uint8Array(row.data as ArrayBuffer));
    const writer = new PartWriter(this.bucket, state, chunks, this.budget, this.maxParts, (uploadId) =>
      this.transaction(() => this.exec("UPDATE export_state SET upload_id = ? WHERE job_id = ? AND step = ?", uploadId, job.id, state.step)),
    );
    const counts = { ...progress };
    const at = { phase: state.phase, episodeAt: state.episodeAt, episodeId: state.episodeId, seq: job.cursor };
    let items = 0;

    step: {
      while (at.phase === "episodes") {
        const episodes = this.portability.episodesAfter(at.episodeAt, at.episodeId, EXPORT_READ_BATCH);
        for (const episode of episodes) {
          if (!writer.canCall(1)) break step;
          const object = await writer.call(() => this.bucket.get(episode.r2Key));
          if (object) {
            const line = encodeLine(episodeLine(await object.json<StoredEpisode>()));
            if (!writer.fits(line.length)) break step;
            await writer.write(line);
            counts.episodes += 1;
          }
          [at.episodeAt, at.episodeId] = [episode.receivedAt, episode.id];
          items += 1;
        }
        if (episodes.length < EXPORT_READ_BATCH) at.phase = "memories";
      }
      let memoryLines = 0;
      while (at.phase === "memories") {
        const memories: MemoryToExport[] = params.snapshot
          ? this.snapshots.memoriesAfter(job.ref, at.seq, EXPORT_READ_BATCH, params.snapshot.owner)
          : this.portability.memoriesAfter(job.ref, at.seq, EXPORT_READ_BATCH, params.include_vectors, params.export_id);
        for (const memory of memories) {
          if (memoryLines >= this.memoriesPerStep) break step;
          let payload: ArchivedPayload | undefined;
          if (memory.archiveKey !== null) {
            if (!writer.canCall(1)) break step;
            payload = await writer.call(() => this.bucket.get(memory.archiveKey!).then((o) => o?.json<ArchivedPayload>()));
          }
          const line = memory.line(payload);
          if (line) {
            const bytes = encodeLine(line);
            if (!writer.fits(bytes.length)) break step;
            await writer.write(bytes);
            counts.memories += 1;
            counts.versions += line.versions.length;
            if (line.vector) counts.vectors += 1;
            memoryLines += 1;
          }
          at.seq = memory.seq;
          items += 1;
        }
        if (memories.length < EXPORT_READ_BATCH) at.phase = "end";
      }
      if (at.phase === "end") {
        const end: ExportEndLineWire = { type: "end", counts: { memories: counts.memories, versions: counts.versions, episodes: counts.episodes, vectors: counts.vectors } };
        const last = encodeLine(end);
        if (!writer.fitsLast(last.length)) break step;
        await writer.write(last);
        await writer.uploadLastPart();
        at.phase = "complete";
      }
    }

    if (items === 0 && at.phase === state.phase && at.phase !== "complete") {
      throw new PermanentError(`an export step of ${this.budget} R2 calls cannot write the next line`);
    }
    counts.bytes = progress.bytes + writer.written;
    counts.parts = writer.parts.length;
    const rest = writer.rest();
    const committed = this.transaction(() => {
      // The cube was destroyed, or another step of this job committed meanwhile: this one's work is not the job's.
      if (!this.jobs.get(job.id) || this.state(job.id)?.step !== state.step) return false;
      this.exec(
        "UPDATE export_state SET phase = ?, episode_at = ?, episode_id = ?, upload_id = ?, parts = ?, step = step + 1 WHERE job_id = ?",
        at.phase,
        at.episodeAt,
        at.episodeId,
        writer.uploadId,
        JSON.stringify(writer.parts),
        job.id,
      );
      // A step that filled a part starts the buffer afresh; otherwise it appends what it wrote.
      const next = rest.flushed ? 0 : Number(this.exec("SELECT coalesce(max(seq) + 1, 0) AS n FROM export_buffer WHERE job_id = ?", job.id)[0]?.n ?? 0);
      if (rest.flushed) this.exec("DELETE FROM export_buffer WHERE job_id = ?", job.id);
      rest.chunks.forEach((chunk, i) => this.exec("INSERT INTO export_buffer (job_id, seq, data) VALUES (?, ?, ?)", job.id, next + i, chunk));
      this.jobs.addResult(job.id, { export: counts });
      this.jobs.advance(job.id, at.seq, items, false, this.clock());
      return true;
    });
    // The end line and every part are committed: completing is the step's last call (or the next step's first), then
    // a snapshot's hand-off to its cube (again after a failure: completing twice finds the object whole, and the
    // snapshot cube's import of a file it already loads answers that job).
    if (!committed || at.phase !== "complete" || !writer.canCall(params.snapshot ? 3 : 2)) return;
    if (!(await writer.complete(counts.bytes))) throw new Error("completing the export's upload failed and the file is not in R2");
    if (params.snapshot) await this.handOff(job.ref, params.snapshot, job.id);
    this.transaction(() => {
      if (!this.jobs.get(job.id)) return;
      this.exec("DELETE FROM export_state WHERE job_id = ?", job.id);
      this.exec("DELETE FROM export_buffer WHERE job_id = ?", job.id);
      this.jobs.advance(job.id, at.seq, 0, true, this.clock());
    });
  }
}

/**
 * The bytes of one step on their way into fixed-size parts: starts from the committed buffer and parts, uploads a
 * part each time the buffer fills, and counts every R2 call against the step's budget.
 */
class PartWriter {
  readonly parts: R2UploadedPart[];
  uploadId: string | null;
  /** Bytes written by this step. */
  written = 0;
  private calls = 0;
  private readonly buffer = new Uint8Array(PART_BYTES);
  private filled = 0;
  /** Where this step's own bytes start in the buffer (0 once a part was uploaded). */
  private appendFrom: number;
  private flushed = false;
  private upload: R2MultipartUpload | null = null;

  constructor(
    private readonly bucket: R2Bucket,
    private readonly state: ExportState,
    chunks: Uint8Array[],
    private readonly budget: number,
    private readonly maxParts: number,
    private readonly keepUploadId: (uploadId: string) => void,
  ) {
    this.parts = [...state.parts];
    this.uploadId = state.uploadId;
    for (const chunk of chunks) {
      this.buffer.set(chunk, this.filled);
      this.filled += chunk.length;
    }
    this.appendFrom = this.filled;
  }

  canCall(n: number): boolean {
    return this.calls + n <= this.budget;
  }

  async call<T>(request: () => Promise<T>): Promise<T> {
    this.calls += 1;
    return request();
  }

  /** Whether a line of `bytes` can be written within the budget: the parts it fills (and the upload's creation). */
  fits(bytes: number): boolean {
    const parts = Math.floor((this.filled + bytes) / PART_BYTES);
    return this.canCall(parts + (parts > 0 && this.uploadId === null ? 1 : 0));
  }

  /** Whether the end line fits: in the buffer of a small file, or with the parts it fills and the last one. */
  fitsLast(bytes: number): boolean {
    if (this.uploadId === null && this.filled + bytes < PART_BYTES) return true;
    return this.canCall(Math.ceil((this.filled + bytes) / PART_BYTES) + (this.uploadId === null ? 1 : 0));
  }

  async write(line: Uint8Array): Promise<void> {
    this.written += line.length;
    for (let offset = 0; offset < line.length; ) {
      const n = Math.min(PART_BYTES - this.filled, line.length - offset);
      this.buffer.set(line.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === PART_BYTES) await this.flush();
    }
  }

  /** After the end line: a multipart file's last part (a small file stays in the buffer for its one put). */
  async uploadLastPart(): Promise<void> {
    if (this.uploadId !== null && this.filled > 0) await this.flush();
  }

  /**
   * Makes the file an object: one put of a small file (the buffer holds it whole), or the multipart completion. A
   * completion that fails because an attempt cut short before its commit already did it finds the object whole
   * (`bytes` long): done too. Needs two calls at most.
   */
  async complete(bytes: number): Promise<boolean> {
    if (this.uploadId === null) {
      await this.call(() => this.bucket.put(this.state.key, this.buffer.subarray(0, this.filled), NDJSON));
      return true;
    }
    const upload = this.multipart();
    try {
      await this.call(() => upload.complete(this.parts));
      return true;
    } catch (error) {
      const object = await this.call(() => this.bucket.head(this.state.key));
      if (object !== null && object.size === bytes) return true;
      throw error;
    }
  }

  /** What is left in the buffer, in chunks to store, and whether this step replaced the stored buffer. */
  rest(): { chunks: Uint8Array[]; flushed: boolean } {
    const from = this.flushed ? 0 : this.appendFrom;
    const chunks: Uint8Array[] = [];
    for (let offset = from; offset < this.filled; offset += BUFFER_CHUNK_BYTES) chunks.push(this.buffer.slice(offset, Math.min(this.filled, offset + BUFFER_CHUNK_BYTES)));
    return { chunks, flushed: this.flushed };
  }

  private multipart(): R2MultipartUpload {
    this.upload ??= this.bucket.resumeMultipartUpload(this.state.key, this.uploadId!);
    return this.upload;
  }

  private async flush(): Promise<void> {
    if (this.parts.length >= this.maxParts) throw new PermanentError(`the file is larger than ${this.maxParts} parts of ${PART_BYTES} bytes (R2 takes at most ${MAX_EXPORT_PARTS} per upload)`);
    if (this.uploadId === null) {
      const created = await this.call(() => this.bucket.createMultipartUpload(this.state.key, NDJSON));
      this.upload = created;
      this.uploadId = created.uploadId;
      this.keepUploadId(created.uploadId);
    }
    const upload = this.multipart();
    const part = this.buffer.slice(0, this.filled);
    this.parts.push(await this.call(() => upload.uploadPart(this.parts.length + 1, part)));
    this.filled = 0;
    this.flushed = true;
    this.appendFrom = 0;
  }
}

/** An export's job id: `job_` + the export id's body (the cube's body and 16 random characters), found without a scan. */
export const exportJobId = (exportId: string) => `job_${exportId.slice("exp_".length)}`;

function encodeLine(line: ExportLineWire): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(line)}\n`);
}
