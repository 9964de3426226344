/** `client.admin`: tenant administration with the root key. */
import type { ApiRequester, Schemas } from "./request.js";
import { type CallOptions, callInit } from "./calls.js";

/** Tenants and their keys (root key). Arrow functions, so a method still works when taken off the object. */
export function adminMethods(client: ApiRequester) {
  return {
    /** Creates a tenant. */
    createTenant: (body: Schemas["CreateTenantRequest"], options?: CallOptions) =>
      client.request("post", "/v1/admin/tenants", { body, ...callInit(options) }),
    /** One tenant. */
    tenant: (tenantId: string, options?: CallOptions) =>
      client.request("get", "/v1/admin/tenants/{tenant_id}", { params: { path: { tenant_id: tenantId } }, ...callInit(options) }),
    /** Creates an API key for a tenant; the secret is in the answer, once. */
    createKey: (tenantId: string, body: Schemas["CreateKeyRequest"] = {}, options?: CallOptions) =>
      client.request("post", "/v1/admin/tenants/{tenant_id}/keys", {
        params: { path: { tenant_id: tenantId } },
        body,
        ...callInit(options),
      }),
    /** A tenant's keys (no secrets). */
    listKeys: (tenantId: string, options?: CallOptions) =>
      client.request("get", "/v1/admin/tenants/{tenant_id}/keys", { params: { path: { tenant_id: tenantId } }, ...callInit(options) }),
    /** Revokes a tenant's key; it is refused from the next request on. */
    revokeKey: (tenantId: string, keyId: string, options?: CallOptions) =>
      client.request("delete", "/v1/admin/tenants/{tenant_id}/keys/{key_id}", {
        params: { path: { tenant_id: tenantId, key_id: keyId } },
        ...callInit(options),
      }),
  };
}

/** The methods of `client.admin`. */
export type TenantAdmin = ReturnType<typeof adminMethods>;
