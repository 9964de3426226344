/**
 * MemStore's catalog (docs/memstore.md): one listing with its versions, and the listings a tenant can see — its own
 * and every public one — found by words over name, description and tags (FTS5), by tag and by scope, paged.
 */
import { type SQL, and, desc, eq, inArray, lt, or, sql } from "drizzle-orm";
import { queryTerms } from "../core/fts-query";
import { memstoreListings, memstoreSubscriptions, memstoreVersions } from "../db/schema";
import { ApiError } from "../errors";
import { LISTING_ID, type ListListingsWire, type ListingDetailWire, type ListingWire } from "../schemas/memstore";
import type { TenantContext } from "./context";
import { MAX_VERSIONS_PER_LISTING, VERSIONS_CONSIDERED, settleVersions, toListing, toVersion, visibleListing } from "./memstore";

/** Search terms of a catalog query that are used. */
const MAX_QUERY_TERMS = 8;

export async function isSubscribed(ctx: TenantContext, listingIds: readonly string[]): Promise<Set<string>> {
  if (listingIds.length === 0) return new Set();
  const rows = await ctx.deps.db
    .select({ id: memstoreSubscriptions.listingId })
    .from(memstoreSubscriptions)
    .where(and(eq(memstoreSubscriptions.tenantId, ctx.principal.tenantId), inArray(memstoreSubscriptions.listingId, [...listingIds])))
    .all();
  return new Set(rows.map((row) => row.id));
}

/** One listing this tenant may see, with its versions (statuses settled). */
export async function getListing(ctx: TenantContext, listingId: string): Promise<ListingDetailWire> {
  const listing = await visibleListing(ctx, listingId);
  const [versions, subscribed] = await Promise.all([
    ctx.deps.db
      .select()
      .from(memstoreVersions)
      .where(eq(memstoreVersions.listingId, listing.id))
      .orderBy(desc(memstoreVersions.version))
      .limit(MAX_VERSIONS_PER_LISTING)
      .all(),
    isSubscribed(ctx, [listing.id]),
  ]);
  const settled = await settleVersions(ctx, listing, versions.slice(0, VERSIONS_CONSIDERED));
  return {
    ...toListing(listing, ctx.principal.tenantId, subscribed.has(listing.id)),
    versions: [...settled, ...versions.slice(VERSIONS_CONSIDERED)].map(toVersion),
  };
}

function encodePosition(updatedAt: number, id: string): string {
  return btoa(JSON.stringify([updatedAt, id])).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodePosition(cursor: string): [number, string] | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return null;
  try {
    const parsed: unknown = JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/")));
    if (!Array.isArray(parsed) || parsed.length !== 2) return null;
    const [updatedAt, id] = parsed as unknown[];
    return Number.isSafeInteger(updatedAt) && typeof id === "string" && LISTING_ID.test(id) ? [updatedAt as number, id] : null;
  } catch {
    return null;
  }
}

/**
 * The catalog, most recently updated first: the tenant's own listings and every public one (`scope`), optionally
 * only those whose name, description or tags hold every word of `q` (as prefixes), or that carry `tag`.
 */
export async function listListings(ctx: TenantContext, query: ListListingsWire): Promise<{ data: ListingWire[]; next_cursor: string | null }> {
  const { tenantId } = ctx.principal;
  const visible = or(eq(memstoreListings.tenantId, tenantId), eq(memstoreListings.visibility, "public"))!;
  const conditions: SQL[] = [query.scope === "mine" ? eq(memstoreListings.tenantId, tenantId) : visible];
  if (query.scope === "subscribed") {
    conditions.push(sql`${memstoreListings.id} IN (SELECT listing_id FROM memstore_subscriptions WHERE tenant_id = ${tenantId})`);
  }
  if (query.q !== undefined) {
    const terms = queryTerms(query.q, MAX_QUERY_TERMS);
    // Terms hold only letters and digits, so quoting them cannot break out into FTS5 syntax.
    if (terms.length > 0) {
      const match = terms.map((term) => `"${term}"*`).join(" ");
      conditions.push(sql`${memstoreListings.id} IN (SELECT listing_id FROM memstore_listings_fts WHERE memstore_listings_fts MATCH ${match})`);
    }
  }
  if (query.tag !== undefined) conditions.push(sql`EXISTS (SELECT 1 FROM json_each(${memstoreListings.tags}) WHERE value = ${query.tag})`);
  if (query.cursor !== undefined) {
    const position = decodePosition(query.cursor);
    if (!position) throw new ApiError("invalid_request", "cursor is not one this API issued");
    const [updatedAt, id] = position;
    conditions.push(or(lt(memstoreListings.updatedAt, updatedAt), and(eq(memstoreListings.updatedAt, updatedAt), lt(memstoreListings.id, id)))!);
  }
  const rows = await ctx.deps.db
    .select()
    .from(memstoreListings)
    .where(and(...conditions))
    .orderBy(desc(memstoreListings.updatedAt), desc(memstoreListings.id))
    .limit(query.limit + 1)
    .all();
  const page = rows.slice(0, query.limit);
  const subscribed = await isSubscribed(ctx, page.map((row) => row.id));
  const last = page.at(-1);
  return {
    data: page.map((row) => toListing(row, tenantId, subscribed.has(row.id))),
    next_cursor: rows.length > query.limit && last ? encodePosition(last.updatedAt, last.id) : null,
  };
}
