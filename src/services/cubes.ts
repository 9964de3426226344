/**
 * Which cube a call is about, checked against D1 so that nothing crosses tenants: a cube (or a memory in a cube)
 * of another tenant is "not found", never "forbidden".
 */
import { and, eq, inArray, lte, sql } from "drizzle-orm";
import type { CubeDurableObject } from "../../durable-objects/cube";
import type { CubeRef } from "../../durable-objects/cube-protocol";
import { cubeIdOfMemory, cubeObjectName, defaultCubeId, isCubeId } from "../core/ids";
import { cubes, owners } from "../db/schema";
import { ApiError } from "../errors";
import type { OwnerScopeInput } from "../schemas/common";
import type { Deps, TenantContext } from "./context";

type OwnerKind = "user" | "agent";

function ownerOf(scope: OwnerScopeInput): { kind: OwnerKind; externalId: string } | null {
  if (scope.user_id !== undefined) return { kind: "user", externalId: scope.user_id };
  if (scope.agent_id !== undefined) return { kind: "agent", externalId: scope.agent_id };
  return null;
}

/**
 * Cubes this isolate has already seen. A cube's tenant and owner never change after creation, so a hit is always
 * right; only existence can change (cube deletion must call {@link forgetCachedCube}). Misses are not cached: a cube
 * created a moment ago by another isolate is found on the next request.
 */
const knownCubes = new Map<string, CubeRef>();
const KNOWN_CUBES_MAX = 10_000;

export function forgetCachedCube(tenantId: string, cubeId: string): void {
  knownCubes.delete(`${tenantId}/${cubeId}`);
}

function remember(ref: CubeRef): CubeRef {
  if (knownCubes.size >= KNOWN_CUBES_MAX) knownCubes.delete(knownCubes.keys().next().value!);
  knownCubes.set(`${ref.tenantId}/${ref.cubeId}`, ref);
  return ref;
}

async function findCube(deps: Deps, tenantId: string, cubeId: string): Promise<CubeRef | null> {
  const known = knownCubes.get(`${tenantId}/${cubeId}`);
  if (known) return known;
  const row = await deps.db
    .select({ id: cubes.id, owner: cubes.owner })
    .from(cubes)
    .where(and(eq(cubes.id, cubeId), eq(cubes.tenantId, tenantId)))
    .get();
  return row ? remember({ tenantId, cubeId: row.id, owner: row.owner }) : null;
}

/** The cube a read is scoped to, or null when the owner has never been written for (an empty result, not 404). */
export async function cubeForRead(ctx: TenantContext, scope: OwnerScopeInput): Promise<CubeRef | null> {
  const { tenantId } = ctx.principal;
  const owner = ownerOf(scope);
  if (!owner) return ownCube(ctx, scope.cube_id ?? "");
  return findCube(ctx.deps, tenantId, await defaultCubeId(tenantId, `${owner.kind}:${owner.externalId}`));
}

/** Several cubes of this tenant, each checked; any one missing (or another tenant's) is a 404 for the call. */
export async function cubesForRead(ctx: TenantContext, cubeIds: readonly string[]): Promise<CubeRef[]> {
  const { tenantId } = ctx.principal;
  const wanted = [...new Set(cubeIds)];
  const rows = await ctx.deps.db
    .select({ id: cubes.id, owner: cubes.owner })
    .from(cubes)
    .where(and(eq(cubes.tenantId, tenantId), inArray(cubes.id, wanted)))
    .all();
  if (rows.length !== wanted.length) throw new ApiError("not_found", "cube not found");
  return rows.map((row) => ({ tenantId, cubeId: row.id, owner: row.owner }));
}

/** The cube a write goes to; an owner's default cube (and its directory entry) is created on first write. */
export async function cubeForWrite(ctx: TenantContext, scope: OwnerScopeInput): Promise<CubeRef> {
  const owner = ownerOf(scope);
  if (!owner) return ownCube(ctx, scope.cube_id ?? "");

  const { tenantId } = ctx.principal;
  const ownerKey = `${owner.kind}:${owner.externalId}`;
  const cubeId = await defaultCubeId(tenantId, ownerKey);
  const existing = await findCube(ctx.deps, tenantId, cubeId);
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
  return remember({ tenantId, cubeId, owner: ownerKey });
}

/** A cube of this tenant by id, or 404. */
export async function ownCube(ctx: TenantContext, cubeId: string): Promise<CubeRef> {
  const cube = isCubeId(cubeId) ? await findCube(ctx.deps, ctx.principal.tenantId, cubeId) : null;
  if (!cube) throw new ApiError("not_found", "cube not found");
  return cube;
}

/** The cube a memory id belongs to, if that cube is this tenant's; otherwise 404 (existence is never revealed). */
export async function cubeOfMemory(ctx: TenantContext, memoryId: string): Promise<CubeRef> {
  const cubeId = cubeIdOfMemory(memoryId);
  const cube = cubeId ? await findCube(ctx.deps, ctx.principal.tenantId, cubeId) : null;
  if (!cube) throw new ApiError("not_found", "memory not found");
  return cube;
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
  | "rollback"
  | "pin"
  | "get"
  | "list"
  | "history"
  | "search"
  | "stats"
  | "workingMemory"
  | "context"
  | "startJob"
  | "job"
>;

export function cubeStub(deps: Deps, ref: CubeRef): CubeApi {
  return deps.cubes.getByName(cubeObjectName(ref.tenantId, ref.cubeId)) as unknown as CubeApi;
}

/**
 * Records a cube's live count and activity in the owners directory. Updates that arrive out of order (an older
 * write finishing last) are ignored through the last_active_at guard.
 */
export async function recordActivity(deps: Deps, ref: CubeRef, liveCount: number): Promise<void> {
  const now = deps.clock();
  const { db } = deps;
  await db.batch([
    db
      .update(cubes)
      .set({ memoryCount: liveCount, lastActiveAt: now })
      .where(and(eq(cubes.id, ref.cubeId), lte(cubes.lastActiveAt, now))),
    db
      .update(owners)
      .set({
        memoryCount: sql`(SELECT coalesce(sum(${cubes.memoryCount}), 0) FROM ${cubes} WHERE ${cubes.tenantId} = ${ref.tenantId} AND ${cubes.owner} = ${ref.owner})`,
        lastActiveAt: now,
      })
      .where(and(eq(owners.tenantId, ref.tenantId), eq(owners.owner, ref.owner), lte(owners.lastActiveAt, now))),
  ]);
}
