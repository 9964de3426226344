/** HTTP for memories: parse → call a service → shape the response. */
import { createRoute, z } from "@hono/zod-openapi";
import {
  DeleteMemoryQuery,
  DeleteMemoryResponse,
  ListMemoriesQuery,
  Memory,
  MemoryHistory,
  MemoryIdParam,
  MemoryList,
  UpdateMemoryRequest,
  WriteMemoriesRequest,
  WriteMemoriesResponse,
} from "../schemas/memory";
import { forgetMemory, getMemory, listMemories, memoryHistory, remember, updateMemory } from "../services/memories";
import { bearerSecurity, createRouter, errorResponses, jsonBody, jsonResponse, markReplay, tenantContext } from "./shared";

const IdempotencyHeader = z.object({
  "idempotency-key": z.string().optional().openapi({
    description: "Retrying with the same key returns the first result and writes nothing new (24 h window, per cube).",
  }),
});

const tags = ["memories"];
const readErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found");
const writeErrors = errorResponses(
  "invalid_request",
  "unauthorized",
  "forbidden",
  "not_found",
  "memory_frozen",
  "payload_too_large",
  "idempotency_key_reused",
);

export const memoryRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/memories",
      tags,
      summary: "Write 1–100 memories verbatim for an owner",
      description: "Written memories are readable and searchable as soon as this call returns.",
      security: bearerSecurity,
      request: { headers: IdempotencyHeader, body: jsonBody(WriteMemoriesRequest) },
      responses: { 201: jsonResponse(WriteMemoriesResponse, "The memories as stored."), ...writeErrors },
    }),
    async (c) => {
      const { replayed, ...written } = await remember(tenantContext(c, "write"), c.req.valid("json"));
      markReplay(c, replayed);
      return c.json(written, 201);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/memories",
      tags,
      summary: "List memories of an owner or cube, newest first",
      security: bearerSecurity,
      request: { query: ListMemoriesQuery },
      responses: { 200: jsonResponse(MemoryList, "A page of memories."), ...readErrors },
    }),
    async (c) => c.json(await listMemories(tenantContext(c, "read"), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/memories/{id}",
      tags,
      summary: "Get one memory (forgotten memories are not found)",
      security: bearerSecurity,
      request: { params: MemoryIdParam },
      responses: { 200: jsonResponse(Memory, "The memory."), ...readErrors },
    }),
    async (c) => c.json(await getMemory(tenantContext(c, "read"), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "patch",
      path: "/v1/memories/{id}",
      tags,
      summary: "Update a memory: writes a new version and keeps the old one",
      security: bearerSecurity,
      request: { params: MemoryIdParam, headers: IdempotencyHeader, body: jsonBody(UpdateMemoryRequest) },
      responses: { 200: jsonResponse(Memory, "The memory at its new version."), ...writeErrors },
    }),
    async (c) => {
      const { memory, replayed } = await updateMemory(tenantContext(c, "write"), c.req.valid("param").id, c.req.valid("json"));
      markReplay(c, replayed);
      return c.json(memory, 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/memories/{id}",
      tags,
      summary: "Forget a memory (soft), or purge it for good with ?hard=true",
      security: bearerSecurity,
      request: { params: MemoryIdParam, query: DeleteMemoryQuery, headers: IdempotencyHeader },
      responses: { 200: jsonResponse(DeleteMemoryResponse, "What was deleted."), ...writeErrors },
    }),
    async (c) => {
      const hard = c.req.valid("query").hard === "true";
      const { replayed, ...deleted } = await forgetMemory(tenantContext(c, "write"), c.req.valid("param").id, hard);
      markReplay(c, replayed);
      return c.json(deleted, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/memories/{id}/history",
      tags,
      summary: "Every version of a memory, oldest first",
      security: bearerSecurity,
      request: { params: MemoryIdParam },
      responses: { 200: jsonResponse(MemoryHistory, "The versions."), ...readErrors },
    }),
    async (c) => c.json({ data: await memoryHistory(tenantContext(c, "read"), c.req.valid("param").id) }, 200),
  );
