/**
 * The mem0-compatible facade under /mem0: the paths, bodies and answers of mem0's hosted API that its official
 * clients call, so `new MemoryClient({ apiKey, host: "https://<our host>/mem0" })` works unchanged. mem0's
 * `Authorization: Token <key>` header is accepted with our own API keys; errors keep our one error shape (mem0's
 * clients only read their status and text). docs/mem0-compat.md lists what is supported and how each call maps.
 */
import { createRoute } from "@hono/zod-openapi";
import { requireTenant } from "../services/auth";
import {
  Mem0AddRequest,
  Mem0AddResponse,
  Mem0BatchDeleteRequest,
  Mem0BatchUpdateRequest,
  Mem0DeleteAllQuery,
  Mem0EntityPage,
  Mem0EntityParams,
  Mem0Event,
  Mem0EventIdParam,
  Mem0HistoryEntry,
  Mem0ListQuery,
  Mem0ListRequest,
  Mem0Memory,
  Mem0MemoryIdParam,
  Mem0Message200,
  Mem0Page,
  Mem0Ping,
  Mem0SearchRequest,
  Mem0SearchResponse,
  Mem0UpdateRequest,
} from "../mem0/schemas";
import {
  mem0Add,
  mem0BatchDelete,
  mem0BatchUpdate,
  mem0Delete,
  mem0DeleteAll,
  mem0DeleteEntity,
  mem0Entities,
  mem0Event,
  mem0Get,
  mem0History,
  mem0List,
  mem0Search,
  mem0Update,
} from "../mem0/service";
import { z } from "@hono/zod-openapi";
import { createRouter, errorResponses, jsonBody, jsonResponse, tenantContext, tenantWideContext } from "./shared";

export const MEM0_PREFIX = "/mem0";
export const MEM0_SECURITY_SCHEME = "mem0Token";

const tags = ["mem0 compatibility"];
const security = [{ [MEM0_SECURITY_SCHEME]: [] }];
const readErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found");
const writeErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "memory_frozen", "conflict", "payload_too_large");

export const mem0Routes = createRouter()
  .openapi(
    createRoute({
      method: "get",
      path: `${MEM0_PREFIX}/v1/ping/`,
      tags,
      summary: "mem0: check the key (the client calls this when it starts)",
      security,
      responses: { 200: jsonResponse(Mem0Ping, "The key works; org_id is the tenant."), ...errorResponses("unauthorized", "forbidden") },
    }),
    (c) => {
      const principal = requireTenant(c.var.principal, "read");
      return c.json({ status: "ok" as const, org_id: principal.tenantId, project_id: null, message: "MemOS Edge mem0-compatible API" }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: `${MEM0_PREFIX}/v3/memories/add/`,
      tags,
      summary: "mem0: add a conversation (MemReader extracts memories; infer: false stores it as written)",
      description:
        "Queued like mem0's v3 add: poll `event_id` at /mem0/v1/event/{event_id}/, or send `async_mode: false` to wait. " +
        "The memories belong to user_id's cube (else agent_id's); run_id is their session; agent_id (with a user) and " +
        "app_id are kept on each memory. Sending the same conversation again returns the first event.",
      security,
      request: { body: jsonBody(Mem0AddRequest) },
      responses: { 200: jsonResponse(Mem0AddResponse, "The add, queued or done."), ...writeErrors },
    }),
    async (c) => c.json(await mem0Add(tenantContext(c, "write"), c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: `${MEM0_PREFIX}/v1/event/{event_id}/`,
      tags,
      summary: "mem0: an add's status and the memories it wrote",
      security,
      request: { params: Mem0EventIdParam },
      responses: { 200: jsonResponse(Mem0Event, "The event."), ...readErrors },
    }),
    async (c) => c.json(await mem0Event(tenantContext(c, "read"), c.req.valid("param").event_id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: `${MEM0_PREFIX}/v3/memories/search/`,
      tags,
      summary: "mem0: search one user's (or agent's) memories, with mem0 filters",
      description: "Runs our hybrid search (POST /v1/search) in the cube the filters name; the filters become a typed `where`.",
      security,
      request: { body: jsonBody(Mem0SearchRequest) },
      responses: { 200: jsonResponse(Mem0SearchResponse, "Results, best first, with their scores."), ...readErrors },
    }),
    async (c) => c.json(await mem0Search(tenantContext(c, "read"), c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: `${MEM0_PREFIX}/v3/memories/`,
      tags,
      summary: "mem0: list the memories the filters match, newest first, by page",
      security,
      request: { query: Mem0ListQuery, body: jsonBody(Mem0ListRequest) },
      responses: { 200: jsonResponse(Mem0Page, "One page and the total count."), ...readErrors },
    }),
    async (c) => {
      const { page, page_size } = c.req.valid("query");
      const ctx = tenantContext(c, "read");
      return c.json(await mem0List(ctx, c.req.valid("json").filters, page, page_size, new URL(c.req.url)), 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: `${MEM0_PREFIX}/v1/memories/`,
      tags,
      summary: "mem0: delete all memories of a user (or agent), optionally of one run or app",
      description: "Forgets them (soft delete, like DELETE /v1/memories/{id}); immutable (frozen) memories stay.",
      security,
      request: { query: Mem0DeleteAllQuery },
      responses: { 200: jsonResponse(Mem0Message200, "Done."), ...writeErrors },
    }),
    async (c) => c.json(await mem0DeleteAll(tenantContext(c, "write"), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: `${MEM0_PREFIX}/v1/memories/{memory_id}/`,
      tags,
      summary: "mem0: get a memory",
      security,
      request: { params: Mem0MemoryIdParam },
      responses: { 200: jsonResponse(Mem0Memory, "The memory."), ...readErrors },
    }),
    async (c) => c.json(await mem0Get(tenantContext(c, "read"), c.req.valid("param").memory_id), 200),
  )
  .openapi(
    createRoute({
      method: "put",
      path: `${MEM0_PREFIX}/v1/memories/{memory_id}/`,
      tags,
      summary: "mem0: change a memory's text, metadata or expiration date (a new version)",
      security,
      request: { params: Mem0MemoryIdParam, body: jsonBody(Mem0UpdateRequest) },
      responses: { 200: jsonResponse(Mem0Memory, "The memory as changed."), ...writeErrors },
    }),
    async (c) => c.json(await mem0Update(tenantContext(c, "write"), c.req.valid("param").memory_id, c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: `${MEM0_PREFIX}/v1/memories/{memory_id}/`,
      tags,
      summary: "mem0: delete a memory (forgets it: history and rollback keep working)",
      security,
      request: { params: Mem0MemoryIdParam },
      responses: { 200: jsonResponse(Mem0Message200, "Done."), ...writeErrors },
    }),
    async (c) => c.json(await mem0Delete(tenantContext(c, "write"), c.req.valid("param").memory_id), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: `${MEM0_PREFIX}/v1/memories/{memory_id}/history/`,
      tags,
      summary: "mem0: a memory's history, oldest first",
      security,
      request: { params: Mem0MemoryIdParam },
      responses: { 200: jsonResponse(z.array(Mem0HistoryEntry), "Every version as ADD, UPDATE or DELETE."), ...readErrors },
    }),
    async (c) => c.json(await mem0History(tenantContext(c, "read"), c.req.valid("param").memory_id), 200),
  )
  .openapi(
    createRoute({
      method: "put",
      path: `${MEM0_PREFIX}/v1/batch/`,
      tags,
      summary: "mem0: new text for up to 100 memories (each a new version)",
      description: "In order; the first refusal (404, frozen…) answers for the batch, and the memories before it stay changed.",
      security,
      request: { body: jsonBody(Mem0BatchUpdateRequest) },
      responses: { 200: jsonResponse(Mem0Message200, "Done."), ...writeErrors },
    }),
    async (c) => c.json(await mem0BatchUpdate(tenantContext(c, "write"), c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: `${MEM0_PREFIX}/v1/batch/`,
      tags,
      summary: "mem0: delete (forget) up to 100 memories",
      description: "In order; the first refusal answers for the batch, and the memories before it stay forgotten.",
      security,
      request: { body: jsonBody(Mem0BatchDeleteRequest) },
      responses: { 200: jsonResponse(Mem0Message200, "Done."), ...writeErrors },
    }),
    async (c) => c.json(await mem0BatchDelete(tenantContext(c, "write"), c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: `${MEM0_PREFIX}/v1/entities/`,
      tags,
      summary: "mem0: the tenant's users and agents, most recently active first",
      description: "Needs a key not restricted to owners or cubes: the list spans the tenant.",
      security,
      request: { query: Mem0ListQuery },
      responses: { 200: jsonResponse(Mem0EntityPage, "One page and the total count."), ...readErrors },
    }),
    async (c) => {
      const { page, page_size } = c.req.valid("query");
      return c.json(await mem0Entities(tenantWideContext(c, "read"), page, page_size, new URL(c.req.url)), 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: `${MEM0_PREFIX}/v2/entities/{entity_type}/{entity_id}/`,
      tags,
      summary: "mem0: delete a user or agent and everything of theirs (admin scope)",
      description: "As DELETE /v1/owners/{owner}: every cube, vector and R2 object, a receipt in the audit log, the owner.deleted webhook.",
      security,
      request: { params: Mem0EntityParams },
      responses: { 200: jsonResponse(Mem0Message200, "Done."), ...errorResponses("invalid_request", "unauthorized", "forbidden", "not_found") },
    }),
    async (c) => {
      const { entity_type, entity_id } = c.req.valid("param");
      const ctx = tenantContext(c, "admin");
      return c.json(await mem0DeleteEntity(ctx, c.var.webhooks.queue, entity_type, entity_id), 200);
    },
  );
