/** memos_list_memories: an owner's or cube's memories, newest first, a page at a time (GET /v1/memories). */
import { z } from "@hono/zod-openapi";
import { ListMemoriesQuery } from "../../schemas/memory";
import { listMemories } from "../../services/memories";
import { PREVIEW_CHARS, TRUNCATION_NOTE, defineTool, filterFields, memoryPreview, parseAsRest, previewLine, scopeFields } from "../tool";

const field = ListMemoriesQuery.shape;

export const listMemoriesTool = defineTool({
  name: "memos_list_memories",
  title: "List memories",
  description:
    "List a user's or agent's memories, newest first, optionally filtered by type, state, tags, session or time. Use " +
    "it to review or audit what is stored; to find memories about something, use memos_search. Returns up to limit " +
    `memories (default 20) with id, type, state, tags, valid_at and the first ${PREVIEW_CHARS} characters of content, ` +
    `and next_cursor: pass it back as cursor for the next page (null at the end). ${TRUNCATION_NOTE}`,
  scope: "read",
  input: z
    .object({
      ...scopeFields,
      ...filterFields,
      limit: field.limit.describe("Memories per page, 1–100 (default 20)."),
      cursor: field.cursor.describe("next_cursor of the previous page."),
    })
    .strict(),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(ctx, args) {
    const query = parseAsRest(ListMemoriesQuery, args);
    const page = await listMemories(ctx, query);
    const memories = page.data.map((memory) => memoryPreview(memory, PREVIEW_CHARS));
    const more = page.next_cursor ? `\nMore: call again with cursor "${page.next_cursor}".` : "";
    return {
      structured: { ids: memories.map((m) => m.id), memories, next_cursor: page.next_cursor },
      text: memories.length === 0 ? "No memories." : `${memories.map((m) => previewLine(m)).join("\n")}${more}`,
    };
  },
});
