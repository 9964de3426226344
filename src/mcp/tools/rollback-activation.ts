/** memos_rollback_activation: put a previous activation block back (POST /v1/cubes/{id}/activation/rollback). */
import { z } from "@hono/zod-openapi";
import { ActivationRollbackRequest } from "../../schemas/scheduler";
import { activationForOwner, activationHistory, rollbackActivationForOwner } from "../../services/scheduler";
import { OwnerScope, defineTool, parseAsRest, scopeFields } from "../tool";

const field = ActivationRollbackRequest.shape;

export const rollbackActivationTool = defineTool({
  name: "memos_rollback_activation",
  title: "Roll back the activation block",
  description:
    "Put a previous version of a user's or agent's activation block back (when a recent change to their standing " +
    "memory made things worse). Omit version to list the stored versions first. The old block comes back as a new " +
    "version and stays until a new pinned memory, instruction or preference arrives; the reason is recorded.",
  scope: "write",
  input: z
    .object({
      ...scopeFields,
      version: field.version.optional().describe("The version to bring back; omit to list the stored versions (newest first)."),
      reason: field.reason.optional().describe("Why (required with version): kept in the rollback's event."),
    })
    .strict(),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async run(ctx, args) {
    const scope = parseAsRest(OwnerScope, { user_id: args.user_id, agent_id: args.agent_id, cube_id: args.cube_id });
    if (args.version === undefined) {
      const current = await activationForOwner(ctx, scope);
      if (!current) return { structured: { cube_id: null, versions: [] }, text: "No memories yet for this owner." };
      const history = await activationHistory(ctx, current.cube_id, 20);
      const versions = history.data.map((v) => ({ version: v.version, etag: v.etag, tokens: v.tokens, compiled_at: v.compiled_at, members: v.members.length }));
      return {
        structured: { cube_id: current.cube_id, current_version: current.version, versions },
        text: versions.map((v) => `version ${v.version}: ${v.members} memories, ${v.tokens} tokens, ${v.compiled_at}`).join("\n"),
      };
    }
    const { version, reason } = parseAsRest(ActivationRollbackRequest, { version: args.version, reason: args.reason });
    const block = await rollbackActivationForOwner(ctx, scope, version, reason);
    return {
      structured: { cube_id: block.cube_id, version: block.version, etag: block.etag, text: block.text, members: block.members },
      text: `Rolled back: version ${block.version} now holds version ${version}'s block.\n${block.text}`,
    };
  },
});
