/**
 * Authentication: `Authorization: Bearer <key>` is either the operator's root key (admin routes only) or a
 * tenant key, looked up by the SHA-256 of its secret. Unknown, revoked and expired keys are all plain 401s. A tenant
 * key's owner and cube restrictions travel on the principal; services/cubes.ts applies them.
 */
import { eq } from "drizzle-orm";
import { ExpiringCache } from "../core/expiring-cache";
import { sha256Hex } from "../core/hash";
import { apiKeys } from "../db/schema";
import { ApiError } from "../errors";
import type { ScopeName } from "../schemas/admin";
import type { Deps, Principal, TenantPrincipal } from "./context";

/** How stale `last_used_at` may get before a request refreshes it: one D1 write a minute per key at most. */
const LAST_USED_GRANULARITY_MS = 60_000;

type ApiKeyRow = typeof apiKeys.$inferSelect;

/**
 * Keys this isolate has looked up, by the SHA-256 of their secret. In production D1 is a network hop, often to
 * another region, that every request would otherwise pay before any work. Revoking clears the revoking isolate's
 * entry at once ({@link forgetCachedKey}); another isolate may accept a revoked key for at most KEY_CACHE_TTL_MS.
 * Expiry is checked on every request against the cached row. Unknown keys are never cached.
 */
export const KEY_CACHE_TTL_MS = 30_000;
const knownKeys = new ExpiringCache<string, ApiKeyRow>({ ttlMs: KEY_CACHE_TTL_MS, maxEntries: 10_000 });

export function forgetCachedKey(secretHash: string): void {
  knownKeys.delete(secretHash);
}

/** `Bearer <key>`; mem0's clients send `Token <key>` (the /mem0 facade), which is taken as the same thing. */
export function bearerToken(header: string | undefined): string {
  const match = header?.match(/^(?:Bearer|Token)\s+(\S+)\s*$/i);
  if (!match?.[1]) throw new ApiError("unauthorized", "send an API key as `Authorization: Bearer <key>`");
  return match[1];
}

/** Equal-time comparison of two secrets through their digests, so timing says nothing about either. */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(da, db);
}

/**
 * Who is calling. `background` receives the last-used refresh so the caller can run it after the response.
 */
export async function authenticate(
  deps: Deps,
  authorization: string | undefined,
  background: (work: Promise<unknown>) => void,
): Promise<Principal> {
  const token = bearerToken(authorization);
  if (deps.rootKey && (await sameSecret(token, deps.rootKey))) return { kind: "root" };

  const secretHash = await sha256Hex(token);
  const now = deps.clock();
  let key = knownKeys.get(secretHash, now);
  if (!key) {
    key = await deps.db.select().from(apiKeys).where(eq(apiKeys.secretHash, secretHash)).get();
    if (key) knownKeys.set(secretHash, key, now);
  }
  if (!key || key.revokedAt !== null || (key.expiresAt !== null && key.expiresAt <= now)) {
    throw new ApiError("unauthorized", "unknown, revoked or expired API key");
  }
  if (key.lastUsedAt === null || now - key.lastUsedAt > LAST_USED_GRANULARITY_MS) {
    // The cached row too, so this isolate refreshes at most once a minute.
    key.lastUsedAt = now;
    background(deps.bookkeeping.send({ kind: "key_used", keyId: key.id, at: now }));
  }
  return {
    kind: "tenant",
    tenantId: key.tenantId,
    keyId: key.id,
    scopes: new Set(JSON.parse(key.scopes) as ScopeName[]),
    restrictions: {
      allowedOwners: setOrNull(key.allowedOwners),
      allowedCubes: setOrNull(key.allowedCubes),
      expiresAt: key.expiresAt,
    },
  };
}

/** A stored JSON array of strings as a set; null stays null (no restriction). */
function setOrNull(json: string | null): ReadonlySet<string> | null {
  return json === null ? null : new Set(JSON.parse(json) as string[]);
}

/** `admin` implies `read` and `write`; otherwise a key has exactly the scopes it was given. */
export function hasScope(principal: TenantPrincipal, scope: ScopeName): boolean {
  return principal.scopes.has(scope) || principal.scopes.has("admin");
}

export function requireTenant(principal: Principal, scope: ScopeName): TenantPrincipal {
  if (principal.kind !== "tenant") throw new ApiError("forbidden", "the root key only manages tenants; use a tenant key");
  if (!hasScope(principal, scope)) throw new ApiError("forbidden", `this key lacks the \`${scope}\` scope`);
  return principal;
}

export function requireRoot(principal: Principal): void {
  if (principal.kind !== "root") throw new ApiError("forbidden", "admin routes need the root key");
}

/** True when the key may act for every owner and cube of its tenant (system contexts without a key included). */
export function isUnrestricted(principal: TenantPrincipal): boolean {
  const restrictions = principal.restrictions;
  return restrictions === undefined || (restrictions.allowedOwners === null && restrictions.allowedCubes === null);
}
