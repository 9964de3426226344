/**
 * In-test stand-ins for the Workers AI and Vectorize bindings, which have no local simulator. They answer with the
 * response shapes of Cloudflare's documentation, enforce the documented request limits (so an adapter that breaks
 * one fails here, not in production) and record every request for assertions.
 */
import type { VectorizeBinding } from "../../src/adapters/vectorize-index";
import type { WorkersAiEmbeddingBinding, WorkersAiEmbeddingInputs, WorkersAiEmbeddingModel } from "../../src/adapters/workers-ai-embedder";
import type { WorkersAiRerankBinding, WorkersAiRerankInputs } from "../../src/adapters/workers-ai-reranker";

const DIMENSIONS: Record<WorkersAiEmbeddingModel, number> = { "@cf/baai/bge-m3": 1024, "@cf/baai/bge-base-en-v1.5": 768 };

/**
 * Workers AI for the BGE embedding models. Request `{ text: string[] }` (≤ 100 items, each ≥ 1 character);
 * response `{ shape: [n, d], data: number[][] }`. The "model" hashes words into unnormalised vectors, so texts
 * sharing words are similar and the adapter's own normalisation is what makes them unit length.
 */
export class EmbeddingModelStandIn implements WorkersAiEmbeddingBinding {
  readonly requests: { model: WorkersAiEmbeddingModel; inputs: WorkersAiEmbeddingInputs }[] = [];
  /** Replaces the next answer (e.g. an async `{ request_id }`). */
  nextResponse: unknown = undefined;
  /**
   * Account rate limit, when a test asks for one: requests past this many answer Workers AI's 429 ("3040: Capacity
   * temporarily exceeded"; text embeddings allow 3,000 requests a minute, developers.cloudflare.com/workers-ai/platform/limits/).
   */
  requestsAllowed: number | null = null;
  /** Forces every request to fail with this error (an outage, a timeout) until cleared. */
  failWith: Error | null = null;

  async run(model: WorkersAiEmbeddingModel, inputs: WorkersAiEmbeddingInputs): Promise<unknown> {
    this.requests.push({ model, inputs: { ...inputs, text: [...inputs.text] } });
    if (this.failWith) throw this.failWith;
    if (this.requestsAllowed !== null && this.requests.length > this.requestsAllowed) throw new Error("AiError: 3040: Capacity temporarily exceeded, please try again. (429)");
    const dimensions = DIMENSIONS[model];
    if (!dimensions) throw new Error(`AiError: No such model ${model} or task`);
    if (inputs.text.length > 100) throw new Error("AiError: Input validation failed: /text: must NOT have more than 100 items");
    if (inputs.text.some((t) => t.length < 1)) throw new Error("AiError: Input validation failed: /text/0: must NOT have fewer than 1 characters");
    if (model === "@cf/baai/bge-m3") {
      // 60,000 tokens per request, 8,192 per text (cut to that with truncate_inputs); counted from above as characters.
      const tokens = inputs.text.reduce((n, t) => n + (inputs.truncate_inputs ? Math.min(t.length, 8_192) : t.length), 0);
      if (tokens > 60_000) throw new Error(`AiError: the request's ${tokens} tokens exceed the model's 60,000-token context window`);
    }
    if (this.nextResponse !== undefined) {
      const response = this.nextResponse;
      this.nextResponse = undefined;
      return response;
    }
    const data = inputs.text.map((text) => pseudoEmbedding(text, dimensions));
    return { shape: [data.length, dimensions], data, ...(inputs.pooling ? { pooling: inputs.pooling } : {}) };
  }
}

function pseudoEmbedding(text: string, dimensions: number): number[] {
  const out = new Array<number>(dimensions).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [text]) {
    let state = hash(word) || 1;
    for (let d = 0; d < dimensions; d++) {
      // xorshift32: a deterministic pseudo-random direction per word.
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      out[d] = (out[d] ?? 0) + ((state >>> 0) / 2 ** 32 - 0.5) * 3;
    }
  }
  return out;
}

function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Workers AI for `@cf/baai/bge-reranker-base`. Request `{ query, contexts: [{ text }], top_k? }`; response
 * `{ response: [{ id, score }] }`, best first, cut to `top_k`. The "model" scores by shared character trigrams,
 * squashed into (0, 1) like a sigmoid.
 *
 * Refuses what the input schema refuses (developers.cloudflare.com/workers-ai/models/bge-reranker-base/: `query` and
 * every `text` ≥ 1 character, `top_k` an integer ≥ 1) with the binding's input-validation error, and a (query,
 * context) pair past the model's 512 tokens (BAAI's model card; XLM-R has 514 positions). Workers AI documents no
 * error for that one, so its message is this stand-in's own: refusing, rather than truncating silently, is what
 * makes an adapter that relies on the service to cut fail here. Tokens are counted from above, as SentencePiece
 * pieces can be no more than the characters plus the leading word marker, and four special tokens per pair.
 */
export class RerankModelStandIn implements WorkersAiRerankBinding {
  readonly requests: { model: string; inputs: WorkersAiRerankInputs }[] = [];
  /** Forces every request to fail with this error (an outage, a 429, a timeout) until cleared. */
  failWith: Error | null = null;

  async run(model: "@cf/baai/bge-reranker-base", inputs: WorkersAiRerankInputs): Promise<unknown> {
    this.requests.push({ model, inputs: structuredClone(inputs) });
    if (this.failWith) throw this.failWith;
    if (inputs.query.length < 1) throw new Error("AiError: Input validation failed: /query: must NOT have fewer than 1 characters");
    const empty = inputs.contexts.findIndex((c) => c.text.length < 1);
    if (empty >= 0) throw new Error(`AiError: Input validation failed: /contexts/${empty}/text: must NOT have fewer than 1 characters`);
    if (inputs.top_k !== undefined && (!Number.isInteger(inputs.top_k) || inputs.top_k < 1)) {
      throw new Error("AiError: Input validation failed: /top_k: must be integer, must be >= 1");
    }
    const queryTokens = inputs.query.length + 1;
    const long = inputs.contexts.findIndex((c) => 4 + queryTokens + c.text.length + 1 > 512);
    if (long >= 0) throw new Error(`AiError: /contexts/${long}: the query and this context exceed the model's 512 tokens`);
    const query = trigrams(inputs.query);
    const scored = inputs.contexts.map(({ text }, id) => {
      const doc = trigrams(text);
      const shared = [...query].filter((t) => doc.has(t)).length;
      return { id, score: 1 / (1 + Math.exp(-(10 * shared) / Math.max(1, query.size) + 3)) };
    });
    scored.sort((a, b) => b.score - a.score || a.id - b.id);
    return { response: scored.slice(0, inputs.top_k ?? scored.length) };
  }
}

function trigrams(text: string): Set<string> {
  const out = new Set<string>();
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    const padded = ` ${word} `;
    for (let i = 0; i + 3 <= padded.length; i++) out.add(padded.slice(i, i + 3));
  }
  return out;
}

interface StoredVector {
  namespace: string | undefined;
  values: Float32Array;
}

/**
 * A Vectorize V2 index with cosine metric. Ids are unique per index (namespaces only filter queries); writes are
 * queued as mutations and only become visible on `flush()`, like the real index's asynchronous processing.
 * Limits: upsert ≤ 1,000 vectors per call, deleteByIds ≤ 100 ids, getByIds ≤ 20 ids, ids and namespaces ≤ 64 bytes,
 * topK ≤ 100 (≤ 20 with values or all metadata), default topK 5.
 */
export class VectorizeStandIn implements VectorizeBinding {
  readonly upserts: VectorizeVector[][] = [];
  readonly queries: { vector: number[]; options: VectorizeQueryOptions | undefined }[] = [];
  readonly deletes: string[][] = [];
  readonly gets: string[][] = [];
  describes = 0;
  private readonly visible = new Map<string, StoredVector>();
  private pending: (() => void)[] = [];
  private mutations = 0;
  /** Forces every call to fail with this error (an outage, a 429, a timeout) until cleared. */
  failWith: Error | null = null;

  /**
   * `maxNamespaces`: 50,000 per index on Workers Paid (1,000 on Free); a test may lower it to reach the cap.
   * Dimensions: at most 1,536 (developers.cloudflare.com/vectorize/platform/limits/).
   */
  constructor(
    readonly dimensions: number,
    readonly maxNamespaces = 50_000,
  ) {
    if (dimensions < 1 || dimensions > 1536) throw new Error(`VECTOR_INDEX_ERROR: an index has 1 to 1536 dimensions, not ${dimensions}`);
  }

  /** The last mutation applied and when (`describe()`'s processedUpToMutation / processedUpToDatetime). */
  private processed: { mutationId: string; at: number } | null = null;
  /** The index's own clock, for processedUpToDatetime; tests that move the cube's clock move this one too. */
  clock: () => number = () => Date.now();

  /** Applies every queued mutation, in order. */
  flush(): void {
    for (const mutation of this.pending) mutation();
    this.pending = [];
    if (this.mutations > 0) this.processed = { mutationId: `mutation-${this.mutations}`, at: this.clock() };
  }

  /**
   * The index's info (V2 `describe()`): vector count, dimensions, and how far its mutations are applied — null
   * before the first, an id and an ISO 8601 datetime after (developers.cloudflare.com/vectorize/reference/client-api/).
   */
  async describe(): Promise<{ vectorCount: number; dimensions: number; processedUpToMutation: string | null; processedUpToDatetime: string | null }> {
    this.describes += 1;
    if (this.failWith) throw this.failWith;
    return {
      vectorCount: this.visible.size,
      dimensions: this.dimensions,
      processedUpToMutation: this.processed?.mutationId ?? null,
      processedUpToDatetime: this.processed ? new Date(this.processed.at).toISOString() : null,
    };
  }

  /** Every vector id the index holds once flushed, with its namespace. */
  contents(): { id: string; namespace: string | undefined }[] {
    return [...this.visible].map(([id, v]) => ({ id, namespace: v.namespace }));
  }

  async upsert(vectors: VectorizeVector[]): Promise<VectorizeAsyncMutation> {
    this.upserts.push(vectors);
    if (this.failWith) throw this.failWith;
    if (vectors.length > 1000) throw new Error("VECTOR_UPSERT_ERROR: too many vectors in one upsert (max 1000)");
    const namespaces = new Set([...this.visible.values()].map((v) => v.namespace));
    for (const v of vectors) namespaces.add(v.namespace);
    namespaces.delete(undefined);
    if (namespaces.size > this.maxNamespaces) throw new Error(`VECTOR_UPSERT_ERROR: the index has reached its ${this.maxNamespaces} namespaces`);
    const copies = vectors.map((v) => {
      if (bytes(v.id) > 64) throw new Error(`VECTOR_UPSERT_ERROR: id ${v.id} is longer than 64 bytes`);
      if (v.namespace !== undefined && bytes(v.namespace) > 64) throw new Error("VECTOR_UPSERT_ERROR: namespace too long");
      if (v.values.length !== this.dimensions) throw new Error("VECTOR_UPSERT_ERROR: dimension mismatch");
      return { id: v.id, stored: { namespace: v.namespace, values: Float32Array.from(v.values) } };
    });
    this.pending.push(() => {
      for (const { id, stored } of copies) this.visible.set(id, stored);
    });
    return { mutationId: `mutation-${++this.mutations}` };
  }

  async query(vector: VectorFloatArray | number[], options?: VectorizeQueryOptions): Promise<VectorizeMatches> {
    this.queries.push({ vector: Array.from(vector), options });
    if (this.failWith) throw this.failWith;
    const topK = options?.topK ?? 5;
    const heavy = options?.returnValues === true || options?.returnMetadata === true || options?.returnMetadata === "all";
    if (topK > (heavy ? 20 : 100)) throw new Error(`VECTOR_QUERY_ERROR: topK ${topK} exceeds the limit`);
    if (vector.length !== this.dimensions) throw new Error("VECTOR_QUERY_ERROR: dimension mismatch");
    const matches = [...this.visible]
      .filter(([, v]) => options?.namespace === undefined || v.namespace === options.namespace)
      .map(([id, v]) => ({ id, score: cosine(vector, v.values), ...(options?.returnValues ? { values: Array.from(v.values) } : {}) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, topK);
    return { matches, count: matches.length };
  }

  /** The visible vectors with these ids, values included; more than 20 ids is refused, as by the real index. */
  async getByIds(ids: string[]): Promise<VectorizeVector[]> {
    this.gets.push([...ids]);
    if (this.failWith) throw this.failWith;
    if (ids.length > 20) throw new Error("VECTOR_GET_ERROR (code = 40007): too many ids in payload; max id count is 20");
    return ids.flatMap((id) => {
      const stored = this.visible.get(id);
      return stored ? [{ id, values: Array.from(stored.values), ...(stored.namespace === undefined ? {} : { namespace: stored.namespace }) }] : [];
    });
  }

  async deleteByIds(ids: string[]): Promise<VectorizeAsyncMutation> {
    this.deletes.push([...ids]);
    if (this.failWith) throw this.failWith;
    if (ids.length > 100) throw new Error(`VECTOR_DELETE_ERROR (code = 40007): too many ids in payload; max id count is 100, got ${ids.length}`);
    this.pending.push(() => {
      for (const id of ids) this.visible.delete(id);
    });
    return { mutationId: `mutation-${++this.mutations}` };
  }
}

const bytes = (text: string) => new TextEncoder().encode(text).length;

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}

/**
 * A Cloudflare Queue producer binding. Limits (developers.cloudflare.com/queues/platform/limits/): a message at most
 * 128 KB including about 100 bytes of metadata, `sendBatch` at most 100 messages and 256 KB in all (KB read as 1,000
 * bytes, the stricter reading). Records what it accepted.
 */
export class QueueStandIn<Body = unknown> {
  readonly batches: Body[][] = [];
  /** Forces every send to fail with this error (an outage, a 429) until cleared, like the other stand-ins. */
  failWith: Error | null = null;

  async send(body: Body): Promise<void> {
    await this.sendBatch([{ body }]);
  }

  async sendBatch(messages: Iterable<MessageSendRequest<Body>>): Promise<void> {
    if (this.failWith) throw this.failWith;
    const list = [...messages];
    if (list.length > 100) throw new Error(`Queue sendBatch failed: batch of ${list.length} messages exceeds the limit of 100`);
    let total = 0;
    for (const message of list) {
      const size = new TextEncoder().encode(JSON.stringify(message.body)).length + 100;
      if (size > 128_000) throw new Error(`Queue send failed: message of ${size} bytes exceeds the 128 KB limit`);
      total += size;
    }
    if (total > 256_000) throw new Error(`Queue sendBatch failed: batch of ${total} bytes exceeds the 256 KB limit`);
    this.batches.push(list.map((message) => message.body));
  }
}
