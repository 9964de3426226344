/**
 * One bounded step of each background job, run by the cube's alarm (and, for a synchronous ingest, by ingest()
 * itself): read a window of a conversation, re-embed a batch, load a batch of an export, merge near-duplicates,
 * expire what is due, move cold memories to R2. Model and R2 calls happen before the step's transaction; the
 * transaction re-checks that the job still exists and records its progress with its writes, so an object evicted
 * mid-job resumes at the first step not yet committed. A failed step backs off and retries; an error no retry can
 * fix fails the job at once.
 */
import type { Retrieval } from "../../src/adapters/factory";
import type { VectorRecord } from "../../src/adapters/types";
import { ConfigError } from "../../src/errors";
import type { MemoryReader } from "../../src/core/reader/types";
import type { JobType } from "../../src/schemas/jobs";
import { archiveKey, episodeKey } from "./r2-keys";
import { CONSOLIDATE_BATCH, type CubeConsolidation } from "./consolidate";
import type { CubeDistill } from "./distill";
import type { CubeEmbeddings } from "./embeddings";
import type { CubeExportJob } from "./export-job";
import type { CubeImport, ImportParams } from "./import";
import { type Candidate, type CubeIngest, INGEST_WINDOW, type StoredEpisode, verbatimCandidates } from "./ingest";
import { type CubeJobs, type JobRecord, REINDEX_BATCH } from "./jobs";
import { type ArchivePolicy, type CubeLifecycle, EXPIRE_DUE_SQL } from "./lifecycle";
import type { CubeRef, WriteMeta } from "./protocol";
import type { CubeStore } from "./store";
import type { VectorStore } from "./vector-store";

/** The parts of the cube the steps work on. */
export interface JobStepParts {
  jobs: CubeJobs;
  store: CubeStore;
  vectors: VectorStore;
  lifecycle: CubeLifecycle;
  consolidation: CubeConsolidation;
  ingestion: CubeIngest;
  importer: CubeImport;
  embeddings: CubeEmbeddings;
  distill: CubeDistill;
  exporter: CubeExportJob;
}

/** What the steps need of the Durable Object itself. */
export interface JobStepHost {
  readonly env: Env;
  /** Runs `write` in one storage transaction. */
  transaction<T>(write: () => T): T;
  clock(): number;
  retrieval(): Retrieval;
  reader(): MemoryReader;
  /** Memories changed: cached rankings and contexts are stale. */
  changed(): void;
  /** Expires what is due and cleans up after it (the alarm does this too); returns the expired ids. */
  expireAndClean(ref: CubeRef): Promise<string[]>;
}

/** Memories one archive step moves to R2. */
const ARCHIVE_BATCH = 50;
const DAY_MS = 86_400_000;

/** An error no retry can fix: the job fails at once with its message. */
export class PermanentError extends Error {}

/** Permanent: ours, or an adapter's error that says it is not retryable (malformed model output after retries). */
export function isPermanent(error: unknown): boolean {
  if (error instanceof PermanentError) return true;
  return typeof error === "object" && error !== null && (error as { retryable?: unknown }).retryable === false;
}

/** ARCHIVE_AFTER_DAYS (default 30) and ARCHIVE_MAX_IMPORTANCE (default 0.3); a malformed value is a config error. */
export function archivePolicy(env: { ARCHIVE_AFTER_DAYS?: string; ARCHIVE_MAX_IMPORTANCE?: string }, now: number): ArchivePolicy {
  const days = Number(env.ARCHIVE_AFTER_DAYS ?? "30");
  const maxImportance = Number(env.ARCHIVE_MAX_IMPORTANCE ?? "0.3");
  if (!Number.isFinite(days) || days < 0) throw new ConfigError(`ARCHIVE_AFTER_DAYS must be a number of days ≥ 0; got ${env.ARCHIVE_AFTER_DAYS}`);
  if (!(maxImportance >= 0 && maxImportance <= 1)) {
    throw new ConfigError(`ARCHIVE_MAX_IMPORTANCE must be within 0–1; got ${env.ARCHIVE_MAX_IMPORTANCE}`);
  }
  return { coldBefore: now - days * DAY_MS, maxImportance };
}

export class CubeJobSteps {
  private readonly jobs: CubeJobs;
  private readonly store: CubeStore;
  private readonly vectors: VectorStore;
  private readonly lifecycle: CubeLifecycle;
  private readonly consolidation: CubeConsolidation;
  private readonly ingestion: CubeIngest;
  private readonly importer: CubeImport;
  private readonly embeddings: CubeEmbeddings;
  private readonly distill: CubeDistill;
  private readonly exporter: CubeExportJob;
  /** Episodes being read, by id (an evicted object reads them back from R2). */
  private readonly episodes = new Map<string, StoredEpisode>();

  constructor(parts: JobStepParts, private readonly host: JobStepHost) {
    ({
      jobs: this.jobs,
      store: this.store,
      vectors: this.vectors,
      lifecycle: this.lifecycle,
      consolidation: this.consolidation,
      ingestion: this.ingestion,
      importer: this.importer,
      embeddings: this.embeddings,
      distill: this.distill,
      exporter: this.exporter,
    } = parts);
  }

  /** Keeps an episode just stored in R2, so its first steps need not read it back. */
  keepEpisode(episode: StoredEpisode): void {
    this.episodes.set(episode.id, episode);
  }

  /** Forgets every kept episode (the cube was destroyed). */
  forgetEpisodes(): void {
    this.episodes.clear();
  }

  /**
   * Runs one step of `job`. Ingest, reindex, import and archive record a failure on the job (retry with backoff, or
   * fail); consolidate and expire let it fail the alarm, which the runtime retries.
   */
  async run(job: JobRecord): Promise<void> {
    switch (job.type) {
      case "ingest":
        return this.ingestStep(job);
      case "reindex":
        return this.reindexStep(job);
      case "import":
        return this.importStep(job);
      case "archive":
        return this.archiveStep(job);
      case "expire":
        return this.expireStep(job);
      case "consolidate":
        return this.consolidateStep(job);
      case "distill":
        return this.distill.step(job);
      case "export":
      case "snapshot":
        return this.exporter.step(job);
    }
  }

  /** How many items a job of this type will process, for its progress. */
  total(type: JobType, now: number): number {
    switch (type) {
      case "reindex":
        return Number(this.store.exec("SELECT count(*) AS n FROM memories WHERE state != 'forgotten'")[0]?.n ?? 0);
      case "expire":
        return this.store.exec(EXPIRE_DUE_SQL, now, 1_000_000).length;
      case "archive":
        return this.lifecycle.archiveCandidateCount(this.archivePolicy(now));
      case "consolidate":
        return this.store.liveCount();
      case "ingest":
        throw new Error("ingest jobs are created by ingest(), with their episode");
      case "import":
        throw new Error("import jobs are created by importFile(), with their file");
      case "distill":
        throw new Error("distill jobs are created by distill(), with their filters");
      case "export":
        throw new Error("export jobs are created by exportCube(), with their header");
      case "snapshot":
        throw new Error("snapshot jobs are created by startSnapshot(), with their target");
    }
  }

  /**
   * One window of an episode: read (rules or model), embed, then one transaction applies the conflict policy and
   * advances the cursor — so an object evicted mid-job resumes at the first window not yet committed, and nothing
   * is written twice. A reader error a retry cannot fix (the model keeps answering malformed output) fails the job
   * at once, with its reason; others back off and retry.
   */
  private async ingestStep(job: JobRecord): Promise<void> {
    const params = this.jobs.params(job.id) as { episode: string; actor: string; request_id: string };
    const meta: WriteMeta = { actor: params.actor, requestId: params.request_id };
    try {
      const episode = await this.loadEpisode(job.ref, params.episode);
      const window = episode.messages.slice(job.cursor, job.cursor + INGEST_WINDOW);
      const reader = episode.infer ? this.host.reader() : null;
      const candidates: Candidate[] = reader
        ? await reader.read(window, { ownerName: episode.owner_name, now: episode.received_at })
        : verbatimCandidates(window, episode.received_at);
      const vectors = candidates.length > 0 ? await this.embeddings.embedDocuments(candidates.map((c) => c.content)) : [];
      let records: VectorRecord[] = [];
      this.host.transaction(() => {
        this.assertJobAlive(job);
        const outcome = this.ingestion.apply(job.ref, episode, reader?.id ?? "verbatim", candidates, meta, this.host.clock());
        records = outcome.written.flatMap((memory, i) => (memory && vectors ? [{ id: memory.id, vector: vectors[i]! }] : []));
        // Superseded ones left the index inside apply(); only the live ones get vectors.
        records = records.filter((r) => outcome.written.find((m) => m?.id === r.id)?.state === "activated");
        if (records.length > 0) this.embeddings.upsertLocal(records);
        const next = job.cursor + window.length;
        this.jobs.advance(job.id, next, window.length, next >= episode.messages.length, this.host.clock());
        this.jobs.addResult(job.id, {
          memory_ids: outcome.written.flatMap((m) => (m ? [m.id] : [])),
          duplicates: outcome.duplicates,
          superseded: outcome.superseded,
        });
        this.host.changed();
      });
      job.cursor += window.length;
      await this.embeddings.pushRemote(job.ref, records);
    } catch (error) {
      this.vectors.reset();
      const reason = error instanceof Error ? error.message : String(error);
      if (isPermanent(error)) this.jobs.fail(job.id, reason, this.host.clock());
      else this.jobs.retryOrFail(job.id, reason, this.host.clock());
    }
  }

  private async loadEpisode(ref: CubeRef, id: string): Promise<StoredEpisode> {
    const cached = this.episodes.get(id);
    if (cached) return cached;
    const object = await this.host.env.ARCHIVE.get(episodeKey(ref, id));
    if (!object) throw new PermanentError(`episode ${id} is missing from the archive`);
    const episode = await object.json<StoredEpisode>();
    this.episodes.set(id, episode);
    return episode;
  }

  private async reindexStep(job: JobRecord): Promise<void> {
    const batch = this.jobs.reindexBatch(job.cursor);
    const { embedder } = this.host.retrieval();
    const stale = batch.filter((memory) => this.embeddings.embedderOf(memory.id) !== embedder.id);
    try {
      const vectors = stale.length > 0 ? await embedder.embed(stale.map((m) => m.content), "document") : [];
      let records: VectorRecord[] = [];
      this.host.transaction(() => {
        this.assertJobAlive(job);
        // Memories purged while the model ran must not come back as vectors.
        const alive = this.store.findMany(job.ref, stale.map((m) => m.id));
        records = stale.flatMap((memory, i) => (alive.has(memory.id) ? [{ id: memory.id, vector: vectors[i]! }] : []));
        if (records.length > 0) this.embeddings.upsertLocal(records);
        const last = batch.at(-1);
        this.jobs.advance(job.id, last ? last.seq : job.cursor, batch.length, batch.length < REINDEX_BATCH, this.host.clock());
      });
      await this.embeddings.pushRemote(job.ref, records);
    } catch (error) {
      this.vectors.reset();
      this.jobs.retryOrFail(job.id, error instanceof Error ? error.message : String(error), this.host.clock());
    }
  }

  /**
   * One step of an import: read up to IMPORT_BATCH memories from the file (episodes and archived payloads go to R2
   * first), embed those whose vectors the file cannot give (another embedder, or none), then one transaction writes
   * them and advances the byte cursor. A malformed file fails the job at once; R2 or model errors back off.
   */
  private async importStep(job: JobRecord): Promise<void> {
    const params = this.jobs.params(job.id) as unknown as ImportParams;
    const meta: WriteMeta = { actor: params.actor, requestId: params.request_id };
    try {
      const progress = this.jobs.get(job.id)?.result.import;
      if (!progress) throw new PermanentError("the import job lost its progress record");
      const { embedder } = this.host.retrieval();
      const batch = await this.importer.readBatch(job.ref, params, job.cursor, progress, embedder, meta);
      const toEmbed = batch.memories.filter((m) => m.embed);
      const vectors = toEmbed.length > 0 ? await this.embeddings.embedDocuments(toEmbed.map((m) => m.memory.content)) : null;
      const embedded = new Map(vectors ? toEmbed.map((m, i) => [m.id, vectors[i]!] as const) : []);
      let records: VectorRecord[] = [];
      this.host.transaction(() => {
        this.assertJobAlive(job);
        const now = this.host.clock();
        const applied = this.importer.applyBatch(job.ref, batch, embedded, params, meta, now);
        records = applied.records;
        if (records.length > 0) this.embeddings.upsertLocal(records);
        this.jobs.advance(job.id, batch.cursor, batch.memories.length, batch.finished, now);
        this.jobs.addResult(job.id, {
          import: {
            ...progress,
            lines: progress.lines + batch.lines,
            imported: progress.imported + applied.imported,
            skipped: progress.skipped + applied.skipped,
            episodes: progress.episodes + batch.episodes.length,
            vectors_reused: progress.vectors_reused + applied.reused,
            re_embedded: progress.re_embedded + applied.embedded,
          },
        });
        this.host.changed();
      });
      await this.embeddings.pushRemote(job.ref, records);
    } catch (error) {
      this.vectors.reset();
      const reason = error instanceof Error ? error.message : String(error);
      if (isPermanent(error)) this.jobs.fail(job.id, reason, this.host.clock());
      else this.jobs.retryOrFail(job.id, reason, this.host.clock());
    }
  }

  private async consolidateStep(job: JobRecord): Promise<void> {
    const step = this.host.transaction(() => {
      const result = this.consolidation.step(job.ref, job.cursor, this.host.clock());
      this.jobs.advance(job.id, result.cursor, result.examined, result.examined < CONSOLIDATE_BATCH, this.host.clock());
      return result;
    });
    await this.embeddings.deleteRemote(job.ref, step.merged);
  }

  private async expireStep(job: JobRecord): Promise<void> {
    const expired = await this.host.expireAndClean(job.ref);
    this.jobs.advance(job.id, job.cursor, expired.length, this.store.exec(EXPIRE_DUE_SQL, this.host.clock(), 1).length === 0, this.host.clock());
  }

  /** Moves a batch of cold memories to R2: payload first, then the row gives it up (never the other way round). */
  private async archiveStep(job: JobRecord): Promise<void> {
    const now = this.host.clock();
    const batch = this.lifecycle.archiveCandidates(this.archivePolicy(now), job.cursor, ARCHIVE_BATCH);
    const counts = { moved: 0, skipped: 0, ...this.jobs.get(job.id)?.result.archive };
    try {
      for (const { id } of batch) {
        const payload = this.lifecycle.archivePayload(id);
        if (!payload) continue;
        const key = archiveKey(job.ref, id);
        const body = JSON.stringify(payload);
        await this.host.env.ARCHIVE.put(key, body, { httpMetadata: { contentType: "application/json" } });
        const bytes = new TextEncoder().encode(body).length;
        const marked = this.host.transaction(() => this.lifecycle.markArchived(job.ref, payload, key, bytes, this.host.clock()));
        // It changed while its payload was uploading: keep it hot, and do not leave the copy behind.
        if (!marked.ok) await this.host.env.ARCHIVE.delete(key);
        counts[marked.ok ? "moved" : "skipped"] += 1;
        // Recorded as each one moves: a step that fails half-way keeps the count of what it did move.
        this.jobs.addResult(job.id, { archive: counts });
      }
      this.jobs.addResult(job.id, { archive: counts });
      const last = batch.at(-1);
      this.jobs.advance(job.id, last ? last.seq : job.cursor, batch.length, batch.length < ARCHIVE_BATCH, this.host.clock());
    } catch (error) {
      this.jobs.retryOrFail(job.id, error instanceof Error ? error.message : String(error), this.host.clock());
    }
  }

  private archivePolicy(now: number): ArchivePolicy {
    return archivePolicy(this.host.env, now);
  }

  /**
   * A job step awaited a model or R2 before committing; if the cube was destroyed meanwhile (owner deletion), its
   * job row is gone and nothing may be written — least of all memories read from the deleted episode.
   */
  private assertJobAlive(job: JobRecord): void {
    if (!this.jobs.get(job.id)) throw new PermanentError(`job ${job.id} no longer exists: the cube was deleted while it ran`);
  }
}
