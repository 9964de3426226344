/** memos_find_listings: the MemStore catalog (GET /v1/memstore/listings). */
import { z } from "@hono/zod-openapi";
import { ListListingsQuery } from "../../schemas/memstore";
import { listListings } from "../../services/memstore-catalog";
import { defineTool, parseAsRest } from "../tool";

const field = ListListingsQuery.shape;

export const findListingsTool = defineTool({
  name: "memos_find_listings",
  title: "Find MemStore listings",
  description:
    "Find published memory collections (MemStore listings): this tenant's own and public ones from others, most recently " +
    "updated first. Use it when the user asks for shared or published knowledge on a topic. Returns each listing's id " +
    "(lst_…), name, description, tags, licence, whether it is yours and whether this tenant subscribes; search a " +
    "subscribed (or your own) listing with memos_search_listing.",
  scope: "read",
  input: z
    .object({
      q: field.q.describe("Words that must all occur in the name, description or tags (prefixes match)."),
      tag: field.tag.describe("Only listings carrying this tag."),
      scope: z.enum(["all", "mine", "subscribed"]).optional().describe("all (default), mine, or subscribed."),
      limit: z.int().min(1).max(100).optional().describe("How many listings, 1–100 (default 20)."),
    })
    .strict(),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(ctx, args) {
    const { data } = await listListings(ctx, parseAsRest(ListListingsQuery, args));
    const listings = data.map(({ id, name, description, tags, licence, mine, subscribed, latest_version }) => ({
      id,
      name,
      description,
      tags,
      licence,
      mine,
      subscribed,
      latest_version,
    }));
    const text =
      listings.length === 0
        ? "No listings matched."
        : listings
            .map((l) => `[${l.id}] ${l.name} (v${l.latest_version}, ${l.licence}${l.mine ? ", yours" : ""}${l.subscribed ? ", subscribed" : ""}): ${l.description}`)
            .join("\n");
    return { structured: { ids: listings.map((l) => l.id), listings }, text };
  },
});
