/**
 * Parametric memory's use cases (docs/parametric.md): distilling a cube's memories into a fine-tuning dataset, and
 * the cube's adapter registry — register a LoRA (config checked against Workers AI's limits) or a Workers AI
 * fine-tune, upload its weights, move it through its states, and find the active one for a model call.
 */
import type { NewAdapter } from "../../durable-objects/cube/adapters";
import type { DistillParams } from "../../durable-objects/cube/distill";
import type { CubeRef, WriteMeta } from "../../durable-objects/cube/protocol";
import { defaultSystemPrompt } from "../core/distill";
import { toMemoryFilter } from "../core/filters";
import { randomBody } from "../core/ids";
import type { LlmAdapterRef } from "../core/llm";
import { LORA_LIMITS, type AdapterState, checkLoraConfig } from "../core/lora";
import { type Where, normaliseWhere } from "../core/where";
import { ApiError, unwrap } from "../errors";
import type { AdapterWire, CreateAdapterRequestWire, DistillRequestWire } from "../schemas/parametric";
import type { TenantContext } from "./context";
import { cubeStub, ownCube } from "./cubes";

const DISTILL_ID = /^dst_[0-9a-z]{32}$/;
const ADAPTER_ID = /^adp_[0-9a-z]{32}$/;

const metaOf = (ctx: TenantContext): WriteMeta => ({ actor: ctx.principal.keyId, requestId: ctx.requestId });

// ── distill ─────────────────────────────────────────────────────────────────────────────────────────────────────

/** Starts a distill job on a cube the key can read; `origin` makes `download_url` absolute. */
export async function startDistill(ctx: TenantContext, cubeId: string, request: DistillRequestWire, origin: string) {
  const ref = await ownCube(ctx, cubeId, "read");
  // A distill id names its cube (like an export id), so a download finds the cube without a table.
  const distillId = `dst_${ref.cubeId.slice("cube_".length)}${randomBody()}`;
  const params: DistillParams = {
    distill_id: distillId,
    filter: toMemoryFilter(request.filters),
    where: request.where ? normaliseWhere(request.where as Where) : null,
    include_sensitive: request.include_sensitive,
    max_examples: request.max_examples,
    system: request.system_prompt ?? defaultSystemPrompt(ref.owner),
    actor: ctx.principal.keyId,
    request_id: ctx.requestId,
  };
  const job = await cubeStub(ctx.deps, ref).distill(ref, params);
  return { job_id: job.id, status: job.status, job, distill_id: distillId, download_url: `${origin}/v1/distills/${distillId}` };
}

/** The cube a distill id was minted in, if the key may `access` it; otherwise 404 for the distill. */
async function cubeOfDistill(ctx: TenantContext, distillId: string, access: "read" | "write"): Promise<CubeRef> {
  if (!DISTILL_ID.test(distillId)) throw new ApiError("not_found", "distill not found");
  try {
    return await ownCube(ctx, `cube_${distillId.slice(4, 20)}`, access);
  } catch (error) {
    if (error instanceof ApiError && error.code === "not_found") throw new ApiError("not_found", "distill not found");
    throw error;
  }
}

/** A finished distill's dataset; 409 while its job runs (or after it failed), 404 when there is none the key reaches. */
export async function downloadDistill(ctx: TenantContext, distillId: string) {
  const ref = await cubeOfDistill(ctx, distillId, "read");
  const file = await cubeStub(ctx.deps, ref).distillFile(ref, distillId);
  if (!file) throw new ApiError("not_found", "distill not found");
  if ("running" in file) {
    const job = file.running;
    throw new ApiError(
      "conflict",
      job.status === "failed" ? `the distill job ${job.id} failed: ${job.error ?? "unknown error"}` : `the distill job ${job.id} is still ${job.status}; poll /v1/jobs/${job.id}`,
    );
  }
  return file;
}

/** Deletes a distill's dataset from R2 (write scope on its cube); 409 while its job runs. */
export async function deleteDistill(ctx: TenantContext, distillId: string): Promise<{ id: string; deleted: true; objects: number }> {
  const ref = await cubeOfDistill(ctx, distillId, "write");
  const removed = await cubeStub(ctx.deps, ref).deleteDistill(ref, distillId);
  if (!removed) throw new ApiError("not_found", "distill not found");
  if ("running" in removed) throw new ApiError("conflict", `the distill job ${removed.running.id} is still ${removed.running.status}; delete its dataset once it is done`);
  return { id: distillId, deleted: true, objects: removed.deleted };
}

// ── adapters ────────────────────────────────────────────────────────────────────────────────────────────────────

/** Registers a new adapter version: a LoRA whose weights follow (config checked now), or a Workers AI fine-tune. */
export async function createAdapter(ctx: TenantContext, cubeId: string, request: CreateAdapterRequestWire): Promise<AdapterWire> {
  const ref = await ownCube(ctx, cubeId, "write");
  let config: NewAdapter["config"] = null;
  if (request.config !== undefined) {
    if (new TextEncoder().encode(JSON.stringify(request.config)).length > LORA_LIMITS.maxConfigBytes) {
      throw new ApiError("invalid_request", `adapter_config.json must be at most ${LORA_LIMITS.maxConfigBytes} bytes`);
    }
    const checked = checkLoraConfig(request.config, request.base_model);
    if (!checked.ok) {
      throw new ApiError(
        "invalid_request",
        "the adapter is outside Workers AI's LoRA limits (docs/parametric.md)",
        checked.problems.map((message) => ({ in: "body", path: "config", message })),
      );
    }
    config = { raw: checked.config.raw, rank: checked.config.rank };
  }
  const input: NewAdapter = {
    name: request.name,
    baseModel: request.base_model,
    finetune: request.finetune ?? null,
    config,
    description: request.description ?? null,
  };
  return unwrap(await cubeStub(ctx.deps, ref).registerAdapter(ref, input, metaOf(ctx)));
}

export async function listAdapters(ctx: TenantContext, cubeId: string) {
  const ref = await ownCube(ctx, cubeId, "read");
  const data = await cubeStub(ctx.deps, ref).adapters(ref);
  return { data, active_adapter_id: data.find((a) => a.state === "active")?.id ?? null };
}

export async function getAdapter(ctx: TenantContext, cubeId: string, adapterId: string): Promise<AdapterWire> {
  const ref = await ownCube(ctx, cubeId, "read");
  const [adapter] = ADAPTER_ID.test(adapterId) ? await cubeStub(ctx.deps, ref).adapters(ref, { id: adapterId }) : [];
  if (!adapter) throw new ApiError("not_found", "adapter not found");
  return adapter;
}

/**
 * Streams `adapter_model.safetensors` to a pending adapter. The declared size is checked before a byte is read;
 * the cube checks the header, then stores the bytes (cube/adapters.ts).
 */
export async function uploadAdapterWeights(
  ctx: TenantContext,
  cubeId: string,
  adapterId: string,
  body: ReadableStream<Uint8Array> | null,
  contentLength: string | undefined,
): Promise<AdapterWire> {
  const ref = await ownCube(ctx, cubeId, "write");
  if (!ADAPTER_ID.test(adapterId)) throw new ApiError("not_found", "adapter not found");
  const bytes = contentLength !== undefined && /^\d{1,15}$/.test(contentLength) ? Number(contentLength) : null;
  if (bytes === null) throw new ApiError("invalid_request", "send the file with its Content-Length (a chunked body cannot be checked against Workers AI's size limit)");
  if (bytes > LORA_LIMITS.maxWeightsBytes) {
    throw new ApiError("payload_too_large", `adapter_model.safetensors must be smaller than 100 MB (Workers AI's limit); this one is ${bytes} bytes`);
  }
  if (body === null || bytes === 0) throw new ApiError("invalid_request", "the body is empty: send adapter_model.safetensors");
  return unwrap(await cubeStub(ctx.deps, ref).uploadAdapterWeights(ref, adapterId, body, bytes, metaOf(ctx)));
}

/** One of an adapter's files, to hand to `wrangler ai finetune create` or to a local server. */
export async function adapterFile(ctx: TenantContext, cubeId: string, adapterId: string, file: "adapter_config.json" | "adapter_model.safetensors") {
  const adapter = await getAdapter(ctx, cubeId, adapterId);
  if (file === "adapter_config.json") {
    if (!adapter.config) throw new ApiError("not_found", "this adapter has no adapter_config.json (a fine-tune registered by name)");
    return { json: adapter.config };
  }
  const ref = await ownCube(ctx, cubeId, "read");
  const weights = await cubeStub(ctx.deps, ref).adapterWeights(ref, adapterId);
  if (!weights) throw new ApiError("not_found", "this adapter has no uploaded weights");
  return { stream: weights };
}

/** Moves an adapter to `state` (one active per cube), or deletes it (`null`). */
export async function transitionAdapter(ctx: TenantContext, cubeId: string, adapterId: string, state: AdapterState | null) {
  const ref = await ownCube(ctx, cubeId, "write");
  if (!ADAPTER_ID.test(adapterId)) throw new ApiError("not_found", "adapter not found");
  return unwrap(await cubeStub(ctx.deps, ref).transitionAdapter(ref, adapterId, state, metaOf(ctx)));
}

/**
 * The cube's active adapter as the `Llm` takes it (core/llm.ts `LlmRequest.adapter`), or null. The caller has
 * resolved the cube (and the key's access to it) already; the model call applies it only where the model allows.
 */
export async function activeAdapterOf(ctx: TenantContext, ref: CubeRef): Promise<(LlmAdapterRef & { id: string }) | null> {
  const [active] = await cubeStub(ctx.deps, ref).adapters(ref, { active: true });
  if (!active) return null;
  return { id: active.id, baseModel: active.base_model, finetune: active.finetune };
}
