/** HTTP for MemStore (docs/memstore.md): publish, the catalog, versions, unpublish, subscribe, read and fork. */
import { createRoute } from "@hono/zod-openapi";
import {
  ForkAccepted,
  ForkRequest,
  Listing,
  ListingDetail,
  ListingIdParam,
  ListingList,
  ListingMemories,
  ListingMemoriesQuery,
  ListingSearchRequest,
  ListingSearchResponse,
  ListListingsQuery,
  PublishRequest,
  Subscription,
} from "../schemas/memstore";
import { publish, publishVersion, unpublish } from "../services/memstore";
import { getListing, listListings } from "../services/memstore-catalog";
import { fork, listListingMemories, searchListing, subscribe, unsubscribe } from "../services/memstore-reads";
import { bearerSecurity, createRouter, errorResponses, jsonBody, jsonResponse, markReplay, tenantContext, tenantWideContext } from "./shared";

const tags = ["memstore"];
const errors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found");
const changeErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "conflict");

const VISIBILITY =
  "A listing is seen by its publishing tenant only, unless published with `visibility: \"public\"`: then every tenant finds it, " +
  "may subscribe to it and fork it, but only the publisher changes it (403 for anyone else). A private listing of another tenant is 404.";
const MANAGE =
  "Only the source cube's owner side manages a listing: a tenant-wide key, or one acting for the cube's owner (not one confined by `allowed_cubes`).";

export const memstoreRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/memstore/listings",
      tags,
      summary: "Publish a cube as a MemStore listing, version 1 (write scope)",
      description:
        "Writes a read-only snapshot of the cube — its live memories without any sensitive one (a non-empty `sensitivity`), with " +
        "no history, provenance or episodes — and loads it into a snapshot cube that subscribers read. The version is `preparing` " +
        "until that load is done. Names are unique per tenant (409); at most 50 listings per tenant (409). " +
        MANAGE + " " + VISIBILITY,
      security: bearerSecurity,
      request: { body: jsonBody(PublishRequest) },
      responses: { 201: jsonResponse(ListingDetail, "The new listing and its first version."), ...changeErrors },
    }),
    async (c) => c.json(await publish(tenantContext(c, "write"), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/memstore/listings",
      tags,
      summary: "The MemStore catalog: find listings by words, tag or scope (read scope)",
      description: "Most recently updated first. " + VISIBILITY,
      security: bearerSecurity,
      request: { query: ListListingsQuery },
      responses: { 200: jsonResponse(ListingList, "One page of listings."), ...errors },
    }),
    async (c) => c.json(await listListings(tenantContext(c, "read"), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/memstore/listings/{id}",
      tags,
      summary: "One listing with its versions (read scope)",
      description: VISIBILITY,
      security: bearerSecurity,
      request: { params: ListingIdParam },
      responses: { 200: jsonResponse(ListingDetail, "The listing."), ...errors },
    }),
    async (c) => c.json(await getListing(tenantContext(c, "read"), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/memstore/listings/{id}/versions",
      tags,
      summary: "Publish the source cube as it stands now as the listing's next version (write scope)",
      description:
        "Subscribers read the new version as soon as it is ready, without doing anything; older versions stay for forks. " +
        "At most 100 versions per listing (409). " + MANAGE,
      security: bearerSecurity,
      request: { params: ListingIdParam },
      responses: { 201: jsonResponse(ListingDetail, "The listing with its new version."), ...changeErrors },
    }),
    async (c) => {
      const ctx = tenantContext(c, "write");
      const listingId = await publishVersion(ctx, c.req.valid("param").id);
      return c.json(await getListing(ctx, listingId), 201);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/memstore/listings/{id}",
      tags,
      summary: "Unpublish a listing (write scope): it leaves the catalog and subscriptions stop; forks stay",
      description: MANAGE,
      security: bearerSecurity,
      request: { params: ListingIdParam },
      responses: { 200: jsonResponse(Listing, "The listing as it was."), ...errors },
    }),
    async (c) => c.json(await unpublish(tenantContext(c, "write"), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/memstore/listings/{id}/subscription",
      tags,
      summary: "Subscribe this tenant to a listing (write scope, tenant-wide key)",
      description:
        "A read grant for every key of the tenant that follows new versions: reads go to the newest ready version. Subscribing " +
        "again answers 200 with the existing subscription. At most 500 subscriptions per tenant (409). " + VISIBILITY,
      security: bearerSecurity,
      request: { params: ListingIdParam },
      responses: {
        201: jsonResponse(Subscription, "The new subscription."),
        200: jsonResponse(Subscription, "The subscription the tenant already had."),
        ...changeErrors,
      },
    }),
    async (c) => {
      const { subscription, created } = await subscribe(tenantWideContext(c, "write"), c.req.valid("param").id);
      return created ? c.json(subscription, 201) : c.json(subscription, 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/memstore/listings/{id}/subscription",
      tags,
      summary: "End this tenant's subscription (write scope, tenant-wide key)",
      security: bearerSecurity,
      request: { params: ListingIdParam },
      responses: { 200: jsonResponse(Subscription, "The ended subscription."), ...errors },
    }),
    async (c) => c.json(await unsubscribe(tenantWideContext(c, "write"), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/memstore/listings/{id}/search",
      tags,
      summary: "Search a listing's newest ready version (read scope; publisher or subscriber)",
      description:
        "Reads the version's snapshot cube, never the live source cube. Another tenant's public listing needs a subscription " +
        "first (403); 409 while no version is ready yet.",
      security: bearerSecurity,
      request: { params: ListingIdParam, body: jsonBody(ListingSearchRequest) },
      responses: { 200: jsonResponse(ListingSearchResponse, "Results from the snapshot."), ...changeErrors },
    }),
    async (c) => c.json(await searchListing(tenantContext(c, "read"), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/memstore/listings/{id}/memories",
      tags,
      summary: "A listing's memories, newest first (read scope; publisher or subscriber)",
      description:
        "Pages through the newest ready version's snapshot; a cursor continues the version its first page came from. " +
        "Another tenant's public listing needs a subscription first (403); 409 while no version is ready yet.",
      security: bearerSecurity,
      request: { params: ListingIdParam, query: ListingMemoriesQuery },
      responses: { 200: jsonResponse(ListingMemories, "One page of the snapshot's memories."), ...changeErrors },
    }),
    async (c) => c.json(await listListingMemories(tenantContext(c, "read"), c.req.valid("param").id, c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/memstore/listings/{id}/fork",
      tags,
      summary: "Fork a version into a cube of your own (write scope): an import job",
      description:
        "Copies the version's snapshot into `cube_id` (a cube the key can write) with the import job of POST /v1/cubes/{id}/import; " +
        "poll it at /v1/jobs/{id}. The copy is yours: it stays when the listing is unpublished. Forking the same version into the " +
        "same cube again returns the first job (`Idempotent-Replayed`). No subscription is needed. " + VISIBILITY,
      security: bearerSecurity,
      request: { params: ListingIdParam, body: jsonBody(ForkRequest) },
      responses: { 202: jsonResponse(ForkAccepted, "The import job in the target cube."), ...errors },
    }),
    async (c) => {
      const { job, replayed, version } = await fork(tenantContext(c, "write"), c.req.valid("param").id, c.req.valid("json"));
      markReplay(c, replayed);
      return c.json({ job_id: job.id, status: job.status, job, version }, 202);
    },
  );
