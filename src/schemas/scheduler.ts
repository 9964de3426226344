/** Working memory, context assembly and cube stats: what the scheduler and lifecycle show. */
import { z } from "@hono/zod-openapi";
import { ACTIVATION_REASONS } from "../core/activation";
import { CONTEXT_GROUPS } from "../core/context";
import { MEMORY_STATES } from "../core/lifecycle";
import { CubeId, ExternalId, Timestamp, exactlyOneScope, ownerScopeFields, text } from "./common";
import { LIMITS } from "./limits";
import { Memory, MemoryType } from "./memory";
import { SearchFilters } from "./search";

export const WorkingMemoryItem = z
  .object({
    pinned: z.boolean(),
    score: z.number().openapi({ description: "Working-memory score in [0, 1]: priority, importance, access frequency, recency." }),
    memory: Memory,
  })
  .openapi("WorkingMemoryItem");

export const WorkingMemory = z
  .object({ cube_id: CubeId, data: z.array(WorkingMemoryItem) })
  .openapi("WorkingMemory");

export const ContextRequest = z
  .object({
    query: text(LIMITS.queryBytes).openapi({ example: "plan a dinner for alice" }),
    ...ownerScopeFields,
    budget_tokens: z.int().min(50).max(LIMITS.contextBudgetTokens).default(1000).openapi({
      description: "Most tokens the context may take (estimated as characters / 4, like search's context_tokens).",
    }),
    filters: SearchFilters.default({}),
    reference_time: Timestamp.optional().openapi({ description: "Only memories valid at this time. Default: now." }),
  })
  .strict()
  .superRefine(exactlyOneScope)
  .openapi("ContextRequest");

export const ContextItem = z
  .object({
    id: z.string(),
    group: z.enum(CONTEXT_GROUPS),
    origin: z.enum(["pinned", "working_memory", "recall"]).openapi({
      description: "pinned or working_memory: the cube's hot set; recall: found for this query.",
    }),
    type: MemoryType,
    content: z.string(),
    date: Timestamp.openapi({ description: "valid_at when set (when it happened or became true), else created_at." }),
    score: z.number(),
    tokens: z.int(),
  })
  .openapi("ContextItem");

export const ActivationMember = z
  .object({
    id: z.string(),
    reason: z.enum(ACTIVATION_REASONS).openapi({
      description: "Why it is in the block: `pinned`, an `instruction`, a `preference`, or `often_used` (read at least 5 times).",
    }),
    tokens: z.int(),
  })
  .openapi("ActivationMember");

export const ActivationBlock = z
  .object({
    cube_id: CubeId,
    version: z.int().openapi({ description: "Goes up by one each time the block's bytes change." }),
    etag: z.string().openapi({ description: "The block's content hash; also the `ETag` header (quoted)." }),
    text: z.string().openapi({
      description: "The block, ready to go first in a prompt: Pinned, Instructions, Preferences, Facts; each line cites [memory id].",
    }),
    tokens: z.int(),
    budget_tokens: z.int(),
    members: z.array(ActivationMember),
    compiled_at: Timestamp.openapi({ description: "When this version was compiled (its bytes first appeared)." }),
    agent_id: ExternalId.optional().openapi({ description: "Present on an agent's view (`?agent_id=`)." }),
  })
  .openapi("ActivationBlock");

export const ActivationQuery = z.object({
  agent_id: ExternalId.optional().openapi({
    description:
      "The block as this agent sees it: memories written for it (metadata `agent_id`, or the mem0 facade's agent) and the cube's " +
      "shared ones (no agent named), never another agent's. Derived, not versioned: `version` is the cube block's, `etag` the view's.",
  }),
});

export const ActivationRollbackRequest = z
  .object({
    version: z.int().min(1).openapi({ description: "A stored version (GET …/activation/history)." }),
    reason: text(500).openapi({ description: "Why: kept in the event the rollback records.", example: "the new preference made answers worse" }),
  })
  .strict()
  .openapi("ActivationRollbackRequest");

export const ActivationHistory = z
  .object({ cube_id: CubeId, data: z.array(ActivationBlock.omit({ cube_id: true, agent_id: true })) })
  .openapi("ActivationHistory");

export const ActivationHistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(50).default(20),
});

export const ContextResponse = z
  .object({
    cube_id: CubeId.nullable(),
    text: z.string().openapi({
      description: "Ready for a prompt: Instructions, Preferences, Facts, Events (dated, in order); each line cites [memory id].",
    }),
    items: z.array(ContextItem),
    tokens: z.int(),
    budget_tokens: z.int(),
    omitted: z.int().openapi({ description: "Candidates left out because the budget was spent." }),
    cached: z.boolean().openapi({ description: "Served from the cube's context cache (invalidated by any write)." }),
    stable: z
      .object({ text: z.string(), tokens: z.int(), version: z.int(), etag: z.string(), ids: z.array(z.string()) })
      .nullable()
      .openapi({
        description:
          "The cube's activation block, whole and independent of the query: put it first in the prompt so the model " +
          "provider's prefix cache keeps it. Its bytes change only when its content does (`version`, `etag`). Null when the owner has no cube.",
      }),
    dynamic: z
      .object({ text: z.string(), tokens: z.int(), items: z.array(ContextItem) })
      .openapi({ description: "What this query adds after the stable part, within the budget the stable part left." }),
    timing_ms: z.number(),
  })
  .openapi("ContextResponse");

export const CubeStats = z
  .object({
    cube_id: CubeId,
    states: z.object(Object.fromEntries(MEMORY_STATES.map((s) => [s, z.int()])) as Record<(typeof MEMORY_STATES)[number], z.ZodInt>),
    pinned: z.int(),
    vectors: z.int().openapi({ description: "Vectors in the cube's own index (all embedding spaces)." }),
    bytes: z
      .object({
        hot: z.int().openapi({ description: "Payload, tags, metadata and version snapshots held in the cube." }),
        cold: z.int().openapi({ description: "Archived payloads and versions held in R2." }),
      })
      .openapi({ description: "Bytes by tier." }),
  })
  .openapi("CubeStats");

export type ContextRequestWire = z.infer<typeof ContextRequest>;
