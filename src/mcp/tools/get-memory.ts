/** memos_get_memory: one memory, whole (GET /v1/memories/{id}). */
import { z } from "@hono/zod-openapi";
import { GetMemoryQuery } from "../../schemas/memory";
import { getMemory } from "../../services/memories";
import { defineTool, memoryIdField, parseAsRest, timeField } from "../tool";

export const getMemoryTool = defineTool({
  name: "memos_get_memory",
  title: "Get a memory",
  description:
    "Fetch one memory by id with its full content and header: type, tags, metadata, session, validity (valid_at, " +
    "invalid_at), expiry, importance, version, state, provenance (source: episode and message ids) and lineage " +
    "(supersedes, superseded_by). Use it when a search or list result was cut short, or to check a memory before " +
    "changing it. With as_of, the memory as it stood at that time. Forgotten memories are not found.",
  scope: "read",
  input: z
    .object({
      id: memoryIdField,
      as_of: timeField("Read the memory as it stood at this time.").optional(),
    })
    .strict(),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(ctx, { id, ...query }) {
    const { as_of } = parseAsRest(GetMemoryQuery, query);
    const memory = await getMemory(ctx, id, as_of);
    const dates = [memory.valid_at && `valid ${memory.valid_at}`, memory.invalid_at && `until ${memory.invalid_at}`]
      .filter(Boolean)
      .join(", ");
    const tags = memory.tags.length > 0 ? ` · tags ${memory.tags.join(", ")}` : "";
    return {
      structured: { memory },
      text: `[${memory.id}] ${memory.type} · ${memory.state} · version ${memory.version}${dates ? ` · ${dates}` : ""}${tags}\n${memory.content}`,
    };
  },
});
