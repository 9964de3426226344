/**
 * The signed lifecycle hook, for platforms that drive lifecycle from their own events, and the tenant's management
 * of its secret. The hook carries no API key: app.ts skips key authentication for it and {@link verifySignature}
 * authenticates it instead.
 */
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { ErrorSchema } from "../schemas/common";
import { LifecycleHookAccepted, LifecycleHookHeaders, LifecycleHookRequest, LifecycleHookSecret } from "../schemas/lifecycle";
import { HOOK_ACTOR, type VerifiedDelivery, createHookSecret, runHookDelivery, verifyHookDelivery } from "../services/lifecycle-hook";
import type { TenantContext, TenantPrincipal } from "../services/context";
import { type AppEnv, bearerSecurity, createRouter, errorResponses, jsonBody, jsonResponse, tenantContext, tenantWideContext } from "./shared";

/** The route that authenticates by signature instead of a Bearer key. */
export const LIFECYCLE_HOOK_PATH = "/v1/hooks/lifecycle";

/** The OpenAPI security scheme of the hook (registered in app.ts). */
export const HOOK_SIGNATURE_SCHEME = "lifecycleHookSignature";

interface HookEnv extends AppEnv {
  Variables: AppEnv["Variables"] & { delivery: VerifiedDelivery };
}

/**
 * Checks the signature before anything looks at the body. The raw bytes are read here, first: Hono caches them,
 * so the JSON validator parses exactly the bytes that were verified (not a re-serialisation of parsed JSON).
 */
const verifySignature = createMiddleware<HookEnv>(async (c, next) => {
  const body = await c.req.arrayBuffer();
  const delivery = await verifyHookDelivery(
    c.var.deps,
    { tenant: c.req.header("X-Memos-Tenant"), timestamp: c.req.header("X-Memos-Timestamp"), signature: c.req.header("X-Memos-Signature") },
    body,
  );
  c.set("delivery", delivery);
  await next();
});

/** A verified delivery acts for its tenant, with the write scope, and only in this route. */
function deliveryContext(c: Context<HookEnv>): TenantContext {
  const { deps, requestId, background, delivery } = c.var;
  const principal: TenantPrincipal = { kind: "tenant", tenantId: delivery.tenantId, keyId: HOOK_ACTOR, scopes: new Set(["write"]) };
  return { deps, requestId, background, principal, idempotencyKey: undefined };
}

const tags = ["hooks"];

export const hookSecretRoutes = createRouter().openapi(
  createRoute({
    method: "post",
    path: "/v1/hooks/lifecycle/secret",
    tags,
    summary: "Create or rotate the tenant's lifecycle hook secret (admin scope); the secret is shown once",
    description:
      "Each call makes a new secret and the previous one stops verifying immediately: deliveries signed with it " +
      "get 401 from this moment on, so switch the signing side over right after rotating.",
    security: bearerSecurity,
    responses: { 201: jsonResponse(LifecycleHookSecret, "The new secret."), ...errorResponses("unauthorized", "forbidden") },
  }),
  async (c) => {
    const { deps, principal } = tenantWideContext(c, "admin");
    return c.json(await createHookSecret(deps, principal.tenantId), 201);
  },
);

export const lifecycleHookRoutes = createRouter<HookEnv>().openapi(
  createRoute({
    method: "post",
    path: LIFECYCLE_HOOK_PATH,
    tags,
    summary: "Start lifecycle jobs from a request signed with the tenant's hook secret (no API key)",
    description:
      "Signed with `X-Memos-Signature: v1=<hex HMAC-SHA256(secret, \"<X-Memos-Timestamp>.<raw body>\")>`. " +
      "Refused with 401 when the timestamp is more than 300 s from the server's clock or the signature does not " +
      "verify against the current secret of `X-Memos-Tenant`; refused with 409 when the same signature was " +
      "accepted before (a replay). A request refused for its body or its cubes is not recorded and may be corrected and re-signed.",
    middleware: [verifySignature] as const,
    security: [{ [HOOK_SIGNATURE_SCHEME]: [] }],
    request: { headers: LifecycleHookHeaders, body: jsonBody(LifecycleHookRequest) },
    responses: {
      202: jsonResponse(LifecycleHookAccepted, "The jobs, one per cube, to poll at /v1/jobs/{id} with an API key."),
      ...errorResponses("invalid_request", "not_found", "payload_too_large"),
      401: jsonResponse(
        ErrorSchema,
        "`unauthorized`: the timestamp is missing or more than 300 s away, or the signature is missing or does not verify " +
          "(an unknown tenant and a tenant without a secret read the same).",
      ),
      409: jsonResponse(ErrorSchema, "`conflict`: this signature was already accepted (a replayed delivery); nothing was started."),
    },
  }),
  async (c) => {
    const { type, cube_id, cube_ids } = c.req.valid("json");
    const jobs = await runHookDelivery(deliveryContext(c), c.var.delivery, type, cube_ids ?? (cube_id ? [cube_id] : []));
    return c.json({ data: jobs }, 202);
  },
);
