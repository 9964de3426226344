/** What deleting cubes must also remove from MemStore: the listings published from them (services/erasure.ts). */
import { and, eq, inArray } from "drizzle-orm";
import { memstoreListings, memstoreListingsFts, memstoreSubscriptions, memstoreVersions } from "../db/schema";
import type { Deps } from "./context";
import { forgetReadTargets, snapshotRef, snapshotStub } from "./memstore";

/** Source cubes per D1 statement: D1 binds at most 100 parameters. */
const ERASURE_CHUNK = 50;

/**
 * What deleting cubes (an owner, or one named cube: services/erasure.ts) must also remove from MemStore: every
 * listing published from them is unpublished — its snapshot cubes destroyed now (they hold copies of the erased
 * owner's memories; a failure fails the deletion, which can be retried), its rows deleted in the deletion's batch.
 * Forks stay: they are other cubes' own memories, like a copy a person made by hand.
 */
export async function memstoreErasure(deps: Deps, tenantId: string, cubeIds: readonly string[]) {
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
  if (listingIds.length === 0) return [];
  const versions = await deps.db.select().from(memstoreVersions).where(inArray(memstoreVersions.listingId, listingIds)).all();
  // Reads here stop now, before the snapshots go; other isolates within READ_TARGET_BOUND_MS.
  forgetReadTargets(listingIds);
  for (const row of versions) {
    const ref = snapshotRef(row);
    await snapshotStub(deps, ref).destroy(ref);
  }
  return [
    deps.db.delete(memstoreSubscriptions).where(inArray(memstoreSubscriptions.listingId, listingIds)),
    deps.db.delete(memstoreVersions).where(inArray(memstoreVersions.listingId, listingIds)),
    deps.db.delete(memstoreListingsFts).where(inArray(memstoreListingsFts.listingId, listingIds)),
    deps.db.delete(memstoreListings).where(inArray(memstoreListings.id, listingIds)),
  ];
}
