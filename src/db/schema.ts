/**
 * D1 control-plane tables (drizzle). Memories never live here: they belong to their cube's Durable Object.
 * `drizzle-kit generate` turns changes to this file into a new migration under ../../migrations.
 * All times are integer milliseconds since the epoch.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { WEBHOOK_DELIVERY_STATUSES } from "../core/webhook-delivery-status";

/** A customer account. Nothing crosses tenants. Retention: until an operator deletes it. */
export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  createdAt: integer("created_at").notNull(),
  /**
   * Days of audit entries kept in D1 (7–365, set by `PATCH /v1/admin/tenants/{id}`); older whole days move to R2 as
   * NDJSON (services/audit-archive.ts), listed and downloaded at `GET /v1/audit/archive`.
   */
  auditRetentionDays: integer("audit_retention_days").notNull().default(90),
});

/**
 * API keys. Only the SHA-256 of the secret is stored; `prefix` lets people recognise a key.
 * Cap: at most `MAX_ACTIVE_KEYS_PER_TENANT` (10,000) usable keys per tenant — neither revoked nor expired — checked
 * by the insert itself (409 past it). Retention: a revoked or expired key is deleted by the cron
 * `INACTIVE_KEY_RETENTION_DAYS` (30) after its revocation or expiry (services/control-plane-caps.ts, docs/limits.md).
 */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name"),
    prefix: text("prefix").notNull(),
    secretHash: text("secret_hash").notNull(),
    /** JSON array of scope names. */
    scopes: text("scopes").notNull(),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at"),
    expiresAt: integer("expires_at"),
    revokedAt: integer("revoked_at"),
    /**
     * Scoped keys (end-user devices, third-party agents): JSON array of the owners (`user:<id>`, `agent:<id>`) this
     * key may act for, or null for every owner of the tenant. A scoped key reaches those owners' cubes and the
     * cubes granted to them.
     */
    allowedOwners: text("allowed_owners"),
    /** JSON array of cube ids this key is confined to, or null for no cube restriction. */
    allowedCubes: text("allowed_cubes"),
    /** The key that minted this one (null when the root key did): a key can never mint a wider one. */
    createdByKeyId: text("created_by_key_id"),
    /** Per-key rate limits (null = the configured default): requests per minute, written bytes per minute. */
    rateLimitRequests: integer("rate_limit_requests"),
    rateLimitWriteBytes: integer("rate_limit_write_bytes"),
  },
  (t) => [uniqueIndex("api_keys_secret_hash").on(t.secretHash), index("api_keys_tenant").on(t.tenantId)],
);

/**
 * Sharing: a cube's owner grants another principal of the same tenant (`user:<id>` / `agent:<id>`) read or write
 * access. Checked on every request (never cached), so a revoked grant stops working on the next request.
 * Retention: one row per (cube, grantee), deleted with the cube or its owner. Cap: at most `MAX_GRANTS_PER_CUBE`
 * (1,000) grants per cube, checked by the upsert itself (409 past it; replacing a grant is always allowed).
 */
export const grants = sqliteTable(
  "grants",
  {
    cubeId: text("cube_id")
      .notNull()
      .references(() => cubes.id),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    principal: text("principal").notNull(),
    permission: text("permission", { enum: ["read", "write"] }).notNull(),
    createdAt: integer("created_at").notNull(),
    createdByKeyId: text("created_by_key_id"),
  },
  (t) => [primaryKey({ columns: [t.cubeId, t.principal] }), index("grants_tenant_principal").on(t.tenantId, t.principal)],
);

/**
 * The tenant audit log (LogQuery): every read, write and admin action, with the acting key, the cube and memory
 * ids and the request id. Never holds memory content. Filled in batches from the bookkeeping queue
 * (services/bookkeeping.ts). Retention: `tenants.audit_retention_days` (default 90) hot here; older whole days move
 * to R2 as NDJSON on each cron run (services/audit-archive.ts, docs/hot-path.md).
 */
export const auditLog = sqliteTable(
  "audit_log",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    /**
     * Given by the request that produced the entry (`aud_…`): entries reach D1 through the bookkeeping queue at least
     * once, and a redelivered one is ignored by this unique id. Null for entries written before migration 0004.
     */
    id: text("id"),
    tenantId: text("tenant_id").notNull(),
    at: integer("at").notNull(),
    /** Key id, `root`, or `system` (cron, hooks). */
    actor: text("actor").notNull(),
    /** e.g. `memory.write`, `memory.read`, `search`, `key.create`, `owner.delete`. */
    action: text("action").notNull(),
    cubeId: text("cube_id"),
    /** JSON array of memory ids the action touched. */
    memoryIds: text("memory_ids").notNull().default("[]"),
    requestId: text("request_id"),
    /** HTTP status of the request. */
    status: integer("status"),
    /** Small JSON object of action-specific facts (counts, the receipt of a deletion); never content. */
    detail: text("detail").notNull().default("{}"),
  },
  (t) => [
    uniqueIndex("audit_id").on(t.id),
    index("audit_tenant_at").on(t.tenantId, t.at),
    index("audit_tenant_cube_at").on(t.tenantId, t.cubeId, t.at),
    index("audit_tenant_actor_at").on(t.tenantId, t.actor, t.at),
    index("audit_tenant_action_at").on(t.tenantId, t.action, t.at),
  ],
);

/**
 * The owners directory: every user/agent a tenant has written memories for. Their memory counts and last activity
 * are not kept here: services/owners.ts rolls them up from the owner's cubes when listing (migration 0009 dropped
 * `memory_count`), so the bookkeeping consumer writes one table per batch of writes, not two.
 * Retention: one row per owner, deleted with the owner (DELETE /v1/owners/{owner}).
 */
export const owners = sqliteTable(
  "owners",
  {
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    /** `user:<id>` or `agent:<id>`. */
    owner: text("owner").notNull(),
    kind: text("kind", { enum: ["user", "agent"] }).notNull(),
    externalId: text("external_id").notNull(),
    createdAt: integer("created_at").notNull(),
    /**
     * When the owner was created, no longer moved by writes: its last activity is the newest of this and its cubes'
     * `last_active_at` (services/owners.ts), which also covers an owner whose cubes were all deleted.
     */
    lastActiveAt: integer("last_active_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.owner] })],
);

/**
 * A cube written since the lifecycle repair last visited it (or never visited). Shared by the partial index and the
 * repair's query: SQLite uses a partial index only for a query that repeats its WHERE term.
 */
export const cubeSweepPending = sql`last_swept_at IS NULL OR last_active_at > last_swept_at`;

/**
 * Cubes: one Durable Object each. Every owner has a default cube (deterministic id, see core/ids.ts).
 * Retention: one row per cube, deleted with the cube.
 */
export const cubes = sqliteTable(
  "cubes",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    owner: text("owner").notNull(),
    name: text("name").notNull(),
    isDefault: integer("is_default", { mode: "boolean" }).notNull(),
    /**
     * Memories in a live state, as last reported by the cube after a write: written by the bookkeeping consumer's
     * next batch (≤ 1 s after the write at `max_batch_timeout`, longer only while D1 or the queue retries). The
     * owners directory sums these.
     */
    memoryCount: integer("memory_count").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    lastActiveAt: integer("last_active_at").notNull(),
    /** When the cron's lifecycle repair last checked this cube's own schedule; null = never. */
    lastSweptAt: integer("last_swept_at"),
  },
  (t) => [
    uniqueIndex("cubes_tenant_owner_name").on(t.tenantId, t.owner, t.name),
    index("cubes_tenant").on(t.tenantId),
    // The repair's bounded query: cubes written since its last visit (a partial index, so the cron reads only
    // those rows, oldest activity first). Idle cubes are never read (migration 0005 dropped cubes_last_swept).
    index("cubes_sweep_pending").on(t.lastActiveAt).where(cubeSweepPending),
  ],
);

/**
 * The secret of a tenant's signed lifecycle hook (POST /v1/hooks/lifecycle), one per tenant; creating a new one
 * replaces the row, so the old secret stops verifying at once. The secret is needed in clear to check HMACs, so it
 * is stored encrypted: AES-GCM under a key derived from ROOT_KEY (HKDF-SHA256), with the tenant id as associated
 * data so a ciphertext cannot be moved to another tenant's row. Retention: one row per tenant.
 */
export const lifecycleHookSecrets = sqliteTable("lifecycle_hook_secrets", {
  tenantId: text("tenant_id")
    .primaryKey()
    .references(() => tenants.id),
  /** `v1.<iv>.<ciphertext>`, both base64url. */
  sealedSecret: text("sealed_secret").notNull(),
  /** First characters of the secret, to recognise it. */
  prefix: text("prefix").notNull(),
  createdAt: integer("created_at").notNull(),
});

/**
 * Signatures of accepted lifecycle hook deliveries, so a replay is refused. A signature can only verify within
 * ±5 minutes of its timestamp, so rows older than 10 minutes can never match again and are pruned.
 * Retention: 10 minutes (HOOK_REPLAY_WINDOW_MS), pruned on every delivery and by the cron.
 */
export const lifecycleHookDeliveries = sqliteTable(
  "lifecycle_hook_deliveries",
  {
    tenantId: text("tenant_id").notNull(),
    /** The lower-case hex HMAC of the delivery. */
    signature: text("signature").notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.signature] }), index("lifecycle_hook_deliveries_received").on(t.receivedAt)],
);

/**
 * Outbound webhooks: a tenant's endpoints and the event types each one receives. The signing secret is needed in
 * clear to sign every delivery, so it is sealed like the lifecycle hook secret (AES-GCM under a key derived from
 * ROOT_KEY), bound to `<tenant>/<webhook>` so a ciphertext cannot be moved to another row. Deleting a webhook
 * deletes its deliveries with it. Cap: 20 per tenant.
 */
export const webhooks = sqliteTable(
  "webhooks",
  {
    /** `whk_…`. */
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    /** Validated by services/url-policy.ts when registered, and again before every delivery. */
    url: text("url").notNull(),
    /** JSON array of the event types delivered here (`memory.created`, `job.failed`, …). */
    events: text("events").notNull(),
    /** `v1.<iv>.<ciphertext>`, both base64url. */
    sealedSecret: text("sealed_secret").notNull(),
    /** First characters of the secret, to recognise it. */
    secretPrefix: text("secret_prefix").notNull(),
    createdAt: integer("created_at").notNull(),
    /** When the secret was last created or rotated. */
    secretCreatedAt: integer("secret_created_at").notNull(),
  },
  (t) => [index("webhooks_tenant").on(t.tenantId, t.createdAt)],
);

export { WEBHOOK_DELIVERY_STATUSES };

/**
 * One event for one webhook, and how its delivery went. Unique per (webhook, event), so an event that reaches the
 * consumer twice is delivered once. `payload` is the exact JSON body that is signed and sent (never memory content).
 * Retention: delivered and dead rows 30 days after their last change (DELIVERY_RETENTION_MS), pruned by the cron in
 * batches of 2,000; queued and failed rows end as delivered or dead.
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    /** `dlv_…`. */
    id: text("id").primaryKey(),
    webhookId: text("webhook_id")
      .notNull()
      .references(() => webhooks.id),
    tenantId: text("tenant_id").notNull(),
    /** The event's id (`evt_…`), also sent as `X-Memos-Event-Id`: receivers de-duplicate by it. */
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    payload: text("payload").notNull(),
    status: text("status", { enum: WEBHOOK_DELIVERY_STATUSES }).notNull(),
    /** HTTP attempts made in the current round (a replay starts a new round at 0). */
    attempts: integer("attempts").notNull().default(0),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    /** When the next attempt is due (queued/failed); the consumer skips a duplicate message that arrives earlier. */
    nextAttemptAt: integer("next_attempt_at"),
    /** A consumer holds the delivery until then while it POSTs, so a duplicate queue message cannot send it twice. */
    lockedUntil: integer("locked_until"),
    deliveredAt: integer("delivered_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("webhook_deliveries_event").on(t.webhookId, t.eventId),
    index("webhook_deliveries_webhook_created").on(t.webhookId, t.createdAt),
    // The cron's two bounded scans: deliveries whose queue message was lost, and finished ones past retention.
    index("webhook_deliveries_pending").on(t.nextAttemptAt).where(sql`status IN ('queued', 'failed')`),
    index("webhook_deliveries_finished").on(t.updatedAt).where(sql`status IN ('delivered', 'dead')`),
  ],
);

/**
 * Cubes erased by owner or cube deletion, by the SHA-256 of the cube id only (services/erasure.ts): the webhook
 * fan-out drops events of an erased cube created before its erasure, so a queue message in flight at the deletion
 * writes no delivery naming the owner. Retention: 7 days (ERASED_CUBE_RETENTION_MS), pruned by the cron.
 */
export const erasedCubes = sqliteTable(
  "erased_cubes",
  {
    tenantId: text("tenant_id").notNull(),
    cubeSha256: text("cube_sha256").notNull(),
    erasedAt: integer("erased_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.cubeSha256] }), index("erased_cubes_erased_at").on(t.erasedAt)],
);

/**
 * MemStore listings (docs/memstore.md): a cube published under a name, with description, tags and licence, as
 * versioned read-only snapshots. `visibility` is `tenant` (only the publishing tenant sees it) or `public` (every
 * tenant may find, read, subscribe to and fork it; only the publisher changes it). Searched through the FTS5 table
 * `memstore_listings_fts` (migration 0008, raw SQL: drizzle has no virtual tables).
 * Cap: MAX_LISTINGS_PER_TENANT (50). Retention: until unpublished, which deletes its versions, subscriptions and
 * search row in the same batch.
 */
export const memstoreListings = sqliteTable(
  "memstore_listings",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    /** The live cube each version is snapshotted from; never read by subscribers. */
    sourceCubeId: text("source_cube_id").notNull(),
    /** The source cube's owner: a key acting for that owner manages the listing. */
    sourceOwner: text("source_owner").notNull(),
    name: text("name").notNull(),
    description: text("description").notNull(),
    /** JSON array of tags. */
    tags: text("tags").notNull(),
    licence: text("licence").notNull(),
    visibility: text("visibility", { enum: ["tenant", "public"] }).notNull(),
    latestVersion: integer("latest_version").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    createdByKeyId: text("created_by_key_id"),
  },
  (t) => [
    uniqueIndex("memstore_listings_tenant_name").on(t.tenantId, t.name),
    index("memstore_listings_tenant_updated").on(t.tenantId, t.updatedAt),
    index("memstore_listings_public_updated").on(t.updatedAt).where(sql`visibility = 'public'`),
  ],
);

/**
 * One published version of a listing: an immutable snapshot file in R2 and the snapshot cube loaded from it (a
 * Durable Object of the publishing tenant that no cube route reaches: it is not in `cubes`). `status` is
 * `preparing` until the snapshot cube's import job is done, then `ready` (or `failed`).
 * Cap: MAX_VERSIONS_PER_LISTING (100). Retention: deleted with its listing.
 */
export const memstoreVersions = sqliteTable(
  "memstore_versions",
  {
    listingId: text("listing_id").notNull(),
    version: integer("version").notNull(),
    tenantId: text("tenant_id").notNull(),
    snapshotCubeId: text("snapshot_cube_id").notNull(),
    snapshotKey: text("snapshot_key").notNull(),
    /** The snapshot cube's import job. */
    jobId: text("job_id").notNull(),
    status: text("status", { enum: ["preparing", "ready", "failed"] }).notNull(),
    memories: integer("memories").notNull(),
    bytes: integer("bytes").notNull(),
    createdAt: integer("created_at").notNull(),
    readyAt: integer("ready_at"),
  },
  (t) => [primaryKey({ columns: [t.listingId, t.version] })],
);

/**
 * A tenant's subscription to a listing: a read grant on whichever version is newest and ready.
 * Cap: MAX_SUBSCRIPTIONS_PER_TENANT (500). Retention: until unsubscribed or the listing is unpublished.
 */
export const memstoreSubscriptions = sqliteTable(
  "memstore_subscriptions",
  {
    listingId: text("listing_id").notNull(),
    /** The subscribing tenant (the publisher's own tenant, or any tenant for a public listing). */
    tenantId: text("tenant_id").notNull(),
    createdAt: integer("created_at").notNull(),
    createdByKeyId: text("created_by_key_id"),
  },
  (t) => [primaryKey({ columns: [t.listingId, t.tenantId] }), index("memstore_subscriptions_tenant").on(t.tenantId, t.createdAt)],
);

/**
 * The catalog's full-text index: one row per listing (name, description and tags in `body`). An FTS5 virtual table,
 * created by hand in migration 0008 (drizzle-kit cannot write virtual tables: keep this declaration out of generated
 * migrations); declared here so inserts and deletes join the listing's batches. Queries MATCH it by raw SQL built
 * from core/fts-query.ts terms. Retention: deleted with its listing.
 */
export const memstoreListingsFts = sqliteTable("memstore_listings_fts", {
  listingId: text("listing_id").notNull(),
  body: text("body").notNull(),
});
