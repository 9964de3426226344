/** HTTP for memories: parse → call a service → shape the response. */
import { createRoute, z } from "@hono/zod-openapi";
import {
  DeleteMemoryQuery,
  DeleteMemoryResponse,
  GetMemoryQuery,
  IngestResponse,
  ListMemoriesQuery,
  Memory,
  MemoryHistory,
  MemoryIdParam,
  MemoryList,
  RollbackRequest,
  UpdateMemoryRequest,
  WriteMemoriesRequest,
  WriteMemoriesResponse,
} from "../schemas/memory";
import { LIMITS } from "../schemas/limits";
import {
  forgetMemory,
  getMemory,
  ingest,
  listMemories,
  memoryHistory,
  pinMemory,
  remember,
  rollbackMemory,
  updateMemory,
} from "../services/memories";
import { lap } from "../middleware/server-timing";
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
  "conflict",
  "payload_too_large",
  "idempotency_key_reused",
);

export const memoryRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/memories",
      tags,
      summary: "Write 1–100 memories verbatim, or send a conversation for MemReader",
      description:
        "With `memories`: written as given and readable and searchable as soon as this call returns (201). " +
        "With `messages`: the conversation is kept as an episode and a job reads it into memories — facts, dated " +
        "events, preferences and instructions, each citing its episode and message ids — then 202 with the job to " +
        "poll at /v1/jobs/{id}; with `sync: true` (or `infer: false`) the call waits and answers 200 with the " +
        "memories. Sending the same conversation again returns the first job and writes nothing.",
      security: bearerSecurity,
      request: { headers: IdempotencyHeader, body: jsonBody(WriteMemoriesRequest) },
      responses: {
        201: jsonResponse(WriteMemoriesResponse, "The memories as stored."),
        200: jsonResponse(IngestResponse, "The conversation was read (sync or infer: false): the job and its memories."),
        202: jsonResponse(IngestResponse, "The conversation is queued for reading: poll the job."),
        ...writeErrors,
      },
    }),
    async (c) => {
      lap(c, "parse");
      const request = c.req.valid("json");
      if (request.messages !== undefined) {
        const { response, finished, replayed } = await ingest(tenantContext(c, "write"), request);
        markReplay(c, replayed);
        return finished ? c.json(response, 200) : c.json(response, 202);
      }
      const { replayed, ...written } = await remember(tenantContext(c, "write"), request);
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
      summary: "Get one memory (forgotten memories are not found); with as_of, as it stood then",
      description: "An archived memory is brought back from the cold tier transparently.",
      security: bearerSecurity,
      request: { params: MemoryIdParam, query: GetMemoryQuery },
      responses: { 200: jsonResponse(Memory, "The memory."), ...readErrors },
    }),
    async (c) => c.json(await getMemory(tenantContext(c, "read"), c.req.valid("param").id, c.req.valid("query").as_of), 200),
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
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/memories/{id}/rollback",
      tags,
      summary: "Roll a memory back to an earlier version (itself a new version; also undoes a soft delete)",
      description:
        "Content, type, tags, metadata, session, validity, expiry, priority, importance and sensitivity come back " +
        "from the chosen version. Frozen memories refuse (409); expired, superseded and merged ones cannot be rolled back (409).",
      security: bearerSecurity,
      request: { params: MemoryIdParam, headers: IdempotencyHeader, body: jsonBody(RollbackRequest) },
      responses: { 200: jsonResponse(Memory, "The memory at its new version."), ...writeErrors },
    }),
    async (c) => {
      const { memory, replayed } = await rollbackMemory(tenantContext(c, "write"), c.req.valid("param").id, c.req.valid("json").version);
      markReplay(c, replayed);
      return c.json(memory, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/memories/{id}/pin",
      tags,
      summary: "Pin a memory into its cube's working memory",
      description: `Pinned memories come first in working memory and in assembled context. At most ${LIMITS.pinsPerCube} per cube (409 beyond).`,
      security: bearerSecurity,
      request: { params: MemoryIdParam, headers: IdempotencyHeader },
      responses: { 200: jsonResponse(Memory, "The memory, pinned."), ...writeErrors },
    }),
    async (c) => {
      const { memory, replayed } = await pinMemory(tenantContext(c, "write"), c.req.valid("param").id, true);
      markReplay(c, replayed);
      return c.json(memory, 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/memories/{id}/pin",
      tags,
      summary: "Unpin a memory",
      security: bearerSecurity,
      request: { params: MemoryIdParam, headers: IdempotencyHeader },
      responses: { 200: jsonResponse(Memory, "The memory, unpinned."), ...writeErrors },
    }),
    async (c) => {
      const { memory, replayed } = await pinMemory(tenantContext(c, "write"), c.req.valid("param").id, false);
      markReplay(c, replayed);
      return c.json(memory, 200);
    },
  );
