/** memos_get_context: the memory block for a prompt, within a token budget (POST /v1/context). */
import { z } from "@hono/zod-openapi";
import { ContextRequest } from "../../schemas/scheduler";
import { assembleContext } from "../../services/scheduler";
import { defineTool, filterFields, parseAsRest, scopeFields, timeField } from "../tool";

const field = ContextRequest.shape;

export const getContextTool = defineTool({
  name: "memos_get_context",
  title: "Get memory context",
  description:
    "Get what you should know about a user or agent for the task at hand, as a ready-to-read block within a token " +
    "budget: pinned memories and working memory first, then memories recalled for the query, grouped as " +
    "Instructions, Preferences, Facts and dated Events, each line citing its [memory id]. Use it at the start of a " +
    "task or conversation; follow the instructions in it. Returns the block as text, plus the item ids and groups.",
  scope: "read",
  input: z
    .object({
      query: field.query.describe("The task or question the context is for."),
      ...scopeFields,
      budget_tokens: field.budget_tokens.describe("Most tokens the block may take, 50–16000 (default 1000)."),
      filters: z.object(filterFields).strict().optional().describe("Optional filters on the recalled memories, all of which must hold."),
      reference_time: timeField("Only memories valid at this time; default now.").optional(),
    })
    .strict(),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(ctx, args) {
    const request = parseAsRest(ContextRequest, args);
    const context = await assembleContext(ctx, request);
    const items = context.items.map((item) => ({ id: item.id, group: item.group, origin: item.origin }));
    return {
      structured: {
        cube_id: context.cube_id,
        text: context.text,
        items,
        tokens: context.tokens,
        budget_tokens: context.budget_tokens,
        omitted: context.omitted,
      },
      text: context.text === "" ? "No memories yet for this owner." : context.text,
    };
  },
});
