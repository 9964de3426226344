/**
 * What the audit log records of one request: the action name (one table, {@link AUDIT_ACTIONS}), who acted, in
 * which tenant, and the cube and memory ids it named or returned. Pure: the audit middleware (app.ts) gathers the
 * request's facts and services/audit.ts files the entry.
 */
import { cubeIdOfJob, cubeIdOfMemory, isCubeId, isMemoryId } from "../core/ids";
import type { auditLog } from "../db/schema";
import type { Principal } from "./context";
import { HOOK_ACTOR } from "./lifecycle-hook";

/** Memory ids kept per entry; the rest are counted in `detail.memory_ids_omitted`. */
export const AUDIT_MAX_MEMORY_IDS = 100;
/** Extra cube ids kept in `detail.cube_ids` when one request touched several cubes. */
const AUDIT_MAX_CUBE_IDS = 20;

/**
 * Action names by `<METHOD> <route>` (OpenAPI path syntax): the one table to extend when a route is added. A route
 * missing here is still recorded, as `<METHOD> <route>`.
 */
export const AUDIT_ACTIONS: Readonly<Record<string, string>> = {
  "POST /v1/memories": "memory.write",
  "GET /v1/memories": "memory.list",
  "GET /v1/memories/{id}": "memory.read",
  "PATCH /v1/memories/{id}": "memory.update",
  // `?hard=true` makes it memory.purge (see auditAction).
  "DELETE /v1/memories/{id}": "memory.forget",
  "GET /v1/memories/{id}/history": "memory.history",
  "GET /v1/memories/{id}/provenance": "memory.provenance",
  "POST /v1/memories/{id}/rollback": "memory.rollback",
  "POST /v1/memories/{id}/pin": "memory.pin",
  "DELETE /v1/memories/{id}/pin": "memory.unpin",
  "POST /v1/search": "search",
  "POST /v1/context": "context",
  "POST /v1/cubes": "cube.create",
  "GET /v1/cubes": "cube.list",
  "GET /v1/cubes/{id}": "cube.read",
  "DELETE /v1/cubes/{id}": "cube.delete",
  "DELETE /v1/owners/{owner}": "owner.delete",
  "POST /v1/cubes/{id}/export": "export",
  "GET /v1/exports/{id}": "export.read",
  "POST /v1/cubes/{id}/import": "import",
  "POST /v1/cubes/{id}/distill": "distill",
  "GET /v1/distills/{id}": "distill.read",
  "DELETE /v1/distills/{id}": "distill.delete",
  "POST /v1/cubes/{id}/adapters": "adapter.create",
  "GET /v1/cubes/{id}/adapters": "adapter.list",
  "GET /v1/cubes/{id}/adapters/{adapter_id}": "adapter.read",
  "PUT /v1/cubes/{id}/adapters/{adapter_id}/weights": "adapter.upload",
  "GET /v1/cubes/{id}/adapters/{adapter_id}/files/{file}": "adapter.download",
  "POST /v1/cubes/{id}/adapters/{adapter_id}/state": "adapter.transition",
  "DELETE /v1/cubes/{id}/adapters/{adapter_id}": "adapter.delete",
  "POST /v1/cubes/{id}/grants": "grant.create",
  "GET /v1/cubes/{id}/grants": "grant.list",
  "DELETE /v1/cubes/{id}/grants/{principal}": "grant.revoke",
  "GET /v1/cubes/{id}/working-memory": "cube.working_memory",
  "GET /v1/cubes/{id}/activation": "cube.activation",
  "GET /v1/cubes/{id}/activation/history": "cube.activation_history",
  "POST /v1/cubes/{id}/activation/rollback": "cube.activation_rollback",
  "POST /v1/chat/completions": "chat",
  "GET /v1/cubes/{id}/stats": "cube.stats",
  "POST /v1/cubes/{id}/reindex": "job.start",
  "POST /v1/jobs": "job.start",
  "GET /v1/jobs/{id}": "job.read",
  "POST /v1/hooks/lifecycle": "hook.lifecycle",
  "POST /v1/hooks/lifecycle/secret": "hook.secret",
  "POST /v1/webhooks": "webhook.create",
  "GET /v1/webhooks": "webhook.list",
  "DELETE /v1/webhooks/{id}": "webhook.delete",
  "POST /v1/webhooks/{id}/rotate-secret": "webhook.rotate_secret",
  "GET /v1/webhooks/{id}/deliveries": "webhook.deliveries",
  "POST /v1/webhooks/{id}/deliveries/{delivery_id}/replay": "webhook.replay",
  "POST /v1/keys": "key.create",
  "GET /v1/keys": "key.list",
  "DELETE /v1/keys/{key_id}": "key.revoke",
  "POST /v1/admin/tenants": "tenant.create",
  "GET /v1/admin/tenants/{tenant_id}": "tenant.read",
  "PATCH /v1/admin/tenants/{tenant_id}": "tenant.update",
  "POST /v1/admin/tenants/{tenant_id}/keys": "key.create",
  "GET /v1/admin/tenants/{tenant_id}/keys": "key.list",
  "DELETE /v1/admin/tenants/{tenant_id}/keys/{key_id}": "key.revoke",
  "GET /v1/audit": "audit.read",
  "POST /v1/memstore/listings": "memstore.publish",
  "GET /v1/memstore/listings": "memstore.list",
  "GET /v1/memstore/listings/{id}": "memstore.read",
  "POST /v1/memstore/listings/{id}/versions": "memstore.publish_version",
  "DELETE /v1/memstore/listings/{id}": "memstore.unpublish",
  "POST /v1/memstore/listings/{id}/subscription": "memstore.subscribe",
  "DELETE /v1/memstore/listings/{id}/subscription": "memstore.unsubscribe",
  "POST /v1/memstore/listings/{id}/search": "memstore.search",
  "GET /v1/memstore/listings/{id}/memories": "memstore.read_memories",
  "POST /v1/memstore/listings/{id}/fork": "memstore.fork",
  "GET /v1/audit/archive": "audit.archive_list",
  "GET /v1/audit/archive/{day}": "audit.archive_read",
  // The mem0-compatible facade (routes/mem0.ts): the same actions under mem0's paths.
  "GET /mem0/v1/ping/": "key.check",
  "POST /mem0/v3/memories/add/": "memory.write",
  "GET /mem0/v1/event/{event_id}/": "job.read",
  "POST /mem0/v3/memories/search/": "search",
  "POST /mem0/v3/memories/": "memory.list",
  "DELETE /mem0/v1/memories/": "memory.forget_all",
  "GET /mem0/v1/memories/{memory_id}/": "memory.read",
  "PUT /mem0/v1/memories/{memory_id}/": "memory.update",
  "DELETE /mem0/v1/memories/{memory_id}/": "memory.forget",
  "GET /mem0/v1/memories/{memory_id}/history/": "memory.history",
  "PUT /mem0/v1/batch/": "memory.update",
  "DELETE /mem0/v1/batch/": "memory.forget",
  "GET /mem0/v1/entities/": "owner.list",
  "DELETE /mem0/v2/entities/{entity_type}/{entity_id}/": "owner.delete",
};

/**
 * Actions whose service files its own entry when it succeeds (services/portability.ts: the deletion receipt, with the
 * owner only as a SHA-256, written in the same batch as the deletion), so the middleware records only their failures.
 */
const SELF_AUDITED_ACTIONS: ReadonlySet<string> = new Set(["owner.delete", "cube.delete"]);

/** Every request to the MCP endpoint is one action: the tool called is inside the JSON-RPC body. */
export const MCP_ACTION = "mcp";
/** An authenticated request that matched no route. */
export const UNKNOWN_ROUTE_ACTION = "route.unknown";

const TENANT_ID = /^ten_[0-9a-z]{16}$/;
const KEY_ID = /^key_[0-9a-z]{16}$/;
const LISTING_ID = /^lst_[0-9a-z]{16}$/;

/** What the audit middleware saw of one request and its response. */
export interface AuditedRequest {
  method: string;
  /** The matched route in OpenAPI syntax (`/v1/memories/{id}`), or null when no route matched. */
  route: string | null;
  path: string;
  params: Readonly<Record<string, string>>;
  /** The query parameters that name things: `hard` and `cube_id`. */
  query: { hard?: string | undefined; cube_id?: string | undefined };
  /** Who called: undefined for requests that did not authenticate with a key. */
  principal: Principal | undefined;
  /** The tenant of a verified signed hook delivery. */
  hookTenantId: string | undefined;
  requestId: string;
  at: number;
  status: number;
  /** The parsed JSON request body, when the route read one. */
  requestBody: unknown;
  /** The parsed JSON response body, when it was JSON. */
  responseBody: unknown;
}

export type NewAuditEntry = typeof auditLog.$inferInsert;

/** The action name of a request (see {@link AUDIT_ACTIONS}). */
export function auditAction(request: Pick<AuditedRequest, "method" | "route" | "path" | "query">): string {
  if (request.path === "/mcp" || request.path.startsWith("/mcp/")) return MCP_ACTION;
  if (request.route === null) return UNKNOWN_ROUTE_ACTION;
  const key = `${request.method} ${request.route}`;
  const action = AUDIT_ACTIONS[key] ?? key;
  return action === "memory.forget" && request.query.hard === "true" ? "memory.purge" : action;
}

/** Converts a Hono route path (`/v1/memories/:id`) to OpenAPI syntax (`/v1/memories/{id}`). */
export function openApiRoute(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?\??/g, "{$1}");
}

/** The parameters of `path` named by the Hono `pattern` (plain `:name` segments). */
export function routeParams(pattern: string, path: string): Record<string, string> {
  const names = pattern.split("/");
  const values = path.split("/");
  const params: Record<string, string> = {};
  names.forEach((segment, i) => {
    const name = segment.match(/^:([A-Za-z0-9_]+)/)?.[1];
    const raw = values[i];
    if (!name || raw === undefined) return;
    try {
      params[name] = decodeURIComponent(raw);
    } catch {
      params[name] = raw;
    }
  });
  return params;
}

/**
 * The audit entry of a request, or null when there is no tenant to file it under (unauthenticated requests, the
 * root key outside a tenant's routes) or its service filed one itself.
 */
export function auditEntryOf(request: AuditedRequest): NewAuditEntry | null {
  const action = auditAction(request);
  if (SELF_AUDITED_ACTIONS.has(action) && request.status < 400) return null;
  const filing = filedUnder(request, action);
  if (!filing) return null;

  const ids = new TouchedIds();
  for (const value of Object.values(request.params)) ids.add(value);
  ids.add(request.query.cube_id);
  const body = asObject(request.requestBody);
  ids.add(body?.cube_id);
  if (Array.isArray(body?.cube_ids)) for (const id of body.cube_ids) ids.add(id);
  // The mem0 facade's batch calls name their memories in the body.
  if (Array.isArray(body?.memories)) for (const item of body.memories) ids.add(asObject(item)?.memory_id);
  collectResponseIds(ids, request.responseBody);

  const detail: Record<string, unknown> = {};
  const cubeIds = [...ids.cubes];
  if (cubeIds.length > 1) detail.cube_ids = cubeIds.slice(0, AUDIT_MAX_CUBE_IDS);
  const memoryIds = [...ids.memories];
  if (memoryIds.length > AUDIT_MAX_MEMORY_IDS) detail.memory_ids_omitted = memoryIds.length - AUDIT_MAX_MEMORY_IDS;
  const errorCode = asObject(asObject(request.responseBody)?.error)?.code;
  if (request.status >= 400 && typeof errorCode === "string") detail.error = errorCode;
  if (action.startsWith("key.")) {
    const keyId = request.params.key_id ?? asObject(request.responseBody)?.id;
    if (typeof keyId === "string" && KEY_ID.test(keyId)) detail.key_id = keyId;
  }
  if (action === UNKNOWN_ROUTE_ACTION) detail.method = request.method;
  if (action.startsWith("memstore.")) {
    const listingId = request.params.id ?? asObject(request.responseBody)?.id;
    if (typeof listingId === "string" && LISTING_ID.test(listingId)) detail.listing_id = listingId;
  }

  return {
    tenantId: filing.tenantId,
    at: request.at,
    actor: filing.actor,
    action,
    cubeId: cubeIds.length === 1 ? (cubeIds[0] ?? null) : null,
    memoryIds: JSON.stringify(memoryIds.slice(0, AUDIT_MAX_MEMORY_IDS)),
    requestId: request.requestId,
    status: request.status,
    detail: JSON.stringify(detail),
  };
}

/** The tenant and actor an entry is filed under. Root-key admin actions go to the tenant they act on. */
function filedUnder(request: AuditedRequest, action: string): { tenantId: string; actor: string } | null {
  const { principal } = request;
  if (principal?.kind === "tenant") return { tenantId: principal.tenantId, actor: principal.keyId };
  if (principal?.kind === "root") {
    const created = action === "tenant.create" && request.status < 300 ? asObject(request.responseBody)?.id : undefined;
    const tenantId = request.params.tenant_id ?? created;
    return typeof tenantId === "string" && TENANT_ID.test(tenantId) ? { tenantId, actor: "root" } : null;
  }
  if (request.hookTenantId !== undefined) return { tenantId: request.hookTenantId, actor: HOOK_ACTOR };
  return null;
}

/** Cube and memory ids in first-seen order; a memory or job id also names its cube. */
class TouchedIds {
  readonly cubes = new Set<string>();
  readonly memories = new Set<string>();

  add(value: unknown): void {
    if (typeof value !== "string") return;
    if (isMemoryId(value)) {
      this.memories.add(value);
      this.addCube(cubeIdOfMemory(value));
    } else if (isCubeId(value)) {
      this.addCube(value);
    } else {
      this.addCube(cubeIdOfJob(value));
    }
  }

  private addCube(cubeId: string | null): void {
    if (cubeId !== null) this.cubes.add(cubeId);
  }
}

/**
 * Ids in the known response shapes only: a memory's `metadata` is the caller's free JSON and may hold strings that
 * look like ids, so the body is not searched at large.
 */
function collectResponseIds(ids: TouchedIds, responseBody: unknown): void {
  const body = asObject(responseBody);
  if (!body) return;
  const fromItem = (item: unknown) => {
    const object = asObject(item);
    if (!object) return;
    ids.add(object.id);
    ids.add(object.cube_id);
    const memory = asObject(object.memory);
    ids.add(memory?.id);
    ids.add(memory?.cube_id);
    const result = asObject(object.result);
    if (Array.isArray(result?.memory_ids)) for (const id of result.memory_ids) ids.add(id);
  };
  fromItem(body);
  fromItem(body.job);
  ids.add(body.event_id);
  // A chat completion's `memos` report: the cube and the memories put in the prompt.
  const memos = asObject(body.memos);
  ids.add(memos?.cube_id);
  if (Array.isArray(memos?.memory_ids)) for (const id of memos.memory_ids) ids.add(id);
  for (const list of [body.data, body.items, body.results]) if (Array.isArray(list)) list.forEach(fromItem);
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
