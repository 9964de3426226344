/**
 * The Cube Durable Object: one per (tenant, cube), the memory scheduler and source of truth for its cube.
 * A thin RPC shell: schema under blockConcurrencyWhile, model calls (embedding, reranking) before and after the
 * transaction, every write inside one transaction. Per-object serial execution orders a cube's writes without locks.
 */
import { DurableObject } from "cloudflare:workers";
import { type Retrieval, createRetrieval } from "../src/adapters/factory";
import type { VectorMatch, VectorRecord } from "../src/adapters/types";
import { type Outcome, fail, ok } from "../src/errors";
import { LIMITS } from "../src/schemas/limits";
import type { JobWire } from "../src/schemas/jobs";
import type { MemoryVersionWire, MemoryWire } from "../src/schemas/memory";
import type {
  CubeRef,
  ListPage,
  ListRequest,
  MemoryPatch,
  Mutation,
  NewMemory,
  SearchHit,
  SearchRequestInternal,
  WriteMeta,
} from "./cube-protocol";
import { CubeJobs, type JobRecord, REINDEX_BATCH } from "./cube-jobs";
import { CubeSearch, type SemanticQuery } from "./cube-search";
import { CubeStore } from "./cube-store";
import { VectorStore } from "./vector-store";

/** Candidates the reranker sees: a few times what is returned, so it can promote from below the cut. */
const RERANK_POOL_FACTOR = 3;
const RERANK_POOL_MIN = 30;

export class CubeDurableObject extends DurableObject<Env> {
  private readonly store: CubeStore;
  private readonly vectors: VectorStore;
  private readonly searcher: CubeSearch;
  private readonly jobs: CubeJobs;
  private retrievalAdapters: Retrieval | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new CubeStore(ctx.storage.sql);
    this.vectors = new VectorStore(ctx.storage.sql);
    this.searcher = new CubeSearch(ctx.storage.sql, this.store, this.vectors);
    this.jobs = new CubeJobs(ctx.storage.sql);
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
    const vectors = this.isReplay(meta) ? null : await this.embedDocuments(items.map((item) => item.content));
    const outcome = this.mutate(ref, meta, (now) => {
      const memories = this.store.insert(ref, items, meta, now);
      if (vectors) this.upsertVectors(memories.map((memory, i) => ({ id: memory.id, vector: vectors[i]! })));
      return ok(memories);
    });
    if (outcome.ok && vectors && !outcome.value.replayed) {
      await this.pushRemote(ref, outcome.value.result.map((memory, i) => ({ id: memory.id, vector: vectors[i]! })));
    }
    return outcome;
  }

  async update(ref: CubeRef, id: string, patch: MemoryPatch, meta: WriteMeta): Promise<Outcome<Mutation<MemoryWire>>> {
    const vector = patch.content === undefined || this.isReplay(meta) ? null : (await this.embedDocuments([patch.content]))?.[0];
    const outcome = this.mutate(ref, meta, (now) => {
      const updated = this.store.update(ref, id, patch, meta, now);
      if (updated.ok && vector) this.upsertVectors([{ id, vector }]);
      return updated;
    });
    if (outcome.ok && vector && !outcome.value.replayed) await this.pushRemote(ref, [{ id, vector }]);
    return outcome;
  }

  async forget(ref: CubeRef, id: string, hard: boolean, meta: WriteMeta): Promise<Outcome<Mutation<{ id: string }>>> {
    const outcome = this.mutate(ref, meta, (now) => {
      if (hard) {
        const purged = this.store.purge(ref, id, meta, now);
        if (purged.ok) this.vectors.delete([id]);
        return purged;
      }
      const forgotten = this.store.forget(ref, id, meta, now);
      return forgotten.ok ? ok({ id }) : forgotten;
    });
    if (outcome.ok && hard && !outcome.value.replayed && this.retrieval.remoteIndex) {
      await this.retrieval.remoteIndex.delete(ref.cubeId, [id]);
    }
    return outcome;
  }

  /** A live memory (or null), counted as an access. */
  async get(ref: CubeRef, id: string): Promise<MemoryWire | null> {
    const now = this.sweep(ref);
    const memory = this.store.find(ref, id);
    if (!memory || memory.state === "forgotten") return null;
    return this.store.recordAccess([memory], now)[0]!;
  }

  async list(ref: CubeRef, request: ListRequest): Promise<ListPage> {
    this.sweep(ref);
    return this.store.list(ref, request);
  }

  /** Versions of a memory, oldest first; empty when it never existed or was purged. */
  async history(ref: CubeRef, id: string): Promise<MemoryVersionWire[]> {
    this.sweep(ref);
    return this.store.history(id);
  }

  async search(ref: CubeRef, request: SearchRequestInternal): Promise<SearchHit[]> {
    const semantic = request.channels.includes("vector") ? await this.embedQuery(ref, request.query) : null;
    const now = this.sweep(ref);
    const pool = request.rerank ? Math.max(request.topK * RERANK_POOL_FACTOR, RERANK_POOL_MIN) : request.topK;
    let hits = this.searcher.search(ref, { ...request, topK: pool }, semantic);
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
    const accessed = this.store.recordAccess(
      hits.map((hit) => hit.memory),
      now,
    );
    return hits.map((hit, i) => ({ ...hit, memory: accessed[i]! }));
  }

  // ── jobs ───────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Re-embeds every memory whose vector is missing or from another embedder, in the background. Search keeps
   * answering meanwhile: the vector channel sees the memories already in the current space, every other channel sees all.
   */
  async startReindex(ref: CubeRef): Promise<JobWire> {
    const job = this.ctx.storage.transactionSync(() => this.jobs.startReindex(ref, Date.now()));
    await this.rearm();
    return job;
  }

  async job(id: string): Promise<JobWire | null> {
    return this.jobs.get(id);
  }

  /** One bounded step of every due job, then re-armed from the earliest due one (overdue ones included). */
  override async alarm(): Promise<void> {
    for (const job of this.jobs.due(Date.now())) await this.reindexStep(job);
    await this.rearm();
  }

  private async reindexStep(job: JobRecord): Promise<void> {
    const batch = this.jobs.reindexBatch(job.cursor);
    const { embedder } = this.retrieval;
    const stale = batch.filter((memory) => this.vectors.embedderOf(memory.id) !== embedder.id);
    try {
      const vectors = stale.length > 0 ? await embedder.embed(stale.map((m) => m.content), "document") : [];
      let records: VectorRecord[] = [];
      this.ctx.storage.transactionSync(() => {
        // Memories purged while the model ran must not come back as vectors.
        const alive = this.store.findMany(job.ref, stale.map((m) => m.id));
        records = stale.flatMap((memory, i) => (alive.has(memory.id) ? [{ id: memory.id, vector: vectors[i]! }] : []));
        if (records.length > 0) this.upsertVectors(records);
        const last = batch.at(-1);
        this.jobs.advance(job.id, last ? last.seq : job.cursor, batch.length, batch.length < REINDEX_BATCH, Date.now());
      });
      await this.pushRemote(job.ref, records);
    } catch (error) {
      this.vectors.reset();
      this.jobs.retryOrFail(job.id, error instanceof Error ? error.message : String(error), Date.now());
    }
  }

  private async rearm(): Promise<void> {
    const next = this.jobs.nextDue();
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  // ── embeddings ─────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Document vectors, or null when the embedder failed: the write still lands (lexically searchable at once) and
   * a reindex fills the missing vectors later. A model outage must not lose a memory.
   */
  private async embedDocuments(texts: string[]): Promise<Float32Array[] | null> {
    try {
      return await this.retrieval.embedder.embed(texts, "document");
    } catch (error) {
      console.error("embedding failed; memories stored without vectors", error);
      return null;
    }
  }

  private async embedQuery(ref: CubeRef, query: string): Promise<SemanticQuery | null> {
    const { embedder, remoteIndex } = this.retrieval;
    try {
      const [vector] = await embedder.embed([query], "query");
      if (!vector) return null;
      const remote: VectorMatch[] = remoteIndex ? await remoteIndex.query(ref.cubeId, vector, 100) : [];
      return { embedderId: embedder.id, vector, minSimilarity: embedder.minSimilarity, fusionWeight: embedder.fusionWeight, remote };
    } catch (error) {
      // Search keeps answering from its other channels.
      console.error("query embedding or remote vector search failed", error);
      return null;
    }
  }

  private upsertVectors(records: VectorRecord[]): void {
    this.vectors.upsert(this.retrieval.embedder.id, records);
  }

  /** Sends new vectors to the shared index; the cube's own copy already serves searches meanwhile. */
  private async pushRemote(ref: CubeRef, records: VectorRecord[]): Promise<void> {
    const { remoteIndex } = this.retrieval;
    if (!remoteIndex || records.length === 0) return;
    try {
      await remoteIndex.upsert(ref.cubeId, records);
    } catch (error) {
      console.error("remote vector upsert failed; the cube's own vectors still serve search", error);
    }
  }

  // ── transactions ───────────────────────────────────────────────────────────────────────────────────────────

  private isReplay(meta: WriteMeta): boolean {
    return meta.idempotency !== undefined && this.store.idempotentResult(meta.idempotency.key) !== null;
  }

  /**
   * Runs a write in one transaction, honouring an Idempotency-Key: a retry with the same key and the same
   * request returns the first result and writes nothing; the same key with a different request is refused.
   */
  private mutate<T>(ref: CubeRef, meta: WriteMeta, write: (now: number) => Outcome<T>): Outcome<Mutation<T>> {
    try {
      return this.ctx.storage.transactionSync(() => {
        const now = this.sweep(ref);
        const idempotency = meta.idempotency;
        if (idempotency) {
          const prior = this.store.idempotentResult(idempotency.key);
          if (prior) {
            if (prior.fingerprint !== idempotency.fingerprint) {
              return fail("idempotency_key_reused", "this Idempotency-Key was already used for a different request");
            }
            return ok({ result: prior.result as T, liveCount: this.store.liveCount(), replayed: true });
          }
        }
        const outcome = write(now);
        if (!outcome.ok) return outcome;
        if (idempotency) this.store.saveIdempotentResult(idempotency.key, idempotency.fingerprint, outcome.value, now);
        return ok({ result: outcome.value, liveCount: this.store.liveCount(), replayed: false });
      });
    } catch (error) {
      // The transaction rolled back; the vector store's in-memory copy may be ahead of SQL, so reload it.
      this.vectors.reset();
      throw error;
    }
  }

  /** Lazy housekeeping before every call: expire what is due, drop idempotency records past their window. */
  private sweep(ref: CubeRef): number {
    const now = Date.now();
    this.store.expireDue(ref, now);
    this.store.forgetIdempotencyBefore(now - LIMITS.idempotencyWindowMs);
    return now;
  }
}
