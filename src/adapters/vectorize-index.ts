/**
 * The production semantic index: one Vectorize index for all cubes, one namespace per cube.
 *
 * Vectorize limits this adapter is built around (Cloudflare's Vectorize limits page, V2 indexes):
 * - upsert: at most 1,000 vectors per call from a Worker → records go in batches of 1,000;
 * - deleteByIds: at most 100 ids per call (not on the limits page; live deployments report error 40007) → batches
 *   of 100 here, so no caller can send more;
 * - topK: at most 100 when neither values nor metadata are returned (20 otherwise) → queries ask for neither;
 * - vector ids and namespaces: at most 64 bytes each; 50,000 namespaces per index on Workers Paid (1,000 on Free);
 * - vector ids are unique per INDEX, not per namespace: `deleteByIds` takes no namespace, and upserting an id
 *   that exists in another namespace moves it. So this adapter stores `<namespace>:<id>` as the Vectorize id:
 *   a cube can never overwrite or delete another cube's vector, whatever ids it is handed
 *   (a cube id, 21 bytes, + ":" + a memory id, 36 bytes = 58 bytes).
 * - writes are asynchronous: a mutation becomes visible to queries seconds later. Callers that need
 *   read-your-writes keep recent vectors elsewhere (the Cube Durable Object's local vector store does).
 */
import type { IndexProgress, NamespacedVectorRecord, UpsertReceipt, VectorIndex, VectorMatch, VectorRecord } from "./types";

/** The slice of a Vectorize binding this adapter uses; both `Vectorize` and the older `VectorizeIndex` satisfy it. */
export interface VectorizeBinding {
  upsert(vectors: VectorizeVector[]): Promise<unknown>;
  query(vector: VectorFloatArray | number[], options?: VectorizeQueryOptions): Promise<VectorizeMatches>;
  deleteByIds(ids: string[]): Promise<unknown>;
  getByIds(ids: string[]): Promise<VectorizeVector[]>;
  /**
   * The index's info: `processedUpToMutation` (the id of the last mutation applied; every one before it is applied
   * too) and `processedUpToDatetime` (when). workers-types types both as numbers while documenting a UUID and an
   * ISO 8601 datetime, and live answers carry strings (or null before any mutation): parsed defensively.
   */
  describe(): Promise<unknown>;
}

/** Documented Vectorize limits (Workers binding, V2 index). */
export const VECTORIZE_LIMITS = {
  upsertBatch: 1000,
  /**
   * deleteByIds refuses more ("VECTOR_DELETE_ERROR (code = 40007): too many ids in payload; max id count is 100"),
   * although the limits page lists only the upsert batch (reports from live deployments: docs/platform-limits.md).
   */
  deleteBatch: 100,
  /** getByIds refuses more ("VECTOR_GET_ERROR (code = 40007): too many ids in payload; max id count is 20"). */
  getBatch: 20,
  topKWithoutValuesOrMetadata: 100,
  idBytes: 64,
  namespaceBytes: 64,
} as const;

const SEPARATOR = ":";
const utf8Length = (text: string) => new TextEncoder().encode(text).length;

/** See the file comment. */
export class VectorizeVectorIndex implements VectorIndex {
  constructor(private readonly vectorize: VectorizeBinding) {}

  async upsert(namespace: string, records: readonly VectorRecord[]): Promise<UpsertReceipt> {
    return this.upsertAcross(records.map((record) => ({ ...record, namespace })));
  }

  /**
   * Vectors of any namespaces, 1,000 a call: one V2 upsert carries each vector's own `namespace`, so the vectors
   * queue's consumer writes many cubes' vectors in one mutation (issue 17, item 8). Every id is checked first.
   */
  async upsertAcross(records: readonly NamespacedVectorRecord[]): Promise<UpsertReceipt> {
    const vectors: VectorizeVector[] = records.map((record) => {
      checkNamespace(record.namespace);
      return { id: scopedId(record.namespace, record.id), values: record.vector, namespace: record.namespace };
    });
    let mutationId: string | null = null;
    for (let i = 0; i < vectors.length; i += VECTORIZE_LIMITS.upsertBatch) {
      mutationId = mutationIdOf(await this.vectorize.upsert(vectors.slice(i, i + VECTORIZE_LIMITS.upsertBatch))) ?? mutationId;
    }
    return { mutationId };
  }

  /** `describe()`'s progress: the last mutation the index applied and when (issue 17, item 8). */
  async progress(): Promise<IndexProgress> {
    const info = (await this.vectorize.describe()) as { processedUpToMutation?: unknown; processedUpToDatetime?: unknown } | null;
    const mutation = info?.processedUpToMutation;
    const at = info?.processedUpToDatetime;
    const processedAt = typeof at === "string" ? Date.parse(at) : typeof at === "number" ? at : Number.NaN;
    return {
      mutationId: typeof mutation === "string" && mutation !== "" ? mutation : typeof mutation === "number" ? String(mutation) : null,
      processedAt: Number.isFinite(processedAt) ? processedAt : null,
    };
  }

  /** `topK` above Vectorize's 100 is capped at 100: a semantic channel fused with others rarely needs more. */
  async query(namespace: string, vector: Float32Array, topK: number): Promise<VectorMatch[]> {
    checkNamespace(namespace);
    const k = Math.min(Math.floor(topK), VECTORIZE_LIMITS.topKWithoutValuesOrMetadata);
    if (k < 1) return [];
    const result = await this.vectorize.query(vector, { topK: k, namespace, returnValues: false, returnMetadata: "none" });
    const prefix = namespace + SEPARATOR;
    return (
      result.matches
        // Defence in depth: a match outside this cube's id space is never handed back, whatever the index says.
        .filter((match) => match.id.startsWith(prefix))
        .map((match) => ({ id: match.id.slice(prefix.length), score: match.score }))
        .sort((a, b) => b.score - a.score)
        .slice(0, k)
    );
  }

  async delete(namespace: string, ids: readonly string[]): Promise<void> {
    checkNamespace(namespace);
    const scoped = ids.map((id) => scopedId(namespace, id));
    for (let i = 0; i < scoped.length; i += VECTORIZE_LIMITS.deleteBatch) {
      await this.vectorize.deleteByIds(scoped.slice(i, i + VECTORIZE_LIMITS.deleteBatch));
    }
  }

  /** getByIds in batches of 20; a returned vector outside this namespace's id space is never handed back. */
  async fetch(namespace: string, ids: readonly string[]): Promise<VectorRecord[]> {
    checkNamespace(namespace);
    const prefix = namespace + SEPARATOR;
    const scoped = ids.map((id) => scopedId(namespace, id));
    const found: VectorRecord[] = [];
    for (let i = 0; i < scoped.length; i += VECTORIZE_LIMITS.getBatch) {
      const vectors = await this.vectorize.getByIds(scoped.slice(i, i + VECTORIZE_LIMITS.getBatch));
      for (const vector of vectors) {
        if (!vector.id.startsWith(prefix)) continue;
        found.push({ id: vector.id.slice(prefix.length), vector: Float32Array.from(vector.values) });
      }
    }
    return found;
  }
}

/** The `mutationId` of a V2 mutation answer (`{ mutationId }`), or null for another shape. */
function mutationIdOf(answer: unknown): string | null {
  const id = (answer as { mutationId?: unknown } | null)?.mutationId;
  return typeof id === "string" && id !== "" ? id : null;
}

function checkNamespace(namespace: string): void {
  if (namespace === "" || namespace.includes(SEPARATOR) || utf8Length(namespace) > VECTORIZE_LIMITS.namespaceBytes) {
    throw new Error(`not a usable Vectorize namespace: ${JSON.stringify(namespace)}`);
  }
}

function scopedId(namespace: string, id: string): string {
  const scoped = namespace + SEPARATOR + id;
  if (id === "" || utf8Length(scoped) > VECTORIZE_LIMITS.idBytes) {
    throw new Error(`vector id ${JSON.stringify(id)} does not fit Vectorize's ${VECTORIZE_LIMITS.idBytes}-byte ids in namespace ${namespace}`);
  }
  return scoped;
}
