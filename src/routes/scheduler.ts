/** HTTP for what a cube's scheduler keeps: working memory, assembled context, stats. */
import { createRoute } from "@hono/zod-openapi";
import { CubeIdParam } from "../schemas/jobs";
import { ActivationBlock, ActivationHistory, ActivationHistoryQuery, ActivationQuery, ActivationRollbackRequest, ContextRequest, ContextResponse, CubeStats, WorkingMemory } from "../schemas/scheduler";
import { activationBlock, activationHistory, assembleContext, cubeStats, rollbackActivation, workingMemory } from "../services/scheduler";
import { bearerSecurity, createRouter, errorResponses, jsonBody, jsonResponse, tenantContext } from "./shared";

const errors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found");

export const schedulerRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/context",
      tags: ["context"],
      summary: "The memory context an agent should put in its prompt, within a token budget",
      description:
        "Working memory (pinned first) and memories recalled for the query, grouped as instructions, preferences, " +
        "facts and dated events, each citing its memory id; as text and as items. Cached per cube and request until " +
        "the cube changes (or a minute passes); `cached` says whether this answer came from the cache.",
      security: bearerSecurity,
      request: { body: jsonBody(ContextRequest) },
      responses: { 200: jsonResponse(ContextResponse, "The context."), ...errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "payload_too_large") },
    }),
    async (c) => c.json(await assembleContext(tenantContext(c, "read"), c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/cubes/{id}/working-memory",
      tags: ["cubes"],
      summary: "A cube's working memory: pinned memories, then what the scheduler keeps hot",
      description: "Scored by priority, importance, access frequency and recency; at most 20 besides the pins.",
      security: bearerSecurity,
      request: { params: CubeIdParam },
      responses: { 200: jsonResponse(WorkingMemory, "Pinned first, then by score."), ...errors },
    }),
    async (c) => c.json(await workingMemory(tenantContext(c, "read"), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/cubes/{id}/activation",
      tags: ["cubes"],
      summary: "A cube's activation block: standing context whose bytes stay the same until its content changes",
      description:
        "Pinned memories, instructions, preferences and often-used facts within a fixed token budget, in a fixed " +
        "order, so an LLM provider's prompt cache keeps it. Send the `ETag` back in `If-None-Match` for a 304 while it is unchanged.",
      security: bearerSecurity,
      request: { params: CubeIdParam, query: ActivationQuery },
      responses: {
        200: jsonResponse(ActivationBlock, "The current block."),
        304: { description: "Unchanged since the `If-None-Match` ETag." },
        ...errors,
      },
    }),
    async (c) => {
      const block = await activationBlock(tenantContext(c, "read"), c.req.valid("param").id, c.req.valid("query").agent_id);
      const etag = `"${block.etag}"`;
      c.header("ETag", etag);
      c.header("Cache-Control", "private, no-cache");
      const asked = c.req.header("If-None-Match");
      if (asked !== undefined && asked.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag)) return c.body(null, 304);
      return c.json(block, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/cubes/{id}/activation/history",
      tags: ["cubes"],
      summary: "The activation block's versions, newest first (the last 50 are kept)",
      security: bearerSecurity,
      request: { params: CubeIdParam, query: ActivationHistoryQuery },
      responses: { 200: jsonResponse(ActivationHistory, "Versions, newest first."), ...errors },
    }),
    async (c) => c.json(await activationHistory(tenantContext(c, "read"), c.req.valid("param").id, c.req.valid("query").limit), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/cubes/{id}/activation/rollback",
      tags: ["cubes"],
      summary: "Put a previous version of the activation block back, held until a new standing memory arrives",
      description:
        "The stored version comes back as a new version with its bytes (history stays append-only), and stays current " +
        "until a new pinned memory, instruction or preference is written or one of its members stops being live. The " +
        "rollback, and each memory it promotes or demotes, is an event with `reason`. 409 when the version holds a " +
        "memory that is no longer live; 404 when the version is not stored (the newest 50 are).",
      security: bearerSecurity,
      request: { params: CubeIdParam, body: jsonBody(ActivationRollbackRequest) },
      responses: { 200: jsonResponse(ActivationBlock, "The block now current."), ...errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "conflict") },
    }),
    async (c) => {
      const { version, reason } = c.req.valid("json");
      return c.json(await rollbackActivation(tenantContext(c, "write"), c.req.valid("param").id, version, reason), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/cubes/{id}/stats",
      tags: ["cubes"],
      summary: "A cube's memories by state, and bytes by tier (hot in the cube, cold in R2)",
      security: bearerSecurity,
      request: { params: CubeIdParam },
      responses: { 200: jsonResponse(CubeStats, "The stats."), ...errors },
    }),
    async (c) => c.json(await cubeStats(tenantContext(c, "read"), c.req.valid("param").id), 200),
  );
