/**
 * The per-isolate grant cache (services/cubes.ts): entries due for a refresh are re-read from the tenant's directory
 * object a tenant's batch at a time (issue 14, item 3), and the batch's answers are what the next requests see.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TenantDirectoryDurableObject } from "../../durable-objects/tenant";
import { createDeps } from "../../src/deps";
import { GRANT_REFRESH_BATCH_MS, GRANT_REFRESH_MS, GRANT_REVOCATION_BOUND_MS } from "../../src/services/cubes";
import { changeGrants } from "../../src/services/tenant-directory";
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
