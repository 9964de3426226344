/**
 * MCP at /mcp: Streamable HTTP in stateless JSON-response mode, authenticated with the API's own keys.
 *
 * Stateless because a Worker isolate keeps nothing between requests: each POST builds a server, answers its one
 * JSON-RPC message with a JSON body, and closes — no session id, no Durable Object per session, no stream left
 * open. The memory state lives in the cubes already. So GET (a server-to-client SSE stream) and DELETE (ending a
 * session) have nothing to serve and answer 405, as the transport specification allows.
 *
 * Not an OpenAPI route: its body is JSON-RPC, described by the MCP specification and listed by tools/list.
 */
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { bodyLimit } from "hono/body-limit";
import { createDeps, createRateLimitDeps } from "../deps";
import { ApiError } from "../errors";
import { createMcpServer } from "../mcp/server";
import { LIMITS } from "../schemas/limits";
import { authenticate } from "../services/auth";
import { limitRequest } from "../services/rate-limit";
import { createRouter, tenantContext } from "./shared";

export const MCP_PATH = "/mcp";

export const mcpRoutes = createRouter()
  .use(
    MCP_PATH,
    bodyLimit({
      maxSize: LIMITS.bodyBytes,
      onError: () => {
        throw new ApiError("payload_too_large", `the body must be at most ${LIMITS.bodyBytes} bytes`);
      },
    }),
    // The same steps as the /v1/* middleware in app.ts (deps, background work, the Bearer key, the key's rate
    // limits), so a missing or bad key is a plain 401, and a key over its limits a 429, in the API's error shape
    // before any MCP message is read. The audit middleware in app.ts wraps this and records the request as `mcp`.
    async (c, next) => {
      const deps = createDeps(c.env);
      c.set("deps", deps);
      const background = (work: Promise<unknown>) =>
        c.executionCtx.waitUntil(work.catch((error: unknown) => console.error("background work failed", error)));
      c.set("background", background);
      const principal = await authenticate(deps, c.req.header("Authorization"), background);
      c.set("principal", principal);
      await limitRequest(createRateLimitDeps(c.env), principal, c.req, background);
      await next();
    },
  )
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
