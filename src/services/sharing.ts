/**
 * Cubes and sharing: named cubes besides each owner's default, the cubes a key can reach, and grants that let
 * another principal (`user:<id>` / `agent:<id>`) of the same tenant read or write a cube.
 *
 * Only a cube's owner side manages its grants: a tenant-wide key, or a key acting for the cube's owner — not a key
 * that reaches the cube through a grant, and not one confined to cubes (`allowed_cubes`: a third-party agent uses
 * the cubes it was given, it does not share them on).
 */
import { type SQL, and, asc, desc, eq, gt, inArray, lt, or, sql } from "drizzle-orm";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { newCubeId } from "../core/ids";
import { toIso } from "../core/time";
import { cubes, grants, owners } from "../db/schema";
import { ApiError } from "../errors";
import type { CreateCubeWire, CreateGrantWire, CubeWire, GrantWire, ListCubesWire, ListGrantsWire } from "../schemas/cubes";
import type { TenantContext } from "./context";
import { type CubeReach, forgetCachedGrants, ownerKeyOf, reachCube, reachOf, restrictionsOf } from "./cubes";
import { grantRoomLeft, tooManyGrants } from "./control-plane-caps";
import { changeGrants } from "./tenant-directory";

/** The name of every owner's default cube (the one `user_id` / `agent_id` address); reserved for it. */
export const DEFAULT_CUBE_NAME = "default";

type CubeRow = typeof cubes.$inferSelect;
type GrantRow = typeof grants.$inferSelect;

function toCube(row: CubeRow, access: CubeReach): CubeWire {
  const colon = row.owner.indexOf(":");
  const kind = row.owner.slice(0, colon);
  const externalId = row.owner.slice(colon + 1);
  return {
    id: row.id,
    owner: row.owner,
    user_id: kind === "user" ? externalId : null,
    agent_id: kind === "agent" ? externalId : null,
    name: row.name,
    is_default: row.isDefault,
    access,
    memory_count: row.memoryCount,
    created_at: toIso(row.createdAt),
    last_active_at: toIso(row.lastActiveAt),
  };
}

function toGrant(row: GrantRow): GrantWire {
  return {
    cube_id: row.cubeId,
    principal: row.principal,
    permission: row.permission,
    created_at: toIso(row.createdAt),
    created_by_key_id: row.createdByKeyId,
  };
}

/** Opaque cursors: base64url of a JSON array (UTF-8, since owner ids may be any visible characters). */
function encodePosition(position: readonly (string | number)[]): string {
  const bytes = new TextEncoder().encode(JSON.stringify(position));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodePosition(cursor: string): unknown[] | null {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) return null;
  try {
    const binary = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const parsed: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(binary, (ch) => ch.charCodeAt(0))));
    return Array.isArray(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

const badCursor = () => new ApiError("invalid_request", "cursor is not one this API issued");

/** Creates a named cube for an owner the key acts for. 409 when the owner already has a cube of that name. */
export async function createCube(ctx: TenantContext, input: CreateCubeWire): Promise<CubeWire> {
  const { tenantId } = ctx.principal;
  const restrictions = restrictionsOf(ctx);
  const ownerKey = ownerKeyOf(input);
  if (!ownerKey) throw new ApiError("invalid_request", "give exactly one of user_id or agent_id");
  if (restrictions.allowedCubes) {
    throw new ApiError("forbidden", "a key confined to cubes (allowed_cubes) cannot create cubes: it could not reach them");
  }
  if (restrictions.allowedOwners && !restrictions.allowedOwners.has(ownerKey)) throw new ApiError("not_found", "owner not found");
  if (input.name === DEFAULT_CUBE_NAME) {
    throw new ApiError("conflict", `every owner has a cube named "${DEFAULT_CUBE_NAME}" (the one user_id / agent_id address); choose another name`);
  }

  const { db, clock } = ctx.deps;
  const now = clock();
  const kind = input.user_id !== undefined ? "user" : "agent";
  const externalId = (input.user_id ?? input.agent_id)!;
  const [, inserted] = await db.batch([
    db.insert(owners).values({ tenantId, owner: ownerKey, kind, externalId, createdAt: now, lastActiveAt: now }).onConflictDoNothing(),
    db
      .insert(cubes)
      .values({ id: newCubeId(), tenantId, owner: ownerKey, name: input.name, isDefault: false, createdAt: now, lastActiveAt: now })
      .onConflictDoNothing()
      .returning(),
  ]);
  const row = inserted[0];
  if (!row) throw new ApiError("conflict", `${ownerKey} already has a cube named "${input.name}"`);
  return toCube(row, "owner");
}

/** One cube the key can read, with how it reaches it. */
export async function getCube(ctx: TenantContext, cubeId: string): Promise<CubeWire> {
  const { ref, reach } = await reachCube(ctx, cubeId, "read");
  const row = await ctx.deps.db
    .select()
    .from(cubes)
    .where(and(eq(cubes.id, ref.cubeId), eq(cubes.tenantId, ref.tenantId)))
    .get();
  if (!row) throw new ApiError("not_found", "cube not found");
  return toCube(row, reach);
}

/**
 * The cubes the key can reach, newest first: every cube of the tenant for a tenant-wide key; its owners' cubes and
 * the cubes granted to them for an owner-restricted key; its allowed cubes for a cube-restricted one. `user_id` /
 * `agent_id` keep the cubes that owner owns (an owner outside the key's owners: 404).
 */
export async function listCubes(ctx: TenantContext, query: ListCubesWire): Promise<{ data: CubeWire[]; next_cursor: string | null }> {
  const { tenantId } = ctx.principal;
  const { db } = ctx.deps;
  const restrictions = restrictionsOf(ctx);
  const ownerKey = ownerKeyOf(query);
  if (ownerKey && restrictions.allowedOwners && !restrictions.allowedOwners.has(ownerKey)) {
    throw new ApiError("not_found", "owner not found");
  }

  const conditions: SQL[] = [eq(cubes.tenantId, tenantId)];
  if (ownerKey) conditions.push(eq(cubes.owner, ownerKey));
  if (query.cursor !== undefined) {
    const position = decodePosition(query.cursor);
    const [createdAt, id] = position ?? [];
    if (position?.length !== 2 || !Number.isSafeInteger(createdAt) || typeof id !== "string") throw badCursor();
    conditions.push(or(lt(cubes.createdAt, createdAt as number), and(eq(cubes.createdAt, createdAt as number), lt(cubes.id, id)))!);
  }
  if (restrictions.allowedCubes) {
    // At most 50 cubes: fetched whole, so the ones out of reach can be dropped before paging.
    conditions.push(inArray(cubes.id, [...restrictions.allowedCubes]));
  } else if (restrictions.allowedOwners) {
    const principals = [...restrictions.allowedOwners];
    const granted = db
      .select({ id: grants.cubeId })
      .from(grants)
      .where(and(eq(grants.tenantId, tenantId), inArray(grants.principal, principals)));
    conditions.push(or(inArray(cubes.owner, principals), inArray(cubes.id, granted))!);
  }
  const select = db
    .select()
    .from(cubes)
    .where(and(...conditions))
    .orderBy(desc(cubes.createdAt), desc(cubes.id));
  const rows = restrictions.allowedCubes ? await select.all() : await select.limit(query.limit + 1).all();

  const reach = await reachOf(
    ctx,
    rows.map((row) => ({ tenantId, cubeId: row.id, owner: row.owner }) satisfies CubeRef),
  );
  // For the SQL-filtered cases this drops nothing unless a grant was revoked between the two reads.
  const reachable = restrictions.allowedCubes ? rows.filter((row) => reach.get(row.id)) : rows;
  const page = reachable.slice(0, query.limit);
  const last = page.at(-1);
  return {
    data: page.flatMap((row) => {
      const access = reach.get(row.id);
      return access ? [toCube(row, access)] : [];
    }),
    next_cursor: reachable.length > query.limit && last ? encodePosition([last.createdAt, last.id]) : null,
  };
}

/** A cube whose grants this key may manage: 404 when it cannot reach the cube, 403 when it reaches it only as a guest. */
async function cubeToShare(ctx: TenantContext, cubeId: string): Promise<CubeRef> {
  const { ref, reach } = await reachCube(ctx, cubeId, "read");
  if (reach !== "owner" || restrictionsOf(ctx).allowedCubes) {
    throw new ApiError(
      "forbidden",
      "only the cube's owner side manages its grants: a tenant-wide key or a key acting for the cube's owner, not one confined to cubes",
    );
  }
  return ref;
}

/** Grants `principal` read or write access to a cube, replacing an earlier grant to the same principal. */
export async function grantAccess(ctx: TenantContext, cubeId: string, input: CreateGrantWire): Promise<{ grant: GrantWire; created: boolean }> {
  const ref = await cubeToShare(ctx, cubeId);
  if (input.principal === ref.owner) {
    throw new ApiError("invalid_request", `${input.principal} owns this cube and always has access; grant to another principal`);
  }
  const { db, clock } = ctx.deps;
  const row: GrantRow = {
    cubeId: ref.cubeId,
    tenantId: ref.tenantId,
    principal: input.principal,
    permission: input.permission,
    createdAt: clock(),
    createdByKeyId: ctx.principal.keyId,
  };
  const [previous, upserted] = await changeGrants(ctx.deps, ref.tenantId, [ref.cubeId], () => db.batch([
    db
      .select({ principal: grants.principal })
      .from(grants)
      .where(and(eq(grants.cubeId, ref.cubeId), eq(grants.principal, input.principal))),
    // Replaces an earlier grant to the same principal; a new one only while the cube is under its cap, checked by
    // the statement itself (services/control-plane-caps.ts).
    db
      .insert(grants)
      .select(
        sql`SELECT ${row.cubeId}, ${row.tenantId}, ${row.principal}, ${row.permission}, ${row.createdAt}, ${row.createdByKeyId}
          WHERE ${grantRoomLeft(row.cubeId, row.principal)}`,
      )
      .onConflictDoUpdate({
        target: [grants.cubeId, grants.principal],
        set: { permission: row.permission, createdAt: row.createdAt, createdByKeyId: row.createdByKeyId },
      })
      .returning(),
  ]));
  if (upserted.length === 0) throw tooManyGrants();
  forgetCachedGrants(ref.tenantId, ref.cubeId);
  return { grant: toGrant(upserted[0]!), created: previous.length === 0 };
}

/** A cube's grants, by principal. */
export async function listGrants(ctx: TenantContext, cubeId: string, query: ListGrantsWire): Promise<{ data: GrantWire[]; next_cursor: string | null }> {
  const ref = await cubeToShare(ctx, cubeId);
  const conditions: SQL[] = [eq(grants.tenantId, ref.tenantId), eq(grants.cubeId, ref.cubeId)];
  if (query.cursor !== undefined) {
    const [principal, ...rest] = decodePosition(query.cursor) ?? [];
    if (typeof principal !== "string" || rest.length > 0) throw badCursor();
    conditions.push(gt(grants.principal, principal));
  }
  const rows = await ctx.deps.db
    .select()
    .from(grants)
    .where(and(...conditions))
    .orderBy(asc(grants.principal))
    .limit(query.limit + 1)
    .all();
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    data: page.map(toGrant),
    next_cursor: rows.length > query.limit && last ? encodePosition([last.principal]) : null,
  };
}

/**
 * Revokes a grant: keys acting for that principal no longer reach the cube through it — from the next request on in
 * this isolate, within GRANT_REVOCATION_BOUND_MS everywhere.
 */
export async function revokeGrant(ctx: TenantContext, cubeId: string, principal: string): Promise<GrantWire> {
  const ref = await cubeToShare(ctx, cubeId);
  const [removed] = await changeGrants(ctx.deps, ref.tenantId, [ref.cubeId], () =>
    ctx.deps.db
      .delete(grants)
      .where(and(eq(grants.tenantId, ref.tenantId), eq(grants.cubeId, ref.cubeId), eq(grants.principal, principal)))
      .returning(),
  );
  if (!removed) throw new ApiError("not_found", "grant not found");
  // This isolate stops honouring it at once; others within GRANT_REVOCATION_BOUND_MS (services/cubes.ts).
  forgetCachedGrants(ref.tenantId, ref.cubeId);
  return toGrant(removed);
}
