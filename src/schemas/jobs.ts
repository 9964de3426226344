import { z } from "@hono/zod-openapi";
import { CubeId, Timestamp } from "./common";

/**
 * reindex: re-embed with the configured embedder. expire: apply due TTLs (the alarm does this on its own; the job
 * lets a platform force it). archive: move cold, unimportant memories to R2. consolidate: merge near-duplicates.
 * ingest: read an episode (a conversation) into memories — started by POST /v1/memories with `messages`, not here.
 * import: load a cube export (docs/export-format.md) into a cube — started by POST /v1/cubes/{id}/import, not here.
 * distill: write a fine-tuning dataset of the cube's memories to R2 — started by POST /v1/cubes/{id}/distill.
 * export: write the cube as JSONL to R2 (docs/export-format.md) — started by POST /v1/cubes/{id}/export.
 */
export const JOB_TYPES = ["reindex", "expire", "archive", "consolidate", "ingest", "import", "distill", "export", "snapshot"] as const;
export const JOB_STATUSES = ["queued", "running", "done", "failed"] as const;

/** What a job produced so far (ingest: the episode and the memories; others leave it empty). */
export const JobResult = z
  .object({
    episode_id: z.string().optional(),
    memory_ids: z.array(z.string()).optional().openapi({ description: "Memories written, in order." }),
    duplicates: z.array(z.string()).optional().openapi({ description: "Existing memories an extracted one duplicated exactly (nothing written)." }),
    superseded: z.array(z.string()).optional().openapi({ description: "Memories a newer one with the same subject superseded." }),
    import: z
      .object({
        export_id: z.string().openapi({ description: "The export being loaded (from its header line)." }),
        lines: z.int().openapi({ description: "Lines of the file read so far." }),
        imported: z.int().openapi({ description: "Memories written into the cube." }),
        skipped: z.int().openapi({ description: "Memories already in the cube from an earlier import of the same memory: nothing written." }),
        episodes: z.int().openapi({ description: "Episodes (raw conversations) copied." }),
        vectors_reused: z.int().openapi({ description: "Vectors taken from the file (its embedder is the configured one)." }),
        re_embedded: z.int().openapi({ description: "Memories embedded anew with the configured embedder." }),
      })
      .optional()
      .openapi({ description: "An import job's progress and outcome." }),
    archive: z
      .object({
        moved: z.int().openapi({ description: "Memories moved to R2 (now `archived`, findable by every word)." }),
        skipped: z.int().openapi({ description: "Candidates left hot because they changed while their payload was uploading." }),
      })
      .optional()
      .openapi({ description: "An archive job's outcome so far." }),
    distill: z
      .object({
        distill_id: z.string(),
        examples: z.int().openapi({ description: "Examples written so far." }),
        memories: z.int().openapi({ description: "Memories read so far (matching the filters)." }),
        skipped_sensitive: z.int().openapi({ description: "Memories left out because they are marked sensitive." }),
        parts: z.int().openapi({ description: "R2 objects the dataset is written in so far (one per step)." }),
        bytes: z.int(),
      })
      .optional()
      .openapi({ description: "A distill job's progress (docs/parametric.md)." }),
    export: z
      .object({
        export_id: z.string(),
        key: z.string().openapi({ description: "The R2 object: `exports/<tenant>/<cube>/<export id>.jsonl` (there once the job is done)." }),
        bytes: z.int().openapi({ description: "Bytes written so far; the file's size once the job is done." }),
        memories: z.int().openapi({ description: "Memory lines written so far." }),
        versions: z.int().openapi({ description: "Versions those lines carry." }),
        episodes: z.int().openapi({ description: "Episode lines written so far." }),
        vectors: z.int().openapi({ description: "Vectors written so far (with `include_vectors=true`)." }),
        parts: z.int().openapi({ description: "R2 multipart parts uploaded so far (5 MiB each)." }),
      })
      .optional()
      .openapi({ description: "An export or MemStore snapshot job's progress; its final counts once done (docs/portability.md, docs/memstore.md)." }),
  })
  .openapi("JobResult");

/** A background job: `202 { job_id, status }` when started, polled at `GET /v1/jobs/{id}`. */
export const Job = z
  .object({
    id: z.string().openapi({ example: "job_0123456789abcdef0123456789abcdef" }),
    type: z.enum(JOB_TYPES),
    status: z.enum(JOB_STATUSES),
    cube_id: CubeId,
    progress: z.object({ done: z.int(), total: z.int() }).openapi({ description: "Items processed and items to process." }),
    attempts: z.int().openapi({ description: "Failed attempts so far; a job fails for good after 5." }),
    error: z.string().nullable().openapi({ description: "Why the job failed (or why its last attempt did)." }),
    result: JobResult,
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
export type JobType = (typeof JOB_TYPES)[number];
export type JobResult = z.infer<typeof JobResult>;
