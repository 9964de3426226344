import { z } from "@hono/zod-openapi";
import { CHANNELS } from "../core/fusion";
import { WHERE_LIMITS, WHERE_OPS, type Where, whereProblems } from "../core/where";
import { CubeId, Timestamp, ownerScopeFields, text } from "./common";
import { LIMITS } from "./limits";
import { Memory, memoryFilterFields } from "./memory";

export const SearchFilters = z.object(memoryFilterFields).strict().openapi("SearchFilters");

const WhereScalar = z.union([z.string().max(1024), z.number(), z.boolean(), z.null()]);
const WhereCondition = z
  .object({
    field: z.string().max(400).openapi({
      description: "type, state, tags, session_id, created_at, updated_at, valid_at, invalid_at, or metadata.<key>[.<key>…]",
      example: "metadata.app",
    }),
    op: z.enum(WHERE_OPS),
    value: z.union([WhereScalar, z.array(WhereScalar).max(WHERE_LIMITS.listValues)]),
  })
  .strict()
  .openapi("WhereCondition");

// The grammar is recursive, but the OpenAPI generator cannot follow recursive zod schemas; spelling out a fixed
// number of levels documents it exactly and bounds the nesting at the same time.
const whereLevel = <T extends z.ZodType>(inner: T, name: string) =>
  z
    .union([
      WhereCondition,
      z.object({ and: z.array(inner).min(1).max(WHERE_LIMITS.conditions) }).strict(),
      z.object({ or: z.array(inner).min(1).max(WHERE_LIMITS.conditions) }).strict(),
      z.object({ not: inner }).strict(),
    ])
    .openapi(name);
const Where3 = whereLevel(WhereCondition, "WhereLevel3");
const Where2 = whereLevel(Where3, "WhereLevel2");
const Where1 = whereLevel(Where2, "WhereLevel1");
export const WhereSchema = whereLevel(Where1, "Where");

export const Channel = z.enum(CHANNELS).openapi("Channel");

export const SearchRequest = z
  .object({
    query: text(LIMITS.queryBytes).openapi({
      example: "what is alice allergic to?",
      description:
        "What to find. A time the query names (\"on October 13, 2023\", \"in May 2024\", \"last week\") also ranks its words " +
        "among the memories valid then (valid_at, else created_at), which lifts them; a question asking when (\"When was Kwame born?\") " +
        "lifts the semantically nearest memories that state a time (\"Kwame's birthday is November 22.\"). Nothing is filtered out.",
    }),
    ...ownerScopeFields,
    cube_ids: z
      .array(CubeId)
      .min(1)
      .max(LIMITS.searchCubes)
      .optional()
      .openapi({ description: "Search several cubes at once; results are merged by score." }),
    top_k: z.int().min(1).max(LIMITS.topK).default(10),
    filters: SearchFilters.default({}),
    where: WhereSchema.optional().openapi({
      description: "Typed filter: {and:[…]}, {or:[…]}, {not:…} and {field, op, value} conditions; ANDed with `filters`.",
    }),
    reference_time: Timestamp.optional().openapi({
      description:
        "Only memories valid at this time (valid_at ≤ t < invalid_at); recency is measured from it, and a relative time in the query (\"last week\") is read from it unless the query also names a date. Default: now.",
    }),
    as_of: Timestamp.optional().openapi({
      description:
        "Point-in-time search: each result is the memory as it stood at this time (its version then), and memories " +
        "created later or not live then are left out. Ranking uses today's index. Default reference_time: as_of.",
    }),
    threshold: z.number().min(0).max(1).optional().openapi({
      description: "Drop results scoring below this (scores are normalised: 1 = first in every channel).",
    }),
    mmr_lambda: z.number().min(0).max(1).optional().openapi({
      description: "Diversify with maximal marginal relevance: 1 = relevance only, lower trades relevance for variety. Near-duplicates are always collapsed.",
    }),
    rerank: z.boolean().default(false).openapi({ description: "Re-order the best candidates with the reranker." }),
    neighbours: z.boolean().default(true).openapi({
      description:
        "Return, with the best two results of a session (and the next ones while the page stays within about 500 tokens), the memories just before and after them there (`neighbours` on the result, counted in context_tokens). false: none. A point-in-time search (`as_of`) returns none.",
    }),
    channels: z.array(Channel).min(1).optional().openapi({
      description: "Restrict retrieval to these channels (default: all available).",
    }),
  })
  .strict()
  .superRefine((request, ctx) => {
    const scopes = [request.user_id, request.agent_id, request.cube_id, request.cube_ids].filter((v) => v !== undefined);
    if (scopes.length !== 1) {
      ctx.addIssue({ code: "custom", message: "give exactly one of user_id, agent_id, cube_id or cube_ids", path: ["user_id"] });
    }
    if (request.where) {
      for (const problem of whereProblems(request.where as Where)) ctx.addIssue({ code: "custom", message: problem, path: ["where"] });
    }
  })
  .openapi("SearchRequest");

export const SearchResult = Memory.extend({
  score: z.number().openapi({ description: "Relevance in [0, 1]: the normalised fused rank score, adjusted by importance, priority, recency and use, divided by the largest possible adjustment (so the order is unchanged and 1 is never passed)." }),
  channels: z.array(Channel).openapi({ description: "Retrieval channels that found this memory, strongest first." }),
  channel_ranks: z
    .array(
      z.object({
        channel: Channel,
        rank: z.int().openapi({ description: "1-based position of the memory in this channel's ranking (before fusion)." }),
        score: z.number().openapi({ description: "This channel's part of the fused score (reciprocal-rank weight, normalised); the parts sum to the fused score before scheduler signals." }),
      }),
    )
    .openapi({ description: "Why this memory ranked where it did: each channel's rank and contribution, in `channels` order." }),
  rerank_score: z.number().optional().openapi({ description: "The reranker's relevance (with `rerank: true`); results are ordered by it." }),
  neighbours: z
    .array(
      z.object({
        id: z.string(),
        content: z.string().openapi({ description: "The neighbour's text, at most its first 1,000 characters." }),
        message_ids: z.array(z.string()),
        position: z.enum(["before", "after"]),
      }),
    )
    .optional()
    .openapi({
      description:
        "For the answer's best two results, and the next ones while the page's text stays within about 500 tokens (after any rerank; over several cubes, only the merged answer's best two), when in a session: the memories just before and after it in that session, as context (a turn's question or answer is often its neighbour). Not results of their own; counted in context_tokens.",
    }),
}).openapi("SearchResult");

export const SearchResponse = z
  .object({
    data: z.array(SearchResult),
    timing_ms: z.number().openapi({ description: "Wall time of the search in the Worker, ms." }),
    context_tokens: z.int().openapi({ description: "Approximate tokens of the returned contents (characters / 4)." }),
  })
  .openapi("SearchResponse");

export type SearchRequestWire = z.infer<typeof SearchRequest>;
export type SearchFiltersWire = z.infer<typeof SearchFilters>;
export type SearchResultWire = z.infer<typeof SearchResult>;
