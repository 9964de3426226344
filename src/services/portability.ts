/**
 * Use cases of portability and deletion on request: a memory's provenance, exporting a cube to R2 and downloading
 * the file, importing one into a cube, and deleting an owner (or one named cube) everywhere — cube storage,
 * vectors, R2 objects, D1 rows — with a receipt the audit log keeps without the owner's id.
 */
import { and, eq, gte, inArray, lt, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { exportKey } from "../../durable-objects/cube/portability";
import type { CubeRef, WriteMeta } from "../../durable-objects/cube/protocol";
import { sha256Hex } from "../core/hash";
import { randomBody } from "../core/ids";
import { ownerFromHex } from "../core/owner-spelling";
import { toIso } from "../core/time";
import { auditLog, cubes, grants, owners } from "../db/schema";
import { ApiError, unwrap } from "../errors";
import { LIMITS } from "../schemas/limits";
import type { JobWire } from "../schemas/jobs";
import type { WebhookQueue } from "../schemas/webhooks";
import {
  type DeletionReceiptWire,
  EXPORT_ID,
  type ExportAcceptedWire,
  ExportLine,
  type ProvenanceWire,
  ownerIdIsValid,
} from "../schemas/portability";
import type { TenantContext } from "./context";
import { cubeOfMemory, cubeStub, forgetCachedCube, ownCube, reachCube, restrictionsOf } from "./cubes";
import { erasureSteps } from "./erasure";
import { publishEvent } from "./webhooks";
import { eraseAuditOfCubes } from "./audit-log";
import { changeGrants } from "./tenant-directory";

/** Cube ids per D1 statement: D1 binds at most 100 parameters. */
const D1_CHUNK = 50;
/** Problems a rejected upload lists at most. */
const MAX_UPLOAD_PROBLEMS = 20;

export async function memoryProvenance(ctx: TenantContext, id: string): Promise<ProvenanceWire> {
  const ref = await cubeOfMemory(ctx, id, "read");
  const provenance = await cubeStub(ctx.deps, ref).provenance(ref, id);
  if (!provenance) throw new ApiError("not_found", "memory not found");
  return provenance;
}

// ── export ──────────────────────────────────────────────────────────────────────────────────────────────────────

/**
 * Starts exporting a cube: a job whose first step runs in this request, so a small cube's export is done in the
 * answer and a large one goes on on the cube's alarm (docs/portability.md). `origin` (the request's scheme and host)
 * makes the links absolute, ready to fetch.
 */
export async function exportCube(ctx: TenantContext, cubeId: string, includeVectors: boolean, origin: string): Promise<ExportAcceptedWire> {
  const ref = await ownCube(ctx, cubeId, "read");
  // An export id names its cube, like a job id, so a download finds the cube (and checks the caller) without a table.
  const exportId = `exp_${ref.cubeId.slice("cube_".length)}${randomBody()}`;
  const meta: WriteMeta = { actor: ctx.principal.keyId, requestId: ctx.requestId };
  const job = unwrap(await cubeStub(ctx.deps, ref).exportCube(ref, { exportId, includeVectors }, meta));
  return {
    job_id: job.id,
    status: job.status,
    job,
    export_id: exportId,
    cube_id: ref.cubeId,
    job_url: `${origin}/v1/jobs/${job.id}`,
    download_url: `${origin}/v1/exports/${exportId}`,
  };
}

/** The cube an export id was minted in, if the key may read it; otherwise 404 for the export. */
async function cubeOfExport(ctx: TenantContext, exportId: string): Promise<CubeRef> {
  if (!EXPORT_ID.test(exportId)) throw new ApiError("not_found", "export not found");
  try {
    return await ownCube(ctx, `cube_${exportId.slice(4, 20)}`, "read");
  } catch (error) {
    if (error instanceof ApiError && error.code === "not_found") throw new ApiError("not_found", "export not found");
    throw error;
  }
}

/** A finished export's file; 409 while its job runs (or after it failed), 404 when there is none the key reaches. */
export async function downloadExport(ctx: TenantContext, exportId: string) {
  const ref = await cubeOfExport(ctx, exportId);
  const file = await cubeStub(ctx.deps, ref).exportFile(ref, exportId);
  if (!file) throw new ApiError("not_found", "export not found");
  if ("running" in file) throw unfinishedExport(exportId, file.running);
  return file;
}

/** The 409 for an export whose job has not finished: still running (poll its job), or failed (start another). */
function unfinishedExport(exportId: string, job: JobWire): ApiError {
  const details = { export_id: exportId, job_id: job.id, status: job.status, progress: job.progress };
  return job.status === "failed"
    ? new ApiError("conflict", `the export ${exportId} failed: ${job.error ?? "unknown error"}; start another export`, details)
    : new ApiError("conflict", `the export ${exportId} is still being written; poll /v1/jobs/${job.id} until it is done`, details);
}

// ── import ──────────────────────────────────────────────────────────────────────────────────────────────────────

/** Loads an export of this tenant, or an uploaded JSONL file, into a cube the key can write: a background job. */
export async function importIntoCube(
  ctx: TenantContext,
  cubeId: string,
  source: { exportId: string } | { text: string },
): Promise<{ job: JobWire; replayed: boolean }> {
  const ref = await ownCube(ctx, cubeId, "write");
  const meta: WriteMeta = { actor: ctx.principal.keyId, requestId: ctx.requestId };
  let file: { key: string } | { upload: { id: string; text: string } };
  if ("exportId" in source) {
    const from = await cubeOfExport(ctx, source.exportId);
    // An export still being written has no file yet: say so rather than "not found".
    const job = await cubeStub(ctx.deps, from).exportJob(from, source.exportId);
    if (job && job.status !== "done") throw unfinishedExport(source.exportId, job);
    file = { key: exportKey(from, source.exportId) };
  } else {
    checkUpload(source.text);
    file = { upload: { id: `upl_${(await sha256Hex(source.text)).slice(0, 32)}`, text: source.text } };
  }
  return unwrap(await cubeStub(ctx.deps, ref).importFile(ref, file, meta));
}

/**
 * An uploaded file is small (the body limit), so it is checked whole before anything is stored: a bad one is a 400
 * that lists its problems, not a job that fails later.
 */
function checkUpload(text: string): void {
  const problems: { line: number; path: string; message: string }[] = [];
  const lines = text.split("\n").map((line) => line.replace(/\r$/, ""));
  while (lines.length > 0 && lines.at(-1)!.trim() === "") lines.pop();
  const counts = { memories: 0, episodes: 0 };
  let end: { memories: number; episodes: number } | null = null;
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === "" || problems.length >= MAX_UPLOAD_PROBLEMS) return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      problems.push({ line, path: "", message: "not JSON" });
      return;
    }
    const parsed = ExportLine.safeParse(json);
    if (!parsed.success) {
      for (const issue of parsed.error.issues.slice(0, 5)) problems.push({ line, path: issue.path.join("."), message: issue.message });
      return;
    }
    const type = parsed.data.type;
    if ((type === "header") !== (line === 1)) problems.push({ line, path: "type", message: line === 1 ? "the file must start with its header" : "a second header" });
    if (type === "end" && line !== lines.length) problems.push({ line, path: "type", message: "the end line must be the last line" });
    if (type === "memory") counts.memories += 1;
    if (type === "episode") counts.episodes += 1;
    if (parsed.data.type === "end") end = parsed.data.counts;
  });
  if (problems.length === 0) {
    const last = end as { memories: number; episodes: number } | null;
    if (last === null) problems.push({ line: lines.length, path: "", message: "the file must end with its end line" });
    else if (last.memories !== counts.memories || last.episodes !== counts.episodes) {
      problems.push({ line: lines.length, path: "counts", message: `the end line counts ${last.memories} memories and ${last.episodes} episodes, the file holds ${counts.memories} and ${counts.episodes}` });
    }
  }
  if (problems.length > 0) throw new ApiError("invalid_request", "the file is not a valid memos-cube-export (docs/export-format.md)", problems);
}

// ── deletion on request ─────────────────────────────────────────────────────────────────────────────────────────

/**
 * Deletes every cube of an owner (default and named) and every trace of them: each cube's storage, vectors and R2
 * objects (the cube does it), then the D1 rows — cubes, the owners entry, grants on those cubes and grants to the
 * owner, audit rows that name those cubes, and (services/erasure.ts) keys and webhook deliveries naming them. One `owner.delete` audit row records that it happened, with the receipt and
 * the owner as a SHA-256 only. An owner that does not exist (or was deleted before) is 404.
 */
export async function deleteOwner(ctx: TenantContext, spelling: string): Promise<DeletionReceiptWire> {
  const owner = ownerToDelete(spelling);
  const { tenantId } = ctx.principal;
  const { db } = ctx.deps;
  const restrictions = restrictionsOf(ctx);
  if (restrictions.allowedOwners && !restrictions.allowedOwners.has(owner)) throw new ApiError("not_found", "owner not found");
  const [rows, directory] = await Promise.all([
    db.select({ id: cubes.id }).from(cubes).where(and(eq(cubes.tenantId, tenantId), eq(cubes.owner, owner))).all(),
    db.select({ owner: owners.owner }).from(owners).where(and(eq(owners.tenantId, tenantId), eq(owners.owner, owner))).get(),
  ]);
  if (rows.length === 0 && !directory) throw new ApiError("not_found", "owner not found", await storedSpellings(ctx, owner));
  if (restrictions.allowedCubes && rows.some((row) => !restrictions.allowedCubes!.has(row.id))) {
    throw new ApiError("forbidden", "this key is confined to some cubes; deleting an owner needs a key that reaches all of theirs");
  }
  const refs = rows.map((row) => ({ tenantId, cubeId: row.id, owner }));
  const receipt = await wipeCubes(ctx, owner, refs);
  await eraseAuditOfCubes(ctx.deps, tenantId, refs.map((ref) => ref.cubeId));
  const erasure = await erasureSteps(ctx.deps, tenantId, owner, receipt.cubes);

  const statements: [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]] = [
    db.delete(grants).where(and(eq(grants.tenantId, tenantId), eq(grants.principal, owner))),
    ...chunks(refs.map((ref) => ref.cubeId)).flatMap((ids) => [
      db.delete(grants).where(and(eq(grants.tenantId, tenantId), inArray(grants.cubeId, ids))),
      ...auditOfCubes(ctx, ids),
    ]),
    db.delete(cubes).where(and(eq(cubes.tenantId, tenantId), eq(cubes.owner, owner))),
    db.delete(owners).where(and(eq(owners.tenantId, tenantId), eq(owners.owner, owner))),
    ...erasure.statements,
    db.insert(auditLog).values(await auditRow(ctx, "owner.delete", null, receipt)),
  ];
  // Grants to the owner may be on any cube: the tenant directory object re-reads every cube's (tenant-directory.ts).
  await changeGrants(ctx.deps, tenantId, null, () => db.batch(statements));
  erasure.afterCommit(ctx.background);
  for (const ref of refs) forgetCachedCube(tenantId, ref.cubeId);
  return receipt;
}

/**
 * The owner a deletion addresses: `user:<id>` / `agent:<id>`, or `hex:<bytes>` — the stored bytes of an owner written
 * with an ill-formed id before the Unicode rule (core/owner-spelling.ts), which no other spelling reaches.
 */
function ownerToDelete(spelling: string): string {
  if (!spelling.startsWith("hex:")) {
    if (!ownerIdIsValid(spelling)) throw new ApiError("invalid_request", "owner must be user:<id> or agent:<id> with a valid id");
    return spelling;
  }
  const owner = ownerFromHex(spelling.slice("hex:".length));
  if (owner === null || !/^(user|agent):./su.test(owner) || owner.length > LIMITS.idChars + "agent:".length) {
    throw new ApiError("invalid_request", "hex: must spell a stored owner's bytes, user:<id> or agent:<id> in UTF-8 (surrogates allowed)");
  }
  return owner;
}

/** Most stored spellings a 404 suggests. */
const SPELLING_HINTS = 10;

/**
 * For a spelling with replacement characters (U+FFFD, how D1 reads back the bytes of a lone surrogate) that found
 * nothing: the `hex:` spellings of this tenant's owners that share its text up to the first replacement character
 * and are not well-formed UTF-8, so the caller can delete them. One indexed range read (cubes_tenant_owner_name).
 */
async function storedSpellings(ctx: TenantContext, owner: string): Promise<{ stored_as: string[] } | undefined> {
  const cut = owner.indexOf("\ufffd");
  if (cut < 0 || restrictionsOf(ctx).allowedOwners) return undefined;
  const prefix = owner.slice(0, cut);
  const rows = await ctx.deps.db
    .selectDistinct({ hex: sql<string>`hex(${cubes.owner})` })
    .from(cubes)
    // U+10FFFF (F4 8F BF BF) sorts after every byte a stored owner can continue with, surrogates (ED …) included.
    .where(and(eq(cubes.tenantId, ctx.principal.tenantId), gte(cubes.owner, prefix), lt(cubes.owner, `${prefix}\u{10ffff}`)))
    .limit(SPELLING_HINTS * 10)
    .all();
  const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const illFormed = rows.map((row) => row.hex).filter((hex) => {
    try {
      utf8.decode(Uint8Array.from(hex.match(/../g) ?? [], (byte) => Number.parseInt(byte, 16)));
      return false;
    } catch {
      return true;
    }
  });
  return illFormed.length > 0 ? { stored_as: illFormed.slice(0, SPELLING_HINTS).map((hex) => `hex:${hex}`) } : undefined;
}

/** Tells subscribed apps that an owner was deleted, so they delete their own copies; after the response, failures logged. */
export function announceOwnerDeletion(ctx: TenantContext, queue: WebhookQueue, receipt: DeletionReceiptWire): void {
  const { receipt_id, owner, cubes, memories_deleted, deleted_at } = receipt;
  ctx.background(
    publishEvent(queue, ctx.principal.tenantId, { type: "owner.deleted", owner, data: { receipt_id, cubes, memories_deleted, deleted_at } }),
  );
}

/**
 * Deletes one named cube the same way (its owner stays). The default cube goes only with its owner (409), and only
 * the cube's owner side may delete it (a key reaching it through a grant: 403).
 */
export async function deleteCube(ctx: TenantContext, cubeId: string): Promise<DeletionReceiptWire> {
  const { ref, reach } = await reachCube(ctx, cubeId, "write");
  if (reach !== "owner") throw new ApiError("forbidden", "only the cube's owner side can delete it, not a key reaching it through a grant");
  const { tenantId } = ctx.principal;
  const { db } = ctx.deps;
  const row = await db.select({ isDefault: cubes.isDefault }).from(cubes).where(and(eq(cubes.tenantId, tenantId), eq(cubes.id, ref.cubeId))).get();
  if (!row) throw new ApiError("not_found", "cube not found");
  if (row.isDefault) {
    throw new ApiError("conflict", "an owner's default cube is deleted with its owner: DELETE /v1/owners/{owner}");
  }
  const receipt = await wipeCubes(ctx, ref.owner, [ref]);
  await eraseAuditOfCubes(ctx.deps, tenantId, [ref.cubeId]);
  const erasure = await erasureSteps(ctx.deps, tenantId, null, [ref.cubeId]);
  const receiptRow = await auditRow(ctx, "cube.delete", ref.cubeId, receipt);
  await changeGrants(ctx.deps, tenantId, [ref.cubeId], () => db.batch([
    db.delete(grants).where(and(eq(grants.tenantId, tenantId), eq(grants.cubeId, ref.cubeId))),
    ...auditOfCubes(ctx, [ref.cubeId]),
    // The owner's count needs no update: the owners directory sums its remaining cubes when listed.
    db.delete(cubes).where(and(eq(cubes.tenantId, tenantId), eq(cubes.id, ref.cubeId))),
    ...erasure.statements,
    db.insert(auditLog).values(receiptRow),
  ]));
  erasure.afterCommit(ctx.background);
  forgetCachedCube(tenantId, ref.cubeId);
  return receipt;
}

/**
 * Deletes the audit rows that name these cubes: filed under one of them, or a request that spanned several cubes
 * (`detail.cube_ids`) including one — such a row lists the cube's memory ids too.
 */
function auditOfCubes(ctx: TenantContext, cubeIds: string[]): BatchItem<"sqlite">[] {
  const { db } = ctx.deps;
  const tenant = eq(auditLog.tenantId, ctx.principal.tenantId);
  return [
    db.delete(auditLog).where(and(tenant, inArray(auditLog.cubeId, cubeIds))),
    db
      .delete(auditLog)
      .where(
        and(
          tenant,
          sql`${auditLog.cubeId} IS NULL`,
          sql`EXISTS (SELECT 1 FROM json_each(${auditLog.detail}, '$.cube_ids') WHERE value IN ${cubeIds})`,
        ),
      ),
  ];
}

/** Destroys each cube's Durable Object storage, vectors and R2 objects; the receipt of it all. */
async function wipeCubes(ctx: TenantContext, owner: string, refs: readonly CubeRef[]): Promise<DeletionReceiptWire> {
  const receipt: DeletionReceiptWire = {
    receipt_id: `del_${randomBody()}`,
    owner,
    cubes: refs.map((ref) => ref.cubeId),
    memories_deleted: 0,
    vectors_deleted: 0,
    r2_objects_deleted: 0,
    deleted_at: "",
  };
  for (const ref of refs) {
    const wiped = await cubeStub(ctx.deps, ref).destroy(ref);
    receipt.memories_deleted += wiped.memories;
    receipt.vectors_deleted += wiped.vectors;
    receipt.r2_objects_deleted += wiped.r2Objects;
  }
  receipt.deleted_at = toIso(ctx.deps.clock());
  return receipt;
}

/** The audit row of a deletion: the receipt, with the owner replaced by its SHA-256 (the audit keeps that it happened). */
async function auditRow(ctx: TenantContext, action: "owner.delete" | "cube.delete", cubeId: string | null, receipt: DeletionReceiptWire) {
  const { owner, ...rest } = receipt;
  return {
    tenantId: ctx.principal.tenantId,
    at: ctx.deps.clock(),
    actor: ctx.principal.keyId,
    action,
    cubeId,
    requestId: ctx.requestId,
    status: 200,
    detail: JSON.stringify({ ...rest, owner_sha256: await sha256Hex(owner) }),
  };
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += D1_CHUNK) out.push(items.slice(i, i + D1_CHUNK));
  return out;
}
