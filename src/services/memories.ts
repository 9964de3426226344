/** Use cases on memories: remember (verbatim), get, list, update, forget, history. */
import type { StoredEpisode } from "../../durable-objects/cube/ingest";
import type { MemoryPatch, Mutation, NewMemory, WriteMeta } from "../../durable-objects/cube/protocol";
import type { ReaderMessage } from "../core/reader/types";
import { decodeCursor, encodeCursor } from "../core/cursor";
import { toMemoryFilter } from "../core/filters";
import { canonicalJson, sha256Hex } from "../core/hash";
import { fromIsoOrNull } from "../core/time";
import { ApiError, type Outcome, unwrap } from "../errors";
import type { MemoryInputWire, MemoryVersionWire, MemoryWire, UpdateMemoryWire } from "../schemas/memory";
import type { ListMemoriesQuery, WriteMemoriesRequest } from "../schemas/memory";
import type { z } from "@hono/zod-openapi";
import type { TenantContext } from "./context";
import { cubeForRead, cubeForWrite, cubeOfMemory, cubeStub, recordActivity } from "./cubes";

/** Describes the request for idempotent replays: same key + same fingerprint = same request. */
async function writeMeta(ctx: TenantContext, request: { method: string; path: string; body: unknown }): Promise<WriteMeta> {
  const meta: WriteMeta = { actor: ctx.principal.keyId, requestId: ctx.requestId };
  if (ctx.idempotencyKey !== undefined) {
    const fingerprint = await sha256Hex(`${request.method} ${request.path}\n${canonicalJson(request.body)}`);
    meta.idempotency = { key: ctx.idempotencyKey, fingerprint };
  }
  return meta;
}

function toNewMemory(input: MemoryInputWire): NewMemory {
  return {
    content: input.content,
    type: input.type,
    tags: [...new Set(input.tags)],
    metadata: input.metadata,
    sessionId: input.session_id ?? null,
    validAt: fromIsoOrNull(input.valid_at),
    invalidAt: fromIsoOrNull(input.invalid_at),
    expiresAt: fromIsoOrNull(input.expires_at),
    ttlSeconds: input.ttl ?? null,
    priority: input.priority,
    importance: input.importance,
    sensitivity: [...new Set(input.sensitivity)],
    frozen: input.frozen,
    source: {
      kind: input.source?.kind ?? "api",
      episodeId: input.source?.episode_id ?? null,
      messageIds: input.source?.message_ids ?? [],
    },
  };
}

function toPatch(input: UpdateMemoryWire): MemoryPatch {
  const patch: MemoryPatch = {};
  if (input.content !== undefined) patch.content = input.content;
  if (input.type !== undefined) patch.type = input.type;
  if (input.tags !== undefined) patch.tags = [...new Set(input.tags)];
  if (input.metadata !== undefined) patch.metadata = input.metadata;
  if (input.session_id !== undefined) patch.sessionId = input.session_id;
  if (input.valid_at !== undefined) patch.validAt = fromIsoOrNull(input.valid_at);
  if (input.invalid_at !== undefined) patch.invalidAt = fromIsoOrNull(input.invalid_at);
  if (input.expires_at !== undefined) patch.expiresAt = fromIsoOrNull(input.expires_at);
  if (input.ttl !== undefined) patch.ttlSeconds = input.ttl;
  if (input.priority !== undefined) patch.priority = input.priority;
  if (input.importance !== undefined) patch.importance = input.importance;
  if (input.sensitivity !== undefined) patch.sensitivity = [...new Set(input.sensitivity)];
  if (input.frozen !== undefined) patch.frozen = input.frozen;
  return patch;
}

/**
 * Unwraps a mutation and, unless it was a replay, updates the owners directory after the response: the directory
 * is bookkeeping (a local D1 write costs as much as the cube's whole transaction), and its guard against
 * out-of-order updates makes late arrival harmless.
 */
function settle<T>(ctx: TenantContext, ref: Parameters<typeof recordActivity>[1], outcome: Outcome<Mutation<T>>) {
  const mutation = unwrap(outcome);
  if (!mutation.replayed) ctx.background(recordActivity(ctx.deps, ref, mutation.liveCount));
  return mutation;
}

export async function remember(ctx: TenantContext, request: z.infer<typeof WriteMemoriesRequest>) {
  const ref = await cubeForWrite(ctx, request);
  const items = (request.memories ?? []).map(toNewMemory);
  const meta = await writeMeta(ctx, { method: "POST", path: "/v1/memories", body: request });
  ctx.lap?.("prepare");
  const mutation = settle(ctx, ref, await cubeStub(ctx.deps, ref).remember(ref, items, meta));
  ctx.lap?.("cube");
  return { cube_id: ref.cubeId, data: mutation.result, replayed: mutation.replayed };
}

/**
 * A conversation for MemReader. The episode id is a hash of the cube and the request's content (messages, options),
 * so sending the same conversation again finds the first episode and its job instead of reading it twice.
 */
export async function ingest(ctx: TenantContext, request: z.infer<typeof WriteMemoriesRequest>) {
  const ref = await cubeForWrite(ctx, request);
  const infer = request.infer ?? true;
  const messages: ReaderMessage[] = (request.messages ?? []).map((m, i) => ({
    id: m.id ?? `m${i}`,
    role: m.role,
    name: m.name ?? null,
    content: m.content,
    createdAt: fromIsoOrNull(m.created_at),
  }));
  const sessionId = request.session_id ?? null;
  const metadata = request.metadata ?? {};
  const digest = await sha256Hex(canonicalJson({ cube: ref.cubeId, messages, infer, sessionId, metadata }));
  const ownerId = ref.owner.slice(ref.owner.indexOf(":") + 1);
  const userName = messages.find((m) => m.role === "user" && m.name !== null)?.name;
  const episode: StoredEpisode = {
    format: "memos-episode/1",
    id: `ep_${digest.slice(0, 32)}`,
    cube_id: ref.cubeId,
    owner: ref.owner,
    owner_name: userName ?? ownerId,
    session_id: sessionId,
    metadata,
    infer,
    received_at: ctx.deps.clock(),
    messages,
  };
  const meta = await writeMeta(ctx, { method: "POST", path: "/v1/memories", body: request });
  const result = await cubeStub(ctx.deps, ref).ingest(ref, episode, { sync: request.sync ?? false }, meta);
  if (!result.replayed) ctx.background(recordActivity(ctx.deps, ref, result.liveCount));
  const { job } = result;
  return {
    response: { cube_id: ref.cubeId, job_id: job.id, status: job.status, episode_id: episode.id, job, data: result.memories },
    finished: job.status === "done" || job.status === "failed",
    replayed: result.replayed,
  };
}

export async function getMemory(ctx: TenantContext, id: string, asOf?: string): Promise<MemoryWire> {
  const ref = await cubeOfMemory(ctx, id, "read");
  const memory = await cubeStub(ctx.deps, ref).get(ref, id, asOf === undefined ? undefined : Date.parse(asOf));
  if (!memory) throw new ApiError("not_found", "memory not found");
  return memory;
}

export async function listMemories(ctx: TenantContext, query: z.infer<typeof ListMemoriesQuery>) {
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  if (after === null) throw new ApiError("invalid_request", "cursor is not one this API issued");
  const ref = await cubeForRead(ctx, query);
  if (!ref) return { data: [], next_cursor: null };
  const page = await cubeStub(ctx.deps, ref).list(ref, {
    filter: toMemoryFilter(query),
    limit: query.limit,
    ...(after ? { after } : {}),
  });
  return { data: page.memories, next_cursor: page.next ? encodeCursor(page.next) : null };
}

export async function updateMemory(ctx: TenantContext, id: string, input: UpdateMemoryWire) {
  const ref = await cubeOfMemory(ctx, id, "write");
  const meta = await writeMeta(ctx, { method: "PATCH", path: `/v1/memories/${id}`, body: input });
  const patch = toPatch(input);
  const mutation = settle(ctx, ref, await cubeStub(ctx.deps, ref).update(ref, id, patch, meta));
  return { memory: mutation.result, replayed: mutation.replayed };
}

export async function forgetMemory(ctx: TenantContext, id: string, hard: boolean) {
  const ref = await cubeOfMemory(ctx, id, "write");
  const meta = await writeMeta(ctx, { method: "DELETE", path: `/v1/memories/${id}`, body: { hard } });
  const mutation = settle(ctx, ref, await cubeStub(ctx.deps, ref).forget(ref, id, hard, meta));
  return { id: mutation.result.id, deleted: hard ? ("purged" as const) : ("forgotten" as const), replayed: mutation.replayed };
}

/** Rolls a memory back to one of its versions; the rollback is a new version. */
export async function rollbackMemory(ctx: TenantContext, id: string, version: number) {
  const ref = await cubeOfMemory(ctx, id, "write");
  const meta = await writeMeta(ctx, { method: "POST", path: `/v1/memories/${id}/rollback`, body: { version } });
  const mutation = settle(ctx, ref, await cubeStub(ctx.deps, ref).rollback(ref, id, version, meta));
  return { memory: mutation.result, replayed: mutation.replayed };
}

/** Pins a memory into its cube's working memory, or unpins it. */
export async function pinMemory(ctx: TenantContext, id: string, pinned: boolean) {
  const ref = await cubeOfMemory(ctx, id, "write");
  const meta = await writeMeta(ctx, { method: pinned ? "POST" : "DELETE", path: `/v1/memories/${id}/pin`, body: {} });
  const mutation = settle(ctx, ref, await cubeStub(ctx.deps, ref).pin(ref, id, pinned, meta));
  return { memory: mutation.result, replayed: mutation.replayed };
}

export async function memoryHistory(ctx: TenantContext, id: string): Promise<MemoryVersionWire[]> {
  const ref = await cubeOfMemory(ctx, id, "read");
  const versions = await cubeStub(ctx.deps, ref).history(ref, id);
  if (versions.length === 0) throw new ApiError("not_found", "memory not found");
  return versions;
}
