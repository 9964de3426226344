/** Tenants and their API keys: created by the operator (root key) or by a tenant's own admin keys. */
import { and, desc, eq } from "drizzle-orm";
import { sha256Hex } from "../core/hash";
import { newKeyId, newTenantId, randomBody } from "../core/ids";
import { fromIso, toIso, toIsoOrNull } from "../core/time";
import { apiKeys, tenants } from "../db/schema";
import { ApiError } from "../errors";
import type { ApiKeyWire, CreateKeyWire } from "../schemas/admin";
import type { Deps } from "./context";

/** Characters of the secret shown as its prefix: `mos_` plus 8. */
const PREFIX_LENGTH = 12;

export async function createTenant(deps: Deps, name: string) {
  const tenant = { id: newTenantId(), name, createdAt: deps.clock() };
  await deps.db.insert(tenants).values(tenant);
  return { id: tenant.id, name: tenant.name, created_at: toIso(tenant.createdAt) };
}

export async function getTenant(deps: Deps, tenantId: string) {
  const tenant = await deps.db.select().from(tenants).where(eq(tenants.id, tenantId)).get();
  if (!tenant) throw new ApiError("not_found", "tenant not found");
  return { id: tenant.id, name: tenant.name, created_at: toIso(tenant.createdAt) };
}

type KeyRow = typeof apiKeys.$inferSelect;

function toApiKey(row: KeyRow): ApiKeyWire {
  return {
    id: row.id,
    tenant_id: row.tenantId,
    name: row.name,
    prefix: row.prefix,
    scopes: JSON.parse(row.scopes) as ApiKeyWire["scopes"],
    created_at: toIso(row.createdAt),
    last_used_at: toIsoOrNull(row.lastUsedAt),
    expires_at: toIsoOrNull(row.expiresAt),
    revoked_at: toIsoOrNull(row.revokedAt),
  };
}

/** Mints a key; the secret is returned here once and only its hash is stored. */
export async function createKey(deps: Deps, tenantId: string, input: CreateKeyWire): Promise<ApiKeyWire & { key: string }> {
  await getTenant(deps, tenantId);
  const now = deps.clock();
  const expiresAt = input.expires_at === undefined ? null : fromIso(input.expires_at);
  if (expiresAt !== null && expiresAt <= now) throw new ApiError("invalid_request", "expires_at must be in the future");
  // 40 base32 characters: 200 bits, so a plain SHA-256 (no slow KDF) is a safe verifier.
  const secret = `mos_${randomBody(40)}`;
  const row: KeyRow = {
    id: newKeyId(),
    tenantId,
    name: input.name ?? null,
    prefix: secret.slice(0, PREFIX_LENGTH),
    secretHash: await sha256Hex(secret),
    scopes: JSON.stringify([...new Set(input.scopes)]),
    createdAt: now,
    lastUsedAt: null,
    expiresAt,
    revokedAt: null,
    allowedOwners: null,
    allowedCubes: null,
    createdByKeyId: null,
    rateLimitRequests: null,
    rateLimitWriteBytes: null,
  };
  await deps.db.insert(apiKeys).values(row);
  return { ...toApiKey(row), key: secret };
}

export async function listKeys(deps: Deps, tenantId: string): Promise<ApiKeyWire[]> {
  await getTenant(deps, tenantId);
  const rows = await deps.db.select().from(apiKeys).where(eq(apiKeys.tenantId, tenantId)).orderBy(desc(apiKeys.createdAt)).all();
  return rows.map(toApiKey);
}

/** Revokes a key of this tenant; revoking twice keeps the first revocation time. Unknown → 404. */
export async function revokeKey(deps: Deps, tenantId: string, keyId: string): Promise<ApiKeyWire> {
  const where = and(eq(apiKeys.id, keyId), eq(apiKeys.tenantId, tenantId));
  const row = await deps.db.select().from(apiKeys).where(where).get();
  if (!row) throw new ApiError("not_found", "key not found");
  if (row.revokedAt !== null) return toApiKey(row);
  const revokedAt = deps.clock();
  await deps.db.update(apiKeys).set({ revokedAt }).where(where);
  return toApiKey({ ...row, revokedAt });
}
