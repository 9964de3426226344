/** Operator routes (root key): tenants and their keys. */
import { createRoute } from "@hono/zod-openapi";
import { CreateKeyRequest, CreateTenantRequest, CreatedKey, KeyList, ApiKey, Tenant, TenantIdParam, TenantKeyParams, UpdateTenantRequest } from "../schemas/admin";
import { requireRoot } from "../services/auth";
import { createKey, createTenant, getTenant, listKeys, revokeKey, updateTenant } from "../services/tenants";
import { bearerSecurity, createRouter, errorResponses, jsonBody, jsonResponse } from "./shared";

const tags = ["admin"];
const adminErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found");
const createKeyErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "conflict");

export const adminRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/admin/tenants",
      tags,
      summary: "Create a tenant (root key)",
      security: bearerSecurity,
      request: { body: jsonBody(CreateTenantRequest) },
      responses: { 201: jsonResponse(Tenant, "The tenant."), ...adminErrors },
    }),
    async (c) => {
      requireRoot(c.var.principal);
      return c.json(await createTenant(c.var.deps, c.req.valid("json").name), 201);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/tenants/{tenant_id}",
      tags,
      summary: "Get a tenant (root key)",
      security: bearerSecurity,
      request: { params: TenantIdParam },
      responses: { 200: jsonResponse(Tenant, "The tenant."), ...adminErrors },
    }),
    async (c) => {
      requireRoot(c.var.principal);
      return c.json(await getTenant(c.var.deps, c.req.valid("param").tenant_id), 200);
    },
  )
  .openapi(
    createRoute({
      method: "patch",
      path: "/v1/admin/tenants/{tenant_id}",
      tags,
      summary: "Change a tenant's settings: its audit retention (root key)",
      security: bearerSecurity,
      request: { params: TenantIdParam, body: jsonBody(UpdateTenantRequest) },
      responses: { 200: jsonResponse(Tenant, "The tenant."), ...adminErrors },
    }),
    async (c) => {
      requireRoot(c.var.principal);
      return c.json(await updateTenant(c.var.deps, c.req.valid("param").tenant_id, c.req.valid("json")), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/admin/tenants/{tenant_id}/keys",
      tags,
      summary: "Create an API key for a tenant (root key); the secret is shown once",
      description: "409 when the tenant already holds 10,000 usable keys (`MAX_ACTIVE_KEYS_PER_TENANT`).",
      security: bearerSecurity,
      request: { params: TenantIdParam, body: jsonBody(CreateKeyRequest) },
      responses: { 201: jsonResponse(CreatedKey, "The key with its secret."), ...createKeyErrors },
    }),
    async (c) => {
      requireRoot(c.var.principal);
      return c.json(await createKey(c.var.deps, c.req.valid("param").tenant_id, c.req.valid("json"), null), 201);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/tenants/{tenant_id}/keys",
      tags,
      summary: "List a tenant's keys (root key)",
      security: bearerSecurity,
      request: { params: TenantIdParam },
      responses: { 200: jsonResponse(KeyList, "The keys, newest first, without secrets."), ...adminErrors },
    }),
    async (c) => {
      requireRoot(c.var.principal);
      return c.json({ data: await listKeys(c.var.deps, c.req.valid("param").tenant_id, null) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/admin/tenants/{tenant_id}/keys/{key_id}",
      tags,
      summary: "Revoke a tenant's key (root key); it is refused from the next request on",
      security: bearerSecurity,
      request: { params: TenantKeyParams },
      responses: { 200: jsonResponse(ApiKey, "The revoked key."), ...adminErrors },
    }),
    async (c) => {
      requireRoot(c.var.principal);
      const { tenant_id, key_id } = c.req.valid("param");
      return c.json(await revokeKey(c.var.deps, tenant_id, key_id, null), 200);
    },
  );
