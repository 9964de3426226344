/** memos_get_activation: a cube's activation block, whole or as one agent sees it (GET /v1/cubes/{id}/activation). */
import { z } from "@hono/zod-openapi";
import { ActivationQuery } from "../../schemas/scheduler";
import { activationForOwner } from "../../services/scheduler";
import { OwnerScope, defineTool, parseAsRest, scopeFields } from "../tool";

export const getActivationTool = defineTool({
  name: "memos_get_activation",
  title: "Get the activation block",
  description:
    "Get the standing memory of a user or agent: pinned memories, instructions, preferences and often-used facts, " +
    "compiled into a block whose text stays byte-identical until its content changes (put it first in a prompt so " +
    "prompt caches keep it). Give view_agent_id to see it as that agent does (its own memories and the shared ones). " +
    "Returns the text, its version and etag, and the member memory ids with why each is in.",
  scope: "read",
  input: z
    .object({
      ...scopeFields,
      view_agent_id: ActivationQuery.shape.agent_id.describe("Optional: the agent whose view of the block you want."),
    })
    .strict(),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(ctx, args) {
    parseAsRest(OwnerScope, { user_id: args.user_id, agent_id: args.agent_id, cube_id: args.cube_id });
    const block = await activationForOwner(ctx, args, args.view_agent_id);
    if (!block) return { structured: { cube_id: null, text: "", members: [] }, text: "No memories yet for this owner." };
    const { cube_id, version, etag, text, tokens, members, compiled_at } = block;
    return {
      structured: { cube_id, version, etag, text, tokens, members, compiled_at, ...(args.view_agent_id ? { agent_id: args.view_agent_id } : {}) },
      text: text === "" ? `The activation block of ${cube_id} is empty (version ${version}).` : `Version ${version} (etag ${etag}):\n${text}`,
    };
  },
});
