/** Wire types of parametric memory (docs/parametric.md): the distill dataset job and the per-cube adapter registry. */
import { z } from "@hono/zod-openapi";
import { ADAPTER_STATES, LORA_LIMITS, WORKERS_AI_LORA_MODELS } from "../core/lora";
import { CubeId, Timestamp, text } from "./common";
import { Job, JOB_STATUSES } from "./jobs";
import { type Where, whereProblems } from "../core/where";
import { SearchFilters, WhereSchema } from "./search";

/** Most examples one distill job writes; each memory gives at most one. */
export const DISTILL_MAX_EXAMPLES = 50_000;

export const DistillRequest = z
  .object({
    filters: SearchFilters.default({}).openapi({
      description: "Which memories: type, state (default: the live ones), tags, session, created/updated times — as in list and search.",
    }),
    where: WhereSchema.optional().openapi({ description: "Typed filter, ANDed with `filters` (as in search)." }),
    include_sensitive: z.boolean().default(false).openapi({
      description: "Memories with a non-empty `sensitivity` are left out (and counted) unless this is true.",
    }),
    max_examples: z.int().min(1).max(DISTILL_MAX_EXAMPLES).default(10_000).openapi({
      description: "Stop after this many examples (oldest memories first).",
    }),
    system_prompt: text(4096).optional().openapi({
      description: "The system message of every example. Default: a short assistant persona for the cube's owner.",
    }),
  })
  .strict()
  .superRefine((request, ctx) => {
    if (request.where) {
      for (const problem of whereProblems(request.where as Where)) ctx.addIssue({ code: "custom", message: problem, path: ["where"] });
    }
  })
  .openapi("DistillRequest");

export const DistillAccepted = z
  .object({
    job_id: z.string(),
    status: z.enum(JOB_STATUSES),
    job: Job,
    distill_id: z.string().openapi({ example: "dst_0123456789abcdef0123456789abcdef" }),
    download_url: z.string().openapi({ description: "GET it (read scope) once the job is done: the dataset as JSONL." }),
  })
  .openapi("DistillAccepted");

export const DistillIdParam = z.object({
  id: z.string().max(64).openapi({ param: { name: "id", in: "path" }, example: "dst_0123456789abcdef0123456789abcdef" }),
});

// ── adapters ──────────────────────────────────────────────────────────────────────────────────────────────────

const BaseModel = z.enum(Object.keys(WORKERS_AI_LORA_MODELS) as [string, ...string[]]).openapi({
  description: "The Workers AI model the adapter adapts (its LoRA-capable variant).",
  example: "@cf/mistral/mistral-7b-instruct-v0.2-lora",
});
const AdapterName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "1–64 letters, digits, '.', '_' or '-', starting with a letter or digit")
  .openapi({ example: "alice-style" });
const FinetuneName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "a Workers AI fine-tune name or id: 1–128 letters, digits, '.', '_' or '-'")
  .openapi({ description: "The Workers AI fine-tune (name or id) that serves this adapter: what `lora` is set to." });

export const AdapterState = z.enum(ADAPTER_STATES).openapi("AdapterState");

export const CreateAdapterRequest = z
  .object({
    name: AdapterName,
    base_model: BaseModel,
    config: z.record(z.string(), z.unknown()).optional().openapi({
      description:
        "`adapter_config.json` (PEFT): a LoRA upload. `r` must be ≤ 8. The weights follow with PUT …/adapters/{adapter_id}/weights.",
    }),
    finetune: FinetuneName.optional(),
    description: text(1024).optional(),
  })
  .strict()
  .superRefine((request, ctx) => {
    if (request.config === undefined && request.finetune === undefined) {
      ctx.addIssue({ code: "custom", path: ["config"], message: "give `config` (a LoRA to upload), `finetune` (a Workers AI fine-tune), or both" });
    }
  })
  .openapi("CreateAdapterRequest");

export const Adapter = z
  .object({
    id: z.string().openapi({ example: "adp_0123456789abcdef0123456789abcdef" }),
    cube_id: CubeId,
    name: z.string(),
    version: z.int().openapi({ description: "1 for a name's first adapter, then one more per registration under that name." }),
    kind: z.enum(["lora", "finetune"]).openapi({ description: "`lora`: weights uploaded here; `finetune`: a Workers AI fine-tune by name only." }),
    state: AdapterState,
    base_model: z.string(),
    finetune: z.string().nullable(),
    rank: z.int().nullable(),
    config: z.record(z.string(), z.unknown()).nullable(),
    weights: z
      .object({ bytes: z.int(), tensors: z.int(), sha256: z.string() })
      .nullable()
      .openapi({ description: "The uploaded `adapter_model.safetensors`, once validated and stored." }),
    description: z.string().nullable(),
    created_by: z.string(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Adapter");

export const AdapterList = z
  .object({ data: z.array(Adapter), active_adapter_id: z.string().nullable() })
  .openapi("AdapterList");

export const AdapterParams = z.object({
  id: z.string().max(64).openapi({ param: { name: "id", in: "path" }, example: "cube_0123456789abcdef" }),
  adapter_id: z.string().max(64).openapi({ param: { name: "adapter_id", in: "path" }, example: "adp_0123456789abcdef0123456789abcdef" }),
});

export const AdapterFileParams = AdapterParams.extend({
  file: z.enum(["adapter_config.json", "adapter_model.safetensors"]).openapi({ param: { name: "file", in: "path" } }),
});

export const AdapterTransitionRequest = z
  .object({
    state: z.enum(["active", "ready", "archived"]).openapi({
      description: "active: the cube's one active adapter (the one active before goes back to ready); ready: deactivate or restore; archived: retire.",
    }),
  })
  .strict()
  .openapi("AdapterTransitionRequest");

export const WEIGHTS_MEDIA_TYPE = "application/octet-stream";
export const ADAPTER_WEIGHTS_LIMIT = LORA_LIMITS.maxWeightsBytes;

export type DistillRequestWire = z.infer<typeof DistillRequest>;
export type AdapterWire = z.infer<typeof Adapter>;
export type CreateAdapterRequestWire = z.infer<typeof CreateAdapterRequest>;
