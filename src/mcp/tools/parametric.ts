/**
 * memos_distill and memos_list_adapters: parametric memory (docs/parametric.md) — start a distill dataset job
 * (POST /v1/cubes/{id}/distill) and list a cube's adapters (GET /v1/cubes/{id}/adapters).
 */
import { z } from "@hono/zod-openapi";
import { CubeId } from "../../schemas/common";
import { MemoryType } from "../../schemas/memory";
import { DISTILL_MAX_EXAMPLES, DistillRequest } from "../../schemas/parametric";
import { listAdapters, startDistill } from "../../services/parametric";
import { defineTool, parseAsRest } from "../tool";

const cubeField = CubeId.describe("The cube (cube_…).");

export const distillTool = defineTool({
  name: "memos_distill",
  title: "Distill memories into a fine-tuning dataset",
  description:
    "Start a background job that turns a cube's memories into a chat-format JSONL fine-tuning dataset (one example " +
    "per memory, citing its id), for training a LoRA adapter elsewhere. Optionally only some memory types or tags; " +
    "memories marked sensitive are left out unless include_sensitive. Returns the job id to poll and the download path.",
  scope: "read",
  input: z
    .object({
      cube_id: cubeField,
      types: z.array(MemoryType).max(8).optional().describe("Only these memory types."),
      tags: z.array(z.string()).max(20).optional().describe("Only memories carrying all these tags."),
      include_sensitive: z.boolean().optional(),
      max_examples: z.int().min(1).max(DISTILL_MAX_EXAMPLES).optional(),
    })
    .strict(),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async run(ctx, { cube_id, types, tags, ...rest }) {
    const request = parseAsRest(DistillRequest, { filters: { ...(types ? { type: types } : {}), ...(tags ? { tags } : {}) }, ...rest });
    const started = await startDistill(ctx, cube_id, request, "");
    const structured = { job_id: started.job_id, status: started.status, distill_id: started.distill_id, download_path: started.download_url };
    return {
      structured,
      text: `distill ${started.distill_id}: job ${started.job_id} ${started.status}, ${started.job.progress.total} memories to write; download at ${started.download_url} once done`,
    };
  },
});

export const listAdaptersTool = defineTool({
  name: "memos_list_adapters",
  title: "List a cube's adapters",
  description:
    "List a cube's LoRA adapters and Workers AI fine-tunes (parametric memory): name, version, state (pending, ready, " +
    "active, archived), base model, rank, and which one is active — the one model calls apply.",
  scope: "read",
  input: z.object({ cube_id: cubeField }).strict(),
  annotations: { readOnlyHint: true, openWorldHint: false },
  async run(ctx, { cube_id }) {
    const { data, active_adapter_id } = await listAdapters(ctx, cube_id);
    const adapters = data.map(({ id, name, version, kind, state, base_model, finetune, rank }) => ({ id, name, version, kind, state, base_model, finetune, rank }));
    const lines = adapters.map((a) => `${a.id} ${a.name} v${a.version} ${a.state} (${a.kind}, ${a.base_model}${a.rank ? `, r=${a.rank}` : ""})`);
    return {
      structured: { adapters, active_adapter_id },
      text: [`${adapters.length} adapters; active: ${active_adapter_id ?? "none"}`, ...lines].join("\n"),
    };
  },
});
