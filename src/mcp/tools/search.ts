/** memos_search: hybrid recall over one owner, one cube or several (POST /v1/search). */
import { z } from "@hono/zod-openapi";
import { SearchRequest } from "../../schemas/search";
import { search } from "../../services/search";
import { WHERE_LIMITS } from "../../core/where";
import {
  NEIGHBOUR_PREVIEW_CHARS,
  SEARCH_PREVIEW_CHARS,
  TRUNCATION_NOTE,
  neighbourLines,
  neighbourPreview,
  defineTool,
  filterFields,
  memoryPreview,
  parseAsRest,
  previewLine,
  scopeFields,
  timeField,
} from "../tool";

const field = SearchRequest.shape;

/**
 * One `{field, op, value}` condition of the REST `where` grammar. The tool takes a flat list of them, ANDed: the
 * full grammar (and/or/not, four levels) spelled out as JSON Schema is ~75 KB, too much for a model's tool list.
 */
const WhereCondition = field.where.unwrap().options[0];

export const searchTool = defineTool({
  name: "memos_search",
  title: "Search memories",
  description:
    "Recall memories relevant to a question or topic: keyword (BM25), tag and semantic search fused, best first. " +
    "Use it before answering anything that may depend on what you were told earlier (the user's facts, preferences, " +
    "past events). Any text is a valid query. Returns up to top_k hits (default 10), each with id, type, content " +
    `(at most ${SEARCH_PREVIEW_CHARS} characters), score (1 ≈ best possible), tags and valid_at; the best two hits ` +
    `from a conversation also carry the turns just before and after them (neighbours, at most ${NEIGHBOUR_PREVIEW_CHARS} ` +
    `characters each). ${TRUNCATION_NOTE} ` +
    "For a ready-to-use prompt block within a token budget, use memos_get_context instead.",
  scope: "read",
  input: z
    .object({
      query: field.query.describe("What to recall, in natural language or keywords."),
      ...scopeFields,
      cube_ids: field.cube_ids.describe("Several cube ids to search at once, instead of one owner."),
      top_k: field.top_k.describe("How many hits, 1–100 (default 10)."),
      filters: z.object(filterFields).strict().optional().describe("Optional filters, all of which must hold."),
      where: z
        .array(WhereCondition)
        .min(1)
        .max(WHERE_LIMITS.conditions)
        .optional()
        .describe(
          'Optional conditions that must all hold, e.g. [{"field":"metadata.app","op":"eq","value":"demo"}]. field: type, state, ' +
            "session_id (eq, ne, in, nin); tags (contains, in, nin); created_at, updated_at, valid_at, invalid_at (eq, ne, gt, gte, lt, " +
            "lte on ISO times); metadata.<key>[.<key>…] (all ops; contains on strings and arrays).",
        ),
      reference_time: timeField("Only memories valid at this time; default now.").optional(),
      as_of: timeField("Point-in-time search: each hit as it stood at this time.").optional(),
      threshold: field.threshold.describe("Drop hits scoring below this (0–1)."),
      rerank: field.rerank.describe("true re-orders the best candidates with the reranker (slower, often better)."),
      neighbours: field.neighbours.describe("false: no surrounding turns with the best two hits (default true)."),
    })
    .strict(),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(ctx, { where, ...args }) {
    const request = parseAsRest(SearchRequest, { ...args, ...(where === undefined ? {} : { where: { and: where } }) });
    const { data, context_tokens } = await search(ctx, request);
    const hits = data.map((hit) => ({
      ...memoryPreview(hit, SEARCH_PREVIEW_CHARS),
      score: Math.round(hit.score * 1000) / 1000,
      ...(hit.neighbours ? { neighbours: hit.neighbours.map(neighbourPreview) } : {}),
    }));
    const text =
      hits.length === 0
        ? "No memories matched."
        : [
            `${hits.length} ${hits.length === 1 ? "hit" : "hits"}, best first:`,
            ...hits.flatMap((h, i) => [`${i + 1}. ${previewLine(h, `score ${h.score}`)}`, ...neighbourLines(h.neighbours)]),
          ].join("\n");
    return { structured: { ids: hits.map((h) => h.id), hits, context_tokens }, text };
  },
});
