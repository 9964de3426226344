/**
 * D1 control-plane tables (drizzle). Memories never live here: they belong to their cube's Durable Object.
 * `drizzle-kit generate` turns changes to this file into a new migration under ../../migrations.
 * All times are integer milliseconds since the epoch.
 */
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** A customer account. Nothing crosses tenants. */
export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  createdAt: integer("created_at").notNull(),
});

/** API keys. Only the SHA-256 of the secret is stored; `prefix` lets people recognise a key. */
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
  },
  (t) => [uniqueIndex("api_keys_secret_hash").on(t.secretHash), index("api_keys_tenant").on(t.tenantId)],
);

/** The owners directory: every user/agent a tenant has written memories for, with counts and last activity. */
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
    memoryCount: integer("memory_count").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    lastActiveAt: integer("last_active_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.owner] })],
);

/** Cubes: one Durable Object each. Every owner has a default cube (deterministic id, see core/ids.ts). */
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
    /** Memories in a live state, as last reported by the cube after a write. */
    memoryCount: integer("memory_count").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    lastActiveAt: integer("last_active_at").notNull(),
  },
  (t) => [uniqueIndex("cubes_tenant_owner_name").on(t.tenantId, t.owner, t.name), index("cubes_tenant").on(t.tenantId)],
);
