/**
 * MCP at /mcp: Streamable HTTP in stateless JSON-response mode, authenticated with the API's own keys.
 *
 * Stateless because a Worker isolate keeps nothing between requests: each POST builds a server, answers its one
 * JSON-RPC message with a JSON body, and closes — no session id, no Durable Object per session, no stream left
 * open. The memory state lives in the cubes already. So GET (a server-to-client SSE stream) and DELETE (ending a
 * session) have nothing to serve and answer 405, as the transport specification allows.
 *
 * The key, its rate limits and the body limit are checked by the same middleware chain as the REST routes (app.ts).
 *
 * Not an OpenAPI route: its body is JSON-RPC, described by the MCP specification and listed by tools/list.
 */
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { createMcpServer } from "../mcp/server";
import { LIMITS } from "../schemas/limits";
import { createRouter, tenantContext } from "./shared";

export const MCP_PATH = "/mcp";

export const mcpRoutes = createRouter()
  .post(MCP_PATH, async (c) => {
    // Each tool asks for the scope it needs when it runs, so a read-only key can list every tool and gets a
    // `forbidden` tool error from the writing ones.
    const server = createMcpServer({ context: (scope) => tenantContext(c, scope), requestId: c.var.requestId });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      maxRequestBodySize: LIMITS.bodyBytes,
    });
    await server.connect(transport);
    try {
      // In JSON-response mode the response is complete when this resolves, so closing afterwards loses nothing.
      return await transport.handleRequest(c.req.raw);
    } finally {
      await server.close();
    }
  })
  .on(["GET", "DELETE"], MCP_PATH, (c) => {
    c.header("Allow", "POST");
    return c.json(
      { jsonrpc: "2.0", error: { code: -32000, message: "Method not allowed: this server is stateless; send JSON-RPC with POST." }, id: null },
      405,
    );
  });
