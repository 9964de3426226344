/** memos_update_memory: change a memory; the old version stays in its history (PATCH /v1/memories/{id}). */
import { z } from "@hono/zod-openapi";
import { UpdateMemoryRequest } from "../../schemas/memory";
import { updateMemory } from "../../services/memories";
import { PREVIEW_CHARS, defineTool, memoryIdField, memoryPreview, parseAsRest, previewLine, timeField } from "../tool";

const field = UpdateMemoryRequest.shape;

export const updateMemoryTool = defineTool({
  name: "memos_update_memory",
  title: "Update a memory",
  description:
    "Correct or change a memory: give its id and only the fields to change (null clears a nullable one). This writes " +
    "a new version and keeps the old one (see memos_memory_history). Use it when the user corrects something you " +
    "remembered; when a fact simply stopped being true, prefer setting invalid_at. Frozen memories refuse every " +
    "change but frozen: false (error memory_frozen). Returns the memory at its new version.",
  scope: "write",
  input: z
    .object({
      id: memoryIdField,
      ...field,
      content: field.content.describe("The new text, one self-contained statement."),
      tags: field.tags.describe("Replaces all tags."),
      metadata: field.metadata.describe("Replaces the whole metadata object."),
      valid_at: timeField("When it became true, or null.").nullable().optional(),
      invalid_at: timeField("When it stopped being true, or null.").nullable().optional(),
      expires_at: timeField("When it expires, or null for never. Not with ttl.").nullable().optional(),
      ttl: field.ttl.describe("Seconds from now until it expires. Not with expires_at."),
      frozen: field.frozen.describe("true freezes the memory against changes; false unfreezes it."),
    })
    .strict(),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async run(ctx, { id, ...changes }) {
    const patch = parseAsRest(UpdateMemoryRequest, changes);
    const { memory } = await updateMemory(ctx, id, patch);
    const preview = memoryPreview(memory, PREVIEW_CHARS);
    return {
      structured: { ...preview, version: memory.version },
      text: `Updated to version ${memory.version}: ${previewLine(preview)}`,
    };
  },
});
