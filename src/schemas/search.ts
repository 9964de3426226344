import { z } from "@hono/zod-openapi";
import { exactlyOneScope, ownerScopeFields, text } from "./common";
import { LIMITS } from "./limits";
import { Memory, memoryFilterFields } from "./memory";

export const SearchFilters = z.object(memoryFilterFields).strict().openapi("SearchFilters");

export const SearchRequest = z
  .object({
    query: text(LIMITS.queryBytes).openapi({ example: "what is alice allergic to?" }),
    ...ownerScopeFields,
    top_k: z.int().min(1).max(LIMITS.topK).default(10),
    filters: SearchFilters.default({}),
  })
  .strict()
  .superRefine(exactlyOneScope)
  .openapi("SearchRequest");

export const SearchResult = Memory.extend({
  score: z.number().openapi({ description: "Relevance; higher is better. Comparable within one response." }),
  channels: z.array(z.enum(["lexical"])).openapi({ description: "Retrieval channels that found this memory." }),
}).openapi("SearchResult");

export const SearchResponse = z
  .object({
    data: z.array(SearchResult),
    timing_ms: z.number().openapi({ description: "Time spent searching inside the cube." }),
  })
  .openapi("SearchResponse");

export type SearchRequestWire = z.infer<typeof SearchRequest>;
export type SearchFiltersWire = z.infer<typeof SearchFilters>;
export type SearchResultWire = z.infer<typeof SearchResult>;
