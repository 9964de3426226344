/** Working memory, context assembly and cube stats: reads of what a cube's scheduler and lifecycle keep. */
import { ACTIVATION_BUDGET_TOKENS, type ActivationVersion } from "../core/activation";
import { toMemoryFilter } from "../core/filters";
import { searchTerms } from "../core/fts-query";
import { ApiError, unwrap } from "../errors";
import type { OwnerScopeInput } from "../schemas/common";
import type { ContextRequestWire } from "../schemas/scheduler";
import type { TenantContext } from "./context";
import { cubeForRead, cubeStub, ownCube } from "./cubes";

export async function workingMemory(ctx: TenantContext, cubeId: string) {
  const ref = await ownCube(ctx, cubeId, "read");
  return { cube_id: ref.cubeId, data: await cubeStub(ctx.deps, ref).workingMemory(ref) };
}

export async function cubeStats(ctx: TenantContext, cubeId: string) {
  const ref = await ownCube(ctx, cubeId, "read");
  return { cube_id: ref.cubeId, ...(await cubeStub(ctx.deps, ref).stats(ref)) };
}

/** The context an agent should put in its prompt for `query`, within the budget. */
export async function assembleContext(ctx: TenantContext, request: ContextRequestWire) {
  const started = performance.now();
  const ref = await cubeForRead(ctx, request);
  const timing = () => Math.round((performance.now() - started) * 100) / 100;
  if (!ref) {
    // An owner never written for has no memories: an empty context, not an error.
    return {
      cube_id: null,
      text: "",
      items: [],
      tokens: 0,
      budget_tokens: request.budget_tokens,
      omitted: 0,
      cached: false,
      stable: null,
      dynamic: { text: "", tokens: 0, items: [] },
      timing_ms: timing(),
    };
  }
  const context = await cubeStub(ctx.deps, ref).context(ref, {
    query: request.query,
    terms: searchTerms(request.query),
    budgetTokens: request.budget_tokens,
    filter: toMemoryFilter(request.filters),
    where: null,
    referenceTime: request.reference_time ? Date.parse(request.reference_time) : null,
  });
  return { cube_id: ref.cubeId, ...context, budget_tokens: request.budget_tokens, timing_ms: timing() };
}

/** The cube's activation block as stored (core/activation.ts), in its wire shape. */
function activationWire(block: ActivationVersion) {
  return {
    version: block.version,
    etag: block.etag,
    text: block.text,
    tokens: block.tokens,
    budget_tokens: ACTIVATION_BUDGET_TOKENS,
    members: block.members,
    compiled_at: new Date(block.createdAt).toISOString(),
  };
}

/**
 * The cube's current activation block (compiled now if the cube changed since the last one), or with `agentId` the
 * block as that agent sees it (derived from the same memories; the cube block's version, the view's own etag).
 */
export async function activationBlock(ctx: TenantContext, cubeId: string, agentId?: string) {
  const ref = await ownCube(ctx, cubeId, "read");
  if (agentId === undefined) return { cube_id: ref.cubeId, ...activationWire(await cubeStub(ctx.deps, ref).activation(ref)) };
  const view = await cubeStub(ctx.deps, ref).activationView(ref, agentId);
  return {
    cube_id: ref.cubeId,
    ...activationWire({ ...view.cube, etag: view.etag, text: view.text, tokens: view.tokens, members: view.members }),
    agent_id: agentId,
  };
}

/** Puts a stored version of the block back as the current one, held until a new standing memory arrives. */
export async function rollbackActivation(ctx: TenantContext, cubeId: string, version: number, reason: string) {
  const ref = await ownCube(ctx, cubeId, "write");
  const meta = { actor: ctx.principal.keyId, requestId: ctx.requestId };
  return { cube_id: ref.cubeId, ...activationWire(unwrap(await cubeStub(ctx.deps, ref).activationRollback(ref, version, reason, meta))) };
}

/** The block's stored versions, newest first. */
export async function activationHistory(ctx: TenantContext, cubeId: string, limit: number) {
  const ref = await ownCube(ctx, cubeId, "read");
  return { cube_id: ref.cubeId, data: (await cubeStub(ctx.deps, ref).activationHistory(ref, limit)).map(activationWire) };
}

/**
 * The activation block of the cube an owner scope names (MCP: a model knows the user, not the cube id), or null when
 * the owner has no cube yet. `agentId` asks for that agent's view.
 */
export async function activationForOwner(ctx: TenantContext, scope: OwnerScopeInput, agentId?: string) {
  const ref = await cubeForRead(ctx, scope);
  return ref ? activationBlock(ctx, ref.cubeId, agentId) : null;
}

/** Rolls back the block of the cube an owner scope names (404 when the owner has no cube). */
export async function rollbackActivationForOwner(ctx: TenantContext, scope: OwnerScopeInput, version: number, reason: string) {
  const ref = await cubeForRead(ctx, scope);
  if (!ref) throw new ApiError("not_found", "cube not found");
  return rollbackActivation(ctx, ref.cubeId, version, reason);
}
