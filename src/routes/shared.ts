/** What every route module shares: the router factory, the error hook, auth helpers and OpenAPI fragments. */
import { OpenAPIHono, type z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ChatModel } from "../core/llm";
import { ApiError, ERROR_STATUS, type ErrorCode } from "../errors";
import { ErrorSchema } from "../schemas/common";
import { LIMITS } from "../schemas/limits";
import type { ScopeName } from "../schemas/admin";
import { isUnrestricted, requireTenant } from "../services/auth";
import type { Deps, Principal, TenantContext } from "../services/context";
import type { WebhookDeps } from "../services/webhooks";
import type { StageTimer } from "../middleware/server-timing";

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    deps: Deps;
    /** The webhook queue and URL policy (deps.ts), for the routes that publish or manage webhooks. */
    webhooks: WebhookDeps;
    /** The console's and the API reference's static files (deps.ts), for the page routes only. */
    assets: Fetcher;
    principal: Principal;
    background: (work: Promise<unknown>) => void;
    /** The chat endpoint's model (deps.ts; null when none is configured), for routes/chat.ts only. */
    chatModel: ChatModel | null;
    /** The request's Server-Timing laps (middleware/server-timing.ts). */
    timing: StageTimer;
  };
}

/**
 * Validation failures become one 400 in the error shape, listing every problem with its path. A route group
 * whose middleware hands the handler more than AppEnv has (the signed hook) names its own env.
 */
export function createRouter<E extends AppEnv = AppEnv>() {
  return new OpenAPIHono<E>({
    defaultHook: (result) => {
      if (!result.success) {
        const details = result.error.issues.map((issue) => ({
          in: result.target,
          path: issue.path.join("."),
          message: issue.message,
        }));
        throw new ApiError("invalid_request", "the request is not valid", details);
      }
    },
  });
}

/** A JSON request body that must be present. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { content: { "application/json": { schema } }, required: true } as const;
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { content: { "application/json": { schema } }, description };
}

const ERROR_DESCRIPTIONS: Partial<Record<ErrorCode, string>> = {
  invalid_request: "The request is not valid (malformed JSON, wrong types, out-of-range values).",
  unauthorized: "No API key, or an unknown, revoked or expired one.",
  forbidden: "The key lacks the scope this call needs.",
  not_found: "No such resource in this tenant.",
  memory_frozen: "The memory is frozen, or in a state that refuses this change.",
  payload_too_large: "The body is over the size limit.",
  idempotency_key_reused: "The Idempotency-Key was used before for a different request.",
  conflict: "The memory's lifecycle state (or another resource's state) forbids this change.",
  rate_limited: "The key is over its requests or written bytes per minute; retry after `Retry-After` seconds.",
  internal_error: "A bug on our side; quote the request_id.",
  chat_model_failed: "The chat model failed or refused (`details.model_error`, `details.retryable`); nothing was remembered.",
  chat_model_not_configured: "No chat model is configured on this deployment (CHAT, docs/chat.md).",
};

/** OpenAPI entries for the error codes a route can answer with, grouped by status. */
export function errorResponses(...given: ErrorCode[]) {
  // Every authenticated route can also be rate limited, and every route can fail on our side.
  const implied: ErrorCode[] = given.includes("unauthorized") ? ["rate_limited", "internal_error"] : ["internal_error"];
  const codes = [...new Set([...given, ...implied])];
  const byStatus = new Map<number, string[]>();
  for (const code of codes) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), `\`${code}\`: ${ERROR_DESCRIPTIONS[code] ?? code}`]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, lines]) => [status, jsonResponse(ErrorSchema, lines.join(" "))]),
  ) as Record<number, ReturnType<typeof jsonResponse<typeof ErrorSchema>>>;
}

export const bearerSecurity = [{ bearerAuth: [] }];

/** The tenant context of a request, after checking the key has `scope`. */
export function tenantContext(c: Context<AppEnv>, scope: ScopeName): TenantContext {
  const principal = requireTenant(c.var.principal, scope);
  const idempotencyKey = c.req.header("Idempotency-Key");
  if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,255}$/.test(idempotencyKey)) {
    throw new ApiError("invalid_request", `Idempotency-Key must be 1–${LIMITS.idempotencyKeyChars} visible ASCII characters`);
  }
  const timing = c.var.timing;
  return { deps: c.var.deps, requestId: c.var.requestId, background: c.var.background, principal, idempotencyKey, lap: (stage) => timing?.lap(stage) };
}

/**
 * The tenant context of a tenant-wide action (the audit log, the hook secret): the key needs `scope` and no owner
 * or cube restriction, since the action reaches every owner of the tenant.
 */
export function tenantWideContext(c: Context<AppEnv>, scope: ScopeName): TenantContext {
  const ctx = tenantContext(c, scope);
  if (!isUnrestricted(ctx.principal)) {
    throw new ApiError("forbidden", "this action spans the whole tenant: a key restricted to owners or cubes cannot use it");
  }
  return ctx;
}

/** Marks a response that replays an earlier idempotent request. */
export function markReplay(c: Context<AppEnv>, replayed: boolean): void {
  if (replayed) c.header("Idempotent-Replayed", "true");
}

/**
 * A file streamed from R2 as a download. The router types only JSON and text responses, so the result is cast for
 * it; every route that answers with a file is checked by its tests instead.
 */
export function attachment(c: Context, file: { body: ReadableStream; bytes: number }, contentType: string, filename: string): never {
  const response = c.body(file.body, 200, {
    "Content-Type": contentType,
    "Content-Length": String(file.bytes),
    "Content-Disposition": `attachment; filename="${filename}"`,
  });
  return response as never;
}
