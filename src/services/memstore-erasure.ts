/** What deleting cubes must also remove from MemStore: the listings published from them (services/erasure.ts). */
import { and, eq, inArray } from "drizzle-orm";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { memstoreListings, memstoreListingsFts, memstoreSubscriptions, memstoreVersions } from "../db/schema";
import type { Deps } from "./context";
import { forgetReadTargets, snapshotRef, snapshotStub } from "./memstore";

/** Source cubes per D1 statement: D1 binds at most 100 parameters. */
const ERASURE_CHUNK = 50;

/**
 * Snapshot cubes one coordinating snapshot cube destroys (services/memstore-erasure.ts → Cube.destroySnapshots): with
 * the caps (50 listings × 100 versions) the Worker makes at most 50 calls after the answer, and each coordinator at
 * most 99 destroy calls plus its own teardown step (40 R2/Vectorize calls) — within 1,000 subrequests per invocation
 * (docs/platform-limits.md).
 */
export const SNAPSHOT_DESTROYS_PER_CALL = 100;

/** The erasure's MemStore part: statements for the deletion's batch, and the snapshot cubes to destroy once it committed. */
export interface MemstoreErasure {
  statements: ReturnType<typeof statementsFor>;
  snapshots: CubeRef[];
}

const statementsFor = (deps: Deps, listingIds: string[]) => [
  deps.db.delete(memstoreSubscriptions).where(inArray(memstoreSubscriptions.listingId, listingIds)),
  deps.db.delete(memstoreVersions).where(inArray(memstoreVersions.listingId, listingIds)),
  deps.db.delete(memstoreListingsFts).where(inArray(memstoreListingsFts.listingId, listingIds)),
  deps.db.delete(memstoreListings).where(inArray(memstoreListings.id, listingIds)),
];

/**
 * What deleting cubes (an owner, or one named cube: services/erasure.ts) must also remove from MemStore: every
 * listing published from them is unpublished — its rows deleted in the deletion's batch, so from the commit on no
 * read finds a snapshot (this isolate's cached read targets are dropped now, before it; other isolates' within
 * READ_TARGET_BOUND_MS, as for unpublishing) — and its snapshot cubes, copies of the erased owner's memories,
 * destroyed after the commit by {@link destroySnapshots} (up to 5,000 of them: more calls than one request may
 * make). Forks stay: they are other cubes' own memories, like a copy a person made by hand.
 */
export async function memstoreErasure(deps: Deps, tenantId: string, cubeIds: readonly string[]): Promise<MemstoreErasure> {
  const listingIds: string[] = [];
  for (let i = 0; i < cubeIds.length; i += ERASURE_CHUNK) {
    const rows = await deps.db
      .select({ id: memstoreListings.id })
      .from(memstoreListings)
      .where(and(eq(memstoreListings.tenantId, tenantId), inArray(memstoreListings.sourceCubeId, cubeIds.slice(i, i + ERASURE_CHUNK))))
      .all();
    listingIds.push(...rows.map((row) => row.id));
  }
  // At most MAX_LISTINGS_PER_TENANT listings, so one statement each.
  if (listingIds.length === 0) return { statements: [], snapshots: [] };
  const versions = await deps.db.select().from(memstoreVersions).where(inArray(memstoreVersions.listingId, listingIds)).all();
  forgetReadTargets(listingIds);
  return { statements: statementsFor(deps, listingIds), snapshots: versions.map(snapshotRef) };
}

/**
 * Destroys snapshot cubes after the erasure committed, a chunk of `perCall` (SNAPSHOT_DESTROYS_PER_CALL; a test's
 * smaller number) per coordinating snapshot cube: each destroys the others of its chunk and then itself, in its own
 * invocation's budget. Failures are logged (the cubes are out of every route's reach already; the D1 rows that named
 * them are gone).
 */
export async function destroySnapshots(deps: Deps, refs: readonly CubeRef[], perCall = SNAPSHOT_DESTROYS_PER_CALL): Promise<void> {
  const chunks: CubeRef[][] = [];
  for (let i = 0; i < refs.length; i += perCall) chunks.push(refs.slice(i, i + perCall));
  await Promise.all(
    chunks.map(([coordinator, ...others]) =>
      snapshotStub(deps, coordinator!)
        .destroySnapshots(coordinator!, others)
        .catch((error: unknown) => console.error(`memstore erasure: snapshot cubes from ${coordinator!.cubeId} not destroyed`, error)),
    ),
  );
}
