/**
 * The Worker's side of the tenant directory object (durable-objects/tenant.ts; docs/scale.md "The tenant
 * directory"): reads of a tenant's webhook subscribers and grants go to its object instead of D1, and every D1 write
 * of those rows is bracketed by {@link changeWebhooks} / {@link changeGrants} so the object never serves a list a
 * committed change replaced. Any new code that writes `webhooks` or `grants` must go through these two.
 */
import type { GrantAsk } from "../../durable-objects/tenant";
import type { Permission, Subscriber, TenantChange } from "../../durable-objects/tenant/directory";
import type { Deps } from "./context";

export type { GrantAsk, Permission, Subscriber };

const directoryOf = (deps: Deps, tenantId: string) => deps.tenants.getByName(tenantId);

/** The tenant's webhooks, from its object (which reads D1 only when it holds no current list). */
export function webhookSubscribers(deps: Deps, tenantId: string, fresh = false): Promise<Subscriber[]> {
  return directoryOf(deps, tenantId).webhookSubscribers(tenantId, fresh);
}

/** The best permission any of `principals` holds on each of `cubeIds`, from the tenant's object. */
export async function grantPermissions(
  deps: Deps,
  tenantId: string,
  cubeIds: readonly string[],
  principals: ReadonlySet<string>,
): Promise<Map<string, Permission>> {
  if (cubeIds.length === 0 || principals.size === 0) return new Map();
  const granted = await directoryOf(deps, tenantId).grantPermissions(tenantId, [...cubeIds], [...principals]);
  return new Map(Object.entries(granted));
}

/** Cube ids per call to the object: its own bound (MAX_CUBES_PER_CALL in durable-objects/tenant.ts). */
const CUBES_PER_CALL = 1_000;
/** Asks per call to the object: its own bound (MAX_ASKS_PER_CALL in durable-objects/tenant.ts). */
const ASKS_PER_CALL = 100;

/**
 * {@link grantPermissions} for several sets of principals at once, answers in the asks' order: one call to the
 * tenant's object per CUBES_PER_CALL cubes or ASKS_PER_CALL asks (an isolate's batch of due grant refreshes).
 * Each ask holds at most MAX_PRINCIPALS_PER_CALL principals, as one given to {@link grantPermissions} does.
 */
export async function grantPermissionsOfMany(deps: Deps, tenantId: string, asks: readonly GrantAsk[]): Promise<Map<string, Permission>[]> {
  const answers: Map<string, Permission>[] = [];
  let call: GrantAsk[] = [];
  let cubesInCall = 0;
  const send = async () => {
    if (call.length === 0) return;
    for (const granted of await directoryOf(deps, tenantId).grantPermissionsOfMany(tenantId, call)) answers.push(new Map(Object.entries(granted)));
    call = [];
    cubesInCall = 0;
  };
  for (const ask of asks) {
    // An ask larger than a call is split over several; its answers are merged back below.
    for (let i = 0; i < Math.max(ask.cubeIds.length, 1); i += CUBES_PER_CALL) {
      const cubeIds = ask.cubeIds.slice(i, i + CUBES_PER_CALL);
      if (call.length >= ASKS_PER_CALL || cubesInCall + cubeIds.length > CUBES_PER_CALL) await send();
      call.push({ cubeIds, principals: [...ask.principals] });
      cubesInCall += cubeIds.length;
    }
  }
  await send();
  // Fold the split asks' answers back into one per ask.
  const merged: Map<string, Permission>[] = [];
  let next = 0;
  for (const ask of asks) {
    const answer = new Map<string, Permission>();
    for (let i = 0; i < Math.max(ask.cubeIds.length, 1); i += CUBES_PER_CALL) for (const [cubeId, permission] of answers[next++]!) answer.set(cubeId, permission);
    merged.push(answer);
  }
  return merged;
}

/**
 * The owner of each of `cubeIds` that exists (absent: no such cube of the tenant), from the tenant's object: one call
 * per CUBES_PER_CALL cubes (a batch of refreshes may name up to 10,000).
 */
export async function cubeOwners(deps: Deps, tenantId: string, cubeIds: readonly string[]): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  for (let i = 0; i < cubeIds.length; i += CUBES_PER_CALL) {
    const part = await directoryOf(deps, tenantId).cubeOwners(tenantId, cubeIds.slice(i, i + CUBES_PER_CALL));
    for (const [cubeId, owner] of Object.entries(part)) owners.set(cubeId, owner);
  }
  return owners;
}

/** Runs `write` (a D1 write of the tenant's webhooks) inside a change of its directory object. */
export function changeWebhooks<T>(deps: Deps, tenantId: string, write: () => Promise<T>): Promise<T> {
  return bracket(deps, tenantId, { kind: "webhooks" }, write);
}

/**
 * Runs `write` (a D1 write of grants on `cubeIds`, or on any cube of the tenant when null) inside a change. A cube's
 * deletion from D1 goes through here too (with its grants): the object then stops vouching for the cube.
 */
export function changeGrants<T>(deps: Deps, tenantId: string, cubeIds: readonly string[] | null, write: () => Promise<T>): Promise<T> {
  return bracket(deps, tenantId, { kind: "grants", cubeIds: cubeIds === null ? null : [...cubeIds] }, write);
}

/**
 * `begin` before the write — if the object cannot be told, nothing is written and the call fails — and `end` after
 * it, whether it committed or not. A failed `end` is logged, never turned into an error after a commit: the object's
 * change window (CHANGE_WINDOW_MS) keeps the scope read from D1 until it passes.
 */
async function bracket<T>(deps: Deps, tenantId: string, change: TenantChange, write: () => Promise<T>): Promise<T> {
  const directory = directoryOf(deps, tenantId);
  await directory.beginChange(tenantId, change);
  try {
    return await write();
  } finally {
    try {
      await directory.endChange(tenantId, change);
    } catch (error) {
      console.error(`tenant ${tenantId}: its directory object missed the end of a ${change.kind} change; it reads D1 until the change window passes`, error);
    }
  }
}
