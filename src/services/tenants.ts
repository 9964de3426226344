/**
 * Tenants and their API keys: created by the operator (root key) or by a tenant's own admin keys.
 *
 * A key can never widen itself: a restricted key (allowed owners or cubes, an expiry) that mints a key can only
 * narrow — scopes within its own, owners within its owners, cubes within its cubes, expiry no later than its own —
 * and it sees and revokes only keys inside its own restrictions.
 */
import { and, desc, eq, inArray, sql } from "drizzle-orm";
import { sha256Hex } from "../core/hash";
import { newKeyId, newTenantId, randomBody } from "../core/ids";
import { fromIso, toIso, toIsoOrNull } from "../core/time";
import { apiKeys, cubes, tenants } from "../db/schema";
import { ApiError } from "../errors";
import { type ApiKeyWire, type CreateKeyWire, DEFAULT_AUDIT_RETENTION_DAYS, type TenantWire, type UpdateTenantWire } from "../schemas/admin";
import { forgetCachedKey, hasScope } from "./auth";
import type { Deps, KeyRestrictions, TenantPrincipal } from "./context";
import { grantedPermissions } from "./cubes";
import { keyRoomLeft, tooManyKeys } from "./control-plane-caps";

/** Characters of the secret shown as its prefix: `mos_` plus 8. */
const PREFIX_LENGTH = 12;

const toTenant = (tenant: typeof tenants.$inferSelect): TenantWire => ({
  id: tenant.id,
  name: tenant.name,
  created_at: toIso(tenant.createdAt),
  audit_retention_days: tenant.auditRetentionDays,
});

export async function createTenant(deps: Deps, name: string): Promise<TenantWire> {
  const tenant = { id: newTenantId(), name, createdAt: deps.clock(), auditRetentionDays: DEFAULT_AUDIT_RETENTION_DAYS };
  await deps.db.insert(tenants).values(tenant);
  return toTenant(tenant);
}

export async function getTenant(deps: Deps, tenantId: string): Promise<TenantWire> {
  const tenant = await deps.db.select().from(tenants).where(eq(tenants.id, tenantId)).get();
  if (!tenant) throw new ApiError("not_found", "tenant not found");
  return toTenant(tenant);
}

/** Changes a tenant's settings (root key): today its audit retention, which the next cron run applies. */
export async function updateTenant(deps: Deps, tenantId: string, input: UpdateTenantWire): Promise<TenantWire> {
  const [updated] = await deps.db
    .update(tenants)
    .set({ auditRetentionDays: input.audit_retention_days })
    .where(eq(tenants.id, tenantId))
    .returning();
  if (!updated) throw new ApiError("not_found", "tenant not found");
  return toTenant(updated);
}

export type KeyRow = typeof apiKeys.$inferSelect;

const parseList = (json: string | null): string[] | null => (json === null ? null : (JSON.parse(json) as string[]));

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
    allowed_owners: parseList(row.allowedOwners),
    allowed_cubes: parseList(row.allowedCubes),
    created_by_key_id: row.createdByKeyId,
  };
}

const NO_RESTRICTIONS: KeyRestrictions = { allowedOwners: null, allowedCubes: null, expiresAt: null };

/**
 * The restrictions of a key minted by `minter` (null: the root key), or 403 when the request would widen the minter.
 * Pure set comparisons only, so a refusal says nothing about which cubes exist.
 */
function narrowedRestrictions(input: CreateKeyWire, minter: TenantPrincipal | null, now: number) {
  const parent = minter?.restrictions ?? NO_RESTRICTIONS;
  const owners = input.allowed_owners === undefined ? null : [...new Set(input.allowed_owners)];
  const cubeIds = input.allowed_cubes === undefined ? null : [...new Set(input.allowed_cubes)];
  let expiresAt = input.expires_at === undefined ? null : fromIso(input.expires_at);
  if (expiresAt !== null && expiresAt <= now) throw new ApiError("invalid_request", "expires_at must be in the future");

  if (minter) {
    const wider = input.scopes.filter((scope) => !hasScope(minter, scope));
    if (wider.length > 0) throw new ApiError("forbidden", `a key cannot mint a key with scopes it lacks: ${wider.join(", ")}`);
  }
  if (parent.allowedOwners) {
    if (!owners) throw new ApiError("forbidden", "this key is restricted to owners: the new key needs allowed_owners within them");
    const outside = owners.filter((owner) => !parent.allowedOwners!.has(owner));
    if (outside.length > 0) throw new ApiError("forbidden", `allowed_owners outside this key's owners: ${outside.join(", ")}`);
  }
  if (parent.allowedCubes) {
    if (!cubeIds) throw new ApiError("forbidden", "this key is restricted to cubes: the new key needs allowed_cubes within them");
    const outside = cubeIds.filter((cubeId) => !parent.allowedCubes!.has(cubeId));
    if (outside.length > 0) throw new ApiError("forbidden", `allowed_cubes outside this key's cubes: ${outside.join(", ")}`);
  }
  if (parent.expiresAt !== null) {
    if (expiresAt === null) expiresAt = parent.expiresAt;
    else if (expiresAt > parent.expiresAt) {
      throw new ApiError("forbidden", `the new key cannot outlive this one (it expires at ${toIso(parent.expiresAt)})`);
    }
  }
  return { owners, cubeIds, expiresAt };
}

/**
 * Every allowed cube must be a cube of the tenant that the minter reaches (for an owner-restricted minter: its
 * owners' cubes or cubes granted to them); any other is "not found", like a cube of another tenant.
 */
async function checkAllowedCubes(deps: Deps, tenantId: string, cubeIds: readonly string[], minter: TenantPrincipal | null) {
  const rows = await deps.db
    .select({ id: cubes.id, owner: cubes.owner })
    .from(cubes)
    .where(and(eq(cubes.tenantId, tenantId), inArray(cubes.id, [...cubeIds])))
    .all();
  const reached = new Set(rows.map((row) => row.id));
  const notFound = () => new ApiError("not_found", "cube not found", { cube_ids: cubeIds.filter((id) => !reached.has(id)) });
  if (reached.size !== cubeIds.length) throw notFound();
  const owners = minter?.restrictions?.allowedOwners;
  if (!owners) return;
  const viaGrant = rows.filter((row) => !owners.has(row.owner)).map((row) => row.id);
  const granted = await grantedPermissions(deps, tenantId, viaGrant, owners);
  for (const id of viaGrant) if (!granted.has(id)) reached.delete(id);
  if (reached.size !== cubeIds.length) throw notFound();
}

/**
 * Mints a key; the secret is returned here once and only its hash is stored. `minter` is the tenant key asking
 * (null for the root key): the new key can only be as wide as it.
 */
export async function createKey(
  deps: Deps,
  tenantId: string,
  input: CreateKeyWire,
  minter: TenantPrincipal | null,
): Promise<ApiKeyWire & { key: string }> {
  await getTenant(deps, tenantId);
  const now = deps.clock();
  const { owners, cubeIds, expiresAt } = narrowedRestrictions(input, minter, now);
  if (cubeIds) await checkAllowedCubes(deps, tenantId, cubeIds, minter);
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
    allowedOwners: owners && JSON.stringify(owners),
    allowedCubes: cubeIds && JSON.stringify(cubeIds),
    createdByKeyId: minter?.keyId ?? null,
    rateLimitRequests: null,
    rateLimitWriteBytes: null,
  };
  // The cap is checked by the insert itself, so concurrent requests cannot overshoot it (services/control-plane-caps.ts).
  const inserted = await deps.db.run(sql`INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes, created_at,
      last_used_at, expires_at, revoked_at, allowed_owners, allowed_cubes, created_by_key_id, rate_limit_requests, rate_limit_write_bytes)
    SELECT ${row.id}, ${row.tenantId}, ${row.name}, ${row.prefix}, ${row.secretHash}, ${row.scopes}, ${row.createdAt},
      NULL, ${row.expiresAt}, NULL, ${row.allowedOwners}, ${row.allowedCubes}, ${row.createdByKeyId}, NULL, NULL
    WHERE ${keyRoomLeft(tenantId, now)}`);
  if (inserted.meta.changes === 0) throw tooManyKeys();
  return { ...toApiKey(row), key: secret };
}

/**
 * Whether `viewer` may see and revoke `row`: a key with no owner or cube restriction manages every key of its tenant;
 * a restricted one only keys inside its restrictions (itself included), never a wider key.
 */
function manages(viewer: TenantPrincipal | null, row: KeyRow): boolean {
  const restrictions = viewer?.restrictions ?? NO_RESTRICTIONS;
  const within = (parent: ReadonlySet<string> | null, child: string[] | null) =>
    parent === null || (child !== null && child.every((item) => parent.has(item)));
  return within(restrictions.allowedOwners, parseList(row.allowedOwners)) && within(restrictions.allowedCubes, parseList(row.allowedCubes));
}

/** The tenant's keys `viewer` manages (null: the root key, every key), newest first. */
export async function listKeys(deps: Deps, tenantId: string, viewer: TenantPrincipal | null): Promise<ApiKeyWire[]> {
  await getTenant(deps, tenantId);
  const rows = await deps.db.select().from(apiKeys).where(eq(apiKeys.tenantId, tenantId)).orderBy(desc(apiKeys.createdAt)).all();
  return rows.filter((row) => manages(viewer, row)).map(toApiKey);
}

/** Revokes a key of this tenant that `viewer` manages; revoking twice keeps the first revocation time. Unknown → 404. */
export async function revokeKey(deps: Deps, tenantId: string, keyId: string, viewer: TenantPrincipal | null): Promise<ApiKeyWire> {
  const where = and(eq(apiKeys.id, keyId), eq(apiKeys.tenantId, tenantId));
  const row = await deps.db.select().from(apiKeys).where(where).get();
  if (!row || !manages(viewer, row)) throw new ApiError("not_found", "key not found");
  if (row.revokedAt !== null) return toApiKey(row);
  // The limiter first: it is where revocation takes effect for every isolate within KEY_REVOCATION_BOUND_MS
  // (services/auth.ts). Should D1 then fail, the key is refused everywhere already and a retry completes the record.
  await deps.limiters.getByName(keyId).revoke();
  const change = { revokedAt: deps.clock() };
  await keyChange(deps, row, change);
  await forgetKey(deps, row);
  return toApiKey({ ...row, ...change });
}

/** What may change in a stored key: revocation, and narrower owners or cubes (never wider ones). */
export type KeyChange = Partial<Pick<KeyRow, "revokedAt" | "allowedOwners" | "allowedCubes">>;

/**
 * The statement that changes a key (revocation, narrowing); run it, then {@link forgetKey}. Key revocation and
 * owner erasure (services/erasure.ts) both go through here, so both drop every cached copy of the key.
 */
export function keyChange(deps: Deps, row: Pick<KeyRow, "id" | "tenantId">, change: KeyChange) {
  return deps.db
    .update(apiKeys)
    .set(change)
    .where(and(eq(apiKeys.id, row.id), eq(apiKeys.tenantId, row.tenantId)));
}

/**
 * After a {@link keyChange} committed: this isolate's cached copy goes, so the change holds on the next request, and
 * the key's rate limiter drops the row it holds, so every other isolate reads the change at its next refresh
 * (services/auth.ts). The promise never rejects (the change is committed; a limiter that missed it re-reads D1 within
 * KEY_ROW_HELD_MS): await it or hand it to the request's background.
 */
export async function forgetKey(deps: Deps, row: Pick<KeyRow, "id" | "secretHash">): Promise<void> {
  forgetCachedKey(row.secretHash);
  try {
    await deps.limiters.getByName(row.id).forgetKeyRow();
  } catch (error) {
    console.error(`key ${row.id}: its rate limiter missed a change of the row; it re-reads D1 within its hold`, error);
  }
}
