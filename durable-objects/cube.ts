/**
 * The Cube Durable Object: one per (tenant, cube), the memory scheduler and source of truth for its cube.
 * A thin RPC shell: schema under blockConcurrencyWhile, model calls (embedding, reranking) before and after the
 * transaction, every write inside one transaction. Per-object serial execution orders a cube's writes without locks.
 */
import { DurableObject } from "cloudflare:workers";
import { type Retrieval, createRetrieval } from "../src/adapters/factory";
import { type Outcome, fail, ok } from "../src/errors";
import { LIVE_STATES, type MemoryState } from "../src/core/lifecycle";
import { LIMITS } from "../src/schemas/limits";
import { type AssembledContext, type ContextCandidate, assembleContext } from "../src/core/context";
import type { JobType, JobWire } from "../src/schemas/jobs";
import type { MemoryVersionWire, MemoryWire } from "../src/schemas/memory";
import {
  type ContextRequestInternal,
  type CubeRef,
  type ListPage,
  type ListRequest,
  type MemoryPatch,
  type Mutation,
  type NewMemory,
  SYSTEM,
  type SearchHit,
  type SearchRequestInternal,
  type WriteMeta,
} from "./cube/protocol";
import { afterCommit } from "./cube/after-commit";
import { type ArchivedPayload, CubeLifecycle, type CubeStats } from "./cube/lifecycle";
import { CubeConsolidation } from "./cube/consolidate";
import { CubeOutbox } from "./cube/outbox";
import { CubeJobs } from "./cube/jobs";
import { rerankPool } from "./cube/rerank-pool";
import { CubeTeardown, TEARDOWN_RESUME_MS } from "./cube/teardown";
import { CubeScheduler, type WorkingMemoryItem, liftedBySearch } from "./cube/scheduler";
import { CubeIngest, type StoredEpisode } from "./cube/ingest";
import { createReader } from "../src/adapters/reader-factory";
import { withScaleProbe } from "../src/scale-probe";
import type { MemoryReader } from "../src/core/reader/types";
import { CubeSearch } from "./cube/search";
import { type ActivationView, CubeActivation } from "./cube/activation";
import type { ActivationVersion } from "../src/core/activation";
import { CubeStore } from "./cube/store";
import { VectorStore } from "./cube/vector-store";
import { CubeImport, type ImportParams, type ImportProgress } from "./cube/import";
import { CubePortability, cubePrefixes, uploadKey } from "./cube/portability";
import { CubeExportJob, type ExportFile, type ExportParams, MAX_RUNNING_EXPORTS } from "./cube/export-job";
import { CubeSnapshots, type SnapshotTarget, destroySnapshotCubes, handSnapshotToCube } from "./cube/snapshot";
import { CubeProvenance } from "./cube/provenance";
import { EmbeddingRetry } from "./cube/embedding-retry";
import { CubeEmbeddings } from "./cube/embeddings";
import { episodeKey } from "./cube/r2-keys";
import { CubeJobSteps, archivePolicy } from "./cube/job-steps";
import { CubeUpkeep } from "./cube/upkeep";
import { Watermarker } from "./cube/watermark";
import type { ProvenanceWire } from "../src/schemas/portability";
import type { AdapterState } from "../src/core/lora";
import type { AdapterWire } from "../src/schemas/parametric";
import { CubeAdapters, type NewAdapter } from "./cube/adapters";
import { CubeDistill, type DistillParams } from "./cube/distill";
import { type GroupCommit, type GroupPass, groupCommitFor } from "./cube/group-commit";
import { countLiveOncePerGroup, noteWriteOncePerGroup, sharedPass, stageVectors, sweepOncePerGroup } from "./cube/group-writes";
import type { VectorRecord } from "../src/adapters/types";

/** An assembled context, plus the same split for prompt caching: the activation block, then what the query adds. */
export type SplitContext = AssembledContext & {
  stable: { text: string; tokens: number; version: number; etag: string; ids: string[] };
  dynamic: Pick<AssembledContext, "text" | "tokens" | "items">;
};

/** Recalled memories context assembly considers, and how much it diversifies them (near-duplicates waste budget). */
const CONTEXT_RECALL = 30;
const CONTEXT_MMR_LAMBDA = 0.8;
/** Cached contexts per cube, and how long one is reused while nothing is written. */
const CONTEXT_CACHE_ENTRIES = 100;
const CONTEXT_CACHE_MS = 60_000;
/** How soon after a write the alarm sends its webhook events, and when it tries again after a failed send. */
const OUTBOX_DELAY_MS = 500;
const OUTBOX_RETRY_MS = 30_000;

export class CubeDurableObject extends DurableObject<Env> {
  private readonly store: CubeStore;
  private readonly vectors: VectorStore;
  private readonly searcher: CubeSearch;
  private readonly jobs: CubeJobs;
  private readonly lifecycle: CubeLifecycle;
  private readonly consolidation: CubeConsolidation;
  private readonly outbox: CubeOutbox;
  private readonly scheduler: CubeScheduler;
  private readonly activation_: CubeActivation;
  private readonly ingest_: CubeIngest;
  private readonly portability: CubePortability;
  private readonly importer: CubeImport;
  private readonly provenance_: CubeProvenance;
  private readonly embeddings: CubeEmbeddings;
  private readonly embeddingRetry: EmbeddingRetry;
  private readonly teardown: CubeTeardown;
  private readonly steps: CubeJobSteps;
  private readonly upkeep: CubeUpkeep;
  private readonly distiller: CubeDistill;
  private readonly exporter: CubeExportJob;
  private readonly adapterRegistry: CubeAdapters;
  /** Single-memory writes that arrive together share one commit (cube/group-commit.ts). */
  private readonly writeGroups: GroupCommit;
  private memoryReader: MemoryReader | null = null;
  /** Bumped by every change to the cube's memories: cached working memory and contexts older than it are stale. */
  private generation = 0;
  /** Assembled contexts by request, LRU, valid for their generation and CONTEXT_CACHE_MS. */
  private readonly contexts = new Map<string, { generation: number; at: number; value: SplitContext }>();
  private retrievalAdapters: Retrieval | null = null;
  /** The object's time source: tests move it (runInDurableObject) to age memories without waiting. */
  clock: () => number = () => Date.now();
  private identityKnown = false;
  /** An alarm is armed to drain the webhook outbox (reset when the alarm runs). */
  private outboxArmed = false;
  /** The timer that writes counted reads after an answer (writeAccessesSoon), while one is pending. */
  private accessWrite: ReturnType<typeof setTimeout> | null = null;
  /** When the reads that timer waits for began to wait (Date.now(): timers run on real time, not on `clock`). */
  private accessWriteSince = 0;
  /** Memories expired by a lazy sweep whose shared-index vectors the next alarm deletes (best effort: see sweep()). */
  private remoteDeletes: { ref: CubeRef; ids: string[] }[] = [];

  constructor(ctx: DurableObjectState, env: Env) {
    // The scale bench's counting proxies (src/scale-probe.ts); without SCALE_PROBE=1 this is env itself.
    env = withScaleProbe(env, "cube");
    super(ctx, env);
    const watermarks = Watermarker.fromRootKey(env.ROOT_KEY);
    this.store = new CubeStore(ctx.storage.sql, watermarks);
    this.vectors = new VectorStore(ctx.storage.sql);
    this.searcher = new CubeSearch(ctx.storage.sql, this.store, this.vectors);
    this.jobs = new CubeJobs(ctx.storage.sql);
    this.lifecycle = new CubeLifecycle(this.store, this.vectors);
    this.consolidation = new CubeConsolidation(this.store, this.vectors);
    this.outbox = new CubeOutbox(ctx.storage.sql, ctx.storage.kv);
    this.scheduler = new CubeScheduler(this.store);
    this.activation_ = new CubeActivation(this.store, (write) => ctx.storage.transactionSync(write));
    this.ingest_ = new CubeIngest(this.store, this.vectors);
    this.portability = new CubePortability(this.store, this.vectors, env.ARCHIVE);
    this.importer = new CubeImport(this.store, env.ARCHIVE);
    this.provenance_ = new CubeProvenance(this.store, env.ARCHIVE, watermarks);
    this.embeddings = new CubeEmbeddings(ctx.storage, this.vectors, () => this.retrieval, () => this.clock());
    this.embeddingRetry = new EmbeddingRetry(ctx.storage.sql, this.jobs);
    this.distiller = new CubeDistill(ctx.storage.sql, this.jobs, env.ARCHIVE, (write) => ctx.storage.transactionSync(write), () => this.clock());
    this.exporter = new CubeExportJob(ctx.storage.sql, this.jobs, this.portability, new CubeSnapshots(this.store, this.vectors), (ref, target, jobId) => handSnapshotToCube(env.CUBE, ref, target, jobId), env.ARCHIVE, (write) => ctx.storage.transactionSync(write), () => this.clock());
    this.adapterRegistry = new CubeAdapters(ctx.storage.sql, env.ARCHIVE, (write) => ctx.storage.transactionSync(write));
    this.teardown = new CubeTeardown(ctx.storage.sql, env.ARCHIVE);
    this.writeGroups = groupCommitFor(ctx, env, () => this.vectors.reset());
    this.steps = new CubeJobSteps(
      {
        jobs: this.jobs,
        store: this.store,
        vectors: this.vectors,
        lifecycle: this.lifecycle,
        consolidation: this.consolidation,
        ingestion: this.ingest_,
        importer: this.importer,
        embeddings: this.embeddings,
        distill: this.distiller,
        exporter: this.exporter,
      },
      {
        env,
        transaction: (write) => ctx.storage.transactionSync(write),
        clock: () => this.clock(),
        retrieval: () => this.retrieval,
        reader: () => this.reader,
        changed: () => {
          this.generation += 1;
        },
        expireAndClean: (ref) => this.expireAndClean(ref),
      },
    );
    this.upkeep = new CubeUpkeep(ctx.storage.sql, {
      startJob: (type, now) => {
        const ref = this.identity();
        if (ref) this.jobs.start(ref, type, this.steps.total(type, now), now);
      },
      archivePolicy: (now) => archivePolicy(env, now),
      archiveCandidateCount: (policy) => this.lifecycle.archiveCandidateCount(policy),
      outboxSeq: () => this.outbox.cursor().lastSeq,
      random: Math.random,
    });
    void ctx.blockConcurrencyWhile(async () => {
      this.store.migrate();
      // Overdue work left by a restart gets its alarm back.
      await this.rearm();
    });
  }

  /** Built on first use, so a configuration error surfaces as an error of the call that needs it. */
  private get retrieval(): Retrieval {
    return (this.retrievalAdapters ??= createRetrieval(this.env));
  }

  async remember(ref: CubeRef, items: NewMemory[], meta: WriteMeta): Promise<Outcome<Mutation<MemoryWire[]>>> {
    // A replay answers from the idempotency record; embedding its texts again would be wasted model calls.
    const vectors = this.isReplay(meta) ? null : await this.embeddings.embedDocuments(items.map((item) => item.content));
    const write = (group: GroupPass | null) => {
      const pass = sharedPass(group);
      let staged: VectorRecord[] = [];
      const outcome = this.mutate(
        ref,
        meta,
        (now) => {
          const memories = this.store.insert(ref, items, meta, now);
          const records = (vectors ?? []).map((vector, i) => ({ id: memories[i]!.id, vector }));
          if (records.length > 0 && pass) staged = this.embeddings.checkLocal(records);
          else if (records.length > 0) this.embeddings.upsertLocal(records);
          return ok(memories);
        },
        pass,
      );
      // Staged only once the write's savepoint has committed: a write rolled back leaves no vector behind.
      if (pass) stageVectors(pass, staged, (records) => this.embeddings.upsertLocal(records));
      return outcome;
    };
    // A batch is its own group already; single writes arriving together share one commit.
    const outcome = items.length === 1 ? await this.writeGroups.submit(write) : write(null);
    if (outcome.ok && vectors && !outcome.value.replayed) {
      await this.embeddings.pushRemote(ref, outcome.value.result.map((memory, i) => ({ id: memory.id, vector: vectors[i]! })));
    }
    if (outcome.ok && items.some((item) => item.expiresAt !== null || item.ttlSeconds !== null)) await this.rearmForExpiry();
    if (outcome.ok && !outcome.value.replayed) await this.scheduleOutbox();
    return outcome;
  }

  async update(ref: CubeRef, id: string, patch: MemoryPatch, meta: WriteMeta): Promise<Outcome<Mutation<MemoryWire>>> {
    await this.restoreArchived(ref, [id], meta);
    const vector = patch.content === undefined || this.isReplay(meta) ? null : (await this.embeddings.embedDocuments([patch.content]))?.[0];
    // Updates and forgets arriving together share a commit too. Their vectors are written in their own savepoint:
    // a memory written in the same group cannot be their target (its id is known only once its group committed).
    const outcome = await this.writeGroups.submit((pass) =>
      this.mutate(
        ref,
        meta,
        (now) => {
          const updated = this.store.update(ref, id, patch, meta, now);
          if (updated.ok && vector) this.embeddings.upsertLocal([{ id, vector }]);
          return updated;
        },
        pass,
      ),
    );
    if (outcome.ok && vector && !outcome.value.replayed) await this.embeddings.pushRemote(ref, [{ id, vector }]);
    if (outcome.ok && !vector && patch.content !== undefined && !outcome.value.replayed) await this.embeddings.dropStale(ref, [id]);
    if (outcome.ok && (patch.expiresAt != null || patch.ttlSeconds !== undefined)) await this.rearmForExpiry();
    if (outcome.ok && !outcome.value.replayed) await this.scheduleOutbox();
    return outcome;
  }

  async forget(ref: CubeRef, id: string, hard: boolean, meta: WriteMeta): Promise<Outcome<Mutation<{ id: string }>>> {
    // A soft delete can be rolled back, which needs the versions: an archived memory comes back from R2 first.
    if (!hard) await this.restoreArchived(ref, [id], meta);
    const remoteIndex = this.retrieval.remoteIndex;
    const outcome = await this.writeGroups.submit((pass) => this.mutate(ref, meta, (now) => {
      if (hard) {
        const purged = this.store.purge(ref, id, meta, now);
        if (!purged.ok) return purged;
        this.vectors.delete([id]);
        // What lives outside the cube's storage — the archived payload in R2, the vector in the shared index — is
        // planned for deletion in the purge's own transaction (cube/teardown.ts), so a failing service after the
        // commit delays it to the alarm's retries but can neither lose it nor turn the answer into an error.
        this.embeddings.forgetRemote([id]);
        const keys = purged.value.archiveKey === null ? [] : [purged.value.archiveKey];
        this.teardown.plan(remoteIndex ? ref.cubeId : null, [id], keys, Math.max(now, Date.now()));
        return ok({ id });
      }
      const forgotten = this.lifecycle.forget(ref, id, meta, now);
      return forgotten.ok ? ok({ id }) : forgotten;
    }, pass));
    if (outcome.ok && hard && !outcome.value.replayed) {
      await afterCommit("deleting a purged memory's archive and shared-index vector", async () => {
        await this.teardown.step(remoteIndex, this.clock());
        await this.rearm();
      });
    }
    if (outcome.ok && !outcome.value.replayed) await this.scheduleOutbox();
    return outcome;
  }

  /**
   * Forgets (soft-deletes) several memories in one transaction. A memory that refuses (frozen, or no longer live)
   * is left as it is and reported in `kept`, so one frozen memory does not block the rest.
   */
  async forgetMany(ref: CubeRef, ids: readonly string[], meta: WriteMeta): Promise<Outcome<Mutation<{ forgotten: string[]; kept: string[] }>>> {
    await this.restoreArchived(ref, ids, meta);
    const outcome = this.mutate(ref, meta, (now) => {
      const forgotten: string[] = [];
      const kept: string[] = [];
      for (const id of ids) (this.lifecycle.forget(ref, id, meta, now).ok ? forgotten : kept).push(id);
      return ok({ forgotten, kept });
    });
    if (outcome.ok && !outcome.value.replayed && outcome.value.result.forgotten.length > 0) await this.scheduleOutbox();
    return outcome;
  }

  /** Rolls a memory back to an earlier version (a new version itself); also undoes a soft delete. */
  async rollback(ref: CubeRef, id: string, version: number, meta: WriteMeta): Promise<Outcome<Mutation<MemoryWire>>> {
    const merged = this.store.find(ref, id)?.state === "merged";
    // A merged memory's rollback is an unmerge (issue 16, D7): its survivor changes too, and it gets a vector again.
    await this.restoreArchived(ref, merged ? [id, this.store.find(ref, id)!.superseded_by ?? id] : [id], meta);
    const target = this.lifecycle.version(id, version);
    const current = this.store.find(ref, id);
    const reembed = target && current && (target.content !== current.content || merged) && !this.isReplay(meta);
    const vector = reembed ? (await this.embeddings.embedDocuments([target.content]))?.[0] : undefined;
    const outcome = this.mutate(ref, meta, (now) => {
      const rolled = merged ? this.consolidation.unmerge(ref, id, version, meta, now) : this.lifecycle.rollback(ref, id, version, meta, now);
      // The version's text is immutable, so the vector made from it before the transaction is still its vector.
      if (rolled.ok && vector) this.embeddings.upsertLocal([{ id, vector }]);
      return rolled;
    });
    if (outcome.ok && vector && !outcome.value.replayed) await this.embeddings.pushRemote(ref, [{ id, vector }]);
    if (outcome.ok && reembed && !vector && !outcome.value.replayed) await this.embeddings.dropStale(ref, [id]);
    if (outcome.ok) await this.rearmForExpiry();
    if (outcome.ok && !outcome.value.replayed) await this.scheduleOutbox();
    return outcome;
  }

  /** Pins a memory into working memory, or unpins it. */
  async pin(ref: CubeRef, id: string, pinned: boolean, meta: WriteMeta): Promise<Outcome<Mutation<MemoryWire>>> {
    // A pinned memory is hot by definition: an archived one comes back first.
    if (pinned) await this.restoreArchived(ref, [id], meta);
    return this.mutate(ref, meta, (now) => this.lifecycle.pin(ref, id, pinned, meta, now));
  }

  /**
   * A live memory (or null), counted as an access; an archived one comes back from R2 first. With `asOf` (ms), the
   * memory as it stood then — null when it did not exist yet or was not live at that moment.
   */
  async get(ref: CubeRef, id: string, asOf?: number): Promise<MemoryWire | null> {
    await this.restoreArchived(ref, [id], SYSTEM);
    const now = this.sweep(ref);
    if (asOf !== undefined) {
      const then = this.lifecycle.asOf(id, asOf);
      return then && LIVE_STATES.includes(then.state) ? then : null;
    }
    const memory = this.store.find(ref, id);
    if (!memory || memory.state === "forgotten") return null;
    const [accessed] = this.store.recordAccess([memory], now);
    this.writeAccessesSoon();
    return accessed!;
  }

  async list(ref: CubeRef, request: ListRequest): Promise<ListPage> {
    this.sweep(ref);
    return this.store.list(ref, request);
  }

  /** Versions of a memory, oldest first; empty when it never existed or was purged. */
  async history(ref: CubeRef, id: string): Promise<MemoryVersionWire[]> {
    await this.restoreArchived(ref, [id], SYSTEM);
    this.sweep(ref);
    return this.store.history(id);
  }

  async search(ref: CubeRef, request: SearchRequestInternal): Promise<SearchHit[]> {
    const semantic = request.channels.includes("vector") ? await this.embeddings.embedQuery(ref, request.query, request.queryVector) : null;
    // Earlier searches' reads stay unwritten: a write here would hold this answer until it is durable (writeAccessesSoon).
    const now = this.sweep(ref, { writeAccesses: false });
    const pool = request.rerank ? rerankPool(request.topK) : request.topK;
    let hits: SearchHit[];
    const working = request.channels.includes("working") ? this.workingIds(ref, now) : [];
    if (request.asOf === undefined) {
      hits = this.searcher.search(ref, { ...request, topK: pool }, semantic, this.generation, working);
    } else {
      // Point in time: rank with today's index over every memory that may have been live then, and answer with
      // each one as it stood at as_of. Memories created later, or not live then, drop.
      const wanted = request.filter.states;
      const states = [...new Set([...wanted, ...PAST_LIVE_STATES])];
      const candidates = this.searcher.search(ref, { ...request, filter: { ...request.filter, states }, topK: pool }, semantic, this.generation);
      await this.restoreArchived(ref, candidates.filter((h) => h.memory.state === "archived").map((h) => h.memory.id), SYSTEM);
      hits = candidates.flatMap((hit) => {
        const then = this.lifecycle.asOf(hit.memory.id, request.asOf!);
        return then && wanted.includes(then.state) ? [{ ...hit, memory: then }] : [];
      });
    }
    if (request.rerank && hits.length > 0) {
      const scores = await this.retrieval.reranker.rerank(
        request.query,
        hits.map((hit) => hit.memory.content),
      );
      hits = hits
        .map((hit, i) => ({ ...hit, rerankScore: scores[i]! }))
        .sort((a, b) => b.rerankScore - a.rerankScore || b.score - a.score);
    }
    hits = hits.slice(0, request.topK);
    if (request.asOf !== undefined) return hits.map(({ weak: _weak, ...hit }) => hit);
    // After the rerank, so the neighbours go to the best hits the caller gets. None in a point-in-time search (above):
    // a neighbour is today's text, and as_of answers with memories as they stood then.
    if (request.neighbours !== false) hits = this.searcher.withNeighbours(hits, request);
    // Unsettled hits keep their `weak` mark: the multi-cube search hands the kept ones back to settleHits.
    if (request.settle === false) return hits;
    return this.settle(ref, hits, now);
  }

  /**
   * The hits a search over several cubes kept from this cube's pool (services/search.ts reranks the pools at once):
   * brought back from R2 when archived and their accesses recorded, as search() does for its own hits.
   */
  async settleHits(ref: CubeRef, hits: SearchHit[]): Promise<SearchHit[]> {
    return this.settle(ref, hits, this.clock());
  }

  private async settle(ref: CubeRef, hits: SearchHit[], now: number): Promise<SearchHit[]> {
    // A hit on an archived memory brings it back from R2, so the caller gets its full text, and counts as a read —
    // unless it is a weak nearest neighbour, listed only because top_k asked for k results (SearchHit.weak).
    const found = hits.filter((hit) => !hit.weak);
    const restored = await this.restoreArchived(ref, found.filter((h) => h.memory.state === "archived").map((h) => h.memory.id), SYSTEM);
    const accessed = new Map(this.store.recordAccess(found.map((hit) => restored.get(hit.memory.id) ?? hit.memory), now).map((m) => [m.id, m]));
    this.writeAccessesSoon();
    return hits.map(({ weak: _weak, ...hit }) => ({ ...hit, memory: accessed.get(hit.memory.id) ?? hit.memory }));
  }

  // ── MemReader ──────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Receives a conversation: keeps it as an episode in R2 (content-addressed, so the same messages sent again find
   * the same episode and job: a no-op) and starts the job that reads it into memories. With `sync` (and always
   * without inference) the job runs to its end before this returns, unless a step fails and is left to retry.
   */
  async ingest(ref: CubeRef, episode: StoredEpisode, options: { sync: boolean }, meta: WriteMeta): Promise<IngestResult> {
    this.store.writeAccesses();
    const known = this.ingest_.episodeJob(episode.id);
    if (known !== null) {
      return { job: this.jobs.get(known)!, memories: this.producedBy(ref, known), replayed: true, liveCount: this.store.liveCount() };
    }
    const key = episodeKey(ref, episode.id);
    await this.env.ARCHIVE.put(key, JSON.stringify(episode), { httpMetadata: { contentType: "application/json" } });
    this.steps.keepEpisode(episode);
    const job = this.ctx.storage.transactionSync(() => {
      // Two identical requests may have raced past the check above while the episode was uploading.
      const raced = this.ingest_.episodeJob(episode.id);
      if (raced !== null) return this.jobs.get(raced)!;
      this.rememberIdentity(ref);
      const created = this.jobs.create(ref, "ingest", episode.messages.length, { episode: episode.id, actor: meta.actor, request_id: meta.requestId }, this.clock());
      this.ingest_.recordEpisode(episode, key, created.id);
      this.upkeep.noteWrite(this.clock());
      this.jobs.addResult(created.id, { episode_id: episode.id, memory_ids: [], duplicates: [], superseded: [] });
      return created;
    });
    if (options.sync || !episode.infer) {
      for (;;) {
        const record = this.jobs.due(Number.MAX_SAFE_INTEGER).find((due) => due.id === job.id);
        if (!record) break;
        const before = this.jobs.get(job.id)!;
        await this.steps.run(record);
        const after = this.jobs.get(job.id)!;
        // A failed attempt waits for its backoff on the alarm; the caller gets the job as it stands.
        if (after.attempts > before.attempts) break;
      }
    }
    // The job and what it wrote are committed: the alarm for its next step is after-commit work (issue 16, item 3).
    await afterCommit("job alarm", () => this.rearm());
    await this.scheduleOutbox();
    return { job: this.jobs.get(job.id)!, memories: this.producedBy(ref, job.id), replayed: false, liveCount: this.store.liveCount() };
  }

  /** The memories an ingest job has written so far, as they stand now. */
  private producedBy(ref: CubeRef, jobId: string): MemoryWire[] {
    const ids = this.jobs.get(jobId)?.result.memory_ids ?? [];
    const found = this.store.findMany(ref, ids);
    return ids.flatMap((id) => found.get(id) ?? []);
  }

  /** Built on first use, like the retrieval adapters: READER=rules (offline default) or a model through `Llm`. */
  private get reader(): MemoryReader {
    return (this.memoryReader ??= createReader(this.env));
  }

  /** The cube's working memory: pinned memories first, then what the scheduler keeps hot. */
  async workingMemory(ref: CubeRef): Promise<WorkingMemoryItem[]> {
    const now = this.sweep(ref);
    return this.scheduler.workingMemory(ref, now, this.generation);
  }

  /**
   * The memory context for a query within a token budget: working memory and recalled memories, grouped and
   * cited (core/context.ts). Cached per request until the cube changes (or CONTEXT_CACHE_MS passes, since
   * recency moves scores); `cached` says whether this answer came from the cache.
   */
  /**
   * The cube's activation block (cube/activation.ts): compiled when the cube changed, versioned when its bytes did.
   */
  async activation(ref: CubeRef): Promise<ActivationVersion> {
    const now = this.sweep(ref);
    return this.activation_.current(ref, now, this.generation);
  }

  /** Puts a stored version of the activation block back, held (cube/activation.ts `rollback`). */
  async activationRollback(ref: CubeRef, version: number, reason: string, meta: WriteMeta): Promise<Outcome<ActivationVersion>> {
    const now = this.sweep(ref);
    const outcome = await this.activation_.rollback(ref, version, reason, meta, now, this.generation);
    // Assembled contexts carry the block: a rollback is a change for them.
    if (outcome.ok) this.generation += 1;
    return outcome;
  }

  /** The activation block as one agent sees it (cube/activation.ts `view`). */
  async activationView(ref: CubeRef, agentId: string): Promise<ActivationView> {
    const now = this.sweep(ref);
    return this.activation_.view(ref, agentId, now, this.generation);
  }

  /** The activation block's stored versions, newest first. */
  async activationHistory(ref: CubeRef, limit: number): Promise<ActivationVersion[]> {
    this.sweep(ref);
    return this.activation_.history(limit);
  }

  async context(ref: CubeRef, request: ContextRequestInternal): Promise<SplitContext & { cached: boolean }> {
    const semantic = await this.embeddings.embedQuery(ref, request.query);
    const now = this.sweep(ref);
    const key = JSON.stringify([request.query.trim().toLowerCase(), request.budgetTokens, request.filter, request.where, request.referenceTime]);
    const hit = this.contexts.get(key);
    if (hit && hit.generation === this.generation && now - hit.at < CONTEXT_CACHE_MS) {
      this.contexts.delete(key);
      this.contexts.set(key, hit);
      return { ...hit.value, cached: true };
    }
    const working = this.scheduler.workingMemory(ref, now, this.generation);
    const recalled = this.searcher.search(
      ref,
      {
        query: request.query,
        terms: request.terms,
        filter: request.filter,
        where: request.where,
        referenceTime: request.referenceTime ?? now,
        topK: CONTEXT_RECALL,
        threshold: null,
        mmrLambda: CONTEXT_MMR_LAMBDA,
        channels: ["lexical", "vector", "tag", "recent", "working"],
        rerank: false,
      },
      semantic,
      this.generation,
      working.map((item) => item.memory.id),
    );
    const candidates: ContextCandidate<MemoryWire>[] = [
      ...working.filter((w) => w.pinned).map((w) => ({ memory: w.memory, origin: "pinned" as const, score: w.score })),
      ...recalled.map((hit) => ({ memory: hit.memory, origin: "recall" as const, score: hit.score })),
      ...working.filter((w) => !w.pinned).map((w) => ({ memory: w.memory, origin: "working_memory" as const, score: w.score })),
    ];
    const assembled = assembleContext(candidates, request.budgetTokens);
    // The stable part is the activation block, whole and query-independent (so its bytes can be cached by the
    // model's provider); the dynamic part is what this query adds, within what the block left of the budget.
    const block = await this.activation_.current(ref, now, this.generation);
    const inBlock = new Set(block.members.map((m) => m.id));
    const dynamic = assembleContext(
      candidates.filter((c) => !inBlock.has(c.memory.id)),
      Math.max(0, request.budgetTokens - block.tokens),
    );
    const value: SplitContext = {
      ...assembled,
      stable: { text: block.text, tokens: block.tokens, version: block.version, etag: block.etag, ids: [...inBlock] },
      dynamic: { text: dynamic.text, tokens: dynamic.tokens, items: dynamic.items },
    };
    // What made it into the prompt was read: it counts as an access, like a search hit.
    const used = new Set(assembled.items.map((item) => item.id));
    this.store.recordAccess(
      candidates.filter((c) => used.has(c.memory.id)).map((c) => c.memory).filter((m, i, all) => all.findIndex((x) => x.id === m.id) === i),
      now,
    );
    this.writeAccessesSoon();
    this.contexts.set(key, { generation: this.generation, at: now, value });
    if (this.contexts.size > CONTEXT_CACHE_ENTRIES) this.contexts.delete(this.contexts.keys().next().value!);
    return { ...value, cached: false };
  }

  /** Counts by state, bytes by tier (hot in the cube, cold in R2), vectors and pins. */
  async stats(ref: CubeRef): Promise<CubeStats & { vectors: number }> {
    this.sweep(ref);
    return { ...this.lifecycle.stats(), vectors: this.embeddings.count() };
  }

  // ── jobs ───────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Starts a background job, or returns the one of that type already under way. reindex re-embeds every memory
   * whose vector is missing or from another embedder (search keeps answering meanwhile: the vector channel sees
   * the memories already in the current space, every other channel sees all); expire applies due TTLs; archive
   * moves cold memories to R2; consolidate merges near-duplicates.
   */
  async startJob(ref: CubeRef, type: JobType): Promise<JobWire> {
    const now = this.clock();
    const job = this.ctx.storage.transactionSync(() => {
      this.rememberIdentity(ref);
      return this.jobs.start(ref, type, this.steps.total(type, now), now);
    });
    await afterCommit("job alarm", () => this.rearm());
    return job;
  }

  async job(id: string): Promise<JobWire | null> {
    return this.jobs.get(id);
  }

  /**
   * The cron's repair (services/lifecycle-sweep.ts): re-arms the alarm when the cube's own schedule has something
   * due and no alarm would run it. Starting the object also runs its migrations, which adopt a cube written before
   * it scheduled itself. Cheap: a read of one row and of the alarm.
   */
  async ensureLifecycle(ref: CubeRef): Promise<{ due: number | null; repaired: boolean }> {
    this.ctx.storage.transactionSync(() => this.rememberIdentity(ref));
    const due = this.upkeep.nextDue();
    const armed = await this.ctx.storage.getAlarm();
    const repaired = due !== null && (armed === null || armed > due);
    if (repaired) await this.rearm();
    return { due, repaired };
  }

  /**
   * Expires what is due (overdue included, after a restart), cleans up after expiry, runs one bounded step of
   * every due job, then re-arms from the earliest thing due.
   */
  override async alarm(): Promise<void> {
    // What a destruction left in the shared index and R2, a bounded step at a time (cube/teardown.ts).
    const teardownDue = this.teardown.nextDue(this.clock());
    if (teardownDue !== null && teardownDue <= this.clock()) {
      await this.teardown.step(this.retrieval.remoteIndex, this.clock());
      this.generation += 1;
    }
    // Counted reads were already part of every answer (CubeStore.withUnwrittenReads), so writing them changes nothing
    // a search sees and does not start a new generation. The alarm used to start one on every run: then whether the
    // working set (cube/scheduler.ts) was rebuilt before a given search depended on when the alarm happened to fire
    // (the outbox's, a second after writes), and the same writes and searches ranked differently from run to run
    // (bench recall, issue 12). What does change memories here starts one: expiry, and each job step below.
    this.store.writeAccesses();
    const ref = this.identity();
    if (ref) await this.expireAndClean(ref);
    // The cube's own lifecycle (cube/upkeep.ts): consolidate after a quiet period, archive what turned cold, prune.
    if (ref) this.ctx.storage.transactionSync(() => this.upkeep.runIfDue(this.clock()));
    if (ref) this.embeddingRetry.run(ref, this.clock(), () => this.steps.total("reindex", this.clock()));
    for (const job of this.jobs.due(this.clock())) {
      await this.steps.run(job);
      // A step may have changed memories; a search between two steps must not reuse what it cached before this one.
      this.generation += 1;
    }
    if (ref) await this.embeddings.confirmRemote(ref);
    // Webhook events of everything above (and of the writes that armed this alarm) go to the queue last.
    this.outboxArmed = false;
    const drained = ref ? await this.outbox.drain(this.env, ref) : null;
    await this.rearm(drained?.more ? this.clock() + OUTBOX_RETRY_MS : null);
  }

  /**
   * The vectors queue's consumer upserted these vectors, handed to it at `handedAt`, with mutation `mutationId` at
   * `sentAt` (src/services/vector-queue.ts); the cube checks them from here on as if it had sent them. Answers the
   * ids whose memory it no longer holds, for the consumer to delete again.
   */
  async vectorsSent(ids: string[], handedAt: number, sentAt: number, mutationId: string | null): Promise<{ recorded: number; orphans: string[] }> {
    return this.embeddings.handedSent(ids, handedAt, sentAt, mutationId);
  }

  // ── provenance, portability, deletion ──────────────────────────────────────────────────────────────────────

  /** Where a memory came from, who wrote it (watermark checked) and how it got here; null when it does not exist. */
  async provenance(ref: CubeRef, id: string): Promise<ProvenanceWire | null> {
    // Its versions (which the checks read) come back with an archived memory's content.
    await this.restoreArchived(ref, [id], SYSTEM);
    this.sweep(ref);
    return this.provenance_.of(ref, id);
  }

  /**
   * Starts writing the cube to R2 as JSONL (docs/export-format.md): an `export` job whose first step runs now, within
   * one step's budget of R2 calls (cube/export-job.ts) — a small cube's job is done when this returns; the alarm
   * runs the rest. At most MAX_RUNNING_EXPORTS run at once (409).
   */
  async exportCube(ref: CubeRef, options: { exportId: string; includeVectors: boolean }, meta: WriteMeta): Promise<Outcome<JobWire>> {
    this.sweep(ref);
    if (this.exporter.running() >= MAX_RUNNING_EXPORTS) {
      return fail("conflict", `${MAX_RUNNING_EXPORTS} exports of this cube are still running; start another once one is done`);
    }
    const params: ExportParams = {
      export_id: options.exportId,
      include_vectors: options.includeVectors,
      embedder: this.retrieval.embedder.id,
      started_at: this.clock(),
      actor: meta.actor,
      request_id: meta.requestId,
    };
    const job = this.ctx.storage.transactionSync(() => {
      this.rememberIdentity(ref);
      return this.exporter.start(ref, params);
    });
    const record = this.jobs.due(Number.MAX_SAFE_INTEGER).find((due) => due.id === job.id);
    if (record) await this.steps.run(record);
    await afterCommit("job alarm", () => this.rearm());
    return ok(this.jobs.get(job.id)!);
  }

  /**
   * Starts writing what this cube publishes to MemStore as a snapshot file in R2 (cube/snapshot.ts): a `snapshot` job
   * on the export job's machinery, its first step run now; once written, the file is handed to the snapshot cube to
   * load. Shares the cap of running exports (409). The cube is not changed.
   */
  async startSnapshot(ref: CubeRef, target: SnapshotTarget): Promise<Outcome<JobWire>> {
    this.sweep(ref);
    if (this.exporter.running() >= MAX_RUNNING_EXPORTS) {
      return fail("conflict", `${MAX_RUNNING_EXPORTS} exports or snapshots of this cube are still being written; publish once one is done`);
    }
    const job = this.ctx.storage.transactionSync(() => {
      this.rememberIdentity(ref);
      return this.exporter.startSnapshot(ref, target, this.retrieval.embedder.id, this.clock());
    });
    const record = this.jobs.due(Number.MAX_SAFE_INTEGER).find((due) => due.id === job.id);
    if (record) await this.steps.run(record);
    await afterCommit("job alarm", () => this.rearm());
    return ok(this.jobs.get(job.id)!);
  }

  /**
   * MemStore erasure (services/memstore-erasure.ts): destroys the snapshot cubes `others`, one call each within this
   * invocation's own subrequest budget, then this one.
   */
  async destroySnapshots(ref: CubeRef, others: CubeRef[]): Promise<void> {
    await destroySnapshotCubes(this.env.CUBE, others);
    await this.destroy(ref);
  }

  /** Stops a snapshot still being written (its listing is gone): the job fails with `reason`, its upload aborted. */
  async cancelSnapshot(jobId: string, reason: string): Promise<boolean> {
    return this.exporter.cancel(jobId, reason);
  }

  /** One of this cube's exports, to stream to the caller; its job while that runs or after it failed; null when there is none. */
  async exportFile(ref: CubeRef, exportId: string): Promise<ExportFile> {
    return this.exporter.file(ref, exportId);
  }

  /** The job of one of this cube's exports; null for none (or one written before exports were jobs). */
  async exportJob(_ref: CubeRef, exportId: string): Promise<JobWire | null> {
    return this.exporter.jobOf(exportId);
  }

  /**
   * Starts loading an export file into this cube as an `import` job on the alarm: `key` names an export in R2 (the
   * caller checked it is the tenant's), or `upload` is a file sent in the request (kept under the cube's imports/
   * prefix for the job to read). The same file again returns the job that loaded it (`replayed`), and memories
   * imported before are never written twice.
   */
  async importFile(
    ref: CubeRef,
    source: { key: string; jobId?: string } | { upload: { id: string; text: string } },
    meta: WriteMeta,
  ): Promise<Outcome<{ job: JobWire; replayed: boolean }>> {
    const key = "key" in source ? source.key : uploadKey(ref, source.upload.id);
    const known = this.store.exec(
      "SELECT id FROM jobs WHERE type = 'import' AND json_extract(params, '$.key') = ? AND status != 'failed' ORDER BY created_at DESC LIMIT 1",
      key,
    )[0];
    if (known) return ok({ job: this.jobs.get(String(known.id))!, replayed: true });
    if ("upload" in source) await this.env.ARCHIVE.put(key, source.upload.text, { httpMetadata: { contentType: "application/x-ndjson" } });
    const read = await this.importer.readHeader(key);
    if (!read.ok) return fail(read.missing ? "not_found" : "invalid_request", read.message);
    const { header } = read;
    const job = this.ctx.storage.transactionSync(() => {
      this.rememberIdentity(ref);
      const params: ImportParams = { key, export_id: header.export_id, source_cube: header.cube_id, actor: meta.actor, request_id: meta.requestId };
      // A MemStore snapshot's import is named after its snapshot (source.jobId), so its listing finds it by that id;
      // the snapshot cube is MemStore's own, its events none of the publisher's webhooks' business.
      if ("jobId" in source) this.outbox.keepInternal();
      const created = this.jobs.create(ref, "import", header.counts.memories, { ...params }, this.clock(), "jobId" in source ? source.jobId : undefined);
      this.upkeep.noteWrite(this.clock());
      const progress: ImportProgress = { export_id: header.export_id, lines: 0, imported: 0, skipped: 0, episodes: 0, vectors_reused: 0, re_embedded: 0 };
      this.jobs.addResult(created.id, { import: progress });
      return this.jobs.get(created.id)!;
    });
    await afterCommit("job alarm", () => this.rearm());
    return ok({ job, replayed: false });
  }

  // ── parametric memory (cube/distill.ts, cube/adapters.ts; docs/parametric.md) ──────────────────────────────

  /** Starts a distill job: the selected memories to a JSONL fine-tuning dataset in R2, a part per alarm step. */
  async distill(ref: CubeRef, params: DistillParams): Promise<JobWire> {
    this.sweep(ref);
    const job = this.ctx.storage.transactionSync(() => {
      this.rememberIdentity(ref);
      return this.distiller.start(ref, params, this.clock());
    });
    await this.rearm();
    return job;
  }

  /** A finished distill's dataset to stream, its job while it runs, or null. */
  async distillFile(ref: CubeRef, distillId: string): Promise<{ body: ReadableStream; bytes: number } | { running: JobWire } | null> {
    return this.distiller.file(ref, distillId);
  }

  /** Deletes a finished distill's files; `running` while its job is under way, null when there is none. */
  async deleteDistill(ref: CubeRef, distillId: string): Promise<{ deleted: number } | { running: JobWire } | null> {
    return this.distiller.remove(ref, distillId);
  }

  /** The cube's adapters (every version, every state), or one of them, or the active one. */
  async adapters(ref: CubeRef, query: { id?: string; active?: true } = {}): Promise<AdapterWire[]> {
    if (query.active) return [this.adapterRegistry.active(ref)].filter((a) => a !== null);
    if (query.id !== undefined) return [this.adapterRegistry.get(ref, query.id)].filter((a) => a !== null);
    return this.adapterRegistry.list(ref);
  }

  async registerAdapter(ref: CubeRef, input: NewAdapter, meta: WriteMeta): Promise<Outcome<AdapterWire>> {
    return this.ctx.storage.transactionSync(() => {
      this.rememberIdentity(ref);
      return this.adapterRegistry.register(ref, input, meta, this.clock());
    });
  }

  /** Receives a pending adapter's safetensors file (streamed), validated before anything is stored. */
  async uploadAdapterWeights(ref: CubeRef, id: string, body: ReadableStream<Uint8Array>, bytes: number, meta: WriteMeta): Promise<Outcome<AdapterWire>> {
    return this.adapterRegistry.uploadWeights(ref, id, body, bytes, meta, () => this.clock());
  }

  async adapterWeights(ref: CubeRef, id: string): Promise<{ body: ReadableStream; bytes: number } | null> {
    return this.adapterRegistry.weights(ref, id);
  }

  /** Moves an adapter between states (activating one deactivates the other), or deletes it (`to: null`). */
  async transitionAdapter(ref: CubeRef, id: string, to: AdapterState | null, meta: WriteMeta): Promise<Outcome<AdapterWire | null>> {
    if (to !== null) return this.ctx.storage.transactionSync(() => this.adapterRegistry.transition(ref, id, to, meta, this.clock()));
    const removed = this.ctx.storage.transactionSync(() => this.adapterRegistry.remove(id, meta, this.clock()));
    if (!removed.ok) return removed;
    if (removed.value.key !== null) await this.env.ARCHIVE.delete(removed.value.key);
    return ok(null);
  }

  /**
   * Deletes the cube for good: all of its storage and its alarm at once, the in-memory caches with them; then its
   * vectors in the shared index and its R2 objects (archive, episodes, exports, imports), as many as one invocation's
   * budget of calls allows — the rest in steps on the alarm (cube/teardown.ts). The object starts empty if it is
   * ever addressed again. Returns what was deleted: `r2Objects` counts the objects deleted before the answer.
   */
  async destroy(ref: CubeRef): Promise<{ memories: number; vectors: number; r2Objects: number; pending: boolean }> {
    // Events not yet sent are discarded with the log: they name memories being erased (issue 16, D5).
    const ids = this.portability.memoryAndVectorIds();
    const memories = Number(this.store.exec("SELECT count(*) AS n FROM memories")[0]?.n ?? 0);
    const { remoteIndex } = this.retrieval;
    // Any memory may have a vector in the shared index: all are deleted by id (ids unknown to it are ignored).
    const vectors = remoteIndex ? Math.max(this.vectors.count(), ids.length) : this.vectors.count();
    const destroyedAt = Date.now();
    await this.exporter.abortAll();
    // The alarm that resumes the teardown exists before the storage goes, and the erasure and the plan commit together.
    await this.ctx.storage.setAlarm(destroyedAt + TEARDOWN_RESUME_MS);
    this.ctx.storage.transactionSync(() =>
      this.teardown.eraseAndPlan(() => this.store.migrate(), remoteIndex ? ref.cubeId : null, ids, cubePrefixes(ref), destroyedAt),
    );
    this.vectors.reset();
    this.steps.forgetEpisodes();
    this.contexts.clear();
    this.remoteDeletes = [];
    this.identityKnown = false;
    this.generation += 1;
    const step = await this.teardown.step(remoteIndex, this.clock());
    if (step.done) await this.ctx.storage.deleteAlarm();
    else await this.rearm();
    return { memories, vectors, r2Objects: step.objects, pending: !step.done };
  }

  /** Arms the alarm for the earliest thing due: a job step, an expiry, or an expired archive to delete. */
  private async rearm(outboxAt: number | null = null): Promise<void> {
    const due = [
      this.jobs.nextDue(),
      this.teardown.nextDue(this.clock()),
      this.upkeep.nextDue(),
      this.embeddings.nextConfirmation(),
      this.embeddingRetry.nextAt(),
      this.lifecycle.nextExpiry(),
      this.lifecycle.archivesToDelete(1).length > 0 ? this.clock() : null,
      outboxAt,
      // A write's drain still pending must not be pushed back by a later due time.
      this.outboxArmed ? Date.now() + OUTBOX_DELAY_MS : null,
    ];
    const next = Math.min(...due.filter((t) => t !== null));
    if (Number.isFinite(next)) await this.ctx.storage.setAlarm(next);
  }

  /**
   * After a write: the alarm drains the webhook outbox shortly, off the write's path (a queue send per write would
   * cost every write a round trip, webhooks or not). Writes within OUTBOX_DELAY_MS share one drain.
   */
  private async scheduleOutbox(): Promise<void> {
    if (this.outboxArmed) return;
    const at = Date.now() + OUTBOX_DELAY_MS;
    await afterCommit("outbox alarm", async () => {
      const armed = await this.ctx.storage.getAlarm();
      if (armed === null || armed > at) await this.ctx.storage.setAlarm(at);
      this.outboxArmed = true;
    });
  }

  /** After a write that may have set a TTL: brings the alarm forward when a memory now expires before it fires. */
  private async rearmForExpiry(): Promise<void> {
    const next = this.lifecycle.nextExpiry();
    if (next === null) return;
    await afterCommit("expiry alarm", async () => {
      const armed = await this.ctx.storage.getAlarm();
      if (armed === null || next < armed) await this.ctx.storage.setAlarm(next);
    });
  }

  private async expireAndClean(ref: CubeRef): Promise<string[]> {
    const expired = this.ctx.storage.transactionSync(() => this.lifecycle.expireDue(ref, this.clock()));
    if (expired.length > 0) this.generation += 1;
    const remote = [...expired, ...this.remoteDeletes.flatMap((d) => d.ids)];
    this.remoteDeletes = [];
    await this.embeddings.deleteRemote(ref, remote);
    for (const { id, key } of this.lifecycle.archivesToDelete()) {
      await this.env.ARCHIVE.delete(key);
      this.lifecycle.archiveDeleted(id);
    }
    return expired;
  }

  /** Brings archived memories among `ids` back from R2; returns the restored ones by id. */
  private async restoreArchived(ref: CubeRef, ids: readonly string[], meta: WriteMeta): Promise<Map<string, MemoryWire>> {
    const restored = new Map<string, MemoryWire>();
    const archived = ids.flatMap((id) => {
      const key = this.lifecycle.archiveKey(id);
      return key === null ? [] : [{ id, key }];
    });
    if (archived.length === 0) return restored;
    this.store.writeAccesses();
    const payloads = await Promise.all(
      archived.map(async ({ id, key }) => ({ id, key, object: await this.env.ARCHIVE.get(key) })),
    );
    for (const { id, key, object } of payloads) {
      if (!object) {
        console.error(`archived payload ${key} is missing; the memory stays a stub`);
        continue;
      }
      const payload = await object.json<ArchivedPayload>();
      const outcome = this.ctx.storage.transactionSync(() => this.lifecycle.restore(ref, payload, key, meta, this.clock()));
      if (!outcome.ok) continue;
      this.generation += 1;
      restored.set(id, outcome.value);
      await this.env.ARCHIVE.delete(key);
    }
    return restored;
  }

  /**
   * Writes counted reads once the object has been idle for ACCESS_WRITE_DELAY_MS (each answer that counts reads moves
   * the write back), ACCESS_WRITE_MAX_WAIT_MS after the first at the latest, or at the next turn once
   * ACCESS_WRITE_MEMORIES memories wait. One write per search was a commit (locally an fsync and ~40 WAL pages) on the
   * Worker's one thread after every answer (docs/search.md, "Where a search's time goes"); a write a second after the
   * first read still landed about once a second in a burst of searches, on the thread, ahead of the next request
   * (docs/search.md, "Ninth pass"). Searches do not write them first (sweep); everything else does, and what searches
   * read adds them. An object that dies in that window loses those reads' counts, never a memory.
   */
  private writeAccessesSoon(): void {
    const now = Date.now();
    if (this.accessWrite === null) this.accessWriteSince = now;
    else clearTimeout(this.accessWrite);
    this.accessWrite = setTimeout(() => {
      this.accessWrite = null;
      try {
        this.store.writeAccesses();
      } catch (error) {
        console.error("writing access counts failed", error);
      }
    }, accessWriteDelay(this.store.unwrittenMemories, now - this.accessWriteSince));
  }

  private workingIds(ref: CubeRef, now: number): string[] {
    return liftedBySearch(this.scheduler.workingMemory(ref, now, this.generation));
  }

  private rememberIdentity(ref: CubeRef): void {
    if (this.identityKnown) return;
    this.store.exec("INSERT OR REPLACE INTO cube_identity (id, ref) VALUES (1, ?)", JSON.stringify(ref));
    this.identityKnown = true;
  }

  /** Which cube this object is: the alarm arrives without the RPC arguments that usually say it. */
  private identity(): CubeRef | null {
    const row = this.store.exec("SELECT ref FROM cube_identity WHERE id = 1")[0];
    return row ? (JSON.parse(String(row.ref)) as CubeRef) : null;
  }

  // ── embeddings ─────────────────────────────────────────────────────────────────────────────────────────────

  // ── transactions ───────────────────────────────────────────────────────────────────────────────────────────

  private isReplay(meta: WriteMeta): boolean {
    // The same window as mutate(): a record the sweep is about to drop must not skip this write's embedding.
    return meta.idempotency !== undefined && this.store.idempotentResult(meta.idempotency.key, this.clock() - LIMITS.idempotencyWindowMs) !== null;
  }

  /**
   * Runs a write in one transaction, honouring an Idempotency-Key: a retry with the same key and the same
   * request returns the first result and writes nothing; the same key with a different request is refused.
   */
  private mutate<T>(ref: CubeRef, meta: WriteMeta, write: (now: number) => Outcome<T>, group: GroupPass | null = null): Outcome<Mutation<T>> {
    const pass = sharedPass(group);
    try {
      // In a group the sweep is the group's (cube/group-writes.ts): once, at its root, before the first write's savepoint.
      if (pass) sweepOncePerGroup(pass, () => this.ctx.storage.transactionSync(() => this.sweep(ref)));
      return this.ctx.storage.transactionSync(() => {
        this.rememberIdentity(ref);
        const now = pass ? this.clock() : this.sweep(ref);
        const idempotency = meta.idempotency;
        if (idempotency) {
          const prior = this.store.idempotentResult(idempotency.key, now - LIMITS.idempotencyWindowMs);
          if (prior) {
            if (prior.fingerprint !== idempotency.fingerprint) {
              return fail("idempotency_key_reused", "this Idempotency-Key was already used for a different request");
            }
            return ok(this.counted(pass, { result: prior.result as T, replayed: true }));
          }
        }
        const outcome = write(now);
        if (!outcome.ok) return outcome;
        this.generation += 1;
        if (pass) noteWriteOncePerGroup(pass, () => this.upkeep.noteWrite(this.clock()));
        else this.upkeep.noteWrite(now);
        if (idempotency) this.store.saveIdempotentResult(idempotency.key, idempotency.fingerprint, outcome.value, now);
        return ok(this.counted(pass, { result: outcome.value, replayed: false }));
      });
    } catch (error) {
      // The transaction rolled back; the vector store's in-memory copy may be ahead of SQL, so reload it.
      this.vectors.reset();
      throw error;
    }
  }

  /** The mutation with the cube's live count: at once, or in a group once for all its writes before its commit. */
  private counted<T>(pass: GroupPass | null, mutation: Omit<Mutation<T>, "liveCount">): Mutation<T> {
    const counted = { ...mutation, liveCount: 0 };
    if (pass) countLiveOncePerGroup(pass, counted, () => this.store.liveCount());
    else counted.liveCount = this.store.liveCount();
    return counted;
  }

  /**
   * Lazy housekeeping before every call: write the reads counted by earlier answers (if their timer has not yet:
   * see writeAccessesSoon), expire what is due (so a read never shows a memory past its expiry, even when the alarm
   * is late), drop idempotency records past their window. The shared index's copies of expired
   * vectors are deleted by the next alarm; until then the cube filters them out of every result anyway.
   */
  private sweep(ref: CubeRef, { writeAccesses = true } = {}): number {
    if (writeAccesses) this.store.writeAccesses();
    const now = this.clock();
    const expired = this.lifecycle.expireDue(ref, now);
    if (expired.length > 0) {
      this.remoteDeletes.push({ ref, ids: expired });
      this.generation += 1;
    }
    this.store.forgetIdempotencyBefore(now - LIMITS.idempotencyWindowMs);
    return now;
  }
}


/**
 * When counted reads are written (writeAccessesSoon): after this long without another answer that counted reads, at
 * most ACCESS_WRITE_MAX_WAIT_MS after the first of them, and at once when this many memories' reads wait.
 * ACCESS_WRITE_MAX_WAIT_MS bounds what a restart under continuous reads loses (counts, never memories); it was set as
 * that bound, ten times the earlier fixed second, not tuned on a benchmark.
 */
export const ACCESS_WRITE_DELAY_MS = 1_000;
export const ACCESS_WRITE_MAX_WAIT_MS = 10_000;
export const ACCESS_WRITE_MEMORIES = 1_000;

/** Milliseconds until the waiting reads are written: `waiting` memories' reads, the first of them `waited` ms ago. */
export function accessWriteDelay(waiting: number, waited: number): number {
  if (waiting >= ACCESS_WRITE_MEMORIES) return 0;
  return Math.max(0, Math.min(ACCESS_WRITE_DELAY_MS, ACCESS_WRITE_MAX_WAIT_MS - waited));
}

/** States a memory may have left since a point in time while having been live then (expired ones keep no payload). */
const PAST_LIVE_STATES: MemoryState[] = ["forgotten", "superseded", "merged"];

/** What ingest() answers: the job, the memories it has written so far, and whether the episode was known. */
export interface IngestResult {
  job: JobWire;
  memories: MemoryWire[];
  replayed: boolean;
  /** The cube's live count, for the owners directory. */
  liveCount: number;
}
