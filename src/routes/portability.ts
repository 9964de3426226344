/** HTTP for provenance, export/import (MemDumper/MemLoader) and deletion on request. */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError } from "../errors";
import { CubeIdParam, JobAccepted } from "../schemas/jobs";
import { MemoryIdParam } from "../schemas/memory";
import {
  DeletionReceipt,
  ExportAccepted,
  ExportIdParam,
  ExportQuery,
  ImportRequest,
  OwnerParam,
  Provenance,
} from "../schemas/portability";
import {
  announceOwnerDeletion,
  deleteCube,
  deleteOwner,
  downloadExport,
  exportCube,
  importIntoCube,
  memoryProvenance,
} from "../services/portability";
import { attachment, bearerSecurity, createRouter, errorResponses, jsonResponse, markReplay, tenantContext } from "./shared";

const NDJSON = "application/x-ndjson";

/** An uploaded file's text; bytes that are not UTF-8 are the caller's error. */
function utf8(bytes: ArrayBuffer): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ApiError("invalid_request", "the file is not UTF-8");
  }
}
const readErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found");
const importErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "conflict", "payload_too_large", "unsupported_media_type");
const deleteErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "conflict");

export const portabilityRoutes = createRouter()
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/memories/{id}/provenance",
      tags: ["memories"],
      summary: "Where a memory came from, who wrote it, and how it got to its state",
      description:
        "The source (episode and message ids, reader, key, request), the cited messages of its episode (from R2), the writer " +
        "with the watermark checked, where an imported memory was before, and its events oldest first (superseded, merged, " +
        "restored, …). Works for memories in any state but purged; an archived memory is brought back from R2 first, as for a history read.",
      security: bearerSecurity,
      request: { params: MemoryIdParam },
      responses: { 200: jsonResponse(Provenance, "The provenance."), ...readErrors },
    }),
    async (c) => c.json(await memoryProvenance(tenantContext(c, "read"), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/cubes/{id}/export",
      tags: ["cubes"],
      summary: "Export a whole cube as versioned JSONL into R2 (read scope), as a job",
      description:
        "Every memory in every state with its full content (archived ones too), versions, events, subject key and search " +
        "context; the episodes they were read from; optionally vectors. Format: docs/export-format.md. Always `202` with an " +
        "`export` job: its first step runs within the request, so a small cube's job is already `done`; a larger one is " +
        "written in bounded steps on the cube's alarm — poll `job_url` until `done`, then `GET download_url`. At most 3 " +
        "exports of a cube run at once (409).",
      security: bearerSecurity,
      request: { params: CubeIdParam, query: ExportQuery },
      responses: {
        202: jsonResponse(ExportAccepted, "The export job (done already when the cube was small)."),
        ...errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "conflict"),
      },
    }),
    async (c) => {
      const includeVectors = c.req.valid("query").include_vectors === "true";
      const origin = new URL(c.req.url).origin;
      return c.json(await exportCube(tenantContext(c, "read"), c.req.valid("param").id, includeVectors, origin), 202);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/exports/{id}",
      tags: ["cubes"],
      summary: "Download an export (JSONL), with a key that can read its cube",
      description: "409 while its job is still writing it (`details.job_id`: poll /v1/jobs/{id}), or after that job failed.",
      security: bearerSecurity,
      request: { params: ExportIdParam },
      responses: {
        200: { content: { [NDJSON]: { schema: z.string() } }, description: "The export file, one JSON object per line." },
        ...errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "conflict"),
      },
    }),
    async (c) => {
      const id = c.req.valid("param").id;
      return attachment(c, await downloadExport(tenantContext(c, "read"), id), NDJSON, `${id}.jsonl`);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/cubes/{id}/import",
      tags: ["cubes"],
      summary: "Import an export into a cube, in the background (write scope)",
      description:
        "`{\"export_id\": …}` loads an export of this tenant (from any cube the key can read; 409 while it is still being written); a `" + NDJSON + "` body loads the " +
        "file itself (up to the 1 MB body limit). Memories get new ids in this cube (the old ones stay in their provenance), " +
        "with their versions, events, states and times; vectors come from the file when its embedder is the configured one, " +
        "else they are re-embedded. Importing the same file again returns the first job (`Idempotent-Replayed: true`) and " +
        "a memory imported before is never written twice.",
      security: bearerSecurity,
      request: {
        params: CubeIdParam,
        body: {
          content: {
            "application/json": { schema: ImportRequest },
            [NDJSON]: { schema: z.string().openapi({ description: "An export file (docs/export-format.md)." }) },
          },
          required: false,
        },
      },
      responses: { 202: jsonResponse(JobAccepted, "The import job, to poll at /v1/jobs/{id}."), ...importErrors },
    }),
    async (c) => {
      const ctx = tenantContext(c, "write");
      const cubeId = c.req.valid("param").id;
      const contentType = c.req.header("Content-Type")?.split(";")[0]?.trim().toLowerCase();
      let source: { exportId: string } | { text: string };
      if (contentType === NDJSON) {
        source = { text: utf8(await c.req.arrayBuffer()) };
      } else {
        const body = c.req.valid("json") as Partial<z.infer<typeof ImportRequest>>;
        if (body.export_id === undefined) throw new ApiError("invalid_request", `send {"export_id": …} as JSON, or an export file as ${NDJSON}`);
        source = { exportId: body.export_id };
      }
      const { job, replayed } = await importIntoCube(ctx, cubeId, source);
      markReplay(c, replayed);
      return c.json({ job_id: job.id, status: job.status, job }, 202);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/cubes/{id}",
      tags: ["cubes"],
      summary: "Delete a named cube everywhere (admin scope); an owner's default cube goes with its owner",
      description:
        "Its Durable Object storage, vectors (the cube's own and the shared index's), R2 objects (archive, episodes, exports, " +
        "imports) and D1 rows (the cube, its grants and audit rows). Answers with a receipt; the audit log keeps one " +
        "`cube.delete` row. A default cube: 409 (DELETE /v1/owners/{owner}).",
      security: bearerSecurity,
      request: { params: CubeIdParam },
      responses: { 200: jsonResponse(DeletionReceipt, "What was deleted."), ...deleteErrors },
    }),
    async (c) => c.json(await deleteCube(tenantContext(c, "admin"), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/owners/{owner}",
      tags: ["owners"],
      summary: "Delete an owner and everything of theirs, on request (admin scope)",
      description:
        "Every cube of the owner (default and named): Durable Object storage, vectors, R2 objects; then the D1 rows — cubes, " +
        "the owners entry, grants on those cubes and grants to the owner, audit rows of those cubes. Answers with a receipt; " +
        "the audit log keeps one `owner.delete` row with the receipt and the owner's SHA-256 (not the id). Deleting again: 404.",
      security: bearerSecurity,
      request: { params: OwnerParam },
      responses: { 200: jsonResponse(DeletionReceipt, "What was deleted."), ...deleteErrors },
    }),
    async (c) => {
      const ctx = tenantContext(c, "admin");
      const receipt = await deleteOwner(ctx, c.req.valid("param").owner);
      announceOwnerDeletion(ctx, c.var.webhooks.queue, receipt);
      return c.json(receipt, 200);
    },
  );
