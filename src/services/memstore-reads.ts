/**
 * MemStore, the reading side (docs/memstore.md): subscribe to a listing (a read grant of the subscribing tenant that
 * follows new versions), read it — search its newest ready snapshot cube, never the live source cube — and fork a
 * version into a cube of one's own (the ordinary import job, from the version's snapshot file).
 */
import { and, count, desc, eq } from "drizzle-orm";
import type { SearchRequestInternal } from "../../durable-objects/cube/protocol";
import { toMemoryFilter } from "../core/filters";
import { searchTerms } from "../core/fts-query";
import { toIso } from "../core/time";
import { memstoreSubscriptions, memstoreVersions } from "../db/schema";
import { ApiError, unwrap } from "../errors";
import type { JobWire } from "../schemas/jobs";
import type { ForkWire, ListingMemoriesWire, ListingSearchWire } from "../schemas/memstore";
import type { MemoryWire } from "../schemas/memory";
import type { SearchResultWire } from "../schemas/search";
import type { TenantContext } from "./context";
import { ownCube } from "./cubes";
import { type VersionRow, readTargetKey, readTargets, readableVersion, settleVersions, snapshotRef, snapshotStub, visibleListing } from "./memstore";

/** Subscriptions a tenant may hold at once. */
export const MAX_SUBSCRIPTIONS_PER_TENANT = 500;
/** Newest versions read with the listing on every read (readableVersion looks no further unless they are not ready). */
const NEWEST_VERSIONS = 3;

/** Subscribes the calling key's tenant to a listing it can see (its own or a public one); again is a no-op (200). */
export async function subscribe(ctx: TenantContext, listingId: string): Promise<{ subscription: { listing_id: string; subscribed_at: string }; created: boolean }> {
  const listing = await visibleListing(ctx, listingId);
  const { tenantId } = ctx.principal;
  const { db, clock } = ctx.deps;
  const [existing, held] = await db.batch([
    db
      .select()
      .from(memstoreSubscriptions)
      .where(and(eq(memstoreSubscriptions.listingId, listing.id), eq(memstoreSubscriptions.tenantId, tenantId))),
    db.select({ n: count() }).from(memstoreSubscriptions).where(eq(memstoreSubscriptions.tenantId, tenantId)),
  ]);
  if (existing[0]) return { subscription: { listing_id: listing.id, subscribed_at: toIso(existing[0].createdAt) }, created: false };
  if ((held[0]?.n ?? 0) >= MAX_SUBSCRIPTIONS_PER_TENANT) {
    throw new ApiError("conflict", `a tenant may hold at most ${MAX_SUBSCRIPTIONS_PER_TENANT} subscriptions; unsubscribe from one first`);
  }
  const now = clock();
  await db
    .insert(memstoreSubscriptions)
    .values({ listingId: listing.id, tenantId, createdAt: now, createdByKeyId: ctx.principal.keyId })
    .onConflictDoNothing();
  return { subscription: { listing_id: listing.id, subscribed_at: toIso(now) }, created: true };
}

/** Ends the tenant's subscription; 404 when it has none. */
export async function unsubscribe(ctx: TenantContext, listingId: string): Promise<{ listing_id: string; subscribed_at: string }> {
  const listing = await visibleListing(ctx, listingId);
  const [removed] = await ctx.deps.db
    .delete(memstoreSubscriptions)
    .where(and(eq(memstoreSubscriptions.listingId, listing.id), eq(memstoreSubscriptions.tenantId, ctx.principal.tenantId)))
    .returning();
  if (!removed) throw new ApiError("not_found", "this tenant does not subscribe to the listing");
  readTargets.delete(readTargetKey(ctx.principal.tenantId, listing.id));
  return { listing_id: removed.listingId, subscribed_at: toIso(removed.createdAt) };
}

/**
 * The version a read goes to: the listing must be visible, and the tenant its publisher or a subscriber (403: a public
 * listing not subscribed to). Warm reads come from this isolate's cache (readTargets, re-read in the background);
 * a miss reads the listing, then the subscription and the newest versions in one batch.
 */
async function versionToRead(ctx: TenantContext, listingId: string): Promise<VersionRow> {
  const key = readTargetKey(ctx.principal.tenantId, listingId);
  const hit = readTargets.lookup(key, ctx.deps.clock());
  if (!hit) return readTarget(ctx, listingId);
  if (hit.refresh) ctx.background(readTarget(ctx, listingId).catch(() => readTargets.delete(key)));
  return hit.value;
}

async function readTarget(ctx: TenantContext, listingId: string): Promise<VersionRow> {
  const { tenantId } = ctx.principal;
  const { db, clock } = ctx.deps;
  const readAt = clock();
  const listing = await visibleListing(ctx, listingId);
  const [subscription, newest] = await db.batch([
    db
      .select({ id: memstoreSubscriptions.listingId })
      .from(memstoreSubscriptions)
      .where(and(eq(memstoreSubscriptions.listingId, listing.id), eq(memstoreSubscriptions.tenantId, tenantId))),
    db.select().from(memstoreVersions).where(eq(memstoreVersions.listingId, listing.id)).orderBy(desc(memstoreVersions.version)).limit(NEWEST_VERSIONS),
  ]);
  if (listing.tenantId !== tenantId && subscription.length === 0) {
    throw new ApiError("forbidden", "subscribe to this listing to read it (POST /v1/memstore/listings/{id}/subscription), or fork it");
  }
  const version = await readableVersion(ctx, listing, newest);
  if (!version) throw new ApiError("conflict", "no version of this listing is ready yet: its snapshot is still loading; retry shortly");
  readTargets.set(readTargetKey(tenantId, listing.id), version, readAt);
  return version;
}

/** Searches the newest ready version of a listing the tenant publishes or subscribes to. */
export async function searchListing(ctx: TenantContext, listingId: string, request: ListingSearchWire) {
  const started = performance.now();
  const version = await versionToRead(ctx, listingId);
  const ref = snapshotRef(version);
  const internal: SearchRequestInternal = {
    query: request.query,
    terms: searchTerms(request.query),
    filter: toMemoryFilter(request.filters),
    where: null,
    referenceTime: ctx.deps.clock(),
    topK: request.top_k,
    threshold: null,
    mmrLambda: 1,
    channels: ["lexical", "vector", "tag", "recent", "working"],
    rerank: false,
  };
  const hits = await snapshotStub(ctx.deps, ref).search(ref, internal);
  const data: SearchResultWire[] = hits.map((hit) => ({
    ...hit.memory,
    score: hit.score,
    channels: hit.channels,
    channel_ranks: hit.ranks.map(({ channel, rank, share }) => ({ channel, rank, score: Math.round(share * 1e4) / 1e4 })),
  }));
  return {
    version: version.version,
    data,
    timing_ms: Math.round((performance.now() - started) * 100) / 100,
    context_tokens: data.reduce((sum, hit) => sum + Math.ceil(hit.content.length / 4), 0),
  };
}

function encodePagePosition(version: number, createdAt: number, seq: number): string {
  return btoa(JSON.stringify([version, createdAt, seq])).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodePagePosition(cursor: string): { version: number; after: { created_at: number; seq: number } } | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return null;
  try {
    const parsed: unknown = JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/")));
    if (!Array.isArray(parsed) || parsed.length !== 3 || !parsed.every((n) => Number.isSafeInteger(n))) return null;
    const [version, createdAt, seq] = parsed as number[];
    return { version: version!, after: { created_at: createdAt!, seq: seq! } };
  } catch {
    return null;
  }
}

/**
 * A listing's memories, newest first, a page at a time: the newest ready version, or — with a cursor — the version
 * its first page came from, so paging never mixes two snapshots. A cursor of a version that no longer exists: 400.
 */
export async function listListingMemories(
  ctx: TenantContext,
  listingId: string,
  query: ListingMemoriesWire,
): Promise<{ version: number; data: MemoryWire[]; next_cursor: string | null }> {
  const position = query.cursor === undefined ? null : decodePagePosition(query.cursor);
  if (query.cursor !== undefined && !position) throw new ApiError("invalid_request", "cursor is not one this API issued");
  let version = await versionToRead(ctx, listingId);
  if (position && position.version !== version.version) {
    const pinned = await ctx.deps.db
      .select()
      .from(memstoreVersions)
      .where(and(eq(memstoreVersions.listingId, version.listingId), eq(memstoreVersions.version, position.version), eq(memstoreVersions.status, "ready")))
      .get();
    if (!pinned) throw new ApiError("invalid_request", "the cursor's version of this listing no longer exists; start again without a cursor");
    version = pinned;
  }
  const ref = snapshotRef(version);
  const page = await snapshotStub(ctx.deps, ref).list(ref, {
    filter: toMemoryFilter({}),
    limit: query.limit,
    ...(position ? { after: position.after } : {}),
  });
  return {
    version: version.version,
    data: page.memories,
    next_cursor: page.next ? encodePagePosition(version.version, page.next.created_at, page.next.seq) : null,
  };
}

/**
 * Copies a version (default: the newest) into a cube the key can write, as an import job of that cube: the copy is
 * the forker's own, and stays when the listing is unpublished. Forking needs no subscription.
 */
export async function fork(ctx: TenantContext, listingId: string, input: ForkWire): Promise<{ job: JobWire; replayed: boolean; version: number }> {
  const listing = await visibleListing(ctx, listingId);
  const target = await ownCube(ctx, input.cube_id, "write");
  const version = await ctx.deps.db
    .select()
    .from(memstoreVersions)
    .where(and(eq(memstoreVersions.listingId, listing.id), eq(memstoreVersions.version, input.version ?? listing.latestVersion)))
    .get();
  if (!version || version.status === "failed") throw new ApiError("not_found", `version ${input.version ?? listing.latestVersion} of this listing not found`);
  // Its file is written in steps: only a ready version's is whole.
  const [settled] = version.status === "preparing" ? await settleVersions(ctx, listing, [version]) : [version];
  if (settled?.status !== "ready") {
    throw new ApiError("conflict", `version ${version.version} of this listing is still being prepared; fork it once GET /v1/memstore/listings/${listing.id} shows it ready`);
  }
  const { job, replayed } = unwrap(
    await snapshotStub(ctx.deps, target).importFile(target, { key: version.snapshotKey }, { actor: ctx.principal.keyId, requestId: ctx.requestId }),
  );
  return { job, replayed, version: version.version };
}
