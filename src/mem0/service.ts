/**
 * The mem0 facade's use cases, each mapped onto our own services: a mem0 request is rewritten into the REST request
 * it means and parsed with the REST schema, so both accept the same things and reach the same cubes, keys, grants,
 * audit and webhooks. docs/mem0-compat.md lists the calls, fields and mappings.
 */
import type { z } from "@hono/zod-openapi";
import { toMemoryFilter } from "../core/filters";
import { toIso } from "../core/time";
import { type Where, normaliseWhere, whereProblems } from "../core/where";
import { ApiError, unwrap } from "../errors";
import { WriteMemoriesRequest } from "../schemas/memory";
import { parseAsRest } from "../schemas/parse";
import { SearchRequest } from "../schemas/search";
import type { WebhookQueue } from "../schemas/webhooks";
import type { TenantContext } from "../services/context";
import { cubeForRead, cubeStub, recordActivity } from "../services/cubes";
import { getJob } from "../services/jobs";
import { listOwners } from "../services/owners";
import { forgetMemory, getMemory, ingest, memoryHistory, updateMemory } from "../services/memories";
import { announceOwnerDeletion, deleteOwner } from "../services/portability";
import { search } from "../services/search";
import { ENTITY_FIELDS, FilterError, MEM0_AGENT_KEY, MEM0_APP_KEY, translateFilters } from "./filters";
import type {
  Mem0AddRequest,
  Mem0BatchDeleteRequest,
  Mem0BatchUpdateRequest,
  Mem0DeleteAllQuery,
  Mem0SearchRequest,
  Mem0UpdateRequest,
} from "./schemas";
import { EVENT_STATUS, toMem0Event, toMem0History, toMem0Memory, toMem0Neighbours } from "./shapes";

/** Memories forgotten per Durable Object call by delete-all. */
const DELETE_BATCH = 100;

const ADD_MESSAGES = {
  PENDING: "Memory processing has been queued for background execution",
  RUNNING: "Memory processing is running",
  SUCCEEDED: "Memories processed",
  FAILED: "Memory processing failed",
} as const;

function filtersOf(filters: Record<string, unknown>) {
  try {
    return translateFilters(filters);
  } catch (error) {
    if (error instanceof FilterError) throw new ApiError("invalid_request", error.message, [{ in: "body", path: "filters", message: error.message }]);
    throw error;
  }
}

function refuseReservedKeys(metadata: Record<string, unknown> | undefined) {
  for (const key of [MEM0_AGENT_KEY, MEM0_APP_KEY]) {
    if (metadata && key in metadata) throw new ApiError("invalid_request", `metadata key ${key} is reserved for mem0's ${key.slice(5)}`);
  }
}

/** The owner of an add: the user, else the agent (app and run ids alone name no one whose memories these are). */
function ownerOfAdd(body: { user_id?: string | undefined; agent_id?: string | undefined }) {
  if (body.user_id !== undefined) return { user_id: body.user_id };
  if (body.agent_id !== undefined) return { agent_id: body.agent_id };
  throw new ApiError("invalid_request", "give user_id or agent_id: memories are kept per user (or per agent); app_id and run_id alone are not enough");
}

/** POST /v3/memories/add/: a conversation for MemReader, or (infer: false) messages stored as written. */
export async function mem0Add(ctx: TenantContext, body: z.output<typeof Mem0AddRequest>) {
  refuseReservedKeys(body.metadata);
  const owner = ownerOfAdd(body);
  const messages = typeof body.messages === "string" ? [{ role: "user" as const, content: body.messages }] : body.messages;
  const createdAt = body.timestamp === undefined ? undefined : new Date(body.timestamp * 1000).toISOString();
  const metadata = {
    ...body.metadata,
    ...(body.user_id !== undefined && body.agent_id !== undefined ? { [MEM0_AGENT_KEY]: body.agent_id } : {}),
    ...(body.app_id === undefined ? {} : { [MEM0_APP_KEY]: body.app_id }),
  };
  const request = parseAsRest(
    WriteMemoriesRequest,
    {
      ...owner,
      messages: messages.map((m) => ({ ...m, ...(createdAt === undefined ? {} : { created_at: createdAt }) })),
      infer: body.infer,
      sync: body.async_mode === false,
      metadata,
      ...(body.run_id === undefined ? {} : { session_id: body.run_id }),
    },
    "body",
  );
  const { response } = await ingest(ctx, request);
  const status = EVENT_STATUS[response.status];
  return { message: ADD_MESSAGES[status], status, event_id: response.job_id };
}

/** GET /v1/event/{id}/: an add's progress; only ingest jobs are mem0 events. */
export async function mem0Event(ctx: TenantContext, eventId: string) {
  const job = await getJob(ctx, eventId);
  if (job.type !== "ingest") throw new ApiError("not_found", "event not found");
  return toMem0Event(job);
}

/** POST /v3/memories/search/ */
export async function mem0Search(ctx: TenantContext, body: z.output<typeof Mem0SearchRequest>) {
  const { scope, where } = filtersOf(body.filters);
  const referenceTime =
    typeof body.reference_date === "number" ? new Date(body.reference_date * 1000).toISOString() : body.reference_date;
  const request = parseAsRest(
    SearchRequest,
    {
      query: body.query,
      ...scope,
      top_k: body.top_k,
      rerank: body.rerank,
      neighbours: body.neighbours,
      ...(where === null ? {} : { where }),
      ...(body.threshold === undefined ? {} : { threshold: body.threshold }),
      ...(referenceTime === undefined ? {} : { reference_time: referenceTime }),
    },
    "body",
  );
  const { data } = await search(ctx, request);
  return { results: data.map((hit) => ({ ...toMem0Memory(hit), score: hit.score, ...toMem0Neighbours(hit.neighbours) })) };
}

/** The cube a mem0 filter reads (null: the owner has no memories yet) and the list request for its live memories. */
async function matching(ctx: TenantContext, filters: Record<string, unknown>) {
  const { scope, where } = filtersOf(filters);
  if (where) {
    const problems = whereProblems(where, "filters");
    if (problems.length > 0) {
      throw new ApiError("invalid_request", "the filters are not valid", problems.map((message) => ({ in: "body", path: "filters", message })));
    }
  }
  const ref = await cubeForRead(ctx, scope);
  return { ref, query: { filter: toMemoryFilter({}), where: where ? normaliseWhere(where as Where) : null } };
}

/** POST /v3/memories/?page=&page_size=: `next`/`previous` are URLs of the neighbouring pages, as mem0's are. */
export async function mem0List(
  ctx: TenantContext,
  filters: Record<string, unknown>,
  page: number,
  pageSize: number,
  url: URL,
) {
  const { ref, query } = await matching(ctx, filters);
  const listed = ref
    ? await cubeStub(ctx.deps, ref).list(ref, { ...query, limit: pageSize, offset: (page - 1) * pageSize, countTotal: true })
    : { memories: [], total: 0 };
  const total = listed.total ?? 0;
  return { count: total, ...pageLinks(url, page, pageSize, total), results: listed.memories.map(toMem0Memory) };
}

/** mem0's `next` and `previous`: the URLs of the neighbouring pages, or null at either end. */
function pageLinks(url: URL, page: number, pageSize: number, total: number) {
  const pageUrl = (n: number) => {
    const link = new URL(url);
    link.searchParams.set("page", String(n));
    link.searchParams.set("page_size", String(pageSize));
    return link.toString();
  };
  return { next: page * pageSize < total ? pageUrl(page + 1) : null, previous: page > 1 ? pageUrl(page - 1) : null };
}

/** GET /v1/entities/: the tenant's users and agents (our owners), most recently active first, by page. */
export async function mem0Entities(ctx: TenantContext, page: number, pageSize: number, url: URL) {
  const { owners: rows, total } = await listOwners(ctx.deps, ctx.principal.tenantId, page, pageSize);
  const results = rows.map((row) => ({
    id: row.owner,
    name: row.externalId,
    type: row.kind,
    total_memories: row.memoryCount,
    owner: ctx.principal.tenantId,
    created_at: toIso(row.createdAt),
    updated_at: toIso(row.lastActiveAt),
  }));
  return { count: total, ...pageLinks(url, page, pageSize, total), results };
}

/**
 * DELETE /v2/entities/{type}/{id}/: deletes the user or agent and everything of theirs (DELETE /v1/owners/{owner},
 * with its receipt in the audit log and the owner.deleted webhook). mem0's app and run entities are fields of
 * memories here, not owners.
 */
export async function mem0DeleteEntity(ctx: TenantContext, queue: WebhookQueue, type: string, id: string) {
  if (type !== "user" && type !== "agent") {
    throw new ApiError(
      "invalid_request",
      `only user and agent entities can be deleted here; ${type} ids are fields of memories: DELETE /mem0/v1/memories/?user_id=…&${type}_id=…`,
    );
  }
  announceOwnerDeletion(ctx, queue, await deleteOwner(ctx, `${type}:${id}`));
  return { message: "Entity deleted successfully." };
}

export async function mem0Get(ctx: TenantContext, id: string) {
  return toMem0Memory(await getMemory(ctx, id));
}

/** PUT /v1/memories/{id}/: new text, metadata (the mem0 agent and app ids on the memory are kept) or expiry. */
export async function mem0Update(ctx: TenantContext, id: string, body: z.output<typeof Mem0UpdateRequest>) {
  refuseReservedKeys(body.metadata);
  let metadata: Record<string, unknown> | undefined;
  if (body.metadata !== undefined) {
    const current = (await getMemory(ctx, id)).metadata;
    const kept = Object.fromEntries([MEM0_AGENT_KEY, MEM0_APP_KEY].flatMap((key) => (key in current ? [[key, current[key]]] : [])));
    metadata = { ...body.metadata, ...kept };
  }
  const { memory } = await updateMemory(ctx, id, {
    ...(body.text === undefined ? {} : { content: body.text }),
    ...(metadata === undefined ? {} : { metadata }),
    ...(body.expiration_date === undefined
      ? {}
      : { expires_at: body.expiration_date === null ? null : `${body.expiration_date}T00:00:00Z` }),
  });
  return toMem0Memory(memory);
}

/** DELETE /v1/memories/{id}/: forgets the memory (a soft delete: history and rollback keep working). */
export async function mem0Delete(ctx: TenantContext, id: string) {
  await forgetMemory(ctx, id, false);
  return { message: "Memory deleted successfully!" };
}

/**
 * PUT /v1/batch/: new text for each memory, one after another (each a new version). The first refusal stops the batch
 * and answers for it; the ones before it stay changed, as their versions say.
 */
export async function mem0BatchUpdate(ctx: TenantContext, body: z.output<typeof Mem0BatchUpdateRequest>) {
  for (const { memory_id, text } of body.memories) await updateMemory(ctx, memory_id, { content: text });
  return { message: `Successfully updated ${body.memories.length} memories` };
}

/** DELETE /v1/batch/: forgets each memory; the first refusal stops the batch, as for updates. */
export async function mem0BatchDelete(ctx: TenantContext, body: z.output<typeof Mem0BatchDeleteRequest>) {
  for (const { memory_id } of body.memories) await forgetMemory(ctx, memory_id, false);
  return { message: `Successfully deleted ${body.memories.length} memories` };
}

/**
 * DELETE /v1/memories/?user_id=…: forgets every live memory the entity ids match, a batch per Durable Object call.
 * Frozen (immutable) memories stay. Deleting the user themselves, with every trace, is DELETE /v1/owners/{owner}.
 */
export async function mem0DeleteAll(ctx: TenantContext, query: z.output<typeof Mem0DeleteAllQuery>) {
  const filters = Object.fromEntries(ENTITY_FIELDS.flatMap((field) => (query[field] === undefined ? [] : [[field, query[field]]])));
  if (query.user_id === undefined && query.agent_id === undefined) {
    throw new ApiError("invalid_request", "give user_id or agent_id: delete-all never spans more than one user's memories");
  }
  const { ref, query: live } = await matching(ctx, filters);
  if (!ref) return { message: "Memories deleted successfully!" };
  const cube = cubeStub(ctx.deps, ref);
  let forgotten = 0;
  let kept = 0;
  let liveCount: number | null = null;
  for (;;) {
    // Each round forgets what the last page showed, so the next round's first page holds what is still live.
    const { memories } = await cube.list(ref, { ...live, limit: DELETE_BATCH, offset: kept });
    if (memories.length === 0) break;
    const ids = memories.map((memory) => memory.id);
    const mutation = unwrap(await cube.forgetMany(ref, ids, { actor: ctx.principal.keyId, requestId: ctx.requestId }));
    forgotten += mutation.result.forgotten.length;
    kept += mutation.result.kept.length;
    liveCount = mutation.liveCount;
  }
  if (liveCount !== null) ctx.background(recordActivity(ctx.deps, ref, liveCount));
  return { message: kept === 0 ? "Memories deleted successfully!" : `${forgotten} memories deleted; ${kept} immutable memories kept` };
}

export async function mem0History(ctx: TenantContext, id: string) {
  return toMem0History(await memoryHistory(ctx, id));
}
