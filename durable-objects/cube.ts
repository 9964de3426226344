/**
 * The Cube Durable Object: one per (tenant, cube), the memory scheduler and source of truth for its cube.
 * A thin RPC shell: schema under blockConcurrencyWhile, methods delegate to the store inside one transaction.
 * Per-object serial execution orders every write of a cube without locks.
 */
import { DurableObject } from "cloudflare:workers";
import { type Outcome, fail, ok } from "../src/errors";
import type { MemoryVersionWire, MemoryWire } from "../src/schemas/memory";
import { LIMITS } from "../src/schemas/limits";
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
import { CubeSearch } from "./cube-search";
import { CubeStore } from "./cube-store";

export class CubeDurableObject extends DurableObject<Env> {
  private readonly store: CubeStore;
  private readonly searcher: CubeSearch;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new CubeStore(ctx.storage.sql);
    this.searcher = new CubeSearch(ctx.storage.sql, this.store);
    void ctx.blockConcurrencyWhile(async () => this.store.migrate());
  }

  async remember(ref: CubeRef, items: NewMemory[], meta: WriteMeta): Promise<Outcome<Mutation<MemoryWire[]>>> {
    return this.mutate(ref, meta, (now) => ok(this.store.insert(ref, items, meta, now)));
  }

  async update(ref: CubeRef, id: string, patch: MemoryPatch, meta: WriteMeta): Promise<Outcome<Mutation<MemoryWire>>> {
    return this.mutate(ref, meta, (now) => this.store.update(ref, id, patch, meta, now));
  }

  async forget(ref: CubeRef, id: string, hard: boolean, meta: WriteMeta): Promise<Outcome<Mutation<{ id: string }>>> {
    return this.mutate(ref, meta, (now) => {
      if (hard) return this.store.purge(ref, id, meta, now);
      const forgotten = this.store.forget(ref, id, meta, now);
      return forgotten.ok ? ok({ id }) : forgotten;
    });
  }

  /** A live memory (or null), counted as an access. */
  async get(ref: CubeRef, id: string): Promise<MemoryWire | null> {
    const now = this.sweep(ref);
    const memory = this.store.find(ref, id);
    if (!memory || memory.state === "forgotten") return null;
    this.store.touch([id], now);
    return { ...memory, access_count: memory.access_count + 1, last_accessed_at: new Date(now).toISOString() };
  }

  async list(ref: CubeRef, request: ListRequest): Promise<ListPage> {
    this.sweep(ref);
    return this.store.list(ref, request);
  }

  /** Versions of a memory, oldest first; empty when it never existed or was purged. */
  async history(ref: CubeRef, id: string): Promise<MemoryVersionWire[]> {
    this.sweep(ref);
    return this.store.history(ref, id);
  }

  async search(ref: CubeRef, request: SearchRequestInternal): Promise<{ hits: SearchHit[]; timingMs: number }> {
    const started = performance.now();
    const now = this.sweep(ref);
    const hits = this.searcher.search(ref, request);
    this.store.touch(
      hits.map((hit) => hit.memory.id),
      now,
    );
    const accessedAt = new Date(now).toISOString();
    for (const hit of hits) {
      hit.memory = { ...hit.memory, access_count: hit.memory.access_count + 1, last_accessed_at: accessedAt };
    }
    return { hits, timingMs: performance.now() - started };
  }

  /**
   * Runs a write in one transaction, honouring an Idempotency-Key: a retry with the same key and the same
   * request returns the first result and writes nothing; the same key with a different request is refused.
   */
  private mutate<T>(ref: CubeRef, meta: WriteMeta, write: (now: number) => Outcome<T>): Outcome<Mutation<T>> {
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
  }

  /** Lazy housekeeping before every call: expire what is due, drop idempotency records past their window. */
  private sweep(ref: CubeRef): number {
    const now = Date.now();
    this.store.expireDue(ref, now);
    this.store.forgetIdempotencyBefore(now - LIMITS.idempotencyWindowMs);
    return now;
  }
}
