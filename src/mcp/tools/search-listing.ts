/** memos_search_listing: recall from a MemStore listing's newest ready version (POST /v1/memstore/listings/{id}/search). */
import { z } from "@hono/zod-openapi";
import { ListingIdParam, ListingSearchRequest } from "../../schemas/memstore";
import { searchListing } from "../../services/memstore-reads";
import { SEARCH_PREVIEW_CHARS, defineTool, memoryPreview, parseAsRest } from "../tool";

const field = ListingSearchRequest.shape;

export const searchListingTool = defineTool({
  name: "memos_search_listing",
  title: "Search a MemStore listing",
  description:
    "Recall from a published memory collection this tenant publishes or subscribes to (ids from memos_find_listings): " +
    "keyword, tag and semantic search over its newest ready version, best first. The memories are read-only copies; " +
    `each hit has id, type, content (at most ${SEARCH_PREVIEW_CHARS} characters) and score. A public listing this tenant ` +
    "does not subscribe to is forbidden.",
  scope: "read",
  input: z
    .object({
      listing_id: ListingIdParam.shape.id.describe("A listing id (lst_…)."),
      query: field.query.describe("What to recall, in natural language or keywords."),
      top_k: field.top_k.describe("How many hits, 1–100 (default 10)."),
    })
    .strict(),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(ctx, { listing_id, ...args }) {
    const { version, data } = await searchListing(ctx, listing_id, parseAsRest(ListingSearchRequest, args));
    const hits = data.map((hit) => ({ ...memoryPreview(hit, SEARCH_PREVIEW_CHARS), score: Math.round(hit.score * 1000) / 1000 }));
    const text =
      hits.length === 0
        ? `No memories of version ${version} matched.`
        : [`Version ${version}, best first:`, ...hits.map((h, i) => `${i + 1}. [${h.id}] ${h.type} · score ${h.score}: ${h.content}`)].join("\n");
    return { structured: { listing_id, version, ids: hits.map((h) => h.id), hits }, text };
  },
});
