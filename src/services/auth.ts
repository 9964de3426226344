/**
 * Authentication: `Authorization: Bearer <key>` is either the operator's root key (admin routes only) or a
 * tenant key, looked up by the SHA-256 of its secret. Unknown, revoked and expired keys are all plain 401s. A tenant
 * key's owner and cube restrictions travel on the principal; services/cubes.ts applies them.
 *
 * A warm request reads no key from D1 (docs/hot-path.md): rows come from a per-isolate cache re-read in the
 * background while in use — from the key's rate limiter, which holds the row and reads D1 once per change, not once
 * per isolate — and revocation takes effect through that limiter (which every request reaches) rather than through
 * the cache, within {@link KEY_REVOCATION_BOUND_MS} everywhere.
 */
import { eq } from "drizzle-orm";
import { ExpiringCache } from "../core/expiring-cache";
import { RefreshingCache } from "../core/refreshing-cache";
import { hex, sha256 } from "../core/hash";
import { apiKeys } from "../db/schema";
import { type HeldKeyRow, KEY_ROW_HELD_MS } from "../../durable-objects/rate-limiter/key-row";
import { ApiError } from "../errors";
import type { ScopeName } from "../schemas/admin";
import type { Deps, Principal, TenantPrincipal } from "./context";

/** How stale `last_used_at` may get before a request refreshes it: one D1 write a minute per key at most. */
const LAST_USED_GRANULARITY_MS = 60_000;

type ApiKeyRow = typeof apiKeys.$inferSelect;
/** What the key cache holds: the columns authentication reads, as D1 or the key's limiter gives them. */
type CachedKeyRow = Pick<ApiKeyRow, keyof HeldKeyRow>;

/**
 * How long after a key's revocation another isolate may still accept it. Revoking tells the key's rate limiter first
 * (durable-objects/rate-limiter.ts); every request of the key reaches it, waited for or — within the limiter's
 * headroom, at most 1 s after its last answer — counted right after the response, and an answer of `revoked` is
 * remembered by the isolate ({@link markKeyRevoked}). So the bound is that headroom plus one limiter round trip,
 * well under this; when the limiter cannot be reached, D1 is asked instead (services/rate-limit.ts).
 */
export const KEY_REVOCATION_BOUND_MS = 5_000;

/**
 * Key rows this isolate has looked up, by the SHA-256 of their secret. In production D1 is a network hop, often to
 * another region, that every request would otherwise pay before any work. A row is re-read in the background after
 * KEY_REFRESH_MS while the key is in use — from the key's rate limiter ({@link refreshKey}), which reads D1 at most
 * once per KEY_ROW_HELD_MS (or after a change through the API) whatever the number of isolates — and from D1 before
 * answering once it is KEY_ROW_EXPIRY_MS old or on a miss. So a change of a key's own rate limits made straight in D1
 * by an operator is seen within {@link KEY_ROW_CHANGE_BOUND_MS}. Expiry is checked on every request against the
 * cached row. Unknown keys are never cached.
 */
export const KEY_REFRESH_MS = 60_000;
const KEY_ROW_EXPIRY_MS = 10 * 60_000;
/** How long an operator's direct D1 edit of a key row can go unseen: the limiter's hold, then an isolate's copy. */
export const KEY_ROW_CHANGE_BOUND_MS = KEY_ROW_HELD_MS + KEY_ROW_EXPIRY_MS;
const knownKeys = new RefreshingCache<string, CachedKeyRow>({ refreshAfterMs: KEY_REFRESH_MS, expireAfterMs: KEY_ROW_EXPIRY_MS, maxEntries: 10_000 });
/** Keys this isolate learnt are revoked (by id): refused even while an older copy of their row is cached. */
const revokedKeys = new ExpiringCache<string, true>({ ttlMs: KEY_ROW_EXPIRY_MS, maxEntries: 10_000 });

export const UNAUTHORIZED_KEY_MESSAGE = "unknown, revoked or expired API key";

/** Drops this isolate's copy of a key it just revoked. */
export function forgetCachedKey(secretHash: string): void {
  knownKeys.delete(secretHash);
}

/** Remembers that a key is revoked (its limiter said so): this isolate refuses it from now on. */
export function markKeyRevoked(keyId: string): void {
  revokedKeys.set(keyId, true, Date.now());
}

/** The key row by the hash of its secret, from D1; cached when it exists. */
async function readKey(deps: Deps, secretHash: string): Promise<CachedKeyRow | undefined> {
  const readAt = deps.clock();
  const key = await deps.db.select().from(apiKeys).where(eq(apiKeys.secretHash, secretHash)).get();
  if (key) knownKeys.set(secretHash, key, readAt);
  else knownKeys.delete(secretHash);
  return key;
}

/**
 * Re-reads a cached key from its rate limiter, which holds the row (durable-objects/rate-limiter/key-row.ts): D1 is
 * read once per key per KEY_ROW_HELD_MS or change, not once per isolate and KEY_REFRESH_MS. A limiter that cannot
 * be reached sends the refresh to D1 (logged). The isolate's own last-use stamp is kept: the limiter's copy may be
 * older, and the stamp only throttles `key_used` items.
 */
async function refreshKey(deps: Deps, secretHash: string, cached: CachedKeyRow): Promise<void> {
  const readAt = deps.clock();
  let row: HeldKeyRow | null;
  try {
    row = await deps.limiters.getByName(cached.id).keyRow(cached.id);
  } catch (error) {
    console.error(`key ${cached.id}: its rate limiter could not refresh the row; read from D1`, error);
    await readKey(deps, secretHash);
    return;
  }
  if (!row || row.secretHash !== secretHash) {
    knownKeys.delete(secretHash);
    return;
  }
  knownKeys.set(secretHash, { ...row, lastUsedAt: Math.max(row.lastUsedAt ?? 0, cached.lastUsedAt ?? 0) || null }, readAt);
}

/**
 * D1's word on whether a key still stands, for when its rate limiter cannot be reached: throws `unauthorized` for a
 * revoked or deleted key (and remembers it); a D1 failure too lets the request through, logged.
 */
export async function confirmKey(deps: Deps, keyId: string): Promise<void> {
  let row: { revokedAt: number | null } | undefined;
  try {
    row = await deps.db.select({ revokedAt: apiKeys.revokedAt }).from(apiKeys).where(eq(apiKeys.id, keyId)).get();
  } catch (error) {
    console.error(`key ${keyId}: neither its rate limiter nor D1 answered; request let through`, error);
    return;
  }
  if (!row || row.revokedAt !== null) {
    markKeyRevoked(keyId);
    throw new ApiError("unauthorized", UNAUTHORIZED_KEY_MESSAGE);
  }
}

/** `Bearer <key>`; mem0's clients send `Token <key>` (the /mem0 facade), which is taken as the same thing. */
export function bearerToken(header: string | undefined): string {
  const match = header?.match(/^(?:Bearer|Token)\s+(\S+)\s*$/i);
  if (!match?.[1]) throw new ApiError("unauthorized", "send an API key as `Authorization: Bearer <key>`");
  return match[1];
}

/** The root key's digest, computed once per isolate (the key is a secret that changes only with a deploy). */
let rootDigest: { key: string; digest: ArrayBuffer } | null = null;

/**
 * Equal-time comparison of a token's digest with the root key's, so timing says nothing about either. The token's
 * digest is the one the key lookup uses too: one SHA-256 per request instead of three.
 */
async function isRootKey(tokenDigest: ArrayBuffer, rootKey: string): Promise<boolean> {
  // The resolved bytes are kept, not the promise: a promise is tied to the request that created it in workerd.
  if (rootDigest?.key !== rootKey) rootDigest = { key: rootKey, digest: await sha256(rootKey) };
  return crypto.subtle.timingSafeEqual(tokenDigest, rootDigest.digest);
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
  const tokenDigest = await sha256(token);
  if (deps.rootKey && (await isRootKey(tokenDigest, deps.rootKey))) return { kind: "root" };

  const secretHash = hex(tokenDigest);
  const now = deps.clock();
  const cached = knownKeys.lookup(secretHash, now);
  if (cached?.refresh) background(refreshKey(deps, secretHash, cached.value));
  const key = cached ? cached.value : await readKey(deps, secretHash);
  if (!key || key.revokedAt !== null || (key.expiresAt !== null && key.expiresAt <= now) || revokedKeys.get(key.id, now)) {
    throw new ApiError("unauthorized", UNAUTHORIZED_KEY_MESSAGE);
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
    rateLimits: { requests: validLimit(key.rateLimitRequests, key.id), writeBytes: validLimit(key.rateLimitWriteBytes, key.id) },
  };
}

/** A per-key limit as stored: a non-negative integer, or null. Anything else is an operator's typo: logged, ignored. */
function validLimit(value: number | null, keyId: string): number | null {
  if (value === null) return null;
  if (Number.isSafeInteger(value) && value >= 0) return value;
  console.error(`key ${keyId} has an invalid rate limit ${value}; using the default`);
  return null;
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
