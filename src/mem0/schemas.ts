/**
 * The wire shapes of the mem0 facade: the requests mem0's official clients send and the responses they read, as far
 * as this API honours them (docs/mem0-compat.md). Objects are strict: a mem0 option this API cannot honour (custom
 * instructions, categories, structured schemas…) is a 400 naming it, never silently dropped.
 */
import { z } from "@hono/zod-openapi";
import { ExternalId, Timestamp, text } from "../schemas/common";
import { bounded, freeJsonBounds } from "../schemas/free-json";
import { LIMITS } from "../schemas/limits";

/** Fields mem0 clients send that only route or format the call on mem0's side; accepted and ignored. */
const routingFields = {
  output_format: z.string().max(16).optional().openapi({ description: "Ignored: responses always have the v1.1 shape." }),
  version: z.string().max(16).optional().openapi({ description: "Ignored." }),
  org_id: z.string().max(128).optional().openapi({ description: "Ignored: the API key names the tenant." }),
  project_id: z.string().max(128).optional().openapi({ description: "Ignored: the API key names the tenant." }),
  source: z.string().max(64).optional().openapi({ description: "Ignored." }),
};

const entityFields = {
  user_id: ExternalId.optional().openapi({ description: "The user: their memories live in the user's default cube." }),
  agent_id: ExternalId.optional().openapi({ description: "The agent: its cube when there is no user_id, else a field of the memory." }),
  app_id: ExternalId.optional().openapi({ description: "A field of the memory (reserved metadata key `mem0_app_id`)." }),
  run_id: ExternalId.optional().openapi({ description: "The memory's session (`session_id`)." }),
};

const Mem0Metadata = bounded(z.record(z.string().min(1).max(64), z.unknown()), freeJsonBounds(LIMITS.metadataBytes));

const Mem0Message = z
  .object({
    role: z.enum(["user", "assistant", "system"]),
    content: text(LIMITS.contentBytes).openapi({ description: "Text only: multimodal content (images, documents) is not supported." }),
    name: z.string().min(1).max(64).optional(),
  })
  .strict();

export const Mem0AddRequest = z
  .object({
    messages: z.union([text(LIMITS.contentBytes), z.array(Mem0Message).min(1).max(LIMITS.messages)]).openapi({
      description: "The conversation, or one string (a user message).",
    }),
    ...entityFields,
    metadata: Mem0Metadata.optional(),
    infer: z.boolean().default(true).openapi({ description: "true: MemReader extracts memories; false: each message is stored as written." }),
    async_mode: z.boolean().optional().openapi({ description: "false waits for the memories (status SUCCEEDED); default: queued (PENDING)." }),
    timestamp: z.number().int().min(0).max(4_102_444_800).optional().openapi({
      description: "Unix seconds when the conversation happened: relative dates in it resolve against this.",
    }),
    ...routingFields,
  })
  .strict()
  .openapi("Mem0AddRequest");

export const Mem0EventStatus = z.enum(["PENDING", "RUNNING", "SUCCEEDED", "FAILED"]);

export const Mem0AddResponse = z
  .object({ message: z.string(), status: Mem0EventStatus, event_id: z.string() })
  .openapi("Mem0AddResponse");

export const Mem0Event = z
  .object({
    id: z.string(),
    event_type: z.literal("ADD"),
    status: Mem0EventStatus,
    results: z
      .array(z.object({ id: z.string(), event: z.enum(["ADD", "NOOP"]) }))
      .openapi({ description: "Memories written (ADD) and existing ones an extracted memory duplicated (NOOP)." }),
    error: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Mem0Event");

/** mem0's filter object: entity ids, created_at/updated_at, categories, metadata, AND/OR/NOT (see src/mem0/filters.ts). */
const Mem0Filters = bounded(z.record(z.string(), z.unknown()), freeJsonBounds(LIMITS.filterBytes)).openapi({
  description: "mem0 filters; must name a user_id (or agent_id) at the top level or in a top-level AND.",
  example: { AND: [{ user_id: "alice" }, { created_at: { gte: "2026-01-01" } }] },
});

export const Mem0SearchRequest = z
  .object({
    query: text(LIMITS.queryBytes),
    filters: Mem0Filters,
    top_k: z.int().min(1).max(LIMITS.topK).default(10),
    threshold: z.number().min(0).max(1).optional().openapi({ description: "Minimum score; our scores are normalised fused ranks (1 = first everywhere)." }),
    rerank: z.boolean().default(false),
    neighbours: z.boolean().default(true).openapi({
      description: "Not mem0's: false leaves out the `neighbours` of the best two results (the turns around them in their run).",
    }),
    latest_only: z.literal(true).optional().openapi({ description: "Superseded memories are always left out." }),
    reference_date: z.union([Timestamp, z.number().int().min(0)]).optional().openapi({
      description: "Only memories valid at this time (ISO-8601 or unix seconds).",
    }),
    ...routingFields,
  })
  .strict()
  .openapi("Mem0SearchRequest");

export const Mem0ListRequest = z.object({ filters: Mem0Filters, ...routingFields }).strict().openapi("Mem0ListRequest");

export const Mem0ListQuery = z.object({
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  page_size: z.coerce.number().int().min(1).max(LIMITS.pageSize).default(LIMITS.pageSize),
});

export const Mem0Memory = z
  .object({
    id: z.string(),
    memory: z.string(),
    user_id: z.string().nullable(),
    agent_id: z.string().nullable(),
    app_id: z.string().nullable(),
    run_id: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    categories: z.array(z.string()),
    immutable: z.boolean(),
    expiration_date: z.string().nullable().openapi({ description: "YYYY-MM-DD, or null." }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Mem0Memory");

export const Mem0SearchResponse = z
  .object({
    results: z.array(
      Mem0Memory.extend({
        score: z.number(),
        neighbours: z
          .array(z.object({ id: z.string(), memory: z.string(), position: z.enum(["before", "after"]) }))
          .optional()
          .openapi({
            description:
              "Not mem0's (clients pass it through): for the best two results, when in a run (session), the memories just before and after it there — a question's answer is often the next turn. Not results of their own.",
          }),
      }),
    ),
  })
  .openapi("Mem0SearchResponse");

export const Mem0Page = z
  .object({ count: z.int(), next: z.string().nullable(), previous: z.string().nullable(), results: z.array(Mem0Memory) })
  .openapi("Mem0Page");

export const Mem0UpdateRequest = z
  .object({
    text: text(LIMITS.contentBytes).optional(),
    metadata: Mem0Metadata.optional().openapi({ description: "Replaces the memory's metadata." }),
    expiration_date: z.iso.date().nullable().optional().openapi({ description: "YYYY-MM-DD (expires at its start, UTC), or null." }),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, "give text, metadata or expiration_date")
  .openapi("Mem0UpdateRequest");

export const Mem0Message200 = z.object({ message: z.string() }).openapi("Mem0Message");

export const Mem0HistoryEntry = z
  .object({
    id: z.string(),
    memory_id: z.string(),
    input: z.array(z.unknown()).openapi({ description: "Always empty: the conversation is at GET /v1/memories/{id}/provenance." }),
    old_memory: z.string().nullable(),
    new_memory: z.string().nullable(),
    user_id: z.string().nullable(),
    categories: z.array(z.string()),
    event: z.enum(["ADD", "UPDATE", "DELETE"]),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Mem0HistoryEntry");

/** PUT/DELETE /v1/batch/: up to 100 memories (our write batch), each by id; an update also carries its new text. */
export const Mem0BatchUpdateRequest = z
  .object({ memories: z.array(z.object({ memory_id: z.string().max(64), text: text(LIMITS.contentBytes) }).strict()).min(1).max(LIMITS.batchItems) })
  .strict()
  .openapi("Mem0BatchUpdateRequest");

export const Mem0BatchDeleteRequest = z
  .object({ memories: z.array(z.object({ memory_id: z.string().max(64) }).strict()).min(1).max(LIMITS.batchItems) })
  .strict()
  .openapi("Mem0BatchDeleteRequest");

export const Mem0DeleteAllQuery = z.object(entityFields);

export const Mem0MemoryIdParam = z.object({
  memory_id: z.string().max(64).openapi({ param: { name: "memory_id", in: "path" } }),
});

export const Mem0EventIdParam = z.object({
  event_id: z.string().max(64).openapi({ param: { name: "event_id", in: "path" } }),
});

export const Mem0Ping = z
  .object({ status: z.literal("ok"), org_id: z.string(), project_id: z.null(), message: z.string() })
  .openapi("Mem0Ping");

export const Mem0Entity = z
  .object({
    id: z.string().openapi({ description: "Our owner id: `user:<id>` or `agent:<id>`." }),
    name: z.string(),
    type: z.enum(["user", "agent"]),
    total_memories: z.int(),
    owner: z.string().openapi({ description: "The tenant." }),
    created_at: Timestamp,
    updated_at: Timestamp.openapi({ description: "Last activity." }),
  })
  .openapi("Mem0Entity");

export const Mem0EntityPage = z
  .object({ count: z.int(), next: z.string().nullable(), previous: z.string().nullable(), results: z.array(Mem0Entity) })
  .openapi("Mem0EntityPage");

export const Mem0EntityParams = z.object({
  entity_type: z.string().max(16).openapi({ param: { name: "entity_type", in: "path" }, description: "user or agent." }),
  entity_id: ExternalId.openapi({ param: { name: "entity_id", in: "path" } }),
});

export type Mem0MemoryWire = z.infer<typeof Mem0Memory>;
