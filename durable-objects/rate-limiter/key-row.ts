/**
 * A key's row as its rate limiter holds it (issue 14, item 1; docs/hot-path.md "Caches and their bounds"). Every
 * isolate re-reads the keys it serves every KEY_REFRESH_MS (src/services/auth.ts); it asks the key's limiter — the
 * object every request of the key reaches anyway — and the limiter reads D1 once per {@link KEY_ROW_HELD_MS}, or
 * after a change through the API ({@link KeyRowHold.forget}), however many isolates ask. Kept in the object's storage,
 * so an idle limiter's eviction (~10 s) does not cost another D1 read.
 */

/** How long the limiter serves its copy of the row before reading D1 again: what an operator's direct D1 edit waits. */
export const KEY_ROW_HELD_MS = 5 * 60_000;

const HELD_STORAGE_KEY = "key-row";

/** The columns of `api_keys` that authentication needs (src/db/schema.ts names them). */
export interface HeldKeyRow {
  id: string;
  tenantId: string;
  secretHash: string;
  scopes: string;
  lastUsedAt: number | null;
  expiresAt: number | null;
  revokedAt: number | null;
  allowedOwners: string | null;
  allowedCubes: string | null;
  rateLimitRequests: number | null;
  rateLimitWriteBytes: number | null;
}

/** The slice of the object's synchronous KV storage the hold uses. */
export interface HeldRowStorage {
  get<T>(key: string): T | undefined;
  put<T>(key: string, value: T): void;
  delete(key: string): boolean;
}

export class KeyRowHold {
  /** Bumped by {@link forget}: a D1 read that began before a change finishes after it and is not kept. */
  private generation = 0;

  constructor(
    private readonly load: (keyId: string) => Promise<HeldKeyRow | null>,
    private readonly storage: HeldRowStorage,
    private readonly clock: () => number,
  ) {}

  /** The key's row: held, or read from D1 (and held); null when the key no longer exists (never held). */
  async row(keyId: string): Promise<HeldKeyRow | null> {
    const now = this.clock();
    const held = this.storage.get<{ row: HeldKeyRow; readAt: number }>(HELD_STORAGE_KEY);
    const age = held ? now - held.readAt : -1;
    if (held && held.row.id === keyId && age >= 0 && age < KEY_ROW_HELD_MS) return held.row;
    const generation = this.generation;
    const row = await this.load(keyId);
    if (generation === this.generation) {
      if (row) this.storage.put(HELD_STORAGE_KEY, { row, readAt: now });
      else this.storage.delete(HELD_STORAGE_KEY);
    }
    return row;
  }

  /** The key's row changed in D1 (revocation, narrowing): the next ask reads it again. */
  forget(): void {
    this.generation += 1;
    this.storage.delete(HELD_STORAGE_KEY);
  }
}

/** The row from D1 by key id (a plain prepared statement, as the tenant directory's reads). */
export async function d1KeyRow(db: D1Database, keyId: string): Promise<HeldKeyRow | null> {
  const row = await db
    .prepare(
      `SELECT id, tenant_id, secret_hash, scopes, last_used_at, expires_at, revoked_at, allowed_owners, allowed_cubes,
        rate_limit_requests, rate_limit_write_bytes FROM api_keys WHERE id = ?`,
    )
    .bind(keyId)
    .first<Record<string, string | number | null>>();
  if (!row) return null;
  return {
    id: row.id as string,
    tenantId: row.tenant_id as string,
    secretHash: row.secret_hash as string,
    scopes: row.scopes as string,
    lastUsedAt: row.last_used_at as number | null,
    expiresAt: row.expires_at as number | null,
    revokedAt: row.revoked_at as number | null,
    allowedOwners: row.allowed_owners as string | null,
    allowedCubes: row.allowed_cubes as string | null,
    rateLimitRequests: row.rate_limit_requests as number | null,
    rateLimitWriteBytes: row.rate_limit_write_bytes as number | null,
  };
}
