/**
 * The MCP server of one request: stateless, so a new one per HTTP request, holding that request's tenant context.
 * Its tools call the same services as the REST routes.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import type { McpTool, ToolSession } from "./tool";
import { findListingsTool } from "./tools/find-listings";
import { forgetMemoryTool } from "./tools/forget-memory";
import { getActivationTool } from "./tools/get-activation";
import { getContextTool } from "./tools/get-context";
import { getMemoryTool } from "./tools/get-memory";
import { ingestConversationTool } from "./tools/ingest-conversation";
import { listMemoriesTool } from "./tools/list-memories";
import { memoryHistoryTool } from "./tools/memory-history";
import { distillTool, listAdaptersTool } from "./tools/parametric";
import { rememberTool } from "./tools/remember";
import { rollbackActivationTool } from "./tools/rollback-activation";
import { searchTool } from "./tools/search";
import { searchListingTool } from "./tools/search-listing";
import { updateMemoryTool } from "./tools/update-memory";

/** Every tool, in the order clients list them. Names carry the `memos_` prefix so they never collide with other servers'. */
export const MCP_TOOLS: readonly McpTool[] = [
  getContextTool,
  searchTool,
  rememberTool,
  ingestConversationTool,
  listMemoriesTool,
  getMemoryTool,
  updateMemoryTool,
  forgetMemoryTool,
  memoryHistoryTool,
  getActivationTool,
  rollbackActivationTool,
  distillTool,
  listAdaptersTool,
  findListingsTool,
  searchListingTool,
];

const INSTRUCTIONS =
  "MemOS Edge keeps long-term memories for users and agents. Address whose memories you mean with user_id (your " +
  "app's id for the end user) or agent_id — each owner has one default cube — or with a cube_id from an earlier " +
  "result. At the start of a task call memos_get_context; before answering something that may depend on earlier " +
  "conversations call memos_search; store what the user tells you that is worth keeping with memos_remember (one " +
  "self-contained sentence per memory) or hand over a whole conversation with memos_ingest_conversation. Memory ids " +
  "(mem_…) in every result work with memos_get_memory, memos_update_memory, memos_forget_memory and memos_memory_history. " +
  "memos_get_activation gives the standing block (instructions, preferences, pinned facts) to put first in a prompt.";

/**
 * Built once per isolate: left to itself, the SDK builds an Ajv instance for every server (~0.3 ms of CPU per
 * request) to validate elicitation answers, which these tools never ask for.
 */
let jsonSchemaValidator: AjvJsonSchemaValidator | undefined;

export function createMcpServer(session: ToolSession): McpServer {
  jsonSchemaValidator ??= new AjvJsonSchemaValidator();
  const server = new McpServer(
    { name: "memos-edge", title: "MemOS Edge", version: "0.1.0" },
    { instructions: INSTRUCTIONS, jsonSchemaValidator },
  );
  for (const tool of MCP_TOOLS) tool.register(server, session);
  return server;
}
