import { describe, expect, it } from "vitest";
import { type ApiResponse, call, errorOf, newTenant } from "../helpers";

/** A tenant with a tenant-wide admin key, and keys acting for alice and for bob only (read + write). */
async function aliceAndBob() {
  const tenant = await newTenant(["read", "write", "admin"]);
  const mint = async (allowed_owners: string[], scopes = ["read", "write"]) => {
    const minted = await call("POST", "/v1/keys", { key: tenant.key, body: { scopes, allowed_owners } });
    if (minted.status !== 201) throw new Error(`mint failed: ${JSON.stringify(minted.body)}`);
    return minted.body.key as string;
  };
  return { tenant, alice: await mint(["user:alice"]), bob: await mint(["user:bob"]), mint };
}

async function newCube(key: string, body: object) {
  const created = await call("POST", "/v1/cubes", { key, body });
  if (created.status !== 201) throw new Error(`cube creation failed: ${created.status} ${JSON.stringify(created.body)}`);
  return created.body;
}

async function writeTo(key: string, cubeId: string, content: string) {
  return call("POST", "/v1/memories", { key, body: { cube_id: cubeId, memories: [{ content }] } });
}

const expectError = (response: ApiResponse, status: number, code: string, label = "") => {
  expect(response.status, `${label} ${JSON.stringify(response.body)}`).toBe(status);
  expect(errorOf(response).code).toBe(code);
};

describe("named cubes", { timeout: 30_000 }, () => {
  it("creates a named cube besides the default one, addressable by cube_id, names unique per owner", async () => {
    const { key } = await newTenant();
    const cube = await newCube(key, { user_id: "alice", name: "recipes" });
    expect(cube).toMatchObject({ owner: "user:alice", user_id: "alice", agent_id: null, name: "recipes", is_default: false, access: "owner", memory_count: 0 });
    expect(cube.id).toMatch(/^cube_[0-9a-z]{16}$/);

    const written = await writeTo(key, cube.id, "pancakes need buttermilk");
    expect(written.status).toBe(201);
    expect(written.body.cube_id).toBe(cube.id);
    // The default cube is a different one: the named cube's memory is not in it.
    const defaultList = await call("GET", "/v1/memories?user_id=alice", { key });
    expect(defaultList.body.data).toEqual([]);
    const byCube = await call("GET", `/v1/memories?cube_id=${cube.id}`, { key });
    expect(byCube.body.data.map((m: any) => m.content)).toEqual(["pancakes need buttermilk"]);

    expectError(await call("POST", "/v1/cubes", { key, body: { user_id: "alice", name: "recipes" } }), 409, "conflict");
    expectError(await call("POST", "/v1/cubes", { key, body: { user_id: "alice", name: "default" } }), 409, "conflict");
    // Another owner may use the same name; so may the agent of the same id.
    expect((await call("POST", "/v1/cubes", { key, body: { user_id: "bob", name: "recipes" } })).status).toBe(201);
    const agentCube = await newCube(key, { agent_id: "alice", name: "recipes" });
    expect(agentCube).toMatchObject({ owner: "agent:alice", user_id: null, agent_id: "alice" });

    // The default cube still comes into being on the first write, named "default".
    const first = await call("POST", "/v1/memories", { key, body: { user_id: "alice", memories: [{ content: "hello" }] } });
    const fetched = await call("GET", `/v1/cubes/${first.body.cube_id}`, { key });
    expect(fetched.status).toBe(200);
    expect(fetched.body).toMatchObject({ name: "default", is_default: true, owner: "user:alice", access: "owner" });
  });

  it.each([
    ["no owner", { name: "x" }],
    ["two owners", { user_id: "a", agent_id: "b", name: "x" }],
    ["blank name", { user_id: "a", name: "  " }],
    ["name too long", { user_id: "a", name: "n".repeat(101) }],
    ["unknown field", { user_id: "a", name: "x", colour: "red" }],
    ["owner id with spaces", { user_id: "a b", name: "x" }],
  ])("creating a cube with %s → 400", async (_label, body) => {
    const { key } = await newTenant();
    expectError(await call("POST", "/v1/cubes", { key, body }), 400, "invalid_request");
  });

  it("a read key cannot create cubes; another tenant's cube is 404", async () => {
    const reader = await newTenant(["read"]);
    expectError(await call("POST", "/v1/cubes", { key: reader.key, body: { user_id: "a", name: "x" } }), 403, "forbidden");
    const other = await newTenant();
    const theirs = await newCube(other.key, { user_id: "a", name: "x" });
    expectError(await call("GET", `/v1/cubes/${theirs.id}`, { key: reader.key }), 404, "not_found");
    expectError(await call("GET", "/v1/cubes/cube_nope", { key: reader.key }), 404, "not_found");
  });

  it("lists the tenant's cubes newest first, by owner, in pages", async () => {
    const { key } = await newTenant();
    const made = [];
    for (const name of ["one", "two", "three"]) made.push(await newCube(key, { user_id: "carol", name }));
    await newCube(key, { user_id: "dave", name: "one" });

    const all = await call("GET", "/v1/cubes", { key });
    expect(all.status).toBe(200);
    expect(all.body.data).toHaveLength(4);

    const first = await call("GET", "/v1/cubes?user_id=carol&limit=2", { key });
    expect(first.body.data).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await call("GET", `/v1/cubes?user_id=carol&limit=2&cursor=${first.body.next_cursor}`, { key });
    expect(second.body.next_cursor).toBeNull();
    const seen = [...first.body.data, ...second.body.data].map((cube: any) => cube.id);
    expect(seen.sort()).toEqual(made.map((cube) => cube.id).sort());
    // Newest first (ids break ties within the same millisecond, so compare as a sorted set of positions).
    const times = [...first.body.data, ...second.body.data].map((cube: any) => cube.created_at);
    expect([...times].sort().reverse()).toEqual(times);

    expectError(await call("GET", "/v1/cubes?cursor=forged!", { key }), 400, "invalid_request");
    expectError(await call("GET", `/v1/cubes?cursor=${btoa("[1,2,3]")}`, { key }), 400, "invalid_request");
    expectError(await call("GET", "/v1/cubes?user_id=a&agent_id=b", { key }), 400, "invalid_request");
    expectError(await call("GET", "/v1/cubes?limit=0", { key }), 400, "invalid_request");
  });
});

describe("grants", { timeout: 30_000 }, () => {
  it("no grant → 404 everywhere; a read grant reads but cannot write; a write grant writes; revoked → 404 on the next request", async () => {
    const { tenant, alice, bob } = await aliceAndBob();
    const cube = await newCube(alice, { user_id: "alice", name: "trip" });
    const [memory] = (await writeTo(alice, cube.id, "the trip to Lisbon is in May")).body.data;
    await call("POST", "/v1/memories", { key: bob, body: { user_id: "bob", memories: [{ content: "bob packs light for Lisbon" }] } });

    const bobReads = () => [
      call("GET", `/v1/cubes/${cube.id}`, { key: bob }),
      call("GET", `/v1/memories?cube_id=${cube.id}`, { key: bob }),
      call("GET", `/v1/memories/${memory.id}`, { key: bob }),
      call("GET", `/v1/memories/${memory.id}/history`, { key: bob }),
      call("POST", "/v1/search", { key: bob, body: { cube_id: cube.id, query: "Lisbon" } }),
      call("POST", "/v1/context", { key: bob, body: { cube_id: cube.id, query: "Lisbon" } }),
      call("GET", `/v1/cubes/${cube.id}/stats`, { key: bob }),
      call("GET", `/v1/cubes/${cube.id}/working-memory`, { key: bob }),
    ];
    const bobWrites = () => [
      writeTo(bob, cube.id, "planted by bob"),
      call("PATCH", `/v1/memories/${memory.id}`, { key: bob, body: { content: "hijacked" } }),
      call("DELETE", `/v1/memories/${memory.id}`, { key: bob }),
      call("POST", `/v1/memories/${memory.id}/pin`, { key: bob }),
      call("POST", `/v1/memories/${memory.id}/rollback`, { key: bob, body: { version: 1 } }),
      call("POST", "/v1/jobs", { key: bob, body: { type: "consolidate", cube_id: cube.id } }),
      call("POST", `/v1/cubes/${cube.id}/reindex`, { key: bob }),
    ];

    // No grant: the cube and its memories do not exist for bob.
    for (const response of await Promise.all([...bobReads(), ...bobWrites()])) expectError(response, 404, "not_found");
    expect((await call("GET", "/v1/cubes", { key: bob })).body.data.map((c: any) => c.owner)).toEqual(["user:bob"]);

    // A read grant.
    const granted = await call("POST", `/v1/cubes/${cube.id}/grants`, { key: alice, body: { principal: "user:bob", permission: "read" } });
    expect(granted.status).toBe(201);
    expect(granted.body).toMatchObject({ cube_id: cube.id, principal: "user:bob", permission: "read", created_by_key_id: expect.stringMatching(/^key_/) });
    for (const [i, response] of (await Promise.all(bobReads())).entries()) expect(response.status, `read ${i}`).toBe(200);
    for (const [i, response] of (await Promise.all(bobWrites())).entries()) expectError(response, 403, "forbidden", `write ${i}`);
    const untouched = await call("GET", `/v1/memories/${memory.id}`, { key: alice });
    expect(untouched.body).toMatchObject({ content: "the trip to Lisbon is in May", version: 1, state: "activated" });
    const listed = await call("GET", "/v1/cubes", { key: bob });
    expect(listed.body.data.find((c: any) => c.id === cube.id)).toMatchObject({ access: "read", owner: "user:alice", name: "trip" });

    // Search across bob's own default cube and the granted one.
    const bobDefault = listed.body.data.find((c: any) => c.owner === "user:bob").id;
    const across = await call("POST", "/v1/search", { key: bob, body: { cube_ids: [bobDefault, cube.id], query: "Lisbon" } });
    expect(across.status).toBe(200);
    expect(across.body.data.map((m: any) => m.content).sort()).toEqual(["bob packs light for Lisbon", "the trip to Lisbon is in May"]);

    // Granting again replaces the grant: now bob can write.
    const upgraded = await call("POST", `/v1/cubes/${cube.id}/grants`, { key: alice, body: { principal: "user:bob", permission: "write" } });
    expect(upgraded.status).toBe(200);
    expect(upgraded.body.permission).toBe("write");
    expect((await writeTo(bob, cube.id, "bob booked the hotel")).status).toBe(201);
    expect((await call("PATCH", `/v1/memories/${memory.id}`, { key: bob, body: { importance: 0.9 } })).status).toBe(200);
    expect((await call("GET", `/v1/cubes/${cube.id}`, { key: bob })).body.access).toBe("write");

    // The grant lets bob use the cube by id, never act as alice.
    expectError(await call("GET", "/v1/memories?user_id=alice", { key: bob }), 404, "not_found");
    expectError(await call("POST", "/v1/memories", { key: bob, body: { user_id: "alice", memories: [{ content: "x" }] } }), 404, "not_found");

    // Revoked: from the very next request on, bob is back to 404 on everything.
    const revoked = await call("DELETE", `/v1/cubes/${cube.id}/grants/user:bob`, { key: alice });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ principal: "user:bob", permission: "write" });
    for (const response of await Promise.all([...bobReads(), ...bobWrites()])) expectError(response, 404, "not_found");
    expectError(await call("POST", "/v1/search", { key: bob, body: { cube_ids: [bobDefault, cube.id], query: "Lisbon" } }), 404, "not_found");
    expect((await call("GET", "/v1/cubes", { key: bob })).body.data.map((c: any) => c.id)).toEqual([bobDefault]);
    expectError(await call("DELETE", `/v1/cubes/${cube.id}/grants/user:bob`, { key: alice }), 404, "not_found");

    // The tenant-wide key never needed a grant.
    expect((await call("GET", `/v1/memories?cube_id=${cube.id}`, { key: tenant.key })).body.data).toHaveLength(2);
  });

  it("only the owner side manages grants: not a grantee, not a cube-confined key, not a read key", async () => {
    const { tenant, alice, bob, mint } = await aliceAndBob();
    const cube = await newCube(alice, { user_id: "alice", name: "shared" });
    const grantTo = (key: string, principal: string, permission = "write") =>
      call("POST", `/v1/cubes/${cube.id}/grants`, { key, body: { principal, permission } });
    expect((await grantTo(alice, "user:bob")).status).toBe(201);

    // Bob reaches the cube (write grant) but cannot pass it on, list its grants or revoke them.
    expectError(await grantTo(bob, "user:mallory"), 403, "forbidden");
    expectError(await call("GET", `/v1/cubes/${cube.id}/grants`, { key: bob }), 403, "forbidden");
    expectError(await call("DELETE", `/v1/cubes/${cube.id}/grants/user:bob`, { key: bob }), 403, "forbidden");
    // Someone with no access at all does not learn the cube exists.
    const carol = await mint(["user:carol"]);
    expectError(await grantTo(carol, "user:carol"), 404, "not_found");
    expectError(await call("GET", `/v1/cubes/${cube.id}/grants`, { key: carol }), 404, "not_found");

    // A key confined to the cube uses it but does not share it.
    const confined = await call("POST", "/v1/keys", { key: tenant.key, body: { scopes: ["read", "write"], allowed_cubes: [cube.id] } });
    expect((await writeTo(confined.body.key, cube.id, "agent note")).status).toBe(201);
    expectError(await grantTo(confined.body.key, "agent:other"), 403, "forbidden");

    // A read key of the owner side can list grants but not grant.
    const aliceReader = await mint(["user:alice"], ["read"]);
    expectError(await grantTo(aliceReader, "user:dan"), 403, "forbidden");
    const list = await call("GET", `/v1/cubes/${cube.id}/grants`, { key: aliceReader });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ data: [expect.objectContaining({ principal: "user:bob", permission: "write" })], next_cursor: null });

    // The tenant-wide key manages any cube's grants.
    expect((await grantTo(tenant.key, "agent:planner", "read")).status).toBe(201);
  });

  it("validates grants: the owner itself → 400, bad principals and permissions → 400, other tenants' cubes → 404", async () => {
    const { tenant, alice } = await aliceAndBob();
    const cube = await newCube(alice, { user_id: "alice", name: "diary" });
    const grant = (body: object, key = alice, cubeId = cube.id) => call("POST", `/v1/cubes/${cubeId}/grants`, { key, body });
    expectError(await grant({ principal: "user:alice", permission: "read" }), 400, "invalid_request");
    for (const body of [
      { principal: "bob", permission: "read" },
      { principal: "group:bob", permission: "read" },
      { principal: "user:", permission: "read" },
      { principal: "user:b o b", permission: "read" },
      { principal: "user:bob", permission: "admin" },
      { principal: "user:bob" },
      { principal: "user:bob", permission: "read", extra: 1 },
    ]) {
      expectError(await grant(body), 400, "invalid_request", JSON.stringify(body));
    }
    expectError(await call("DELETE", `/v1/cubes/${cube.id}/grants/bob`, { key: alice }), 400, "invalid_request");

    const other = await newTenant();
    const theirs = await newCube(other.key, { user_id: "alice", name: "diary" });
    expectError(await grant({ principal: "user:bob", permission: "read" }, tenant.key, theirs.id), 404, "not_found");
    expectError(await call("GET", `/v1/cubes/${theirs.id}/grants`, { key: tenant.key }), 404, "not_found");
    expectError(await call("DELETE", `/v1/cubes/${theirs.id}/grants/user:bob`, { key: tenant.key }), 404, "not_found");
    // A grant in one tenant means nothing in another.
    expect((await grant({ principal: "user:bob", permission: "read" }, other.key, theirs.id)).status).toBe(201);
    const bobHere = (await call("POST", "/v1/keys", { key: tenant.key, body: { allowed_owners: ["user:bob"] } })).body.key;
    expectError(await call("GET", `/v1/memories?cube_id=${theirs.id}`, { key: bobHere }), 404, "not_found");
  });

  it("agents are principals too; ids with reserved characters work URL-encoded; grants list in pages", async () => {
    const { tenant, alice, mint } = await aliceAndBob();
    const cube = await newCube(alice, { user_id: "alice", name: "work" });
    const odd = "agent:team/planner?v=2";
    for (const principal of ["agent:helper", odd, "user:zoe", "user:yan"]) {
      expect((await call("POST", `/v1/cubes/${cube.id}/grants`, { key: alice, body: { principal, permission: "read" } })).status).toBe(201);
    }
    const helper = await mint(["agent:helper"], ["read"]);
    expect((await call("GET", `/v1/memories?cube_id=${cube.id}`, { key: helper })).status).toBe(200);
    const oddKey = await mint([odd], ["read"]);
    expect((await call("GET", `/v1/cubes/${cube.id}`, { key: oddKey })).body.access).toBe("read");

    const first = await call("GET", `/v1/cubes/${cube.id}/grants?limit=3`, { key: tenant.key });
    expect(first.body.data.map((g: any) => g.principal)).toEqual([odd, "agent:helper", "user:yan"].sort());
    const second = await call("GET", `/v1/cubes/${cube.id}/grants?limit=3&cursor=${first.body.next_cursor}`, { key: tenant.key });
    expect(second.body).toEqual({ data: [expect.objectContaining({ principal: "user:zoe" })], next_cursor: null });
    expectError(await call("GET", `/v1/cubes/${cube.id}/grants?cursor=%%%`, { key: tenant.key }), 400, "invalid_request");

    const revoked = await call("DELETE", `/v1/cubes/${cube.id}/grants/${encodeURIComponent(odd)}`, { key: alice });
    expect(revoked.status).toBe(200);
    expect(revoked.body.principal).toBe(odd);
    expectError(await call("GET", `/v1/cubes/${cube.id}`, { key: oddKey }), 404, "not_found");
  });
});
