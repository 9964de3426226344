/** Wire types of on-demand lifecycle jobs and of the signed lifecycle hook. */
import { z } from "@hono/zod-openapi";
import { CubeId, Timestamp } from "./common";
import { Job, type JobType } from "./jobs";

/** Cubes one hook delivery may name. */
export const HOOK_MAX_CUBES = 100;

/** The job types a caller may start on a cube (ingest jobs come only from writes that carry messages). */
export const ON_DEMAND_JOB_TYPES = ["consolidate", "archive", "expire", "reindex"] as const satisfies readonly JobType[];

const JobTypeField = z.enum(ON_DEMAND_JOB_TYPES).openapi({
  description:
    "`consolidate` merges near-duplicates, `archive` moves cold unimportant memories to R2, `expire` applies due TTLs, " +
    "`reindex` re-embeds with the configured embedder.",
});

export const StartJobRequest = z
  .object({ type: JobTypeField, cube_id: CubeId })
  .strict()
  .openapi("StartJobRequest");

export const LifecycleHookRequest = z
  .object({
    type: JobTypeField,
    cube_id: CubeId.optional().openapi({ description: "One cube of the signing tenant." }),
    cube_ids: z
      .array(CubeId)
      .min(1)
      .max(HOOK_MAX_CUBES)
      .optional()
      .openapi({ description: `Several cubes of the signing tenant (at most ${HOOK_MAX_CUBES}); duplicates count once.` }),
  })
  .strict()
  .superRefine((body, ctx) => {
    if ((body.cube_id === undefined) === (body.cube_ids === undefined)) {
      ctx.addIssue({ code: "custom", message: "give exactly one of cube_id or cube_ids", path: ["cube_id"] });
    }
  })
  .openapi("LifecycleHookRequest");

/** The headers that authenticate a hook delivery (checked before the body is looked at). */
export const LifecycleHookHeaders = z.object({
  "X-Memos-Tenant": z.string().openapi({ description: "The tenant id (`ten_…`) whose secret signed the request.", example: "ten_0123456789abcdef" }),
  "X-Memos-Timestamp": z
    .string()
    .openapi({ description: "Unix time in seconds when the request was signed; refused when more than 300 s from the server's clock.", example: "1795000000" }),
  "X-Memos-Signature": z.string().openapi({
    description: "`v1=` + lower-case hex HMAC-SHA256, keyed with the secret (its UTF-8 bytes, `whsec_` included), of `<timestamp>.<raw body>`.",
    example: "v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
  }),
});

export const LifecycleHookAccepted = z
  .object({ data: z.array(Job).openapi({ description: "One job per cube: started, or the one of that type already running." }) })
  .openapi("LifecycleHookAccepted");

export const LifecycleHookSecret = z
  .object({
    secret: z.string().openapi({ description: "The signing secret. Shown once; the previous secret (if any) no longer verifies.", example: "whsec_0123456789abcdefghjkmnpqrstvwxyz0123456" }),
    prefix: z.string().openapi({ description: "First characters of the secret, to recognise it.", example: "whsec_01234567" }),
    rotated: z.boolean().openapi({ description: "Whether this replaced an earlier secret." }),
    created_at: Timestamp,
  })
  .openapi("LifecycleHookSecret");

export type LifecycleHookSecretWire = z.infer<typeof LifecycleHookSecret>;
