/** memos_forget_memory: forget a memory (soft), or purge it (DELETE /v1/memories/{id}). */
import { z } from "@hono/zod-openapi";
import { forgetMemory } from "../../services/memories";
import { defineTool, memoryIdField } from "../tool";

export const forgetMemoryTool = defineTool({
  name: "memos_forget_memory",
  title: "Forget a memory",
  description:
    "Forget a memory: it leaves reads and search at once, but its versions are kept so it can be restored. Use it " +
    "when the user asks you to forget something or a memory is wrong and should not be corrected. hard: true purges " +
    "the memory and all its versions for good — only when the user explicitly asks for permanent deletion. Returns " +
    "the id and forgotten or purged; an unknown id is not_found, a frozen memory memory_frozen.",
  scope: "write",
  input: z
    .object({
      id: memoryIdField,
      // REST takes ?hard=true|false as a query string; a tool argument is a real boolean.
      hard: z.boolean().default(false).describe("true purges the memory and its history permanently. Default false."),
    })
    .strict(),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async run(ctx, { id, hard }) {
    const { deleted } = await forgetMemory(ctx, id, hard);
    return { structured: { id, deleted }, text: `${id} ${deleted}.` };
  },
});
