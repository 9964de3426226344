/** Reading a tenant's audit shards (durable-objects/audit/periods.ts) straight from their objects, for tests. */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { type ArchivedEntry, type AuditArchive, parseNdjson } from "../durable-objects/audit/archive";
import { ApiError } from "../src/errors";
import { openArchivedDay } from "../src/services/audit-archive";
import { type ApiResponse, call } from "./helpers";

const bindings = env as unknown as Env;

/** The tenant's shards as its directory lists them, oldest first. */
export const shardNames = (tenantId: string) =>
  runInDurableObject(bindings.AUDIT.getByName(tenantId), (_o, state) =>
    state.storage.sql.exec<{ name: string }>("SELECT name FROM audit_shards ORDER BY start, end").toArray().map((r) => r.name),
  );

/** Rows of one object's `audit_log` matching `where`. */
export const rowsOf = (objectName: string, where = "1", ...params: (string | number)[]) =>
  runInDurableObject(bindings.AUDIT.getByName(objectName), (_o, state) =>
    state.storage.sql.exec(`SELECT * FROM audit_log WHERE ${where}`, ...params).toArray(),
  );

/** Rows of every shard of the tenant matching `where`. */
export async function shardRows(tenantId: string, where = "1", ...params: (string | number)[]): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const name of await shardNames(tenantId)) rows.push(...(await rowsOf(name, where, ...params)));
  return rows;
}

/** Every page of GET /v1/audit, `limit` at a time (`query`: more parameters, each starting with `&`); the actions in order. */
export async function allPages(key: string, limit: number, query = "", maxPages = 60): Promise<string[]> {
  const actions: string[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < maxPages; i++) {
    const response: ApiResponse = await call("GET", `/v1/audit?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ""}`, { key });
    expect(response.status).toBe(200);
    actions.push(...(response.body.data as { action: string }[]).map((e) => e.action));
    cursor = response.body.next_cursor;
    if (cursor === null) return actions;
  }
  throw new Error("too many pages");
}

/** A tenant's archived day as GET /v1/audit/archive/{day} reads it (merged from the day's R2 objects); [] when none. */
export async function archivedEntries(tenantId: string, dayMs: number): Promise<ArchivedEntry[]> {
  try {
    const { body } = await openArchivedDay(bindings.ARCHIVE, tenantId, new Date(Math.floor(dayMs / 86_400_000) * 86_400_000).toISOString().slice(0, 10));
    return parseNdjson(await new Response(body).text());
  } catch (error) {
    if (error instanceof ApiError && error.code === "not_found") return [];
    throw error;
  }
}

/** A call to R2 that a {@link wrappedArchive} hook may delay, fail or follow with something of its own. */
type Hook<T> = (work: () => Promise<T>) => Promise<T>;

/**
 * The real bucket with some of its calls wrapped, for tests of crashes and interleavings around R2: each hook is
 * given the real call (not yet started) and answers in its place. Calls without a hook go straight through.
 */
export function wrappedArchive(
  real: AuditArchive,
  hooks: { put?: Hook<R2Object>; delete?: Hook<void>; uploadPart?: Hook<R2UploadedPart>; complete?: Hook<R2Object> },
): AuditArchive {
  const through = <T>(work: () => Promise<T>) => work();
  const { put = through, delete: remove = through, uploadPart = through, complete = through } = hooks;
  return {
    get: (...a) => real.get(...a),
    head: (...a) => real.head(...a),
    list: (...a) => real.list(...a),
    put: (...a) => put(() => real.put(...a) as Promise<R2Object>),
    delete: (...a) => remove(() => real.delete(...a)),
    createMultipartUpload: (...a) => real.createMultipartUpload(...a),
    resumeMultipartUpload: (key, uploadId) => {
      const upload = real.resumeMultipartUpload(key, uploadId);
      return {
        key: upload.key,
        uploadId: upload.uploadId,
        uploadPart: (n: number, value: Uint8Array) => uploadPart(() => upload.uploadPart(n, value)),
        complete: (all: R2UploadedPart[]) => complete(() => upload.complete(all)),
        abort: () => upload.abort(),
      } as unknown as R2MultipartUpload;
    },
  };
}
