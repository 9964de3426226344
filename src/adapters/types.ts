/**
 * The interfaces semantic retrieval reaches its models and indexes through. Each has a Cloudflare implementation
 * (Workers AI, Vectorize) and a local one that runs offline; both pass the same contract tests (test/adapters/).
 */

/** Turns texts into vectors of one embedding space. */
export interface Embedder {
  /**
   * Stable id of the embedding space, e.g. "local:glove-6b-100d-int8-20k@1" or "workers-ai:@cf/baai/bge-m3".
   * Vectors from different ids must never be compared: stores record it next to every vector.
   */
  readonly id: string;
  readonly dimensions: number;
  /**
   * Cosine similarity from which a nearest neighbour is as good evidence as a first-ranked word match; below it, its
   * strength in fusion (and so its score) falls in proportion. Nearest neighbours always come back — there is no
   * floor — so this is what lets a `threshold` drop far ones ("wifi" against "the door code is 4821"). Calibrated per
   * model: the median similarity of related pairs.
   */
  readonly confidentSimilarity: number;
  /**
   * How much the vector channel counts in fusion with this model (lexical counts 1). A strong model earns 1; a
   * weak one only breaks ties, or it drags good lexical hits down.
   */
  readonly fusionWeight: number;
  /**
   * One L2-normalised vector per text, in the same order. `kind` lets asymmetric models prefix queries.
   * Blank texts are allowed and still get a unit vector (they just match nothing in particular).
   */
  embed(texts: readonly string[], kind: "document" | "query"): Promise<Float32Array[]>;
}

/** One search result; `score` is the cosine similarity, higher is better. */
export interface VectorMatch {
  id: string;
  score: number;
}

export interface VectorRecord {
  id: string;
  vector: Float32Array;
}

/**
 * A nearest-neighbour index partitioned into namespaces (one per cube). An id names one vector per namespace:
 * upserting it again replaces that vector. Implementations may be eventually consistent (Vectorize is): a write
 * is guaranteed visible only after the implementation's own notion of "settled".
 */
export interface VectorIndex {
  /** Writes vectors; an asynchronous index answers the id of its last mutation, to check progress against. */
  upsert(namespace: string, records: readonly VectorRecord[]): Promise<void | UpsertReceipt>;
  /** At most `topK` matches, best first. */
  query(namespace: string, vector: Float32Array, topK: number): Promise<VectorMatch[]>;
  /** Removes these ids from the namespace; unknown ids are ignored. */
  delete(namespace: string, ids: readonly string[]): Promise<void>;
  /** The vectors the index serves now for these ids; unknown ids, and writes not yet visible, are absent. */
  fetch(namespace: string, ids: readonly string[]): Promise<VectorRecord[]>;
  /**
   * How far an asynchronous index has applied its mutations (Vectorize's `describe()`); absent on an index whose
   * writes are visible at once.
   */
  progress?(): Promise<IndexProgress>;
  /**
   * Writes vectors of several namespaces in as few calls as the index allows (the vectors queue's consumer,
   * services/vector-queue.ts); answers the last call's mutation. Absent on an index that cannot mix namespaces.
   */
  upsertAcross?(records: readonly NamespacedVectorRecord[]): Promise<UpsertReceipt>;
}

/** A vector and the namespace (cube) it belongs to. */
export interface NamespacedVectorRecord extends VectorRecord {
  namespace: string;
}

/** What an asynchronous index answers to a write: its (last) mutation's id. */
export interface UpsertReceipt {
  mutationId: string | null;
}

/** The last mutation an asynchronous index has applied, and when (ms); every mutation before it is applied too. */
export interface IndexProgress {
  mutationId: string | null;
  processedAt: number | null;
}

/** Scores documents against a query, usually a cross-encoder over a short candidate list. */
export interface Reranker {
  readonly id: string;
  /** Relevance per document, in the same order; higher is better. Scores are finite but not calibrated across ids. */
  rerank(query: string, documents: readonly string[]): Promise<number[]>;
}
