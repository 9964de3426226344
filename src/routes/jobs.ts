/** Cube-level operations that run in the background, and the job resource that reports on them. */
import { createRoute } from "@hono/zod-openapi";
import { CubeIdParam, Job, JobAccepted, JobIdParam } from "../schemas/jobs";
import { StartJobRequest } from "../schemas/lifecycle";
import { getJob, startJob } from "../services/jobs";
import { bearerSecurity, createRouter, errorResponses, jsonBody, jsonResponse, tenantContext } from "./shared";

const errors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found");

export const jobRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/cubes/{id}/reindex",
      tags: ["cubes"],
      summary: "Re-embed a cube's memories with the configured embedder, in the background",
      description:
        "Memories whose vector is missing or was made by another embedder get a new one. Search keeps answering " +
        "meanwhile (vectors of different embedders are never compared). Starting it again while it runs returns the running job.",
      security: bearerSecurity,
      request: { params: CubeIdParam },
      responses: { 202: jsonResponse(JobAccepted, "The job, to poll at /v1/jobs/{id}."), ...errors },
    }),
    async (c) => {
      const job = await startJob(tenantContext(c, "write"), c.req.valid("param").id, "reindex");
      return c.json({ job_id: job.id, status: job.status, job }, 202);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/jobs",
      tags: ["jobs"],
      summary: "Start a lifecycle job (consolidate, archive, expire) or a reindex on one cube, in the background",
      description:
        "The cron runs archive and consolidate on its own, a bounded number of cubes at a time; this runs one now. " +
        "Starting a type that is already running on the cube returns the running job.",
      security: bearerSecurity,
      request: { body: jsonBody(StartJobRequest) },
      responses: { 202: jsonResponse(JobAccepted, "The job, to poll at /v1/jobs/{id}."), ...errors },
    }),
    async (c) => {
      const { type, cube_id } = c.req.valid("json");
      const job = await startJob(tenantContext(c, "write"), cube_id, type);
      return c.json({ job_id: job.id, status: job.status, job }, 202);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/jobs/{id}",
      tags: ["jobs"],
      summary: "A background job's status and progress",
      security: bearerSecurity,
      request: { params: JobIdParam },
      responses: { 200: jsonResponse(Job, "The job."), ...errors },
    }),
    async (c) => c.json(await getJob(tenantContext(c, "read"), c.req.valid("param").id), 200),
  );
