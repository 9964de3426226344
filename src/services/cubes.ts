/**
 * Which cube a call is about, and whether the calling key may read or write it. Checked against D1 so that nothing
 * crosses tenants: a cube (or a memory in a cube) of another tenant, or one the key cannot reach, is "not found",
 * never "forbidden". Only a cube the key can read but not write answers "forbidden" to a write.
 *
 * Reach: a key without restrictions reaches every cube of its tenant. A key with `allowedOwners` reaches its
 * owners' cubes (as their owner side) and cubes granted to any of them (read or write, per grant). A key with
 * `allowedCubes` reaches only those, whatever else applies.
 *
 * A warm request reads nothing here from D1 (docs/hot-path.md): cubes and grants come from per-isolate caches that
 * are re-read in the background while in use — cubes from D1, grants from the tenant's directory object
 * (services/tenant-directory.ts), which reads D1 only after a change. A grant revoked by another isolate stops
 * working within {@link GRANT_REVOCATION_BOUND_MS}; the revoking isolate drops its entries at once.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { CubeDurableObject } from "../../durable-objects/cube";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { ExpiringCache } from "../core/expiring-cache";
import { RefreshBatches } from "../core/refresh-batches";
import { RefreshingCache } from "../core/refreshing-cache";
import { cubeIdOfMemory, cubeObjectName, defaultCubeId, isCubeId } from "../core/ids";
import { cubes, grants, owners } from "../db/schema";
import { ApiError } from "../errors";
import type { OwnerScopeInput } from "../schemas/common";
import type { Deps, KeyRestrictions, RequestContext, TenantContext } from "./context";
import { type GrantAsk, cubeOwners, grantPermissions, grantPermissionsOfMany } from "./tenant-directory";

type OwnerKind = "user" | "agent";

/** What a call needs of a cube. */
export type CubeAccess = "read" | "write";

/**
 * How a key reaches a cube: `owner` — as the cube's owner side (a tenant-wide key, or one acting for the cube's
 * owner): read, write and, unless the key is confined to cubes, share; `write` / `read` — through a grant.
 */
export type CubeReach = "owner" | "write" | "read";

const UNRESTRICTED: KeyRestrictions = { allowedOwners: null, allowedCubes: null, expiresAt: null };

/** The calling key's restrictions; system contexts without a key are tenant-wide. */
export function restrictionsOf(ctx: Pick<TenantContext, "principal">): KeyRestrictions {
  return ctx.principal.restrictions ?? UNRESTRICTED;
}

/** `user:<id>` / `agent:<id>` of a scope, or null when it names a cube. */
export function ownerKeyOf(scope: OwnerScopeInput): string | null {
  const owner = ownerOf(scope);
  return owner && `${owner.kind}:${owner.externalId}`;
}

function ownerOf(scope: OwnerScopeInput): { kind: OwnerKind; externalId: string } | null {
  if (scope.user_id !== undefined) return { kind: "user", externalId: scope.user_id };
  if (scope.agent_id !== undefined) return { kind: "agent", externalId: scope.agent_id };
  return null;
}

/**
 * The owner a `user_id` / `agent_id` call acts for must be one of the key's owners, and that owner's default cube
 * one of its cubes; otherwise 404, as if the owner did not exist.
 */
function checkOwnerScope(restrictions: KeyRestrictions, ownerKey: string, cubeId: string): void {
  if (restrictions.allowedOwners && !restrictions.allowedOwners.has(ownerKey)) throw new ApiError("not_found", "owner not found");
  if (restrictions.allowedCubes && !restrictions.allowedCubes.has(cubeId)) throw new ApiError("not_found", "cube not found");
}

/** Reach decided from the key alone: `grant` when only a grant to one of its owners can let it in. */
function directReach(restrictions: KeyRestrictions, ref: CubeRef): "owner" | "grant" | null {
  if (restrictions.allowedCubes && !restrictions.allowedCubes.has(ref.cubeId)) return null;
  if (!restrictions.allowedOwners || restrictions.allowedOwners.has(ref.owner)) return "owner";
  return "grant";
}

/** Cube ids per grants lookup, so the statement stays under D1's 100 bound parameters with 20 principals. */
const GRANT_LOOKUP_CHUNK = 50;

/**
 * The best permission granted on each of `cubeIds` to any of `principals` (write beats read), read from D1. Callers on
 * the request path go through {@link reachOf}, which caches the answer for at most GRANT_REVOCATION_BOUND_MS.
 */
export async function grantedPermissions(
  deps: Deps,
  tenantId: string,
  cubeIds: readonly string[],
  principals: ReadonlySet<string>,
): Promise<Map<string, "read" | "write">> {
  const best = new Map<string, "read" | "write">();
  if (cubeIds.length === 0 || principals.size === 0) return best;
  for (let i = 0; i < cubeIds.length; i += GRANT_LOOKUP_CHUNK) {
    const rows = await deps.db
      .select({ cubeId: grants.cubeId, permission: grants.permission })
      .from(grants)
      .where(
        and(
          eq(grants.tenantId, tenantId),
          inArray(grants.cubeId, cubeIds.slice(i, i + GRANT_LOOKUP_CHUNK)),
          inArray(grants.principal, [...principals]),
        ),
      )
      .all();
    for (const row of rows) if (best.get(row.cubeId) !== "write") best.set(row.cubeId, row.permission);
  }
  return best;
}

/**
 * How long a grant revoked (or narrowed) by another isolate may still be honoured here. Entries are re-read from
 * the tenant's directory object in the background after GRANT_REFRESH_MS, so a key in steady use never waits for
 * its grants; the object is told of every change before and after its D1 write, so it never answers an older list.
 */
export const GRANT_REVOCATION_BOUND_MS = 5_000;
export const GRANT_REFRESH_MS = 2_000;
/**
 * Grant entries due for a refresh wait this long for others of their tenant, then go in one call to the tenant's
 * object: one call per tenant and window per isolate, however many (cube, key owners) entries it keeps busy. An entry
 * is then 3 s old or more, re-read before its expiry at 5 s when its tenant has a request in between; one that is not
 * expires and is read before the next answer, so the revocation bound stays GRANT_REVOCATION_BOUND_MS.
 */
export const GRANT_REFRESH_BATCH_MS = 1_000;
/** Due grant entries by tenant, each id a JSON [cubeId, ...principals sorted]: ids only, never a promise. */
const dueGrants = new RefreshBatches<string, string>({ windowMs: GRANT_REFRESH_BATCH_MS, maxIdsPerBatch: 10_000, maxBatches: 10_000 });

type Granted = "read" | "write" | null;

/** Grants by `<tenant>/<cube>|<principals, sorted>`: what the key's owners hold on that cube (null: nothing). */
const knownGrants = new RefreshingCache<string, Granted>({
  refreshAfterMs: GRANT_REFRESH_MS,
  expireAfterMs: GRANT_REVOCATION_BOUND_MS,
  maxEntries: 10_000,
});

const grantCacheKey = (tenantId: string, cubeId: string, principals: string) => `${tenantId}/${cubeId}|${principals}`;

/**
 * When this isolate last changed a cube's grants (`<tenant>/<cube>` → the change's number): a read of that cube's
 * grants that was in flight across the change (a background refresh, or another request's miss) answers what the
 * object held before it, so it is not kept. Kept for the revocation bound: a value read longer ago than that has
 * expired anyway.
 */
let grantChanges = 0;
const grantsChangedAt = new ExpiringCache<string, number>({ ttlMs: GRANT_REVOCATION_BOUND_MS, maxEntries: 10_000 });

/** Keeps what a grants read answered for a cube unless this isolate changed its grants since the read began. */
function keepGrant(tenantId: string, cubeId: string, principals: string, value: Granted, readAt: number, changesBefore: number): void {
  if ((grantsChangedAt.get(`${tenantId}/${cubeId}`, Date.now()) ?? 0) > changesBefore) return;
  knownGrants.set(grantCacheKey(tenantId, cubeId, principals), value, readAt);
}

/** Drops this isolate's cached grants on a cube, after this isolate changed them, and any read of them in flight. */
export function forgetCachedGrants(tenantId: string, cubeId: string): void {
  const prefix = `${tenantId}/${cubeId}|`;
  grantsChangedAt.set(`${tenantId}/${cubeId}`, ++grantChanges, Date.now());
  knownGrants.deleteWhere((key) => key.startsWith(prefix));
}

/** Grants through the cache; misses and expired entries are asked of the tenant's object before answering, stale ones after. */
async function cachedGrants(ctx: TenantContext, cubeIds: readonly string[], principals: ReadonlySet<string>): Promise<Map<string, Granted>> {
  const { deps } = ctx;
  const { tenantId } = ctx.principal;
  const principalsKey = [...principals].sort().join(",");
  const now = deps.clock();
  const result = new Map<string, Granted>();
  const missing: string[] = [];
  const stale: string[] = [];
  for (const cubeId of cubeIds) {
    const hit = knownGrants.lookup(grantCacheKey(tenantId, cubeId, principalsKey), now);
    if (!hit) missing.push(cubeId);
    else {
      result.set(cubeId, hit.value);
      if (hit.refresh) stale.push(cubeId);
    }
  }
  if (missing.length > 0) {
    const readAt = deps.clock();
    const changesBefore = grantChanges;
    const granted = await grantPermissions(deps, tenantId, missing, principals);
    for (const cubeId of missing) {
      const value = granted.get(cubeId) ?? null;
      keepGrant(tenantId, cubeId, principalsKey, value, readAt, changesBefore);
      result.set(cubeId, value);
    }
  }
  const sorted = [...principals].sort();
  const due = dueGrants.take(tenantId, stale.map((cubeId) => JSON.stringify([cubeId, ...sorted])), now);
  if (due.length > 0) ctx.background(refreshGrants(deps, tenantId, due));
  return result;
}

/** Re-reads grant entries in use, the tenant's batch of them ({@link GRANT_REFRESH_BATCH_MS}), in one call per 1,000. */
async function refreshGrants(deps: Deps, tenantId: string, due: readonly string[]): Promise<void> {
  const asks = new Map<string, GrantAsk>();
  for (const id of due) {
    const [cubeId, ...principals] = JSON.parse(id) as string[];
    const principalsKey = principals.join(",");
    let ask = asks.get(principalsKey);
    if (!ask) asks.set(principalsKey, (ask = { cubeIds: [], principals }));
    ask.cubeIds.push(cubeId!);
  }
  const readAt = deps.clock();
  const changesBefore = grantChanges;
  const answers = await grantPermissionsOfMany(deps, tenantId, [...asks.values()]);
  let i = 0;
  for (const [principalsKey, ask] of asks) {
    const granted = answers[i++]!;
    for (const cubeId of ask.cubeIds) keepGrant(tenantId, cubeId, principalsKey, granted.get(cubeId) ?? null, readAt, changesBefore);
  }
}

/** How the calling key reaches each of `refs` (null: it does not). One grants lookup for all of them at most. */
export async function reachOf(ctx: TenantContext, refs: readonly CubeRef[]): Promise<Map<string, CubeReach | null>> {
  const restrictions = restrictionsOf(ctx);
  const reach = new Map<string, CubeReach | null>();
  const viaGrant: string[] = [];
  for (const ref of refs) {
    const direct = directReach(restrictions, ref);
    if (direct === "grant") viaGrant.push(ref.cubeId);
    else reach.set(ref.cubeId, direct);
  }
  if (viaGrant.length > 0 && restrictions.allowedOwners) {
    const granted = await cachedGrants(ctx, viaGrant, restrictions.allowedOwners);
    for (const cubeId of viaGrant) reach.set(cubeId, granted.get(cubeId) ?? null);
  }
  return reach;
}

/** Lets a call through when `reach` allows `access`: 404 when the key cannot reach the cube, 403 for a write on a read grant. */
function admit(ref: CubeRef, reach: CubeReach | null | undefined, access: CubeAccess, missing: string): CubeRef {
  if (!reach) throw new ApiError("not_found", missing);
  if (access === "write" && reach === "read") {
    throw new ApiError("forbidden", `this key has read-only access to cube ${ref.cubeId} (a read grant)`);
  }
  return ref;
}

/**
 * Cubes this isolate has already seen. A cube's tenant and owner never change after creation, so a hit is right as
 * long as the cube exists. Deletion clears the deleting isolate's entry ({@link forgetCachedCube}); other isolates
 * believe theirs until they re-read it — in the background after CUBE_REFRESH_MS while in use (a tenant's due cubes
 * together, {@link CUBE_REFRESH_BATCH_MS}), before answering after
 * CUBE_DELETION_BOUND_MS otherwise — so a write they let through after a deletion is bounded to that window (it lands
 * in the emptied object, not in the deleted data). Misses are not cached: a cube created a moment ago by another
 * isolate is found on the next request.
 */
export const CUBE_DELETION_BOUND_MS = 60_000;
const CUBE_REFRESH_MS = 30_000;
/**
 * Cubes due for a refresh wait this long for others of their tenant, then go in one call to the tenant's object: one
 * call per tenant and window per isolate, however many cubes it keeps busy (an entry is then 30–35 s old, well before
 * its expiry at 60 s).
 */
export const CUBE_REFRESH_BATCH_MS = 5_000;
const dueCubes = new RefreshBatches<string, string>({ windowMs: CUBE_REFRESH_BATCH_MS, maxIdsPerBatch: 10_000, maxBatches: 10_000 });
const knownCubes = new RefreshingCache<string, CubeRef>({
  refreshAfterMs: CUBE_REFRESH_MS,
  expireAfterMs: CUBE_DELETION_BOUND_MS,
  maxEntries: 10_000,
});

export function forgetCachedCube(tenantId: string, cubeId: string): void {
  knownCubes.delete(`${tenantId}/${cubeId}`);
}

function remember(deps: Deps, ref: CubeRef, readAt = deps.clock()): CubeRef {
  knownCubes.set(`${ref.tenantId}/${ref.cubeId}`, ref, readAt);
  return ref;
}

/**
 * Cubes of the tenant by id (those that exist; the cache learns them), from the tenant's directory object: it reads
 * D1 only for cubes it does not hold, and a cube's deletion drops what it holds (services/tenant-directory.ts), so an
 * isolate's refreshes of the cubes in use cost D1 nothing however many cubes a tenant keeps busy.
 */
async function readCubes(deps: Deps, tenantId: string, cubeIds: readonly string[]): Promise<CubeRef[]> {
  const readAt = deps.clock();
  const found = await cubeOwners(deps, tenantId, cubeIds);
  return [...found].map(([cubeId, owner]) => remember(deps, { tenantId, cubeId, owner }, readAt));
}

/** Cubes by id through the cache: misses are read before answering, entries due for a refresh after it. */
async function findCubes(ctx: RequestContext, tenantId: string, cubeIds: readonly string[]): Promise<Map<string, CubeRef>> {
  const { deps } = ctx;
  const now = deps.clock();
  const found = new Map<string, CubeRef>();
  const missing: string[] = [];
  const stale: string[] = [];
  for (const cubeId of cubeIds) {
    const hit = knownCubes.lookup(`${tenantId}/${cubeId}`, now);
    if (!hit) missing.push(cubeId);
    else {
      found.set(cubeId, hit.value);
      if (hit.refresh) stale.push(cubeId);
    }
  }
  if (missing.length > 0) for (const ref of await readCubes(deps, tenantId, missing)) found.set(ref.cubeId, ref);
  const due = dueCubes.take(tenantId, stale, now);
  if (due.length > 0) ctx.background(refreshCubes(deps, tenantId, due));
  return found;
}

/** Re-reads cubes in use, the tenant's batch of them ({@link CUBE_REFRESH_BATCH_MS}); one deleted elsewhere is dropped. */
async function refreshCubes(deps: Deps, tenantId: string, cubeIds: readonly string[]): Promise<void> {
  const alive = new Set((await readCubes(deps, tenantId, cubeIds)).map((ref) => ref.cubeId));
  for (const cubeId of cubeIds) if (!alive.has(cubeId)) forgetCachedCube(tenantId, cubeId);
}

async function findCube(ctx: RequestContext, tenantId: string, cubeId: string): Promise<CubeRef | null> {
  return (await findCubes(ctx, tenantId, [cubeId])).get(cubeId) ?? null;
}

/**
 * The cube a read is scoped to, or null when the owner has never been written for (an empty result, not 404).
 * `user_id` / `agent_id` must be one of the key's owners; `cube_id` any cube the key can read.
 */
export async function cubeForRead(ctx: TenantContext, scope: OwnerScopeInput): Promise<CubeRef | null> {
  const { tenantId } = ctx.principal;
  const ownerKey = ownerKeyOf(scope);
  if (!ownerKey) return ownCube(ctx, scope.cube_id ?? "", "read");
  const cubeId = await defaultCubeId(tenantId, ownerKey);
  checkOwnerScope(restrictionsOf(ctx), ownerKey, cubeId);
  return findCube(ctx, tenantId, cubeId);
}

/**
 * Several cubes of this tenant, each checked for `access`; any one missing, another tenant's or out of the key's
 * reach is a 404 for the whole call (a read-only one asked to write: 403).
 */
export async function cubesForRead(ctx: TenantContext, cubeIds: readonly string[], access: CubeAccess): Promise<CubeRef[]> {
  const { tenantId } = ctx.principal;
  const wanted = [...new Set(cubeIds)];
  const found = await findCubes(ctx, tenantId, wanted);
  if (found.size !== wanted.length) throw new ApiError("not_found", "cube not found");
  const refs = wanted.map((cubeId) => found.get(cubeId)!);
  const reach = await reachOf(ctx, refs);
  return refs.map((ref) => admit(ref, reach.get(ref.cubeId), access, "cube not found"));
}

/**
 * The cube a write goes to; an owner's default cube (and its directory entry) is created on first write.
 * `user_id` / `agent_id` must be one of the key's owners; `cube_id` any cube the key can write.
 */
export async function cubeForWrite(ctx: TenantContext, scope: OwnerScopeInput): Promise<CubeRef> {
  const owner = ownerOf(scope);
  if (!owner) return ownCube(ctx, scope.cube_id ?? "", "write");

  const { tenantId } = ctx.principal;
  const ownerKey = `${owner.kind}:${owner.externalId}`;
  const cubeId = await defaultCubeId(tenantId, ownerKey);
  checkOwnerScope(restrictionsOf(ctx), ownerKey, cubeId);
  const existing = await findCube(ctx, tenantId, cubeId);
  if (existing) return existing;

  const { db, clock } = ctx.deps;
  const now = clock();
  // Both inserts tolerate a concurrent first write for the same owner: the deterministic id makes them agree.
  await db.batch([
    db
      .insert(owners)
      .values({ tenantId, owner: ownerKey, kind: owner.kind, externalId: owner.externalId, createdAt: now, lastActiveAt: now })
      .onConflictDoNothing(),
    db
      .insert(cubes)
      .values({ id: cubeId, tenantId, owner: ownerKey, name: "default", isDefault: true, createdAt: now, lastActiveAt: now })
      .onConflictDoNothing(),
  ]);
  return remember(ctx.deps, { tenantId, cubeId, owner: ownerKey });
}

/** A cube by id with how the key reaches it, if the key may `access` it; else 404 (or 403 for a write on a read grant). */
export async function reachCube(ctx: TenantContext, cubeId: string, access: CubeAccess): Promise<{ ref: CubeRef; reach: CubeReach }> {
  const cube = isCubeId(cubeId) ? await findCube(ctx, ctx.principal.tenantId, cubeId) : null;
  if (!cube) throw new ApiError("not_found", "cube not found");
  const reach = (await reachOf(ctx, [cube])).get(cube.cubeId) ?? null;
  admit(cube, reach, access, "cube not found");
  return { ref: cube, reach: reach! };
}

/** A cube of this tenant by id that the key may `access`; otherwise 404 (a write on a read grant: 403). */
export async function ownCube(ctx: TenantContext, cubeId: string, access: CubeAccess): Promise<CubeRef> {
  return (await reachCube(ctx, cubeId, access)).ref;
}

/**
 * The cube a memory id belongs to, if the key may `access` that cube; otherwise 404 (existence is never revealed).
 * A write through a read grant is 403: the key can already see the memory.
 */
export async function cubeOfMemory(ctx: TenantContext, memoryId: string, access: CubeAccess): Promise<CubeRef> {
  const cubeId = cubeIdOfMemory(memoryId);
  const cube = cubeId ? await findCube(ctx, ctx.principal.tenantId, cubeId) : null;
  if (!cube) throw new ApiError("not_found", "memory not found");
  return admit(cube, (await reachOf(ctx, [cube])).get(cube.cubeId), access, "memory not found");
}

/**
 * The RPC surface of a cube. The generated stub type maps our results through Rpc.Result, which widens
 * `Record<string, unknown>` metadata to `unknown`; the methods return plain structured-clone data, so the class's
 * own signatures are the honest type of the stub.
 */
export type CubeApi = Pick<
  CubeDurableObject,
  | "remember"
  | "ingest"
  | "update"
  | "forget"
  | "forgetMany"
  | "rollback"
  | "pin"
  | "get"
  | "list"
  | "history"
  | "search"
  | "settleHits"
  | "stats"
  | "workingMemory"
  | "context"
  | "activation"
  | "activationHistory"
  | "activationRollback"
  | "activationView"
  | "startJob"
  | "job"
  | "ensureLifecycle"
  | "provenance"
  | "exportCube"
  | "exportFile"
  | "exportJob"
  | "importFile"
  | "destroy"
  | "distill"
  | "distillFile"
  | "deleteDistill"
  | "adapters"
  | "registerAdapter"
  | "uploadAdapterWeights"
  | "adapterWeights"
  | "transitionAdapter"
>;

export function cubeStub(deps: Deps, ref: CubeRef): CubeApi {
  return deps.cubes.getByName(cubeObjectName(ref.tenantId, ref.cubeId)) as unknown as CubeApi;
}

/**
 * Records a cube's live count and activity in the cubes directory (owners sum theirs when listed), through the
 * bookkeeping queue: its consumer applies a batch of them in one D1 statement, and ignores updates that arrive out of
 * order (an older write finishing last) through the last_active_at guard.
 */
export async function recordActivity(deps: Deps, ref: CubeRef, liveCount: number): Promise<void> {
  const { tenantId, cubeId } = ref;
  await deps.bookkeeping.send({ kind: "activity", tenantId, cubeId, liveCount, at: deps.clock() });
}
