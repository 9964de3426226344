/**
 * A tenant managing its own keys with an `admin`-scoped key. A restricted admin key (allowed owners or cubes, an
 * expiry) mints only narrower keys and sees and revokes only keys inside its own restrictions.
 */
import { createRoute } from "@hono/zod-openapi";
import { ApiKey, CreateKeyRequest, CreatedKey, KeyIdParam, KeyList } from "../schemas/admin";
import { createKey, listKeys, revokeKey } from "../services/tenants";
import { bearerSecurity, createRouter, errorResponses, jsonBody, jsonResponse, tenantContext } from "./shared";

const tags = ["keys"];
const keyErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found");
const createKeyErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "conflict");

export const keyRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/keys",
      tags,
      summary: "Create a key for the caller's tenant (admin scope); the secret is shown once",
      description:
        "`allowed_owners` and `allowed_cubes` confine the new key (for end-user devices and third-party agents). " +
        "A restricted key can only mint narrower keys: scopes, owners and cubes within its own, expiry no later than its own " +
        "(inherited when absent); anything wider is 403. A tenant holds at most 10,000 usable keys (neither revoked nor " +
        "expired; `MAX_ACTIVE_KEYS_PER_TENANT`): one more is 409. Revoked and expired keys are deleted 30 days later.",
      security: bearerSecurity,
      request: { body: jsonBody(CreateKeyRequest) },
      responses: { 201: jsonResponse(CreatedKey, "The key with its secret."), ...createKeyErrors },
    }),
    async (c) => {
      const { deps, principal } = tenantContext(c, "admin");
      return c.json(await createKey(deps, principal.tenantId, c.req.valid("json"), principal), 201);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/keys",
      tags,
      summary: "List the caller's tenant's keys (admin scope); a restricted key sees only keys inside its restrictions",
      security: bearerSecurity,
      responses: { 200: jsonResponse(KeyList, "The keys, newest first, without secrets."), ...keyErrors },
    }),
    async (c) => {
      const { deps, principal } = tenantContext(c, "admin");
      return c.json({ data: await listKeys(deps, principal.tenantId, principal) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/keys/{key_id}",
      tags,
      summary: "Revoke one of the caller's tenant's keys (admin scope)",
      security: bearerSecurity,
      request: { params: KeyIdParam },
      responses: { 200: jsonResponse(ApiKey, "The revoked key."), ...keyErrors },
    }),
    async (c) => {
      const { deps, principal } = tenantContext(c, "admin");
      return c.json(await revokeKey(deps, principal.tenantId, c.req.valid("param").key_id, principal), 200);
    },
  );
