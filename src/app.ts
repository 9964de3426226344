/**
 * Builds the Hono app: request ids, the one error shape, body limit, auth, the route groups and /openapi.json.
 */
import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import { newRequestId } from "./core/ids";
import { createChatDeps, createDeps, createRateLimitDeps, createStaticAssets, createWebhookDeps } from "./deps";
import { ApiError, ConfigError, ERROR_STATUS, type ErrorCode } from "./errors";
import { LIMITS } from "./schemas/limits";
import { adminRoutes } from "./routes/admin";
import { auditRoutes } from "./routes/audit";
import { CHAT_PATH, chatRoutes } from "./routes/chat";
import { cubeRoutes } from "./routes/cubes";
import { docsRoutes } from "./routes/docs";
import { healthRoutes } from "./routes/health";
import { HOOK_SIGNATURE_SCHEME, LIFECYCLE_HOOK_PATH, hookSecretRoutes, lifecycleHookRoutes } from "./routes/hooks";
import { jobRoutes } from "./routes/jobs";
import { guardJsonBodies } from "./routes/json-guard";
import { keyRoutes } from "./routes/keys";
import { MCP_PATH, mcpRoutes } from "./routes/mcp";
import { MEM0_PREFIX, MEM0_SECURITY_SCHEME, mem0Routes } from "./routes/mem0";
import { memoryRoutes } from "./routes/memories";
import { isAdapterWeightsUpload, parametricRoutes } from "./routes/parametric";
import { memstoreRoutes } from "./routes/memstore";
import { portabilityRoutes } from "./routes/portability";
import { schedulerRoutes } from "./routes/scheduler";
import { searchRoutes } from "./routes/search";
import { type AppEnv, createRouter } from "./routes/shared";
import { webhookRoutes } from "./routes/webhooks";
import { openApiRoute } from "./services/audit-entry";
import { authenticate, confirmKey } from "./services/auth";
import type { Deps, Principal } from "./services/context";
import { limitRequest } from "./services/rate-limit";
import { recordAuditEntry } from "./middleware/audit";
import { lap, serverTiming } from "./middleware/server-timing";

const INCOMING_REQUEST_ID = /^[\w.-]{1,64}$/;

function errorResponse(
  c: Context<AppEnv>,
  code: ErrorCode,
  message: string,
  details?: unknown,
  headers?: Readonly<Record<string, string>>,
) {
  const error = { code, message, ...(details === undefined ? {} : { details }), request_id: c.var.requestId ?? "" };
  return c.json({ error }, ERROR_STATUS[code], headers);
}

/**
 * Counts the request against its key's rate limits (429 with Retry-After when over), right after auth and before
 * any body is parsed. Requests without a key (the signed hook) and the root key are not limited.
 */
const limitRate = createMiddleware<AppEnv>(async (c, next) => {
  const principal = c.get("principal") as Principal | undefined;
  if (principal) {
    const deps = c.get("deps") as Deps;
    const limits = { ...createRateLimitDeps(c.env), confirmKey: (keyId: string) => confirmKey(deps, keyId) };
    await limitRequest(limits, principal, c.req, c.get("background"));
    lap(c, "limit");
  }
  await next();
});

/**
 * One structured log line per request: what an operator needs to find a request again (its id, tenant, route
 * template, status, duration), never content, keys or query values.
 */
function requestLogLine(c: Context<AppEnv>, durationMs: number): string {
  const principal = c.get("principal") as Principal | undefined;
  let route: string | null = null;
  for (const matched of matchedRoutes(c)) if (matched.method !== "ALL") route = openApiRoute(matched.path);
  return JSON.stringify({
    type: "request",
    request_id: c.var.requestId,
    tenant: principal?.kind === "tenant" ? principal.tenantId : principal?.kind === "root" ? "root" : null,
    method: c.req.method,
    route: route ?? (c.res.status === 404 ? null : new URL(c.req.url).pathname),
    status: c.res.status,
    duration_ms: durationMs,
  });
}

/** What a refusal by Hono's own middleware says, when it says nothing useful itself. */
function messageForStatus(status: number, message: string): string {
  if (status === 415) return "send the body as JSON, with the header Content-Type: application/json";
  return message || "the request was refused";
}

/** The error code for a status that Hono's own middleware raised (malformed JSON, 415, body limit). */
function codeForStatus(status: number): ErrorCode {
  const match = Object.entries(ERROR_STATUS).find(([, s]) => s === status);
  return (match?.[0] as ErrorCode | undefined) ?? "internal_error";
}

export function createApp() {
  const app = createRouter();

  app.use("*", serverTiming);
  app.use("*", async (c, next) => {
    const startedAt = Date.now();
    const incoming = c.req.header("X-Request-Id");
    c.set("requestId", incoming && INCOMING_REQUEST_ID.test(incoming) ? incoming : newRequestId());
    await next();
    c.header("X-Request-Id", c.var.requestId);
    if (c.env.REQUEST_LOG !== "off") console.log(requestLogLine(c, Date.now() - startedAt));
  });

  // The API chain: body limit, deps, background work, the Bearer key, the key's rate limits — for REST and for MCP,
  // so a missing key is a plain 401 and a key over its limits a 429 before any body is read.
  const limitBody = bodyLimit({
    maxSize: LIMITS.bodyBytes,
    onError: () => {
      throw new ApiError("payload_too_large", `the body must be at most ${LIMITS.bodyBytes} bytes`);
    },
  });
  const apiChain = [
    // An adapter's weights stream up to Workers AI's 100 MB limit, checked by their own route (routes/parametric.ts).
    createMiddleware<AppEnv>((c, next) => (isAdapterWeightsUpload(c.req.method, c.req.path) ? next() : limitBody(c, next))),
    createMiddleware<AppEnv>(async (c, next) => {
      const deps = createDeps(c.env);
      // Released by the audit middleware with the request's entry: one bookkeeping message per request.
      deps.bookkeeping.hold();
      c.set("deps", deps);
      c.set("webhooks", createWebhookDeps(c.env));
      const background = (work: Promise<unknown>) =>
        c.executionCtx.waitUntil(work.catch((error: unknown) => console.error("background work failed", error)));
      c.set("background", background);
      // The lifecycle hook authenticates by signature, in its own route middleware; everything else needs a key.
      if (!(c.req.method === "POST" && c.req.path === LIFECYCLE_HOOK_PATH)) {
        c.set("principal", await authenticate(deps, c.req.header("Authorization"), background));
        lap(c, "auth");
      }
      await next();
    }),
    limitRate,
    guardJsonBodies([MCP_PATH, LIFECYCLE_HOOK_PATH]),
  ] as const;
  // The pages' static files: the binding reaches the page routes through the context, like the API's deps.
  for (const path of ["/console", "/console/*", "/docs", "/docs/*"]) {
    app.use(path, async (c, next) => {
      c.set("assets", createStaticAssets(c.env));
      await next();
    });
  }
  app.use("/v1/*", ...apiChain);
  app.use(MCP_PATH, ...apiChain);
  app.use(`${MEM0_PREFIX}/*`, ...apiChain);
  app.use(CHAT_PATH, async (c, next) => (c.set("chatModel", createChatDeps(c.env)), next()));
  // After the API chain, so it sees its principal.
  app.use("*", recordAuditEntry);

  app.route("/", healthRoutes);
  app.route("/", docsRoutes);
  app.route("/", memoryRoutes);
  app.route("/", searchRoutes);
  app.route("/", schedulerRoutes);
  app.route("/", jobRoutes);
  app.route("/", cubeRoutes);
  app.route("/", portabilityRoutes);
  app.route("/", parametricRoutes);
  app.route("/", memstoreRoutes);
  app.route("/", keyRoutes);
  app.route("/", hookSecretRoutes);
  app.route("/", lifecycleHookRoutes);
  app.route("/", webhookRoutes);
  app.route("/", adminRoutes);
  app.route("/", auditRoutes);
  app.route("/", mcpRoutes);
  app.route("/", mem0Routes);
  app.route("/", chatRoutes);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "A tenant API key (`mos_…`), or the root key for /v1/admin routes.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", MEM0_SECURITY_SCHEME, {
    type: "apiKey",
    in: "header",
    name: "Authorization",
    description: "mem0's header: `Token <key>` with a tenant API key (`Bearer <key>` works too).",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", HOOK_SIGNATURE_SCHEME, {
    type: "apiKey",
    in: "header",
    name: "X-Memos-Signature",
    description:
      "`v1=` + hex HMAC-SHA256 of `<X-Memos-Timestamp>.<raw body>` keyed with the tenant's lifecycle hook secret " +
      "(POST /v1/hooks/lifecycle/secret), with `X-Memos-Tenant` and `X-Memos-Timestamp` (unix seconds, ±300 s).",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "MemOS Edge",
      version: "0.1.0",
      description: "A memory operating system for AI agents and apps: cubes of versioned, searchable memories.",
    },
  });

  app.notFound((c) => errorResponse(c, "not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));

  app.onError((error, c) => {
    if (error instanceof ApiError) return errorResponse(c, error.code, error.message, error.details, error.headers);
    if (error instanceof HTTPException && error.status < 500) {
      return errorResponse(c, codeForStatus(error.status), messageForStatus(error.status, error.message));
    }
    if (error instanceof ConfigError) {
      console.error(`request ${c.var.requestId}: configuration error: ${error.message}`);
      return errorResponse(c, "internal_error", "the service is misconfigured; the operator's logs say how");
    }
    console.error(`request ${c.var.requestId} failed`, error);
    return errorResponse(c, "internal_error", "something went wrong on our side; quote the request_id when reporting it");
  });

  return app;
}
