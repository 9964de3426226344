/** Wire types of MemStore (docs/memstore.md): listings, their versions, subscriptions, reads of a snapshot, forks. */
import { z } from "@hono/zod-openapi";
import { CubeId, Timestamp, WELL_FORMED, pageOf, text } from "./common";
import { isWellFormed } from "../core/json-bounds";
import { LIMITS } from "./limits";
import { JobAccepted } from "./jobs";
import { Memory } from "./memory";
import { SearchFilters, SearchResult } from "./search";

/** Bounds of a listing's fields and of the catalog. */
export const MEMSTORE_LIMITS = {
  nameBytes: 100,
  descriptionBytes: 2000,
  licenceBytes: 100,
  tags: 10,
  tagChars: 32,
  queryBytes: 200,
} as const;

export const LISTING_ID = /^lst_[0-9a-z]{16}$/;

const ListingId = z.string().regex(LISTING_ID, "must be a listing id (lst_…)").openapi({ example: "lst_0123456789abcdef" });

const ListingTag = z
  .string()
  .min(1)
  .max(MEMSTORE_LIMITS.tagChars)
  .regex(/^[\p{L}\p{N}][\p{L}\p{N} _.-]*$/u, "must start with a letter or digit and hold letters, digits, spaces, `_`, `.` or `-`")
  .refine((t) => t.trim() === t, "must not end with white space")
  .refine(isWellFormed, WELL_FORMED);

export const ListingVisibility = z.enum(["tenant", "public"]).openapi("ListingVisibility", {
  description:
    "`tenant` (default): only the publishing tenant finds, reads, subscribes to and forks it. `public`: every tenant may " +
    "find, read (once subscribed), subscribe to and fork it — an explicit opt-in; only the publisher changes it.",
});

export const ListingVersionStatus = z.enum(["preparing", "ready", "failed"]).openapi("ListingVersionStatus", {
  description: "`preparing` while the snapshot loads; subscribers read the newest `ready` version.",
});

export const ListingVersion = z
  .object({
    version: z.int().openapi({ description: "1 for the first publish, +1 for each new version." }),
    status: ListingVersionStatus,
    memories: z.int().nullable().openapi({ description: "Memories in the snapshot (sensitive ones never are); null until the version is ready." }),
    bytes: z.int().nullable().openapi({ description: "Size of the snapshot file; null until the version is ready (the file is written in steps)." }),
    created_at: Timestamp,
    ready_at: Timestamp.nullable(),
  })
  .openapi("ListingVersion");

export const Listing = z
  .object({
    id: ListingId,
    name: z.string(),
    description: z.string(),
    tags: z.array(z.string()),
    licence: z.string(),
    visibility: ListingVisibility,
    latest_version: z.int().openapi({ description: "The newest version published (it may still be preparing)." }),
    mine: z.boolean().openapi({ description: "Published by the calling key's tenant (only then is it writable)." }),
    subscribed: z.boolean().openapi({ description: "The calling key's tenant subscribes to it." }),
    source_cube_id: CubeId.nullable().openapi({ description: "The cube it is published from; null for another tenant's listing." }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Listing");

export const ListingDetail = Listing.extend({
  versions: z.array(ListingVersion).openapi({ description: "Its versions, newest first (at most 100)." }),
}).openapi("ListingDetail");

export const PublishRequest = z
  .object({
    cube_id: CubeId.openapi({ description: "The cube to publish; the key must reach it as its owner side." }),
    name: text(MEMSTORE_LIMITS.nameBytes).openapi({ description: "Unique among the tenant's listings.", example: "Cooking basics" }),
    description: z
      .string()
      .max(MEMSTORE_LIMITS.descriptionBytes)
      .refine((s) => new TextEncoder().encode(s).length <= MEMSTORE_LIMITS.descriptionBytes, `must be at most ${MEMSTORE_LIMITS.descriptionBytes} bytes`)
      .refine(isWellFormed, WELL_FORMED)
      .default(""),
    tags: z.array(ListingTag).max(MEMSTORE_LIMITS.tags).default([]),
    licence: text(MEMSTORE_LIMITS.licenceBytes).openapi({ description: "A licence name or SPDX id, shown to readers.", example: "CC-BY-4.0" }),
    visibility: ListingVisibility.default("tenant"),
  })
  .strict()
  .openapi("PublishRequest");

export const ListListingsQuery = z.object({
  q: z
    .string()
    .max(MEMSTORE_LIMITS.queryBytes)
    .optional()
    .openapi({ description: "Words that must all occur in the name, description or tags (prefixes match)." }),
  tag: z.string().max(MEMSTORE_LIMITS.tagChars).optional().openapi({ description: "Only listings carrying this tag." }),
  scope: z
    .enum(["all", "mine", "subscribed"])
    .default("all")
    .openapi({ description: "`all`: the tenant's listings and every public one; `mine`: the tenant's own; `subscribed`: those it subscribes to." }),
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSize).default(20),
  cursor: z.string().max(400).optional().openapi({ description: "`next_cursor` of the previous page." }),
});

export const ListingList = pageOf(Listing).openapi("ListingList");

export const ListingIdParam = z.object({
  id: z.string().max(64).openapi({ param: { name: "id", in: "path" }, example: "lst_0123456789abcdef" }),
});

export const Subscription = z
  .object({
    listing_id: ListingId,
    subscribed_at: Timestamp,
  })
  .openapi("Subscription");

export const ListingSearchRequest = z
  .object({
    query: text(LIMITS.queryBytes).openapi({ example: "how long to rest dough?" }),
    top_k: z.int().min(1).max(LIMITS.topK).default(10),
    filters: SearchFilters.default({}),
  })
  .strict()
  .openapi("ListingSearchRequest");

export const ForkRequest = z
  .object({
    cube_id: CubeId.openapi({ description: "The cube to copy the version into; the key must be able to write it." }),
    version: z.int().min(1).optional().openapi({ description: "Which version; default the newest." }),
  })
  .strict()
  .openapi("ForkRequest");

export const ListingSearchResponse = z
  .object({
    version: z.int().openapi({ description: "The version searched: the newest ready one." }),
    data: z.array(SearchResult),
    timing_ms: z.number().openapi({ description: "Wall time of the search in the Worker, ms." }),
    context_tokens: z.int().openapi({ description: "Approximate tokens of the returned contents (characters / 4)." }),
  })
  .openapi("ListingSearchResponse");

export const ForkAccepted = JobAccepted.extend({
  version: z.int().openapi({ description: "The version being copied." }),
}).openapi("ForkAccepted");

export const ListingMemoriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSize).default(20),
  cursor: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: "`next_cursor` of the previous page: it continues the version that page came from." }),
});

export const ListingMemories = z
  .object({
    version: z.int().openapi({ description: "The version listed: the newest ready one, or the cursor's." }),
    data: z.array(Memory),
    next_cursor: z.string().nullable(),
  })
  .openapi("ListingMemories");

export type ListingWire = z.infer<typeof Listing>;
export type ListingDetailWire = z.infer<typeof ListingDetail>;
export type ListingVersionWire = z.infer<typeof ListingVersion>;
export type PublishWire = z.infer<typeof PublishRequest>;
export type ListListingsWire = z.infer<typeof ListListingsQuery>;
export type ListingSearchWire = z.infer<typeof ListingSearchRequest>;
export type ForkWire = z.infer<typeof ForkRequest>;
export type ListingMemoriesWire = z.infer<typeof ListingMemoriesQuery>;
