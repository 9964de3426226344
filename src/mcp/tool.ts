/**
 * What every MCP tool shares: its definition, the per-request session it runs in, REST-equal validation, compact
 * rendering of memories, and service errors turned into tool results (`isError: true`) instead of protocol errors.
 */
import { z } from "@hono/zod-openapi";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { AnySchema } from "@modelcontextprotocol/sdk/server/zod-compat.js";
import type { CallToolResult, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import { ApiError, ConfigError, type ErrorCode } from "../errors";
import type { ScopeName } from "../schemas/admin";
import { exactlyOneScope, ownerScopeFields } from "../schemas/common";
import { MemoryIdParam, type MemoryWire, memoryFilterFields } from "../schemas/memory";
import type { TenantContext } from "../services/context";

/**
 * Tools parse their arguments, mapped to the REST request, with the REST schema itself (exactly one owner scope, ttl or
 * expires_at, unique message ids…).
 */
export { parseAsRest } from "../schemas/parse";

/** What one MCP request gives its tools: the tenant context for a scope (throws `forbidden`), and the request id. */
export interface ToolSession {
  context(scope: ScopeName): TenantContext;
  requestId: string;
}

/** A tool's answer: `structured` for programs (structuredContent), `text` for the model (a short rendering with the ids). */
export interface ToolOutput {
  structured: Record<string, unknown>;
  text: string;
}

export interface McpToolSpec<S extends z.ZodObject> {
  name: `memos_${string}`;
  title: string;
  /** Written for a model: when to use the tool and what comes back. */
  description: string;
  /** The key scope the tool needs: read for lookups, write for changes. */
  scope: ScopeName;
  /** The tool's arguments, built from the REST schemas' fields; cross-field rules are re-checked in `run`. */
  input: S;
  annotations: ToolAnnotations;
  run(ctx: TenantContext, args: z.output<S>): Promise<ToolOutput>;
}

/** A tool with its argument type erased, ready to be registered on a per-request server. */
export interface McpTool {
  name: string;
  register(server: McpServer, session: ToolSession): void;
}

export function defineTool<S extends z.ZodObject>(spec: McpToolSpec<S>): McpTool {
  return {
    name: spec.name,
    register(server, session) {
      // The SDK's callback type cannot be resolved for a generic schema; erase it here and restore it below.
      const inputSchema: AnySchema = spec.input;
      server.registerTool(
        spec.name,
        { title: spec.title, description: spec.description, inputSchema, annotations: { title: spec.title, ...spec.annotations } },
        async (args): Promise<CallToolResult> => {
          try {
            // The SDK has parsed the arguments with `spec.input` before calling (a failure there is a tool error too).
            const { structured, text } = await spec.run(session.context(spec.scope), args as z.output<S>);
            return { content: [{ type: "text", text }], structuredContent: structured };
          } catch (error) {
            return toolError(error, session.requestId);
          }
        },
      );
    },
  };
}

/**
 * A failure as a tool result the model can read and act on: `code: message`, the problems, the request id.
 * Unexpected errors are logged and shown only as internal_error, as the REST error handler does.
 */
export function toolError(error: unknown, requestId: string): CallToolResult {
  let code: ErrorCode = "internal_error";
  let message = "something went wrong on our side; quote the request_id when reporting it";
  let details: unknown;
  if (error instanceof ApiError) {
    ({ code, message, details } = error);
  } else if (error instanceof ConfigError) {
    console.error(`request ${requestId}: configuration error: ${error.message}`);
    message = "the service is misconfigured; the operator's logs say how";
  } else {
    console.error(`request ${requestId}: MCP tool failed`, error);
  }
  const problems = Array.isArray(details)
    ? details.map((d: { path?: string; message?: string }) => `\n- ${d.path ? `${d.path}: ` : ""}${d.message ?? ""}`).join("")
    : "";
  return {
    isError: true,
    content: [{ type: "text", text: `${code}: ${message}${problems}\n(request ${requestId})` }],
    structuredContent: { error: { code, message, ...(details === undefined ? {} : { details }), request_id: requestId } },
  };
}

/** The owner scope, described for a model. */
export const scopeFields = {
  user_id: ownerScopeFields.user_id.describe(
    "The end user the memories are about, in your app's own id (their default cube). Give exactly one of user_id, agent_id or cube_id.",
  ),
  agent_id: ownerScopeFields.agent_id.describe("An agent whose own memories these are (its default cube), instead of user_id."),
  cube_id: ownerScopeFields.cube_id.describe("A cube id (cube_…) from an earlier result, instead of user_id or agent_id."),
};

/** Exactly one of user_id, agent_id, cube_id: re-checked in `run` by tools whose REST route takes a cube id instead. */
export const OwnerScope = z.object(ownerScopeFields).superRefine(exactlyOneScope);

export const memoryIdField = MemoryIdParam.shape.id.describe("A memory id (mem_…) from an earlier result.");

/**
 * A time argument as the model sees it. The REST schema's `Timestamp` would put zod's ~400-character date-time
 * regex into tools/list once per time field (over 20 of them); the REST re-parse in each tool checks the value
 * exactly as the routes do, so the listed schema only needs to say what to send.
 */
export function timeField(description: string) {
  return z
    .string()
    .max(64)
    .meta({ format: "date-time", description: `${description} (ISO-8601 with offset)` });
}

/** The list and search filters (SearchFilters' fields), described, with time fields as {@link timeField}. */
export const filterFields = {
  type: memoryFilterFields.type.describe("Memory type(s): fact, event, preference, instruction, task, episode_summary, message, note."),
  state: memoryFilterFields.state.describe(
    "Lifecycle state(s). Default: the live ones (generated, activated, archived); e.g. forgotten finds forgotten memories.",
  ),
  tags: memoryFilterFields.tags.describe("Tag(s) the memories must all carry."),
  session_id: memoryFilterFields.session_id.describe("Only memories of this session."),
  created_after: timeField("Only memories created at or after this time.").optional(),
  created_before: timeField("Only memories created before this time.").optional(),
  updated_after: timeField("Only memories changed at or after this time.").optional(),
  updated_before: timeField("Only memories changed before this time.").optional(),
};

/** Characters of content a list or history entry shows; search shows more. */
export const PREVIEW_CHARS = 200;
export const SEARCH_PREVIEW_CHARS = 500;

/** At most `max` characters of `text` (never splitting a surrogate pair), and whether anything was cut. */
export function excerpt(text: string, max: number): { content: string; truncated?: true; chars?: number } {
  if (text.length <= max) return { content: text };
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return { content: `${text.slice(0, end)}…`, truncated: true, chars: text.length };
}

/** A memory in a few fields, its content cut to `max` characters. */
export function memoryPreview(memory: MemoryWire, max: number) {
  return {
    id: memory.id,
    type: memory.type,
    state: memory.state,
    ...excerpt(memory.content, max),
    tags: memory.tags,
    valid_at: memory.valid_at,
    updated_at: memory.updated_at,
  };
}

/** One line for the model: `[mem_…] type · date · content`, with a hint when the content was cut. */
export function previewLine(preview: ReturnType<typeof memoryPreview>, extra?: string): string {
  const date = preview.valid_at ? ` · valid ${preview.valid_at.slice(0, 10)}` : "";
  const state = preview.state === "activated" ? "" : ` · ${preview.state}`;
  const cut = preview.truncated ? ` (cut at ${preview.content.length - 1} of ${preview.chars} chars: memos_get_memory for all)` : "";
  return `[${preview.id}] ${preview.type}${state}${date}${extra ? ` · ${extra}` : ""}: ${preview.content}${cut}`;
}

/**
 * Characters of a search hit's neighbour the tool shows: the REST answer carries up to 1,000, but a neighbour is
 * context for the hit, not a hit, and a search's text is what the model reads — four neighbours at most (the best
 * two hits, one each side) cost ~200 tokens here instead of ~1,000.
 */
export const NEIGHBOUR_PREVIEW_CHARS = 200;

/** A hit's session neighbour (SearchResult.neighbours) cut for the model. */
export function neighbourPreview(neighbour: { id: string; content: string; position: "before" | "after" }) {
  return { id: neighbour.id, position: neighbour.position, ...excerpt(neighbour.content, NEIGHBOUR_PREVIEW_CHARS) };
}

/** The indented lines under a hit: the turns just before and after it in its session, in that order. */
export function neighbourLines(neighbours: readonly ReturnType<typeof neighbourPreview>[] | undefined): string[] {
  return (neighbours ?? []).map((n) => `   ${n.position === "before" ? "↑ before" : "↓ after"} [${n.id}]: ${n.content}`);
}

export const TRUNCATION_NOTE = "Content longer than the preview ends with … and carries truncated: true; memos_get_memory returns it whole.";
