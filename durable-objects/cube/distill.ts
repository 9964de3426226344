/**
 * The distill job (docs/parametric.md): the cube's memories, selected by the filters of list and search, written to
 * R2 as a chat-format JSONL fine-tuning dataset (core/distill.ts makes the examples). Stepwise on the alarm like
 * import: each step reads DISTILL_BATCH memories after the cursor (seq), writes them as one part object, then one
 * transaction advances the cursor with the counts — an object evicted mid-job rewrites at most the part it was on
 * (same key, same bytes). The last step writes a manifest; the download streams the parts in order.
 */
import type { MemoryFilter } from "../../src/core/filters";
import { type DistillMemory, exampleOf } from "../../src/core/distill";
import type { Where } from "../../src/core/where";
import type { JobResult, JobWire } from "../../src/schemas/jobs";
import { compileFilter, compileWhere } from "./filters";
import type { CubeJobs, JobRecord } from "./jobs";
import type { ArchivedPayload } from "./lifecycle";
import type { CubeRef } from "./protocol";

type Row = Record<string, SqlStorageValue>;

/** Memories one step reads (and at most the examples one part holds). */
export const DISTILL_BATCH = 200;

/** What a distill job was asked for, kept in its params. */
export interface DistillParams {
  distill_id: string;
  filter: MemoryFilter;
  where: Where | null;
  include_sensitive: boolean;
  max_examples: number;
  system: string;
  actor: string;
  request_id: string;
}

/** Where a distill's files live in R2: parts `part-000001.jsonl`, … and `manifest.json` once complete. */
export const distillPrefix = (ref: Pick<CubeRef, "tenantId" | "cubeId">, distillId: string) =>
  `distills/${ref.tenantId}/${ref.cubeId}/${distillId}/`;
const partKey = (ref: CubeRef, distillId: string, part: number) => `${distillPrefix(ref, distillId)}part-${String(part).padStart(6, "0")}.jsonl`;

interface Manifest {
  format: "memos-distill/1";
  distill_id: string;
  parts: number;
  bytes: number;
  examples: number;
}

type Progress = NonNullable<JobResult["distill"]>;

export class CubeDistill {
  constructor(
    private readonly sql: SqlStorage,
    private readonly jobs: CubeJobs,
    private readonly bucket: R2Bucket,
    private readonly transaction: <T>(write: () => T) => T,
    private readonly clock: () => number,
  ) {}

  private exec(query: string, ...params: unknown[]): Row[] {
    return this.sql.exec(query, ...(params as SqlStorageValue[])).toArray();
  }

  /** Creates the job; its total is the memories that match, up to max_examples. */
  start(ref: CubeRef, params: DistillParams, now: number): JobWire {
    const { sql, params: bound } = this.selection(params);
    const matching = Number(this.exec(`SELECT count(*) AS n FROM memories m WHERE ${sql}`, ...bound)[0]?.n ?? 0);
    const job = this.jobs.create(ref, "distill", Math.min(matching, params.max_examples), { ...params }, now);
    const progress: Progress = { distill_id: params.distill_id, examples: 0, memories: 0, skipped_sensitive: 0, parts: 0, bytes: 0 };
    this.jobs.addResult(job.id, { distill: progress });
    return this.jobs.get(job.id)!;
  }

  /** One step: a batch of memories to one part in R2, then the cursor and counts in one transaction. */
  async step(job: JobRecord): Promise<void> {
    const params = this.jobs.params(job.id) as unknown as DistillParams;
    try {
      const progress = this.jobs.get(job.id)?.result.distill;
      if (!progress) throw new Error("the distill job lost its progress record");
      const { sql, params: bound } = this.selection(params);
      const rows = this.exec(
        `SELECT m.seq, m.id, m.type, m.content, m.tags, m.sensitivity, m.valid_at, m.created_at, m.state, m.archive_key
           FROM memories m WHERE m.seq > ? AND ${sql} ORDER BY m.seq LIMIT ?`,
        job.cursor,
        ...bound,
        DISTILL_BATCH,
      );
      const lines: string[] = [];
      let cursor = job.cursor;
      let read = 0;
      let skipped = 0;
      for (const row of rows) {
        if (progress.examples + lines.length >= params.max_examples) break;
        cursor = Number(row.seq);
        read += 1;
        if (!params.include_sensitive && (JSON.parse(String(row.sensitivity)) as string[]).length > 0) {
          skipped += 1;
          continue;
        }
        const memory: DistillMemory = {
          id: String(row.id),
          type: String(row.type),
          content: await this.contentOf(row),
          tags: JSON.parse(String(row.tags)) as string[],
          at: Number(row.valid_at ?? row.created_at),
        };
        lines.push(JSON.stringify(exampleOf(memory, params.system)));
      }
      const examples = progress.examples + lines.length;
      const finished = rows.length < DISTILL_BATCH || examples >= params.max_examples;
      let written = 0;
      let parts = progress.parts;
      if (lines.length > 0) {
        const body = new TextEncoder().encode(`${lines.join("\n")}\n`);
        parts += 1;
        await this.bucket.put(partKey(job.ref, params.distill_id, parts), body, { httpMetadata: { contentType: "application/x-ndjson" } });
        written = body.length;
      }
      const next: Progress = {
        ...progress,
        examples,
        memories: progress.memories + read,
        skipped_sensitive: progress.skipped_sensitive + skipped,
        parts,
        bytes: progress.bytes + written,
      };
      if (finished) {
        const manifest: Manifest = { format: "memos-distill/1", distill_id: params.distill_id, parts, bytes: next.bytes, examples };
        await this.bucket.put(`${distillPrefix(job.ref, params.distill_id)}manifest.json`, JSON.stringify(manifest));
      }
      this.transaction(() => {
        if (!this.jobs.get(job.id)) return; // the cube was deleted while the part uploaded
        this.jobs.addResult(job.id, { distill: next });
        // Progress counts memories visited (sensitive ones left out included), so a finished job reads done = total.
        this.jobs.advance(job.id, cursor, read, finished, this.clock());
      });
    } catch (error) {
      this.jobs.retryOrFail(job.id, error instanceof Error ? error.message : String(error), this.clock());
    }
  }

  /**
   * The finished dataset as one stream (its parts in order) and its size; `running` while the job is under way (or
   * after it failed), null when there is no such distill or its dataset was deleted.
   */
  async file(ref: CubeRef, distillId: string): Promise<{ body: ReadableStream; bytes: number } | { running: JobWire } | null> {
    const object = await this.bucket.get(`${distillPrefix(ref, distillId)}manifest.json`);
    if (!object) {
      // Under way (or failed): say so. Done without a manifest: its dataset was deleted.
      const job = this.exec(
        "SELECT id FROM jobs WHERE type = 'distill' AND json_extract(params, '$.distill_id') = ? AND status != 'done'",
        distillId,
      )[0];
      return job ? { running: this.jobs.get(String(job.id))! } : null;
    }
    const manifest = await object.json<Manifest>();
    const { readable, writable } = new FixedLengthStream(manifest.bytes);
    const bucket = this.bucket;
    const pipe = async () => {
      for (let part = 1; part <= manifest.parts; part++) {
        const body = await bucket.get(partKey(ref, distillId, part));
        if (!body) throw new Error(`distill ${distillId}: part ${part} is missing`);
        await body.body.pipeTo(writable, { preventClose: true });
      }
      await writable.close();
    };
    pipe().catch(async (error: unknown) => {
      console.error("distill download failed", error);
      await writable.abort(error).catch(() => {});
    });
    return { body: readable, bytes: manifest.bytes };
  }

  /**
   * Deletes a distill's files (its parts and manifest); false when there were none. A job still running is refused
   * by the caller first: it would write its next part again.
   */
  async remove(ref: CubeRef, distillId: string): Promise<{ deleted: number } | { running: JobWire } | null> {
    const job = this.exec("SELECT id FROM jobs WHERE type = 'distill' AND json_extract(params, '$.distill_id') = ? AND status IN ('queued', 'running')", distillId)[0];
    if (job) return { running: this.jobs.get(String(job.id))! };
    let deleted = 0;
    for (;;) {
      const page = await this.bucket.list({ prefix: distillPrefix(ref, distillId), limit: 1000 });
      if (page.objects.length === 0) break;
      await this.bucket.delete(page.objects.map((o) => o.key));
      deleted += page.objects.length;
    }
    return deleted === 0 ? null : { deleted };
  }

  /** The job's filters as SQL over `memories m`: the shorthand filter, and the typed `where` when given. */
  private selection(params: Pick<DistillParams, "filter" | "where">): { sql: string; params: unknown[] } {
    const filter = compileFilter(params.filter);
    const where = params.where ? compileWhere(params.where) : { clauses: [], params: [] };
    return { sql: [...filter.clauses, ...where.clauses].join(" AND "), params: [...filter.params, ...where.params] };
  }

  /** An archived memory keeps only a preview in its row; its whole content is in R2. */
  private async contentOf(row: Row): Promise<string> {
    if (row.state !== "archived" || row.archive_key == null) return String(row.content);
    const payload = await this.bucket.get(String(row.archive_key)).then((o) => o?.json<ArchivedPayload>());
    return payload?.content ?? String(row.content);
  }
}
