/**
 * MemStore, the publishing side (docs/memstore.md): publish a cube as a listing of read-only, versioned snapshots;
 * publish new versions; settle their status; unpublish. The catalog is memstore-catalog.ts; reading, subscribing and
 * forking memstore-reads.ts; what deleting a source cube removes memstore-erasure.ts.
 *
 * A version is a snapshot file in R2 (the export format, written by the source cube without its sensitive memories:
 * cube/snapshot.ts, a stepwise `snapshot` job) and a snapshot cube loaded from it by the ordinary import job, which
 * the source cube starts once the file is whole. Both jobs have the same id (`jobId` of the version), one per cube. The snapshot cube is a Durable
 * Object of the publishing tenant that is not in the `cubes` table, so no cube route reaches it: it is read only
 * through MemStore, and never written by a caller after its import.
 *
 * The catalog lives in D1, off the memory hot path: publishing and browsing read and write it; subscribers' reads
 * come from a per-isolate cache of each listing's read target (readTargets), refreshed in the background.
 */
import { and, desc, eq, or, sql } from "drizzle-orm";
import type { CubeDurableObject } from "../../durable-objects/cube";
import { exportJobId } from "../../durable-objects/cube/export-job";
import { exportKey } from "../../durable-objects/cube/portability";
import type { CubeRef, WriteMeta } from "../../durable-objects/cube/protocol";
import { cubeObjectName, newCubeId, randomBody } from "../core/ids";
import { RefreshingCache } from "../core/refreshing-cache";
import { toIso, toIsoOrNull } from "../core/time";
import { memstoreListings, memstoreListingsFts, memstoreSubscriptions, memstoreVersions } from "../db/schema";
import { ApiError, unwrap } from "../errors";
import {
  LISTING_ID,
  type ListingDetailWire,
  type ListingVersionWire,
  type ListingWire,
  type PublishWire,
} from "../schemas/memstore";
import type { Deps, TenantContext } from "./context";
import { reachCube, restrictionsOf } from "./cubes";

/** Listings a tenant may have at once. */
export const MAX_LISTINGS_PER_TENANT = 50;
/** Versions a listing may have; past it, unpublish and publish anew. */
export const MAX_VERSIONS_PER_LISTING = 100;
/** Newest versions read to find the one subscribers read (the rest are older, and some of these may be preparing). */
export const VERSIONS_CONSIDERED = 3;

/**
 * How long a change made in another isolate — unpublish, unsubscribe, a version becoming ready — may go unseen by
 * reads here. Reads of a listing come from this per-isolate cache of its read target, re-read in the background after
 * READ_TARGET_REFRESH_MS while in use, so a subscriber's steady reads do not wait for D1 (docs/memstore.md). Changes
 * made in this isolate drop the entries at once.
 */
export const READ_TARGET_BOUND_MS = 5_000;
const READ_TARGET_REFRESH_MS = 2_000;

/** The version a tenant's reads of a listing go to, by `<tenant>|<listing>`; only allowed reads are cached. */
export const readTargets = new RefreshingCache<string, VersionRow>({
  refreshAfterMs: READ_TARGET_REFRESH_MS,
  expireAfterMs: READ_TARGET_BOUND_MS,
  maxEntries: 10_000,
});

export const readTargetKey = (tenantId: string, listingId: string) => `${tenantId}|${listingId}`;

/** Drops this isolate's cached reads of these listings, for every tenant. */
export function forgetReadTargets(listingIds: readonly string[]): void {
  const ids = new Set(listingIds);
  readTargets.deleteWhere((key) => ids.has(key.slice(key.indexOf("|") + 1)));
}

/** Every published memory belongs to this owner in its snapshot cube: the publisher's owner ids are not published. */
export const SNAPSHOT_OWNER = "agent:memstore";
/** Who wrote a snapshot cube's memories, as they say in `source.key_id`. */
const SNAPSHOT_ACTOR = "memstore";

export type ListingRow = typeof memstoreListings.$inferSelect;
export type VersionRow = typeof memstoreVersions.$inferSelect;

/** The RPCs MemStore makes to source, snapshot and target cubes. */
export type SnapshotCubeApi = Pick<CubeDurableObject, "startSnapshot" | "cancelSnapshot" | "importFile" | "search" | "list" | "job" | "destroy" | "destroySnapshots">;

export function snapshotStub(deps: Deps, ref: CubeRef): SnapshotCubeApi {
  return deps.cubes.getByName(cubeObjectName(ref.tenantId, ref.cubeId)) as unknown as SnapshotCubeApi;
}

export const snapshotRef = (row: Pick<VersionRow, "tenantId" | "snapshotCubeId">): CubeRef => ({
  tenantId: row.tenantId,
  cubeId: row.snapshotCubeId,
  owner: SNAPSHOT_OWNER,
});

const newListingId = () => `lst_${randomBody()}`;

export function toListing(row: ListingRow, tenantId: string, subscribed: boolean): ListingWire {
  const mine = row.tenantId === tenantId;
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    tags: JSON.parse(row.tags) as string[],
    licence: row.licence,
    visibility: row.visibility,
    latest_version: row.latestVersion,
    mine,
    subscribed,
    source_cube_id: mine ? row.sourceCubeId : null,
    created_at: toIso(row.createdAt),
    updated_at: toIso(row.updatedAt),
  };
}

export function toVersion(row: VersionRow): ListingVersionWire {
  const ready = row.status === "ready";
  return {
    version: row.version,
    status: row.status,
    // Counted once the file is whole: a version still being written (or failed) has no size yet.
    memories: ready ? row.memories : null,
    bytes: ready ? row.bytes : null,
    created_at: toIso(row.createdAt),
    ready_at: toIsoOrNull(row.readyAt),
  };
}

/** What the catalog's full-text row holds: everything a search matches. */
const searchBody = (row: Pick<ListingRow, "name" | "description" | "tags">) =>
  [row.name, row.description, ...(JSON.parse(row.tags) as string[])].join("\n");

/** A listing this tenant may see — its own, or another tenant's public one — or 404. */
export async function visibleListing(ctx: TenantContext, listingId: string): Promise<ListingRow> {
  const { tenantId } = ctx.principal;
  const row = LISTING_ID.test(listingId)
    ? await ctx.deps.db
        .select()
        .from(memstoreListings)
        .where(and(eq(memstoreListings.id, listingId), or(eq(memstoreListings.tenantId, tenantId), eq(memstoreListings.visibility, "public"))))
        .get()
    : undefined;
  if (!row) throw new ApiError("not_found", "listing not found");
  return row;
}

/**
 * A listing this key may change: the tenant's own (another tenant's public listing is read-only: 403), by a key
 * that reaches its source cube's owner side and is not confined to cubes, as for sharing a cube.
 */
async function manageableListing(ctx: TenantContext, listingId: string): Promise<ListingRow> {
  const row = await visibleListing(ctx, listingId);
  if (row.tenantId !== ctx.principal.tenantId) throw new ApiError("forbidden", "another tenant's public listing is read-only");
  const restrictions = restrictionsOf(ctx);
  if (restrictions.allowedCubes || (restrictions.allowedOwners && !restrictions.allowedOwners.has(row.sourceOwner))) {
    throw new ApiError("forbidden", "only the source cube's owner side manages a listing: a tenant-wide key or one acting for the cube's owner");
  }
  return row;
}

/**
 * Starts writing a snapshot of the source cube (a stepwise job there, which hands the file to a new snapshot cube to
 * load once it is whole). Nothing in D1 yet: the caller commits the version, or discards it when it cannot.
 */
async function snapshot(ctx: TenantContext, source: CubeRef, version: number, listingId: string): Promise<VersionRow> {
  const { deps } = ctx;
  const ref: CubeRef = { tenantId: source.tenantId, cubeId: newCubeId(), owner: SNAPSHOT_OWNER };
  // An export id of the snapshot cube, so the file lives under that cube's exports/ prefix and goes with it.
  const snapshotId = `exp_${ref.cubeId.slice("cube_".length)}${randomBody()}`;
  const key = exportKey(ref, snapshotId);
  const job = unwrap(await snapshotStub(deps, source).startSnapshot(source, { key, snapshotId, cubeId: ref.cubeId, owner: SNAPSHOT_OWNER }));
  return {
    listingId,
    version,
    tenantId: source.tenantId,
    snapshotCubeId: ref.cubeId,
    snapshotKey: key,
    // The writing job in the source cube and the loading job in the snapshot cube share this id.
    jobId: exportJobId(snapshotId),
    status: job.status === "failed" ? "failed" : "preparing",
    memories: 0,
    bytes: 0,
    createdAt: deps.clock(),
    readyAt: null,
  };
}

/** The source cube of a listing, as its snapshot jobs know it. */
const sourceRef = (listing: Pick<ListingRow, "tenantId" | "sourceCubeId" | "sourceOwner">): CubeRef => ({
  tenantId: listing.tenantId,
  cubeId: listing.sourceCubeId,
  owner: listing.sourceOwner,
});

/**
 * Destroys snapshot cubes no listing points to any more (their storage and snapshot files), after the answer; a
 * version still being written has its snapshot job stopped first, so it cannot hand its file to the cube after it
 * was destroyed. Failures are logged.
 */
export function discardSnapshots(ctx: TenantContext, listing: Pick<ListingRow, "tenantId" | "sourceCubeId" | "sourceOwner">, rows: readonly VersionRow[]): void {
  for (const row of rows) {
    const ref = snapshotRef(row);
    ctx.background(
      (async () => {
        if (row.status === "preparing") await snapshotStub(ctx.deps, sourceRef(listing)).cancelSnapshot(row.jobId, "the listing was unpublished while its snapshot was being written");
        await snapshotStub(ctx.deps, ref).destroy(ref);
      })().catch((error: unknown) => console.error(`memstore: snapshot cube ${ref.cubeId} not destroyed`, error)),
    );
  }
}

const isUniqueViolation = (error: unknown) => error instanceof Error && /UNIQUE constraint failed/i.test(`${error.message} ${String(error.cause ?? "")}`);
const isNotNullViolation = (error: unknown) => error instanceof Error && /NOT NULL constraint failed/i.test(`${error.message} ${String(error.cause ?? "")}`);

/** Publishes a cube as a new listing, version 1. */
export async function publish(ctx: TenantContext, input: PublishWire): Promise<ListingDetailWire> {
  const { tenantId } = ctx.principal;
  const { db, clock } = ctx.deps;
  const { ref: source, reach } = await reachCube(ctx, input.cube_id, "read");
  if (reach !== "owner" || restrictionsOf(ctx).allowedCubes) {
    throw new ApiError("forbidden", "only the cube's owner side publishes it: a tenant-wide key or one acting for the cube's owner, not one confined to cubes");
  }
  const [count, sameName] = await db.batch([
    db.select({ n: sql<number>`count(*)` }).from(memstoreListings).where(eq(memstoreListings.tenantId, tenantId)),
    db.select({ id: memstoreListings.id }).from(memstoreListings).where(and(eq(memstoreListings.tenantId, tenantId), eq(memstoreListings.name, input.name))),
  ]);
  if (sameName.length > 0) throw new ApiError("conflict", `this tenant already has a listing named "${input.name}"; publish a new version of it instead`);
  if ((count[0]?.n ?? 0) >= MAX_LISTINGS_PER_TENANT) {
    throw new ApiError("conflict", `a tenant may have at most ${MAX_LISTINGS_PER_TENANT} listings; unpublish one first`);
  }

  const listingId = newListingId();
  const version = await snapshot(ctx, source, 1, listingId);
  const now = clock();
  const listing: ListingRow = {
    id: listingId,
    tenantId,
    sourceCubeId: source.cubeId,
    sourceOwner: source.owner,
    name: input.name,
    description: input.description,
    tags: JSON.stringify([...new Set(input.tags)]),
    licence: input.licence,
    visibility: input.visibility,
    latestVersion: 1,
    createdAt: now,
    updatedAt: now,
    createdByKeyId: ctx.principal.keyId,
  };
  try {
    await db.batch([
      db.insert(memstoreListings).values(listing),
      db.insert(memstoreVersions).values(version),
      db.insert(memstoreListingsFts).values({ listingId, body: searchBody(listing) }),
    ]);
  } catch (error) {
    discardSnapshots(ctx, listing, [version]);
    if (isUniqueViolation(error)) throw new ApiError("conflict", `this tenant already has a listing named "${input.name}"`);
    throw error;
  }
  return { ...toListing(listing, tenantId, false), versions: [toVersion(version)] };
}

/**
 * Publishes the source cube as it stands now as the listing's next version; subscribers move to it once it is ready.
 * Returns the listing's id (GET it for the new version's status).
 */
export async function publishVersion(ctx: TenantContext, listingId: string): Promise<string> {
  const listing = await manageableListing(ctx, listingId);
  const { db, clock } = ctx.deps;
  if (listing.latestVersion >= MAX_VERSIONS_PER_LISTING) {
    throw new ApiError("conflict", `a listing may have at most ${MAX_VERSIONS_PER_LISTING} versions; unpublish it and publish anew`);
  }
  // The source cube must still exist and be the key's to publish.
  const { ref: source } = await reachCube(ctx, listing.sourceCubeId, "read");
  const next = listing.latestVersion + 1;
  const version = await snapshot(ctx, source, next, listing.id);
  const now = clock();
  try {
    await db.batch([
      db
        .update(memstoreListings)
        .set({ latestVersion: next, updatedAt: now })
        .where(and(eq(memstoreListings.id, listing.id), eq(memstoreListings.latestVersion, listing.latestVersion))),
      // The version names its listing only if the update above found it: unpublished (or moved on) since it was
      // read, listing_id is NULL and the batch fails as a whole — no version row outlives its listing, and the
      // snapshot is discarded below. (No foreign key in D1's schema does this for us.)
      db.insert(memstoreVersions).values({
        ...version,
        listingId: sql<string>`(SELECT ${memstoreListings.id} FROM ${memstoreListings} WHERE ${memstoreListings.id} = ${listing.id} AND ${memstoreListings.latestVersion} = ${next})`,
      }),
    ]);
  } catch (error) {
    discardSnapshots(ctx, listing, [version]);
    if (isUniqueViolation(error)) throw new ApiError("conflict", "another version of this listing was published at the same time; retry");
    if (isNotNullViolation(error)) {
      const still = await db.select({ id: memstoreListings.id }).from(memstoreListings).where(eq(memstoreListings.id, listing.id)).get();
      if (!still) throw new ApiError("not_found", "listing not found: it was unpublished while this version was being published");
      throw new ApiError("conflict", "another version of this listing was published at the same time; retry");
    }
    throw error;
  }
  return listing.id;
}

/**
 * The statuses of versions still preparing, asked of their snapshot cubes (loading) — or, before the file was handed
 * to one, of the source cube (writing); changes are written back, so each version is asked until it is ready (or
 * failed), never after. A ready version takes its counts from the writing job.
 */
export async function settleVersions(ctx: TenantContext, listing: Pick<ListingRow, "tenantId" | "sourceCubeId" | "sourceOwner">, rows: readonly VersionRow[]): Promise<VersionRow[]> {
  const { db, clock } = ctx.deps;
  return Promise.all(
    rows.map(async (row) => {
      if (row.status !== "preparing") return row;
      const [loading, writing] = await Promise.all([
        snapshotStub(ctx.deps, snapshotRef(row)).job(row.jobId),
        snapshotStub(ctx.deps, sourceRef(listing)).job(row.jobId),
      ]);
      // No loading job: still being written, unless the writing job failed or is gone (its source cube was deleted).
      const status = loading
        ? loading.status === "done" ? "ready" : loading.status === "failed" ? "failed" : "preparing"
        : writing && writing.status !== "failed" ? "preparing" : "failed";
      if (status === "preparing") return row;
      const written = writing?.type === "snapshot" ? writing.result.export : undefined;
      const settled: VersionRow = {
        ...row,
        status,
        readyAt: status === "ready" ? clock() : null,
        memories: written?.memories ?? loading?.result.import?.imported ?? row.memories,
        bytes: written?.bytes ?? row.bytes,
      };
      await db
        .update(memstoreVersions)
        .set({ status, readyAt: settled.readyAt, memories: settled.memories, bytes: settled.bytes })
        .where(and(eq(memstoreVersions.listingId, row.listingId), eq(memstoreVersions.version, row.version), eq(memstoreVersions.status, "preparing")));
      if (status === "ready") forgetReadTargets([row.listingId]);
      return settled;
    }),
  );
}

/** The newest ready version of a listing, settling the newest ones still preparing; null when none is ready yet. */
export async function readableVersion(ctx: TenantContext, listing: ListingRow, newest: readonly VersionRow[]): Promise<VersionRow | null> {
  const listingId = listing.id;
  const settled = await settleVersions(ctx, listing, newest.slice(0, VERSIONS_CONSIDERED));
  const ready = settled.find((row) => row.status === "ready");
  if (ready) return ready;
  // All of the newest few are preparing or failed: an older ready one, if any.
  return (
    (await ctx.deps.db
      .select()
      .from(memstoreVersions)
      .where(and(eq(memstoreVersions.listingId, listingId), eq(memstoreVersions.status, "ready")))
      .orderBy(desc(memstoreVersions.version))
      .limit(1)
      .get()) ?? null
  );
}

/**
 * Unpublishes a listing: it leaves the catalog and every subscription to it ends, in one batch; its snapshot cubes
 * are destroyed after the answer. Forks stay: they are copies in their own cubes.
 */
export async function unpublish(ctx: TenantContext, listingId: string): Promise<ListingWire> {
  const listing = await manageableListing(ctx, listingId);
  const { db } = ctx.deps;
  const versions = await db.select().from(memstoreVersions).where(eq(memstoreVersions.listingId, listing.id)).all();
  await db.batch([
    db.delete(memstoreSubscriptions).where(eq(memstoreSubscriptions.listingId, listing.id)),
    db.delete(memstoreVersions).where(eq(memstoreVersions.listingId, listing.id)),
    db.delete(memstoreListingsFts).where(eq(memstoreListingsFts.listingId, listing.id)),
    db.delete(memstoreListings).where(eq(memstoreListings.id, listing.id)),
  ]);
  forgetReadTargets([listing.id]);
  discardSnapshots(ctx, listing, versions);
  return toListing(listing, ctx.principal.tenantId, false);
}
