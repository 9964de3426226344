/**
 * The warm hot path (issue 14, items 1 and 3; docs/hot-path.md): once a key and its cube were seen, a read, search,
 * context or write makes no D1 query at all — not before the answer, and not after it either (bookkeeping goes to a
 * queue). D1 is counted at the binding: every query drizzle runs is a `prepare` (or a `batch`) on D1Database.
 * A grant revoked elsewhere stops working within GRANT_REVOCATION_BOUND_MS (clock moved, no sleeps).
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createDeps } from "../../src/deps";
import { CUBE_DELETION_BOUND_MS, GRANT_REVOCATION_BOUND_MS } from "../../src/services/cubes";
import { changeGrants, cubeOwners } from "../../src/services/tenant-directory";
import { call, newTenant, remember, uniqueUser } from "../helpers";

/**
 * Counts D1 queries from now on (every D1Database of this isolate shares the prototype), except the bookkeeping
 * queue consumer's: its batched writes (owners' counts, keys' last use) land up to the queue's batch timeout (1 s)
 * after the requests that caused them, often inside a later request's window on a loaded machine, and are counted per
 * batch by the scale model (`npm run bench -- scale`), not per request. A call is the consumer's when the batch's
 * apply is on its (async) stack.
 */
function countD1() {
  const proto = Object.getPrototypeOf(env.DB) as D1Database;
  let counted = 0;
  for (const method of ["prepare", "batch", "exec"] as const) {
    const original = proto[method] as (...args: unknown[]) => unknown;
    vi.spyOn(proto, method).mockImplementation(function (this: D1Database, ...args: unknown[]) {
      if (!/\bapplyBookkeeping\b/.test(new Error().stack ?? "")) counted += 1;
      return original.apply(this, args);
    } as never);
  }
  return () => counted;
}

/** Lets background work of earlier requests (waitUntil) finish before counting. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("warm requests make no D1 query", () => {
  it("write, read, list, search and context of a key and cube seen before", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const requests = (id: string) => [
      () => call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "Alice likes green tea" }] } }),
      () => call("GET", `/v1/memories/${id}`, { key }),
      () => call("GET", `/v1/memories?user_id=${user}`, { key }),
      () => call("POST", "/v1/search", { key, body: { user_id: user, query: "what does Alice drink" } }),
      () => call("POST", "/v1/context", { key, body: { user_id: user, query: "drinks", budget_tokens: 200 } }),
      () => call("POST", "/mem0/v3/memories/add/", { key, body: { user_id: user, messages: [{ role: "user", content: "I like tea" }], infer: false } }),
    ];
    const [first] = await remember(key, user, [{ content: "Alice drinks tea" }]);
    for (const request of requests(first.id)) expect((await request()).status).toBeLessThan(300);
    await settle();

    const counted = countD1();
    for (const request of requests(first.id)) {
      const before = counted();
      const response = await request();
      expect(response.status).toBeLessThan(300);
      expect(counted() - before, `${response.status} ${JSON.stringify(response.body).slice(0, 120)}`).toBe(0);
    }
    await settle();
    expect(counted()).toBe(0);
  });

  it("a key reaching a cube through a grant, and the counter works: a new key's first request does query D1", async () => {
    const tenant = await newTenant(["read", "write", "admin"]);
    const bob = (await call("POST", "/v1/keys", { key: tenant.key, body: { allowed_owners: ["user:bob"] } })).body.key as string;
    const [memory] = await remember(tenant.key, "alice", [{ content: "Alice's recipe" }]);
    const granted = await call("POST", `/v1/cubes/${memory.cube_id}/grants`, { key: tenant.key, body: { principal: "user:bob", permission: "read" } });
    expect(granted.status).toBe(201);
    const counted = countD1();
    expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(200);
    expect(counted()).toBeGreaterThan(0);
    await settle();

    const before = counted();
    expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(200);
    expect((await call("POST", "/v1/search", { key: bob, body: { cube_id: memory.cube_id, query: "recipe" } })).status).toBe(200);
    expect(counted() - before).toBe(0);

    // Past the isolate's bound its grants are asked of the tenant's directory object, which holds them: still no D1.
    vi.useFakeTimers({ toFake: ["Date"] });
    for (let round = 1; round <= 3; round++) {
      vi.setSystemTime(Date.now() + GRANT_REVOCATION_BOUND_MS);
      expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(200);
      await settle();
    }
    expect(counted() - before).toBe(0);
  });
});

describe("cube lookups", () => {
  it("a cube in use is re-read from the tenant's directory object, not D1, and one deleted elsewhere is refused within the bound", async () => {
    const { key, tenantId } = await newTenant();
    const [memory] = await remember(key, uniqueUser(), [{ content: "Alice keeps bees" }]);
    expect((await call("GET", `/v1/memories/${memory.id}`, { key })).status).toBe(200);
    await settle();
    const counted = countD1();
    // Another isolate's refresh: the object found the cube absent when it was created (absent cubes are not held), so
    // it reads D1 once now and holds the cube from then on.
    expect(await cubeOwners(createDeps(env), tenantId, [memory.cube_id])).toEqual(new Map([[memory.cube_id, memory.owner]]));
    expect(counted()).toBe(1);

    // Past the cube cache's refresh age (30 s; under the key cache's 60 s): the refresh asks the tenant's object.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + CUBE_DELETION_BOUND_MS / 2 + 1);
    expect((await call("GET", `/v1/memories/${memory.id}`, { key })).status).toBe(200);
    await settle();
    expect(counted()).toBe(1);

    // Another isolate's deleteCube: the D1 delete bracketed by the tenant's directory object, this isolate's cache untouched.
    await changeGrants(createDeps(env), tenantId, [memory.cube_id], () =>
      env.DB.prepare("DELETE FROM cubes WHERE tenant_id = ? AND id = ?").bind(tenantId, memory.cube_id).run(),
    );
    vi.setSystemTime(Date.now() + CUBE_DELETION_BOUND_MS);
    expect((await call("GET", `/v1/memories/${memory.id}`, { key })).status).toBe(404);
  });
});

describe("grant revocation", () => {
  it("a grant revoked by another isolate (through the tenant's directory object, behind this isolate's cache) stops working within the bound, and one given elsewhere starts", async () => {
    expect(GRANT_REVOCATION_BOUND_MS).toBeLessThanOrEqual(5_000);
    const tenant = await newTenant(["read", "write", "admin"]);
    const bob = (await call("POST", "/v1/keys", { key: tenant.key, body: { allowed_owners: ["user:bob"] } })).body.key as string;
    const [memory] = await remember(tenant.key, "alice", [{ content: "Alice's secret recipe" }]);
    await call("POST", `/v1/cubes/${memory.cube_id}/grants`, { key: tenant.key, body: { principal: "user:bob", permission: "read" } });
    expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(200);

    // Another isolate's revokeGrant: the D1 delete bracketed by the tenant's directory object, this isolate's cache untouched.
    await changeGrants(createDeps(env), tenant.tenantId, [memory.cube_id], () =>
      env.DB.prepare("DELETE FROM grants WHERE cube_id = ? AND principal = 'user:bob'").bind(memory.cube_id).run(),
    );
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + GRANT_REVOCATION_BOUND_MS);
    expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(404);
    // A grant given elsewhere is honoured within the same bound.
    await changeGrants(createDeps(env), tenant.tenantId, [memory.cube_id], () =>
      env.DB.prepare("INSERT INTO grants (cube_id, tenant_id, principal, permission, created_at) VALUES (?, ?, 'user:bob', 'read', ?)")
        .bind(memory.cube_id, tenant.tenantId, Date.now())
        .run(),
    );
    vi.setSystemTime(Date.now() + GRANT_REVOCATION_BOUND_MS);
    expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(200);
  });

  it("the isolate that revokes a grant refuses it on the next request", async () => {
    const tenant = await newTenant(["read", "write", "admin"]);
    const bob = (await call("POST", "/v1/keys", { key: tenant.key, body: { allowed_owners: ["user:bob"] } })).body.key as string;
    const [memory] = await remember(tenant.key, "alice", [{ content: "Alice's other recipe" }]);
    await call("POST", `/v1/cubes/${memory.cube_id}/grants`, { key: tenant.key, body: { principal: "user:bob", permission: "write" } });
    expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(200);
    expect((await call("DELETE", `/v1/cubes/${memory.cube_id}/grants/user:bob`, { key: tenant.key })).status).toBe(200);
    expect((await call("GET", `/v1/memories/${memory.id}`, { key: bob })).status).toBe(404);
  });
});
