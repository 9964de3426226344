/** Documented input limits (README "Limits"). Every one is enforced by a schema or by the body-size guard. */
export const LIMITS = {
  /** Request body, bytes. Larger bodies get 413. */
  bodyBytes: 1024 * 1024,
  /** One memory's content, UTF-8 bytes. */
  contentBytes: 16 * 1024,
  /** Pinned memories per cube (409 beyond): working memory is small by design, and a pin that never leaves must be a choice. */
  pinsPerCube: 50,
  /** Memories in one write. */
  batchItems: 100,
  /** Messages in one conversation write. */
  messages: 500,
  /** A search query, UTF-8 bytes. */
  queryBytes: 2 * 1024,
  /** Largest token budget of POST /v1/context. */
  contextBudgetTokens: 16_000,
  /** Results of one search, and cubes one search may span. */
  topK: 100,
  searchCubes: 20,
  /** Items on one list page. */
  pageSize: 100,
  /** Tags on a memory, and characters in one tag. */
  tags: 32,
  tagChars: 64,
  /** A memory's metadata object, serialised JSON bytes. */
  metadataBytes: 8 * 1024,
  /** Any free JSON (metadata, mem0 filters, MCP arguments, imported objects): containers nested, and values in all. */
  jsonDepth: 32,
  jsonNodes: 2_000,
  /** A mem0 filter object, serialised JSON bytes (room for 100-value lists of long strings). */
  filterBytes: 64 * 1024,
  /** Owner, session and message ids, characters. */
  idChars: 128,
  /** Message ids one memory may cite as its provenance. */
  messageIds: 100,
  /** TTL ceiling: ten years, in seconds. */
  ttlSeconds: 10 * 365 * 24 * 3600,
  /** Idempotency-Key header, characters; keys are remembered this long. */
  idempotencyKeyChars: 255,
  idempotencyWindowMs: 24 * 3600 * 1000,
} as const;
