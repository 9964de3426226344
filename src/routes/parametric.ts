/** HTTP for parametric memory (docs/parametric.md): distill datasets and the cube's adapter registry. */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError } from "../errors";
import { CubeIdParam } from "../schemas/jobs";
import {
  ADAPTER_WEIGHTS_LIMIT,
  Adapter,
  AdapterFileParams,
  AdapterList,
  AdapterParams,
  AdapterTransitionRequest,
  CreateAdapterRequest,
  DistillAccepted,
  DistillIdParam,
  DistillRequest,
  WEIGHTS_MEDIA_TYPE,
} from "../schemas/parametric";
import {
  adapterFile,
  createAdapter,
  deleteDistill,
  downloadDistill,
  getAdapter,
  listAdapters,
  startDistill,
  transitionAdapter,
  uploadAdapterWeights,
} from "../services/parametric";
import { attachment, bearerSecurity, createRouter, errorResponses, jsonBody, jsonResponse, tenantContext } from "./shared";

const NDJSON = "application/x-ndjson";
const tags = ["parametric"];
const readErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found");
const writeErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "conflict");
const uploadErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "conflict", "payload_too_large", "unsupported_media_type");

/** The weights upload streams up to 100 MB: the API's 1 MB body limit does not apply to it (app.ts asks this). */
const WEIGHTS_PATH = /^\/v1\/cubes\/[^/]+\/adapters\/[^/]+\/weights$/;
export const isAdapterWeightsUpload = (method: string, path: string) => method === "PUT" && WEIGHTS_PATH.test(path);

export const parametricRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/cubes/{id}/distill",
      tags,
      summary: "Distill a cube's memories into a fine-tuning dataset (JSONL in R2), in the background (read scope)",
      description:
        "One chat-format example per selected memory — `{\"messages\": [system, user, assistant], \"memory_ids\": [...], \"kind\"}` — " +
        "written by a `distill` job, 200 memories per step. Select by `filters` and `where` as in search; memories marked sensitive " +
        "are left out unless `include_sensitive`. Download at `download_url` once the job is done. Format: docs/parametric.md.",
      security: bearerSecurity,
      request: { params: CubeIdParam, body: jsonBody(DistillRequest) },
      responses: { 202: jsonResponse(DistillAccepted, "The distill job, to poll at /v1/jobs/{id}."), ...readErrors },
    }),
    async (c) => {
      const origin = new URL(c.req.url).origin;
      return c.json(await startDistill(tenantContext(c, "read"), c.req.valid("param").id, c.req.valid("json"), origin), 202);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/distills/{id}",
      tags,
      summary: "Download a distilled dataset (JSONL), with a key that can read its cube",
      description: "409 while its job is still running (or after it failed).",
      security: bearerSecurity,
      request: { params: DistillIdParam },
      responses: {
        200: { content: { [NDJSON]: { schema: z.string() } }, description: "The dataset, one example per line." },
        ...errorResponses("unauthorized", "forbidden", "not_found", "conflict"),
      },
    }),
    async (c) => {
      const id = c.req.valid("param").id;
      return attachment(c, await downloadDistill(tenantContext(c, "read"), id), NDJSON, `${id}.jsonl`);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/distills/{id}",
      tags,
      summary: "Delete a distilled dataset from R2 (write scope on its cube)",
      description: "Datasets stay until deleted here or with their cube. 409 while its job is still running.",
      security: bearerSecurity,
      request: { params: DistillIdParam },
      responses: {
        200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true), objects: z.int() }), "Deleted: its parts and manifest."),
        ...errorResponses("unauthorized", "forbidden", "not_found", "conflict"),
      },
    }),
    async (c) => c.json(await deleteDistill(tenantContext(c, "write"), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/cubes/{id}/adapters",
      tags,
      summary: "Register an adapter version: a LoRA to upload, or a Workers AI fine-tune by name (write scope)",
      description:
        "With `config` (adapter_config.json): checked against Workers AI's LoRA limits (base model, rank ≤ 8), created `pending`; " +
        "PUT its `adapter_model.safetensors` to …/weights. With only `finetune`: a fine-tune already on Workers AI, created `ready`. " +
        "Each registration under a name is its next version. At most 30 adapters per cube.",
      security: bearerSecurity,
      request: { params: CubeIdParam, body: jsonBody(CreateAdapterRequest) },
      responses: { 201: jsonResponse(Adapter, "The adapter."), ...writeErrors },
    }),
    async (c) => c.json(await createAdapter(tenantContext(c, "write"), c.req.valid("param").id, c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/cubes/{id}/adapters",
      tags,
      summary: "A cube's adapters, every version and state, and which one is active (read scope)",
      security: bearerSecurity,
      request: { params: CubeIdParam },
      responses: { 200: jsonResponse(AdapterList, "The adapters, by name and version."), ...readErrors },
    }),
    async (c) => c.json(await listAdapters(tenantContext(c, "read"), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/cubes/{id}/adapters/{adapter_id}",
      tags,
      summary: "One adapter (read scope)",
      security: bearerSecurity,
      request: { params: AdapterParams },
      responses: { 200: jsonResponse(Adapter, "The adapter."), ...readErrors },
    }),
    async (c) => {
      const { id, adapter_id } = c.req.valid("param");
      return c.json(await getAdapter(tenantContext(c, "read"), id, adapter_id), 200);
    },
  )
  .openapi(
    createRoute({
      method: "put",
      path: "/v1/cubes/{id}/adapters/{adapter_id}/weights",
      tags,
      summary: "Upload a pending LoRA adapter's adapter_model.safetensors, streamed (write scope)",
      description:
        `The raw file as \`${WEIGHTS_MEDIA_TYPE}\` with its Content-Length (under ${ADAPTER_WEIGHTS_LIMIT + 1} bytes, Workers AI's limit; ` +
        "the API's 1 MB body limit does not apply). Its safetensors header is checked first — length, JSON, dtypes, shapes, offsets " +
        "contiguous and within the file, LoRA rank equal to the config's — and a bad file is a 400 with nothing stored. Then the bytes " +
        "go to R2 (multipart in 5 MiB parts) and the adapter turns `ready`. The upload counts against the key's written bytes per minute.",
      security: bearerSecurity,
      request: {
        params: AdapterParams,
        body: { content: { [WEIGHTS_MEDIA_TYPE]: { schema: z.string().openapi({ format: "binary" }) } }, required: true },
      },
      responses: { 200: jsonResponse(Adapter, "The adapter, now ready."), ...uploadErrors },
    }),
    async (c) => {
      const ctx = tenantContext(c, "write");
      const type = c.req.header("Content-Type")?.split(";")[0]?.trim().toLowerCase();
      if (type !== WEIGHTS_MEDIA_TYPE) throw new ApiError("unsupported_media_type", `send the file as ${WEIGHTS_MEDIA_TYPE}`);
      const { id, adapter_id } = c.req.valid("param");
      return c.json(await uploadAdapterWeights(ctx, id, adapter_id, c.req.raw.body, c.req.header("Content-Length")), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/cubes/{id}/adapters/{adapter_id}/files/{file}",
      tags,
      summary: "Download an adapter's adapter_config.json or adapter_model.safetensors (read scope)",
      description: "The files `wrangler ai finetune create` takes, to deploy the adapter on Workers AI.",
      security: bearerSecurity,
      request: { params: AdapterFileParams },
      responses: {
        200: {
          content: {
            "application/json": { schema: z.record(z.string(), z.unknown()) },
            [WEIGHTS_MEDIA_TYPE]: { schema: z.string().openapi({ format: "binary" }) },
          },
          description: "The file.",
        },
        ...readErrors,
      },
    }),
    async (c) => {
      const { id, adapter_id, file } = c.req.valid("param");
      const found = await adapterFile(tenantContext(c, "read"), id, adapter_id, file);
      if ("json" in found) return c.json(found.json, 200);
      return attachment(c, found.stream, WEIGHTS_MEDIA_TYPE, file);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/cubes/{id}/adapters/{adapter_id}/state",
      tags,
      summary: "Activate, deactivate, archive or restore an adapter (write scope); one active adapter per cube",
      description:
        "pending → ready (by uploading weights) or archived; ready → active or archived; active → ready or archived; archived → ready. " +
        "Activating one adapter moves the active one back to ready. Every move is an event in the cube's log.",
      security: bearerSecurity,
      request: { params: AdapterParams, body: jsonBody(AdapterTransitionRequest) },
      responses: { 200: jsonResponse(Adapter, "The adapter in its new state."), ...writeErrors },
    }),
    async (c) => {
      const { id, adapter_id } = c.req.valid("param");
      const adapter = await transitionAdapter(tenantContext(c, "write"), id, adapter_id, c.req.valid("json").state);
      return c.json(adapter!, 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/cubes/{id}/adapters/{adapter_id}",
      tags,
      summary: "Delete an adapter that is not active, and its files (write scope)",
      security: bearerSecurity,
      request: { params: AdapterParams },
      responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), "Deleted."), ...writeErrors },
    }),
    async (c) => {
      const { id, adapter_id } = c.req.valid("param");
      await transitionAdapter(tenantContext(c, "write"), id, adapter_id, null);
      return c.json({ id: adapter_id, deleted: true as const }, 200);
    },
  );
