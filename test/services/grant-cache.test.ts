/**
 * The per-isolate grant cache (services/cubes.ts): entries due for a refresh are re-read from the tenant's directory
 * object a tenant's batch at a time (issue 14, item 3), and the batch's answers are what the next requests see.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type GrantAsk, TenantDirectoryDurableObject } from "../../durable-objects/tenant";
import { createDeps } from "../../src/deps";
import { GRANT_REFRESH_BATCH_MS, GRANT_REFRESH_MS, GRANT_REVOCATION_BOUND_MS } from "../../src/services/cubes";
import { changeGrants, grantPermissionsOfMany } from "../../src/services/tenant-directory";
import { call, newTenant, remember, uniqueUser } from "../helpers";

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** Lets background work of earlier requests (waitUntil) finish before counting. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

/** Every call to the tenant object's grant lookups, whatever their form (one ask or many). */
function countGrantCalls() {
  const proto = TenantDirectoryDurableObject.prototype as unknown as Record<string, unknown>;
  const spies = Object.getOwnPropertyNames(proto)
    .filter((name) => name.startsWith("grantPermissions"))
    .map((name) => vi.spyOn(proto as Record<string, () => unknown>, name));
  return { count: () => spies.reduce((sum, spy) => sum + spy.mock.calls.length, 0), spies };
}

/** A tenant, a key confined to user:bob, and `n` cubes of other users each granted to bob. */
async function grantedCubes(n: number, permission: "read" | "write" = "read") {
  const tenant = await newTenant(["read", "write", "admin"]);
  const bob = (await call("POST", "/v1/keys", { key: tenant.key, body: { allowed_owners: ["user:bob"] } })).body.key as string;
  const memories = [];
  for (let i = 0; i < n; i++) {
    const [memory] = await remember(tenant.key, uniqueUser(), [{ content: `Recipe ${i}` }]);
    const granted = await call("POST", `/v1/cubes/${memory.cube_id}/grants`, { key: tenant.key, body: { principal: "user:bob", permission } });
    expect(granted.status).toBe(201);
    memories.push(memory);
  }
  return { tenant, bob, memories };
}

describe("grant cache", () => {
  it("a grants read in flight when this isolate revokes the grant is not kept: the next request is refused", async () => {
    const { tenant, bob, memories } = await grantedCubes(1);
    const [memory] = memories;
    const proto = TenantDirectoryDurableObject.prototype as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const original = proto.grantPermissions!;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let answered!: () => void;
    const readDone = new Promise<void>((resolve) => (answered = resolve));
    // bob's first request misses the cache: its read answers "read" (the grant still stands), then is held open.
    vi.spyOn(proto, "grantPermissions").mockImplementationOnce(async function (this: unknown, ...args: unknown[]) {
      const answer = await original.apply(this, args);
      answered();
      await held;
      return answer;
    });
    const reading = call("GET", `/v1/memories/${memory!.id}`, { key: bob });
    await readDone;
    const revoked = await call("DELETE", `/v1/cubes/${memory!.cube_id}/grants/user:bob`, { key: tenant.key });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    release();
    // The request that read before the revocation answers as it stood then; what it read is not kept.
    expect((await reading).status).toBe(200);
    expect((await call("GET", `/v1/memories/${memory!.id}`, { key: bob })).status).toBe(404);
  });

  it("an isolate's grant entries of one tenant due for a refresh go to the tenant's object in one call", async () => {
    expect(GRANT_REFRESH_MS + GRANT_REFRESH_BATCH_MS).toBeLessThan(GRANT_REVOCATION_BOUND_MS);
    const { bob, memories } = await grantedCubes(5);
    for (const memory of memories) expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(200);
    await settle();
    const calls = countGrantCalls();

    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    // Past the refresh age, each entry's next request finds it due: it waits for the tenant's batch.
    vi.setSystemTime(start + GRANT_REFRESH_MS + 1);
    for (const memory of memories) expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(200);
    await settle();
    expect(calls.count()).toBe(0);
    // The tenant's first request once the window is over takes the batch: one call for the five entries.
    vi.setSystemTime(start + GRANT_REFRESH_MS + 1 + GRANT_REFRESH_BATCH_MS);
    expect((await call("GET", `/v1/memories/${memories[0].id}`, { key: bob })).status).toBe(200);
    await settle();
    expect(calls.count()).toBe(1);

    // The batch refreshed every entry: up to the revocation bound after that read, no request asks the object again.
    vi.setSystemTime(start + GRANT_REFRESH_MS + 1 + GRANT_REFRESH_BATCH_MS + GRANT_REFRESH_MS - 1);
    for (const memory of memories) expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(200);
    await settle();
    expect(calls.count()).toBe(1);
  });

  it("a batch's answers carry a revocation and a narrowing made elsewhere to the next request", async () => {
    const { tenant, bob, memories } = await grantedCubes(2, "write");
    const [revoked, narrowed] = memories;
    const patch = (id: string) => call("PATCH", `/v1/memories/${id}`, { key: bob, body: { content: "changed by bob" } });
    for (const memory of memories) expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(200);
    // The write grant works before the narrowing (so the 403 below is the grant's, not the key's).
    expect((await patch(narrowed.id)).status).toBe(200);

    // Another isolate's changes: D1 writes bracketed by the tenant's directory object, this isolate's cache untouched.
    const deps = createDeps(env);
    await changeGrants(deps, tenant.tenantId, [revoked.cube_id], () =>
      env.DB.prepare("DELETE FROM grants WHERE cube_id = ? AND principal = 'user:bob'").bind(revoked.cube_id).run(),
    );
    await changeGrants(deps, tenant.tenantId, [narrowed.cube_id], () =>
      env.DB.prepare("UPDATE grants SET permission = 'read' WHERE cube_id = ? AND principal = 'user:bob'").bind(narrowed.cube_id).run(),
    );
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    vi.setSystemTime(start + GRANT_REFRESH_MS + 1);
    // Still within the bound: the cached grants are honoured, and both entries join the tenant's batch.
    for (const memory of memories) expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(200);
    vi.setSystemTime(start + GRANT_REFRESH_MS + 1 + GRANT_REFRESH_BATCH_MS);
    expect((await call("GET", `/v1/memories/${narrowed.id}`, { key: bob })).status).toBe(200);
    await settle();
    // Answered from the batch's refresh, before the old entries' expiry.
    vi.setSystemTime(start + GRANT_REFRESH_MS + 1 + GRANT_REFRESH_BATCH_MS + 1);
    expect((await call("GET", `/v1/memories/${revoked.id}`, { key: bob })).status).toBe(404);
    expect((await patch(narrowed.id)).status).toBe(403);
  });
});

describe("grantPermissionsOfMany", () => {
  it("answers each ask in order, splitting asks over calls within the object's bounds", async () => {
    const { tenant, memories } = await grantedCubes(2, "write");
    const deps = createDeps(env);
    const [a, b] = memories.map((memory) => memory.cube_id as string) as [string, string];
    const absent = Array.from({ length: 1_500 }, (_, i) => `${a}x${i}`);
    const calls = countGrantCalls();
    const asks = [
      { cubeIds: [a, b], principals: ["user:bob"] },
      // Larger than one call: split, its answers merged back.
      { cubeIds: [...absent, b], principals: ["user:carol", "user:bob"] },
      { cubeIds: [a], principals: ["user:carol"] },
      // More asks than one call carries (100).
      ...Array.from({ length: 120 }, () => ({ cubeIds: [a], principals: ["user:bob"] })),
    ];
    const answers = await grantPermissionsOfMany(deps, tenant.tenantId, asks);
    expect(answers).toHaveLength(asks.length);
    expect(answers[0]).toEqual(new Map([[a, "write"], [b, "write"]]));
    expect(answers[1]).toEqual(new Map([[b, "write"]]));
    expect(answers[2]).toEqual(new Map());
    for (const answer of answers.slice(3)) expect(answer).toEqual(new Map([[a, "write"]]));
    // Filled in order until the next piece would pass 1,000 cubes or 100 asks: [ask 0], [1,000 of ask 1],
    // [the other 501 of ask 1, ask 2, 98 more], [the last 22].
    expect(calls.count()).toBe(4);
  });

  it("the object answers a call at its bounds and refuses one just past them, before any lookup", async () => {
    const { tenant, memories } = await grantedCubes(1);
    const stub = createDeps(env).tenants.getByName(tenant.tenantId);
    // Inside the object: a refusal thrown across RPC is also reported by workerd as the object's unhandled rejection.
    const directory = {
      grantPermissionsOfMany: (tenantId: string, asks: GrantAsk[]) =>
        runInDurableObject(stub, (instance: TenantDirectoryDurableObject) => instance.grantPermissionsOfMany(tenantId, asks)),
    };
    const cubeId = memories[0].cube_id as string;
    const tooManyCubes = [{ cubeIds: [cubeId], principals: ["user:bob"] }, { cubeIds: Array.from({ length: 1_000 }, (_, i) => `${cubeId}x${i}`), principals: ["user:bob"] }];
    await expect(directory.grantPermissionsOfMany(tenant.tenantId, tooManyCubes)).rejects.toThrow(/at most/);
    const tooManyAsks = Array.from({ length: 101 }, () => ({ cubeIds: [cubeId], principals: ["user:bob"] }));
    await expect(directory.grantPermissionsOfMany(tenant.tenantId, tooManyAsks)).rejects.toThrow(/at most/);
    const tooManyPrincipals = [{ cubeIds: [cubeId], principals: Array.from({ length: 101 }, (_, i) => `user:p${i}`) }];
    await expect(directory.grantPermissionsOfMany(tenant.tenantId, tooManyPrincipals)).rejects.toThrow(/at most/);
    expect(await directory.grantPermissionsOfMany(tenant.tenantId, [{ cubeIds: [cubeId], principals: ["user:bob"] }])).toEqual([{ [cubeId]: "read" }]);
    // Exactly at each bound it answers: 1,000 cubes in all, 100 asks, 100 principals in an ask.
    const atCubes = [{ cubeIds: [cubeId], principals: ["user:bob"] }, { cubeIds: Array.from({ length: 999 }, (_, i) => `${cubeId}x${i}`), principals: ["user:bob"] }];
    expect(await directory.grantPermissionsOfMany(tenant.tenantId, atCubes)).toEqual([{ [cubeId]: "read" }, {}]);
    const atAsks = Array.from({ length: 100 }, () => ({ cubeIds: [cubeId], principals: ["user:bob"] }));
    expect(await directory.grantPermissionsOfMany(tenant.tenantId, atAsks)).toHaveLength(100);
    const atPrincipals = [{ cubeIds: [cubeId], principals: ["user:bob", ...Array.from({ length: 99 }, (_, i) => `user:p${i}`)] }];
    expect(await directory.grantPermissionsOfMany(tenant.tenantId, atPrincipals)).toEqual([{ [cubeId]: "read" }]);
  });
});
