/** Outbound webhooks: a tenant's endpoints, their signing secrets and their delivery log (admin scope). */
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  CreateWebhookRequest,
  DeliveryParams,
  ListDeliveriesQuery,
  Webhook,
  WebhookDelivery,
  WebhookDeliveryPage,
  WebhookIdParam,
  WebhookList,
  WebhookWithSecret,
} from "../schemas/webhooks";
import type { Deps } from "../services/context";
import {
  createWebhook,
  deleteWebhook,
  listDeliveries,
  listWebhooks,
  replayDelivery,
  requireWebhookAdmin,
  rotateWebhookSecret,
} from "../services/webhooks";
import { type AppEnv, bearerSecurity, createRouter, errorResponses, jsonBody, jsonResponse } from "./shared";

/** Admin scope, and a key not confined to owners or cubes: webhooks see every cube of the tenant. */
function adminContext(c: Context<AppEnv>): { deps: Deps; tenantId: string } {
  return { deps: c.var.deps, tenantId: requireWebhookAdmin(c.var.principal).tenantId };
}

const tags = ["webhooks"];
const security = bearerSecurity;

export const webhookRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/webhooks",
      tags,
      summary: "Register an endpoint for event types (admin scope); its signing secret is shown once",
      description:
        "Deliveries are POSTed as JSON, signed with `X-Memos-Signature: v1=<hex HMAC-SHA256(secret, \"<X-Memos-Timestamp>.<body>\")>`, " +
        "and carry `X-Memos-Event-Id` for de-duplication. Outside local mode the URL must be https and must not name a private, " +
        "loopback, link-local or unique-local address, `localhost`, `*.local` or `*.internal` (names that resolve to such " +
        "addresses cannot be checked). At most 20 webhooks per tenant.",
      security,
      request: { body: jsonBody(CreateWebhookRequest) },
      responses: {
        201: jsonResponse(WebhookWithSecret, "The webhook and its secret."),
        ...errorResponses("invalid_request", "unauthorized", "forbidden", "conflict"),
      },
    }),
    async (c) => {
      const { deps, tenantId } = adminContext(c);
      return c.json(await createWebhook(deps, c.var.webhooks.policy, tenantId, c.req.valid("json")), 201);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/webhooks",
      tags,
      summary: "List the tenant's webhooks (admin scope), newest first, without secrets",
      security,
      responses: { 200: jsonResponse(WebhookList, "The webhooks."), ...errorResponses("unauthorized", "forbidden") },
    }),
    async (c) => {
      const { deps, tenantId } = adminContext(c);
      return c.json({ data: await listWebhooks(deps, tenantId) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/webhooks/{id}",
      tags,
      summary: "Delete a webhook and its delivery log (admin scope); nothing more is delivered to it",
      security,
      request: { params: WebhookIdParam },
      responses: { 200: jsonResponse(Webhook, "The deleted webhook."), ...errorResponses("invalid_request", "unauthorized", "forbidden", "not_found") },
    }),
    async (c) => {
      const { deps, tenantId } = adminContext(c);
      return c.json(await deleteWebhook(deps, tenantId, c.req.valid("param").id), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/webhooks/{id}/rotate-secret",
      tags,
      summary: "Replace a webhook's signing secret (admin scope); the new one is shown once and signs every attempt from now on",
      description: "The old secret stops signing at once, retries of earlier deliveries included: switch the receiver over right after rotating.",
      security,
      request: { params: WebhookIdParam },
      responses: {
        200: jsonResponse(WebhookWithSecret, "The webhook and its new secret."),
        ...errorResponses("invalid_request", "unauthorized", "forbidden", "not_found"),
      },
    }),
    async (c) => {
      const { deps, tenantId } = adminContext(c);
      return c.json(await rotateWebhookSecret(deps, tenantId, c.req.valid("param").id), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/webhooks/{id}/deliveries",
      tags,
      summary: "A webhook's deliveries with their status (admin scope), newest first; `status=dead` lists the dead-letter records",
      security,
      request: { params: WebhookIdParam, query: ListDeliveriesQuery },
      responses: {
        200: jsonResponse(WebhookDeliveryPage, "A page of deliveries."),
        ...errorResponses("invalid_request", "unauthorized", "forbidden", "not_found"),
      },
    }),
    async (c) => {
      const { deps, tenantId } = adminContext(c);
      return c.json(await listDeliveries(deps, tenantId, c.req.valid("param").id, c.req.valid("query")), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/webhooks/{id}/deliveries/{delivery_id}/replay",
      tags,
      summary: "Send a delivered or dead delivery again (admin scope): a new round of attempts, the same event id",
      security,
      request: { params: DeliveryParams },
      responses: {
        202: jsonResponse(WebhookDelivery, "The delivery, queued again."),
        ...errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "conflict"),
      },
    }),
    async (c) => {
      const { deps, tenantId } = adminContext(c);
      const { id, delivery_id } = c.req.valid("param");
      return c.json(await replayDelivery(deps, c.var.webhooks.queue, tenantId, id, delivery_id), 202);
    },
  );
