/**
 * Builds the Hono app: request ids, the one error shape, body limit, auth, the route groups and /openapi.json.
 */
import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import type { Context } from "hono";
import { newRequestId } from "./core/ids";
import { createDeps } from "./deps";
import { ApiError, ConfigError, ERROR_STATUS, type ErrorCode } from "./errors";
import { LIMITS } from "./schemas/limits";
import { adminRoutes } from "./routes/admin";
import { healthRoutes } from "./routes/health";
import { HOOK_SIGNATURE_SCHEME, LIFECYCLE_HOOK_PATH, hookSecretRoutes, lifecycleHookRoutes } from "./routes/hooks";
import { jobRoutes } from "./routes/jobs";
import { keyRoutes } from "./routes/keys";
import { memoryRoutes } from "./routes/memories";
import { schedulerRoutes } from "./routes/scheduler";
import { searchRoutes } from "./routes/search";
import { type AppEnv, createRouter } from "./routes/shared";
import { authenticate } from "./services/auth";

const INCOMING_REQUEST_ID = /^[\w.-]{1,64}$/;

function errorResponse(c: Context<AppEnv>, code: ErrorCode, message: string, details?: unknown) {
  const error = { code, message, ...(details === undefined ? {} : { details }), request_id: c.var.requestId ?? "" };
  return c.json({ error }, ERROR_STATUS[code]);
}

/** The error code for a status that Hono's own middleware raised (malformed JSON, 415, body limit). */
function codeForStatus(status: number): ErrorCode {
  const match = Object.entries(ERROR_STATUS).find(([, s]) => s === status);
  return (match?.[0] as ErrorCode | undefined) ?? "internal_error";
}

export function createApp() {
  const app = createRouter();

  app.use("*", async (c, next) => {
    const incoming = c.req.header("X-Request-Id");
    c.set("requestId", incoming && INCOMING_REQUEST_ID.test(incoming) ? incoming : newRequestId());
    await next();
    c.header("X-Request-Id", c.var.requestId);
  });

  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: LIMITS.bodyBytes,
      onError: () => {
        throw new ApiError("payload_too_large", `the body must be at most ${LIMITS.bodyBytes} bytes`);
      },
    }),
    async (c, next) => {
      const deps = createDeps(c.env);
      c.set("deps", deps);
      const background = (work: Promise<unknown>) =>
        c.executionCtx.waitUntil(work.catch((error: unknown) => console.error("background work failed", error)));
      c.set("background", background);
      // The lifecycle hook authenticates by signature, in its own route middleware; everything else needs a key.
      if (!(c.req.method === "POST" && c.req.path === LIFECYCLE_HOOK_PATH)) {
        c.set("principal", await authenticate(deps, c.req.header("Authorization"), background));
      }
      await next();
    },
  );

  app.route("/", healthRoutes);
  app.route("/", memoryRoutes);
  app.route("/", searchRoutes);
  app.route("/", schedulerRoutes);
  app.route("/", jobRoutes);
  app.route("/", keyRoutes);
  app.route("/", hookSecretRoutes);
  app.route("/", lifecycleHookRoutes);
  app.route("/", adminRoutes);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "A tenant API key (`mos_…`), or the root key for /v1/admin routes.",
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
    if (error instanceof ApiError) return errorResponse(c, error.code, error.message, error.details);
    if (error instanceof HTTPException && error.status < 500) {
      return errorResponse(c, codeForStatus(error.status), error.message || "the request was refused");
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
