/**
 * The `VectorIndex` interface over the Cube Durable Object's own vector store (durable-objects/cube/vector-store.ts):
 * the semantic index of local mode, and the contract-test twin of the Vectorize adapter.
 */
import type { VectorIndex, VectorMatch, VectorRecord } from "./types";

/**
 * What this adapter needs of a synchronous store that keeps vectors per embedding space. The cube's `VectorStore`
 * satisfies it; declared here so the adapter layer does not import a Durable Object module.
 */
export interface VectorStore {
  upsert(embedder: string, records: readonly VectorRecord[]): void;
  query(embedder: string, vector: Float32Array, topK: number): VectorMatch[];
  delete(ids: readonly string[]): unknown;
  embedderOf(id: string): string | null;
  get(id: string): { embedder: string; vector: Float32Array } | null;
}

/**
 * One cube's store seen as a `VectorIndex`. A Durable Object holds one cube, so the index serves exactly one
 * namespace and refuses any other rather than silently mixing cubes; it stores and queries in one embedder's space.
 * Runs inside the Durable Object (the store is synchronous SQLite).
 */
export class LocalVectorIndex implements VectorIndex {
  constructor(
    private readonly store: VectorStore,
    private readonly embedder: string,
    private readonly namespace: string,
  ) {}

  async upsert(namespace: string, records: readonly VectorRecord[]): Promise<void> {
    this.check(namespace);
    this.store.upsert(this.embedder, records);
  }

  async query(namespace: string, vector: Float32Array, topK: number): Promise<VectorMatch[]> {
    this.check(namespace);
    return this.store.query(this.embedder, vector, topK);
  }

  async delete(namespace: string, ids: readonly string[]): Promise<void> {
    this.check(namespace);
    // Only this space's ids: a delete through one embedder's view must not remove another space's vector.
    const mine = ids.filter((id) => this.store.embedderOf(id) === this.embedder);
    this.store.delete(mine);
  }

  async fetch(namespace: string, ids: readonly string[]): Promise<VectorRecord[]> {
    this.check(namespace);
    return ids.flatMap((id) => {
      const stored = this.store.get(id);
      return stored && stored.embedder === this.embedder ? [{ id, vector: stored.vector }] : [];
    });
  }

  private check(namespace: string): void {
    if (namespace !== this.namespace) {
      throw new Error(`this Durable Object's vector index holds namespace ${this.namespace}, not ${namespace}`);
    }
  }
}
