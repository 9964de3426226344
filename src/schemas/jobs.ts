import { z } from "@hono/zod-openapi";
import { CubeId, Timestamp } from "./common";

export const JOB_TYPES = ["reindex"] as const;
export const JOB_STATUSES = ["queued", "running", "done", "failed"] as const;

/** A background job: `202 { job_id, status }` when started, polled at `GET /v1/jobs/{id}`. */
export const Job = z
  .object({
    id: z.string().openapi({ example: "job_0123456789abcdef0123456789abcdef" }),
    type: z.enum(JOB_TYPES),
    status: z.enum(JOB_STATUSES),
    cube_id: CubeId,
    progress: z.object({ done: z.int(), total: z.int() }).openapi({ description: "Items processed and items to process." }),
    attempts: z.int().openapi({ description: "Failed attempts so far; a job fails for good after 5." }),
    error: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Job");

export const JobAccepted = z
  .object({ job_id: z.string(), status: z.enum(JOB_STATUSES), job: Job })
  .openapi("JobAccepted");

export const JobIdParam = z.object({
  id: z.string().max(64).openapi({ param: { name: "id", in: "path" } }),
});

export const CubeIdParam = z.object({
  id: z.string().max(64).openapi({ param: { name: "id", in: "path" }, example: "cube_0123456789abcdef" }),
});

export type JobWire = z.infer<typeof Job>;
