import { describe, expect, it } from "vitest";
import { type ApiResponse, ROOT_KEY, call, errorOf, newTenant, remember } from "../helpers";

const expectError = (response: ApiResponse, status: number, code: string, label = "") => {
  expect(response.status, `${label} ${JSON.stringify(response.body)}`).toBe(status);
  expect(errorOf(response).code).toBe(code);
};

/** Mints a key with `minter` (a tenant admin key) and returns the whole response. */
const mint = (minter: string, body: object) => call("POST", "/v1/keys", { key: minter, body });

async function minted(minter: string, body: object) {
  const response = await mint(minter, body);
  if (response.status !== 201) throw new Error(`mint failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body as { key: string; id: string; [field: string]: unknown };
}

describe("keys restricted to owners", { timeout: 30_000 }, () => {
  it("reach their owners' cubes and nothing of other owners: every scope outside is 404", async () => {
    const tenant = await newTenant(["read", "write", "admin"]);
    const [bobsMemory] = await remember(tenant.key, "bob", [{ content: "bob's bank PIN hint" }]);
    const bobsCube = (await call("GET", "/v1/cubes?user_id=bob", { key: tenant.key })).body.data[0].id;
    const device = await minted(tenant.key, { scopes: ["read", "write"], allowed_owners: ["user:alice"], name: "alice's phone" });
    expect(device).toMatchObject({ allowed_owners: ["user:alice"], allowed_cubes: null, created_by_key_id: tenant.keyId, scopes: ["read", "write"] });

    // Its own owner works as usual, default cube and named cubes alike.
    const own = await call("POST", "/v1/memories", { key: device.key, body: { user_id: "alice", memories: [{ content: "alice likes figs" }] } });
    expect(own.status).toBe(201);
    const named = await call("POST", "/v1/cubes", { key: device.key, body: { user_id: "alice", name: "notes" } });
    expect(named.status).toBe(201);
    expect((await call("POST", "/v1/memories", { key: device.key, body: { cube_id: named.body.id, memories: [{ content: "n" }] } })).status).toBe(201);
    expect((await call("POST", "/v1/search", { key: device.key, body: { user_id: "alice", query: "figs" } })).body.data).toHaveLength(1);

    for (const [method, path, body] of [
      ["GET", "/v1/memories?user_id=bob", undefined],
      ["GET", "/v1/memories?user_id=nobody-yet", undefined],
      ["GET", "/v1/memories?agent_id=alice", undefined],
      ["POST", "/v1/memories", { user_id: "bob", memories: [{ content: "planted" }] }],
      ["POST", "/v1/memories", { user_id: "carol", memories: [{ content: "planted" }] }],
      ["POST", "/v1/search", { user_id: "bob", query: "PIN" }],
      ["POST", "/v1/search", { cube_ids: [own.body.cube_id, bobsCube], query: "PIN" }],
      ["POST", "/v1/context", { user_id: "bob", query: "PIN" }],
      ["GET", `/v1/memories?cube_id=${bobsCube}`, undefined],
      ["GET", `/v1/memories/${bobsMemory.id}`, undefined],
      ["GET", `/v1/memories/${bobsMemory.id}/history`, undefined],
      ["PATCH", `/v1/memories/${bobsMemory.id}`, { content: "hijacked" }],
      ["DELETE", `/v1/memories/${bobsMemory.id}?hard=true`, undefined],
      ["GET", `/v1/cubes/${bobsCube}`, undefined],
      ["GET", `/v1/cubes/${bobsCube}/stats`, undefined],
      ["POST", `/v1/cubes/${bobsCube}/reindex`, undefined],
      ["POST", "/v1/cubes", { user_id: "bob", name: "mine now" }],
      ["GET", "/v1/cubes?user_id=bob", undefined],
    ] as const) {
      expectError(await call(method, path, { key: device.key, body }), 404, "not_found", `${method} ${path}`);
    }

    // Nothing was created for bob or carol, and bob's memory is intact.
    const cubes = await call("GET", "/v1/cubes", { key: tenant.key });
    expect(cubes.body.data.map((c: any) => c.owner).sort()).toEqual(["user:alice", "user:alice", "user:bob"]);
    expect((await call("GET", `/v1/memories/${bobsMemory.id}`, { key: tenant.key })).body).toMatchObject({ content: "bob's bank PIN hint", version: 1 });
    // The key lists only what it reaches.
    const listed = await call("GET", "/v1/cubes", { key: device.key });
    expect(listed.body.data.map((c: any) => c.owner)).toEqual(["user:alice", "user:alice"]);
  });

  it("a key for several owners reaches each of them", async () => {
    const tenant = await newTenant(["admin"]);
    const both = await minted(tenant.key, { allowed_owners: ["user:alice", "agent:assistant"] });
    expect(both.scopes).toEqual(["read", "write"]);
    expect((await call("POST", "/v1/memories", { key: both.key, body: { agent_id: "assistant", memories: [{ content: "a" }] } })).status).toBe(201);
    expect((await call("POST", "/v1/memories", { key: both.key, body: { user_id: "alice", memories: [{ content: "b" }] } })).status).toBe(201);
    expectError(await call("POST", "/v1/memories", { key: both.key, body: { user_id: "assistant", memories: [{ content: "c" }] } }), 404, "not_found");
  });
});

describe("keys restricted to cubes", { timeout: 30_000 }, () => {
  it("reach only those cubes; with an owner restriction too, both apply", async () => {
    const tenant = await newTenant(["read", "write", "admin"]);
    const work = (await call("POST", "/v1/cubes", { key: tenant.key, body: { user_id: "alice", name: "work" } })).body;
    const home = (await call("POST", "/v1/cubes", { key: tenant.key, body: { user_id: "alice", name: "home" } })).body;
    const bobs = (await call("POST", "/v1/cubes", { key: tenant.key, body: { user_id: "bob", name: "work" } })).body;
    for (const cube of [work, home, bobs]) {
      await call("POST", "/v1/memories", { key: tenant.key, body: { cube_id: cube.id, memories: [{ content: `quarterly report in ${cube.name}` }] } });
    }

    const agent = await minted(tenant.key, { scopes: ["read"], allowed_cubes: [work.id, bobs.id] });
    expect(agent).toMatchObject({ allowed_cubes: [work.id, bobs.id], allowed_owners: null });
    const search = await call("POST", "/v1/search", { key: agent.key, body: { cube_ids: [work.id, bobs.id], query: "quarterly report" } });
    expect(search.status).toBe(200);
    expect(search.body.data).toHaveLength(2);
    expectError(await call("POST", "/v1/search", { key: agent.key, body: { cube_ids: [work.id, home.id], query: "quarterly" } }), 404, "not_found");
    expectError(await call("GET", `/v1/memories?cube_id=${home.id}`, { key: agent.key }), 404, "not_found");
    // Owner scopes address default cubes, which are not in its list.
    expectError(await call("GET", "/v1/memories?user_id=alice", { key: agent.key }), 404, "not_found");
    expect((await call("GET", "/v1/cubes", { key: agent.key })).body.data.map((c: any) => c.id).sort()).toEqual([work.id, bobs.id].sort());

    const both = await minted(tenant.key, { allowed_cubes: [work.id, bobs.id], allowed_owners: ["user:alice"] });
    expect((await call("GET", `/v1/memories?cube_id=${work.id}`, { key: both.key })).status).toBe(200);
    expectError(await call("GET", `/v1/memories?cube_id=${bobs.id}`, { key: both.key }), 404, "not_found");
    expectError(await call("GET", `/v1/memories?cube_id=${home.id}`, { key: both.key }), 404, "not_found");
    expect((await call("GET", "/v1/cubes", { key: both.key })).body.data.map((c: any) => c.id)).toEqual([work.id]);
    expectError(await call("POST", "/v1/cubes", { key: both.key, body: { user_id: "alice", name: "new" } }), 403, "forbidden");
  });

  it("allowed cubes must be the tenant's: another tenant's or an unknown cube is 404, from the root route too", async () => {
    const tenant = await newTenant(["admin"]);
    const other = await newTenant();
    const theirs = (await call("POST", "/v1/cubes", { key: other.key, body: { user_id: "u", name: "x" } })).body;
    expectError(await mint(tenant.key, { allowed_cubes: [theirs.id] }), 404, "not_found");
    expectError(await mint(tenant.key, { allowed_cubes: ["cube_0000000000000000"] }), 404, "not_found");
    const viaRoot = await call("POST", `/v1/admin/tenants/${tenant.tenantId}/keys`, { key: ROOT_KEY, body: { allowed_cubes: [theirs.id] } });
    expectError(viaRoot, 404, "not_found");
    const ours = await call("POST", `/v1/admin/tenants/${other.tenantId}/keys`, {
      key: ROOT_KEY,
      body: { allowed_cubes: [theirs.id], allowed_owners: ["user:u"], scopes: ["read"] },
    });
    expect(ours.status).toBe(201);
    expect(ours.body).toMatchObject({ allowed_cubes: [theirs.id], allowed_owners: ["user:u"], created_by_key_id: null });
  });
});

describe("minting from a scoped key", { timeout: 30_000 }, () => {
  it("can only narrow: owners, cubes and expiry within its own; anything wider is 403", async () => {
    const tenant = await newTenant(["admin"]);
    const expires = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, ".000Z");
    const parent = await minted(tenant.key, { scopes: ["read", "write", "admin"], allowed_owners: ["user:alice", "user:bob"], expires_at: expires });

    expectError(await mint(parent.key, {}), 403, "forbidden", "no owners");
    expectError(await mint(parent.key, { allowed_owners: ["user:alice", "user:carol"] }), 403, "forbidden", "wider owners");
    const later = new Date(Date.parse(expires) + 60_000).toISOString();
    expectError(await mint(parent.key, { allowed_owners: ["user:alice"], expires_at: later }), 403, "forbidden", "later expiry");
    expectError(await mint(parent.key, { allowed_owners: ["user:alice"], expires_at: "2000-01-01T00:00:00Z" }), 400, "invalid_request");

    const child = await minted(parent.key, { allowed_owners: ["user:alice"], scopes: ["read", "write", "admin"] });
    expect(child).toMatchObject({ allowed_owners: ["user:alice"], created_by_key_id: parent.id, expires_at: expires });
    const sooner = new Date(Date.parse(expires) - 60_000).toISOString();
    expect((await minted(child.key, { allowed_owners: ["user:alice"], expires_at: sooner, scopes: ["read"] })).expires_at).toBe(sooner);

    // The child acts for alice only, and cannot mint its way back to bob.
    expect((await call("POST", "/v1/memories", { key: child.key, body: { user_id: "alice", memories: [{ content: "x" }] } })).status).toBe(201);
    expectError(await call("GET", "/v1/memories?user_id=bob", { key: child.key }), 404, "not_found");
    expectError(await mint(child.key, { allowed_owners: ["user:bob"] }), 403, "forbidden");
    expectError(await mint(child.key, { allowed_owners: ["user:alice", "user:bob"] }), 403, "forbidden");

    // A read/write scoped key mints nothing at all.
    const device = await minted(tenant.key, { allowed_owners: ["user:alice"] });
    expectError(await mint(device.key, { allowed_owners: ["user:alice"], scopes: ["read"] }), 403, "forbidden");
  });

  it("cube-confined minters must confine the new key to their cubes; owner-restricted ones may only name cubes they reach", async () => {
    const tenant = await newTenant(["read", "write", "admin"]);
    const mine = (await call("POST", "/v1/cubes", { key: tenant.key, body: { user_id: "alice", name: "a" } })).body;
    const bobs = (await call("POST", "/v1/cubes", { key: tenant.key, body: { user_id: "bob", name: "b" } })).body;
    const carols = (await call("POST", "/v1/cubes", { key: tenant.key, body: { user_id: "carol", name: "c" } })).body;

    const confined = await minted(tenant.key, { scopes: ["admin"], allowed_cubes: [mine.id, bobs.id] });
    expectError(await mint(confined.key, {}), 403, "forbidden", "no cubes");
    expectError(await mint(confined.key, { allowed_cubes: [mine.id, carols.id] }), 403, "forbidden", "wider cubes");
    expect((await minted(confined.key, { allowed_cubes: [bobs.id] })).allowed_cubes).toEqual([bobs.id]);

    const alice = await minted(tenant.key, { scopes: ["admin"], allowed_owners: ["user:alice"] });
    // Bob's cube is not alice's and not granted to her: it does not exist for her key.
    expectError(await mint(alice.key, { allowed_owners: ["user:alice"], allowed_cubes: [bobs.id] }), 404, "not_found");
    await call("POST", `/v1/cubes/${bobs.id}/grants`, { key: tenant.key, body: { principal: "user:alice", permission: "read" } });
    const narrowed = await minted(alice.key, { allowed_owners: ["user:alice"], allowed_cubes: [bobs.id], scopes: ["read"] });
    expect((await call("GET", `/v1/memories?cube_id=${bobs.id}`, { key: narrowed.key })).status).toBe(200);
    expectError(await call("GET", `/v1/memories?cube_id=${mine.id}`, { key: narrowed.key }), 404, "not_found");
  });

  it("a scoped admin key sees and revokes only keys inside its restrictions", async () => {
    const tenant = await newTenant(["read", "write", "admin"]);
    const alice = await minted(tenant.key, { scopes: ["admin"], allowed_owners: ["user:alice"] });
    const phone = await minted(alice.key, { allowed_owners: ["user:alice"] });
    const bobs = await minted(tenant.key, { allowed_owners: ["user:bob"] });
    const aliceAndBob = await minted(tenant.key, { allowed_owners: ["user:alice", "user:bob"] });

    const listed = await call("GET", "/v1/keys", { key: alice.key });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((k: any) => k.id).sort()).toEqual([alice.id, phone.id].sort());
    for (const keyId of [tenant.keyId, bobs.id, aliceAndBob.id]) {
      expectError(await call("DELETE", `/v1/keys/${keyId}`, { key: alice.key }), 404, "not_found", keyId);
    }
    expect((await call("GET", "/v1/memories?user_id=bob", { key: tenant.key })).status).toBe(200);

    expect((await call("DELETE", `/v1/keys/${phone.id}`, { key: alice.key })).status).toBe(200);
    expectError(await call("GET", "/v1/memories?user_id=alice", { key: phone.key }), 401, "unauthorized");
    // The tenant-wide admin key still sees every key.
    const all = await call("GET", "/v1/keys", { key: tenant.key });
    expect(all.body.data).toHaveLength(5);
  });

  it.each([
    ["an owner without a kind", { allowed_owners: ["alice"] }],
    ["an unknown kind", { allowed_owners: ["group:admins"] }],
    ["an empty owner list", { allowed_owners: [] }],
    ["too many owners", { allowed_owners: Array.from({ length: 21 }, (_, i) => `user:u${i}`) }],
    ["a malformed cube id", { allowed_cubes: ["cube_x"] }],
    ["an empty cube list", { allowed_cubes: [] }],
    ["null owners", { allowed_owners: null }],
  ])("rejects %s with 400", async (_label, body) => {
    const tenant = await newTenant(["admin"]);
    expectError(await mint(tenant.key, body), 400, "invalid_request");
  });
});

describe("tenant-wide actions", { timeout: 30_000 }, () => {
  it("an admin key restricted to owners or cubes cannot read the audit log, manage webhooks or rotate the hook secret", async () => {
    const tenant = await newTenant(["admin"]);
    const [memory] = await remember(tenant.key, "alice", [{ content: "x" }]);
    const scopedAdmin = await minted(tenant.key, { scopes: ["admin"], allowed_owners: ["user:alice"] });
    const cubeAdmin = await minted(tenant.key, { scopes: ["admin"], allowed_cubes: [memory.cube_id] });
    for (const key of [scopedAdmin.key, cubeAdmin.key]) {
      expectError(await call("GET", "/v1/audit", { key }), 403, "forbidden", "audit");
      expectError(await call("POST", "/v1/hooks/lifecycle/secret", { key }), 403, "forbidden", "hook secret");
      expectError(await call("GET", "/v1/webhooks", { key }), 403, "forbidden", "webhooks");
    }
    // The tenant-wide admin key still can.
    expect((await call("GET", "/v1/audit", { key: tenant.key })).status).toBe(200);
    expect((await call("POST", "/v1/hooks/lifecycle/secret", { key: tenant.key })).status).toBe(201);
  });
});
