import { z } from "@hono/zod-openapi";
import { MEMORY_STATES } from "../core/lifecycle";
import { MEMORY_TYPES } from "../core/memory-types";
import { isWellFormed } from "../core/json-bounds";
import { CubeId, ExternalId, Timestamp, WELL_FORMED, exactlyOneScope, ownerScopeFields, pageOf, text } from "./common";
import { bounded, freeJsonBounds } from "./free-json";
import { Job as JobSchema } from "./jobs";
import { LIMITS } from "./limits";

export { MEMORY_TYPES };

export const MemoryType = z.enum(MEMORY_TYPES).openapi("MemoryType");
export const MemoryState = z.enum(MEMORY_STATES).openapi("MemoryState");

const Tag = z
  .string()
  .min(1)
  .max(LIMITS.tagChars)
  .regex(/^[^\u0000-\u001f\u007f]+$/, "must not contain control characters")
  .refine((t) => t.trim() === t, "must not start or end with white space")
  .refine(isWellFormed, WELL_FORMED);
const Tags = z.array(Tag).max(LIMITS.tags);

const Metadata = bounded(z.record(z.string().min(1).max(64), z.unknown()), freeJsonBounds(LIMITS.metadataBytes))
  .openapi({ description: "Free JSON object, returned as written; filterable in search.", example: { app: "demo" } });

const Priority = z.int().min(0).max(100).openapi({ description: "Scheduling priority, 0–100 (default 50)." });
const Importance = z.number().min(0).max(1).openapi({ description: "How much the memory matters, 0–1 (default 0.5)." });
const Ttl = z.int().min(1).max(LIMITS.ttlSeconds).openapi({ description: "Seconds until the memory expires." });
const Sensitivity = z.array(z.string().min(1).max(32).regex(/^[a-z0-9_:-]+$/)).max(8).openapi({
  description: "Sensitivity labels, e.g. pii, health.",
});

/** Where a memory came from, as the writer states it (the server adds who wrote it and in which request). */
export const SourceInput = z
  .object({
    kind: z.enum(["api", "user_input", "import"]).default("api"),
    episode_id: ExternalId.optional(),
    message_ids: z.array(ExternalId).max(LIMITS.messageIds).optional(),
  })
  .strict()
  .openapi("SourceInput");

/** Provenance as stored: origin, episode and message ids, and the key and request that wrote it. */
export const Source = z
  .object({
    kind: z.enum(["api", "user_input", "import", "extraction"]),
    episode_id: z.string().nullable(),
    message_ids: z.array(z.string()),
    key_id: z.string().nullable(),
    request_id: z.string().nullable(),
    reader: z.string().optional().openapi({ description: "The MemReader that extracted this memory (rules@1, llm:<model>)." }),
    merged_from: z
      .array(z.string())
      .optional()
      .openapi({ description: "Memories merged into this one by consolidation; their message ids are in message_ids." }),
  })
  .openapi("Source");

/** A memory: the MemOS header and its payload (`content`). */
export const Memory = z
  .object({
    id: z.string().openapi({ example: "mem_0123456789abcdef0123456789abcdef" }),
    cube_id: CubeId,
    owner: z.string().openapi({ example: "user:alice", description: "`user:<id>` or `agent:<id>`." }),
    type: MemoryType,
    content: z.string(),
    tags: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()),
    session_id: z.string().nullable(),
    source: Source,
    created_at: Timestamp,
    updated_at: Timestamp,
    valid_at: Timestamp.nullable().openapi({ description: "When the memory became true in the world." }),
    invalid_at: Timestamp.nullable().openapi({ description: "When it stopped being true." }),
    expires_at: Timestamp.nullable(),
    priority: z.int(),
    importance: z.number(),
    sensitivity: z.array(z.string()),
    visibility: z.enum(["private", "shared"]),
    frozen: z.boolean(),
    pinned: z.boolean().openapi({ description: "Held in the cube's working memory (POST /v1/memories/{id}/pin)." }),
    watermark: z.string().nullable().openapi({ description: "Signature of the writing key over id, version and content." }),
    access_count: z.int(),
    last_accessed_at: Timestamp.nullable(),
    version: z.int(),
    state: MemoryState,
    supersedes: z.string().nullable(),
    superseded_by: z.string().nullable(),
    content_preview: z.literal(true).optional().openapi({
      description:
        "Present (true) when `content` is only the preview an archived memory keeps in its cube (its first 280 characters); " +
        "reading the memory by id restores it with its whole content. Search finds it by every word of the whole content.",
    }),
  })
  .openapi("Memory");

/** One memory to write, verbatim. */
export const MemoryInput = z
  .object({
    content: text(LIMITS.contentBytes).openapi({ example: "Alice is allergic to peanuts." }),
    type: MemoryType.default("fact"),
    tags: Tags.default([]),
    metadata: Metadata.default({}),
    session_id: ExternalId.optional(),
    valid_at: Timestamp.optional(),
    invalid_at: Timestamp.optional(),
    ttl: Ttl.optional(),
    expires_at: Timestamp.optional(),
    priority: Priority.default(50),
    importance: Importance.default(0.5),
    sensitivity: Sensitivity.default([]),
    frozen: z.boolean().default(false),
    source: SourceInput.optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.ttl !== undefined && m.expires_at !== undefined) {
      ctx.addIssue({ code: "custom", message: "give ttl or expires_at, not both", path: ["ttl"] });
    }
    if (m.valid_at && m.invalid_at && Date.parse(m.invalid_at) <= Date.parse(m.valid_at)) {
      ctx.addIssue({ code: "custom", message: "invalid_at must be after valid_at", path: ["invalid_at"] });
    }
  })
  .openapi("MemoryInput");

/** One message of a conversation, OpenAI-style. */
export const MessageInput = z
  .object({
    role: z.enum(["user", "assistant", "system", "tool"]),
    content: text(LIMITS.contentBytes),
    name: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[^\u0000-\u001f\u007f]+$/, "must not contain control characters")
      .optional()
      .openapi({ description: "The speaker's name (used instead of pronouns in extracted memories)." }),
    id: ExternalId.optional().openapi({ description: "Your message id, cited in provenance; default: m<position>." }),
    created_at: Timestamp.optional().openapi({ description: "When it was said: relative dates in it resolve against this." }),
  })
  .strict()
  .openapi("MessageInput");

export const WriteMemoriesRequest = z
  .object({
    ...ownerScopeFields,
    memories: z.array(MemoryInput).min(1).max(LIMITS.batchItems).optional().openapi({
      description: "Memories to write verbatim (201). Give this or `messages`.",
    }),
    messages: z.array(MessageInput).min(1).max(LIMITS.messages).optional().openapi({
      description: "A conversation for MemReader to turn into memories (202 with a job, or 200 with `sync`).",
    }),
    infer: z.boolean().optional().openapi({
      description: "With messages: extract memories (default true); false stores each user/assistant message verbatim.",
    }),
    sync: z.boolean().optional().openapi({ description: "With messages: wait for the job and return its memories (200)." }),
    session_id: ExternalId.optional().openapi({ description: "With messages: the session the memories belong to." }),
    metadata: Metadata.optional().openapi({ description: "With messages: metadata for every memory extracted." }),
  })
  .strict()
  .superRefine((request, ctx) => {
    exactlyOneScope(request, ctx);
    if ((request.memories === undefined) === (request.messages === undefined)) {
      ctx.addIssue({ code: "custom", message: "give either memories or messages", path: ["memories"] });
    }
    if (request.memories !== undefined) {
      for (const field of ["infer", "sync", "session_id", "metadata"] as const) {
        if (request[field] !== undefined) ctx.addIssue({ code: "custom", message: `${field} applies to messages only`, path: [field] });
      }
    }
    const ids = (request.messages ?? []).flatMap((m) => (m.id === undefined ? [] : [m.id]));
    if (new Set(ids).size !== ids.length) ctx.addIssue({ code: "custom", message: "message ids must be unique", path: ["messages"] });
  })
  .openapi("WriteMemoriesRequest");

/** A conversation received: the job reading it (202), or with `sync` the job done and its memories (200). */
export const IngestResponse = z
  .object({
    cube_id: CubeId,
    job_id: z.string(),
    status: z.enum(["queued", "running", "done", "failed"]),
    episode_id: z.string().openapi({ description: "The raw conversation, kept in R2; the same messages always get the same id." }),
    job: JobSchema,
    data: z.array(Memory).openapi({ description: "Memories written so far (all of them once the job is done)." }),
  })
  .openapi("IngestResponse");

export const WriteMemoriesResponse = z
  .object({ cube_id: CubeId, data: z.array(Memory) })
  .openapi("WriteMemoriesResponse");

/** A partial update; every given field is set, `null` clears a nullable one. At least one field. */
export const UpdateMemoryRequest = z
  .object({
    content: text(LIMITS.contentBytes).optional(),
    type: MemoryType.optional(),
    tags: Tags.optional(),
    metadata: Metadata.optional().openapi({ description: "Replaces the whole metadata object." }),
    session_id: ExternalId.nullable().optional(),
    valid_at: Timestamp.nullable().optional(),
    invalid_at: Timestamp.nullable().optional(),
    ttl: Ttl.optional(),
    expires_at: Timestamp.nullable().optional(),
    priority: Priority.optional(),
    importance: Importance.optional(),
    sensitivity: Sensitivity.optional(),
    frozen: z.boolean().optional().openapi({ description: "A frozen memory refuses every change but `frozen: false`." }),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (Object.keys(m).length === 0) ctx.addIssue({ code: "custom", message: "give at least one field to change" });
    if (m.ttl !== undefined && m.expires_at !== undefined) {
      ctx.addIssue({ code: "custom", message: "give ttl or expires_at, not both", path: ["ttl"] });
    }
  })
  .openapi("UpdateMemoryRequest");

// Bounded like every list: a repeated query parameter or a JSON array costs work per value before any filter runs.
const oneOrMany = <T extends z.ZodType>(item: T, max: number) => z.union([item, z.array(item).max(max)]);

/** Filters shared by list and search. Repeated values of one field match any of them; tags must all be present. */
export const memoryFilterFields = {
  type: oneOrMany(MemoryType, MEMORY_TYPES.length).optional().openapi({ description: "Memory type(s); repeat to match any." }),
  state: oneOrMany(MemoryState, MEMORY_STATES.length).optional().openapi({
    description: "Lifecycle state(s). Default: generated, activated and archived (forgotten, expired, superseded and merged are hidden).",
  }),
  tags: oneOrMany(Tag, LIMITS.tags).optional().openapi({ description: "Tags the memory must all carry." }),
  session_id: ExternalId.optional(),
  created_after: Timestamp.optional(),
  created_before: Timestamp.optional(),
  updated_after: Timestamp.optional(),
  updated_before: Timestamp.optional(),
};

export const ListMemoriesQuery = z
  .object({
    ...ownerScopeFields,
    ...memoryFilterFields,
    limit: z.coerce.number().int().min(1).max(LIMITS.pageSize).default(20),
    cursor: z.string().max(200).optional().openapi({ description: "`next_cursor` of the previous page." }),
  })
  .superRefine(exactlyOneScope);

export const MemoryList = pageOf(Memory).openapi("MemoryList");

export const MemoryIdParam = z.object({
  id: z.string().max(64).openapi({ param: { name: "id", in: "path" }, example: "mem_0123456789abcdef0123456789abcdef" }),
});

export const GetMemoryQuery = z.object({
  as_of: Timestamp.optional().openapi({
    description: "Point-in-time read: the memory as it stood then (404 if it did not exist yet or was not live).",
  }),
});

export const RollbackRequest = z
  .object({
    version: z.int().min(1).openapi({ description: "The version whose payload and header come back (see /history)." }),
  })
  .strict()
  .openapi("RollbackRequest");

export const DeleteMemoryQuery = z.object({
  hard: z.enum(["true", "false"]).default("false").openapi({
    description: "`true` purges the memory and its versions for good; the default forgets it (soft delete).",
  }),
});

export const DeleteMemoryResponse = z
  .object({ id: z.string(), deleted: z.enum(["forgotten", "purged"]) })
  .openapi("DeleteMemoryResponse");

/** What made a version: a write, a state change, a rollback, or consolidation (absorbed = survivor of a merge). */
export const VERSION_CHANGES = ["created", "updated", "forgotten", "expired", "rolled_back", "merged", "absorbed", "superseded"] as const;

export const MemoryVersion = z
  .object({
    version: z.int(),
    change: z.enum(VERSION_CHANGES),
    changed_at: Timestamp,
    actor: z.string(),
    request_id: z.string().nullable(),
    memory: Memory.openapi({ description: "The memory as it was at this version." }),
  })
  .openapi("MemoryVersion");

export const MemoryHistory = z.object({ data: z.array(MemoryVersion) }).openapi("MemoryHistory");

export type MemoryWire = z.infer<typeof Memory>;
export type MemoryInputWire = z.infer<typeof MemoryInput>;
export type UpdateMemoryWire = z.infer<typeof UpdateMemoryRequest>;
export type MemoryVersionWire = z.infer<typeof MemoryVersion>;
export type SourceWire = z.infer<typeof Source>;
