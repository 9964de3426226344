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
import { bodyProblem } from "./json-guard";
import { createRouter, tenantContext } from "./shared";

export const MCP_PATH = "/mcp";

/** A JSON-RPC Invalid Request error (-32600), answered without an id as the specification asks when none is known. */
const invalidRequest = (message: string) => ({ jsonrpc: "2.0", error: { code: -32600, message: `Invalid Request: ${message}` }, id: null });

/**
 * The body parsed and checked before the SDK sees it: bounded nesting and well-formed Unicode (the guard every REST
 * body passes, routes/json-guard.ts), and not an empty batch, which JSON-RPC 2.0 answers with Invalid Request (the
 * SDK accepted `[]` with a 202). Bodies that are not JSON are left to the transport, which answers them itself.
 */
async function checkBody(request: Request): Promise<{ refusal: object } | { parsedBody: unknown } | Record<string, never>> {
  if (!(request.headers.get("Content-Type") ?? "").toLowerCase().includes("application/json")) return {};
  let parsedBody: unknown;
  try {
    parsedBody = JSON.parse(await request.clone().text());
  } catch {
    return {};
  }
  if (Array.isArray(parsedBody) && parsedBody.length === 0) return { refusal: invalidRequest("an empty batch") };
  const problem = bodyProblem(parsedBody);
  if (problem) return { refusal: invalidRequest(`the body ${problem}`) };
  return { parsedBody };
}

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
    const checked = await checkBody(c.req.raw);
    if ("refusal" in checked) return c.json(checked.refusal, 400);
    await server.connect(transport);
    try {
      // In JSON-response mode the response is complete when this resolves, so closing afterwards loses nothing.
      return await transport.handleRequest(c.req.raw, "parsedBody" in checked ? { parsedBody: checked.parsedBody } : undefined);
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
