/** memos_remember: write memories verbatim (POST /v1/memories with `memories`). */
import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../schemas/limits";
import { MemoryInput, WriteMemoriesRequest } from "../../schemas/memory";
import { remember } from "../../services/memories";
import { PREVIEW_CHARS, defineTool, memoryPreview, parseAsRest, previewLine, scopeFields, timeField } from "../tool";

const field = MemoryInput.shape;

/**
 * MemoryInput's fields, described for a model, without `source` (provenance plumbing for importers: a conversation
 * goes to memos_ingest_conversation, which records its own). MemoryInput's cross-field rules run in the REST re-parse.
 */
const { source: _source, ...fields } = field;
const MemoryToRemember = z
  .object({
    ...fields,
    content: field.content.describe('One self-contained statement, stored exactly as given, e.g. "Alice is allergic to peanuts."'),
    type: field.type.describe(
      "fact (default); event (something that happened: give valid_at); preference; instruction (a standing rule for the agent); task; note.",
    ),
    tags: field.tags.describe('Short labels to filter by later, e.g. ["health"].'),
    metadata: field.metadata.describe("Free JSON object, returned as written and filterable in search."),
    valid_at: timeField("When it happened or became true, if known.").optional(),
    invalid_at: timeField("When it stopped being true, if known.").optional(),
    ttl: field.ttl.describe("Seconds until the memory expires, for things that stop mattering. Not with expires_at."),
    expires_at: timeField("When the memory expires. Not with ttl.").optional(),
    priority: field.priority.describe("0–100, default 50: scheduling priority for working memory."),
    importance: field.importance.describe("0–1, default 0.5: how much the memory matters."),
    frozen: field.frozen.describe("true refuses every later change until unfrozen. Default false."),
  })
  .strict();

export const rememberTool = defineTool({
  name: "memos_remember",
  title: "Remember (verbatim)",
  description:
    "Store 1–100 memories exactly as written for a user or an agent, searchable as soon as this returns. Use it when " +
    "the user states a fact, preference or instruction worth keeping, or you decide something should be remembered; " +
    "write each memory as one self-contained sentence that names its subject. For a whole conversation use " +
    "memos_ingest_conversation instead. Returns the new memory ids (mem_…) and the cube they are in.",
  scope: "write",
  input: z
    .object({
      ...scopeFields,
      memories: z.array(MemoryToRemember).min(1).max(LIMITS.batchItems).describe("The memories to store (1–100)."),
    })
    .strict(),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async run(ctx, { memories, ...scope }) {
    const request = parseAsRest(WriteMemoriesRequest, { ...scope, memories });
    const { cube_id, data } = await remember(ctx, request);
    const stored = data.map((memory) => memoryPreview(memory, PREVIEW_CHARS));
    return {
      structured: { cube_id, ids: data.map((memory) => memory.id), memories: stored },
      text: [`Stored ${data.length} ${data.length === 1 ? "memory" : "memories"} in ${cube_id}:`, ...stored.map((m) => previewLine(m))].join("\n"),
    };
  },
});
