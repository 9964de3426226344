/** memos_memory_history: every version of a memory (GET /v1/memories/{id}/history). */
import { z } from "@hono/zod-openapi";
import { memoryHistory } from "../../services/memories";
import { PREVIEW_CHARS, defineTool, excerpt, memoryIdField } from "../tool";

/** Versions shown at most; older ones are counted, not listed. */
const MAX_VERSIONS = 50;

export const memoryHistoryTool = defineTool({
  name: "memos_memory_history",
  title: "Memory history",
  description:
    "Show how a memory changed: its versions, oldest first, each with the change (created, updated, forgotten, " +
    "expired, rolled_back, merged, absorbed, superseded), when, by which key, and the first " +
    `${PREVIEW_CHARS} characters of the content it had. Use it to see what was corrected, or why a memory is gone. ` +
    `At most the ${MAX_VERSIONS} newest versions are listed.`,
  scope: "read",
  input: z.object({ id: memoryIdField }).strict(),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(ctx, { id }) {
    const all = await memoryHistory(ctx, id);
    const versions = all.slice(-MAX_VERSIONS).map((v) => ({
      version: v.version,
      change: v.change,
      changed_at: v.changed_at,
      actor: v.actor,
      state: v.memory.state,
      ...excerpt(v.memory.content, PREVIEW_CHARS),
    }));
    const omitted = all.length - versions.length;
    const lines = versions.map((v) => `v${v.version} ${v.change} ${v.changed_at} by ${v.actor}: ${v.content}`);
    return {
      structured: { id, versions, omitted },
      text: [`${id}: ${all.length} ${all.length === 1 ? "version" : "versions"}${omitted ? ` (${omitted} oldest not shown)` : ""}`, ...lines].join("\n"),
    };
  },
});
