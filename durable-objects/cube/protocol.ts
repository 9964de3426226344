/**
 * The RPC contract between the Worker and a Cube Durable Object: plain, structured-clone-safe data.
 * The Worker validates and normalises; the Durable Object trusts these shapes.
 */
import type { MemoryFilter } from "../../src/core/filters";
import type { Channel, ChannelRank } from "../../src/core/fusion";
import type { Where } from "../../src/core/where";
import type { MemoryWire } from "../../src/schemas/memory";

/** Which cube an RPC call is about; the object stores none of this until it is told. */
export interface CubeRef {
  tenantId: string;
  cubeId: string;
  /** The cube's owner, `user:<id>` or `agent:<id>`; new memories are about this owner. */
  owner: string;
}

/** Who is writing, for provenance, events and idempotent retries. */
export interface WriteMeta {
  /** Key id of the caller (or `system`). */
  actor: string;
  requestId: string;
  /** Present when the request carried an Idempotency-Key: the key and a fingerprint of the request. */
  idempotency?: { key: string; fingerprint: string };
}

/** The cube's own actor: expiry, archive, restore, consolidation — work no caller asked for in this request. */
export const SYSTEM: WriteMeta = { actor: "system", requestId: "" };

/** A memory to create, validated and with times in ms. */
export interface NewMemory {
  content: string;
  type: string;
  tags: string[];
  metadata: Record<string, unknown>;
  sessionId: string | null;
  validAt: number | null;
  invalidAt: number | null;
  expiresAt: number | null;
  /** Seconds to live, counted from the moment the cube writes it (wins over expiresAt). */
  ttlSeconds: number | null;
  priority: number;
  importance: number;
  sensitivity: string[];
  frozen: boolean;
  source: {
    kind: "api" | "user_input" | "import" | "extraction";
    episodeId: string | null;
    messageIds: string[];
    /** The MemReader that extracted it (`rules@1`, `llm:…`), for extracted memories. */
    reader?: string;
  };
  /** What the memory is about, for conflict resolution (MemReader): a newer memory with this key supersedes. */
  subjectKey?: string | null;
}

/** Fields to change; `null` clears. Absent fields stay as they are. */
export interface MemoryPatch {
  content?: string;
  type?: string;
  tags?: string[];
  metadata?: Record<string, unknown>;
  sessionId?: string | null;
  validAt?: number | null;
  invalidAt?: number | null;
  expiresAt?: number | null;
  /** Seconds to live from the moment of the update (wins over expiresAt). */
  ttlSeconds?: number;
  priority?: number;
  importance?: number;
  sensitivity?: string[];
  frozen?: boolean;
}

export interface ListRequest {
  filter: MemoryFilter;
  /** A validated filter with times in ms (core/where.ts), ANDed with `filter`. */
  where?: Where | null;
  limit: number;
  /** Position after which the page starts (from a cursor). */
  after?: { created_at: number; seq: number };
  /** Rows to skip before the page (page-number pagination, for the mem0 facade); cursors are cheaper. */
  offset?: number;
  /** Also count every memory the filters match (`total`). */
  countTotal?: boolean;
}

export interface ListPage {
  memories: MemoryWire[];
  next: { created_at: number; seq: number } | null;
  /** With `countTotal`: how many memories match the filters in all. */
  total?: number;
}

export interface SearchRequestInternal {
  /** The query as written, for embedding and reranking. */
  query: string;
  /** The query's search terms (core/fts-query.ts searchTerms): only letters and digits, safe to quote for FTS5. */
  terms: string[];
  filter: MemoryFilter;
  /** A validated filter with times in ms (core/where.ts), or null. */
  where: Where | null;
  /** ms: validity and recency are judged at this time. */
  referenceTime: number;
  topK: number;
  threshold: number | null;
  /** 1 = relevance only; lower diversifies (MMR). */
  mmrLambda: number;
  channels: Channel[];
  /** Re-order the best candidates with the reranker. */
  rerank: boolean;
  /** ms: answer with memories as they stood then (point-in-time search). */
  asOf?: number;
  /**
   * The query's embedding, made once by the Worker for a search over several cubes (issue 17, item 6). A cube uses it
   * when its embedder made it (same id) and embeds the query itself otherwise.
   */
  queryVector?: QueryVector;
  /**
   * false: answer the ranked pool as it stands, without bringing archived hits back or recording accesses — the
   * Worker reranks several cubes' pools at once and settles only the hits it keeps (`settleHits`). Default true.
   */
  settle?: boolean;
  /** false: no session neighbours for the best hits (cube/search-neighbours.ts). Default true. */
  neighbours?: boolean;
}

/** A query's embedding and the embedding space it is in. */
export interface QueryVector {
  embedderId: string;
  vector: Float32Array;
}

export interface ContextRequestInternal {
  query: string;
  terms: string[];
  budgetTokens: number;
  filter: MemoryFilter;
  where: Where | null;
  /** ms, or null for "now" (and then the cache key does not change with the clock). */
  referenceTime: number | null;
}

/** A memory next to a hit in its session, returned as the hit's context (cube/search-neighbours.ts). */
export interface NeighbourWire {
  id: string;
  content: string;
  message_ids: string[];
  position: "before" | "after";
}

export interface SearchHit {
  memory: MemoryWire;
  /** The memories before and after it in its session, for the best few hits (cube/search-neighbours.ts). */
  neighbours?: NeighbourWire[];
  score: number;
  channels: Channel[];
  /** Each channel's rank and share of the fused score, in `channels` order. */
  ranks: ChannelRank[];
  /** The reranker's relevance, when the request asked for reranking. */
  rerankScore?: number;
  /**
   * Set when only the vector channel found it, nearer than nothing but below the embedder's confidentSimilarity: a
   * nearest neighbour listed because top_k asked for k results. It is not restored from R2 or counted as read.
   */
  weak?: true;
}

/** What every mutation returns: its result, the cube's live count after it, and whether it was a replay. */
export interface Mutation<T> {
  result: T;
  liveCount: number;
  replayed: boolean;
}
