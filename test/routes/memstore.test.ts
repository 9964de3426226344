/**
 * MemStore through the public surface: publish a cube as versioned read-only snapshots, find it in the catalog,
 * subscribe (reads follow new versions), fork (a copy that outlives the listing), unpublish (subscriptions stop) —
 * and the isolation between tenants: a private listing does not exist for another tenant, a public one is readable
 * but not writable, and sensitive memories never reach a snapshot.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CubeDurableObject } from "../../durable-objects/cube";
import { IMPORT_BATCH } from "../../durable-objects/cube/import";
import { cubeObjectName } from "../../src/core/ids";
import { type ApiResponse, call, errorOf, newTenant, remember, uniqueUser } from "../helpers";
import { newMemory } from "../helpers/memories";
import { publish, untilReady, versionRow } from "../helpers/memstore";

const expectError = (response: ApiResponse, status: number, code: string) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(errorOf(response).code).toBe(code);
};

/** Runs a cube's alarm until the job is done or failed. */
async function finishJob(key: string, tenantId: string, cubeId: string, jobId: string) {
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
  for (let i = 0; i < 50; i++) {
    const job = (await call("GET", `/v1/jobs/${jobId}`, { key })).body;
    if (job.status === "done" || job.status === "failed") return job;
    await runDurableObjectAlarm(stub);
  }
  throw new Error(`job ${jobId} did not finish`);
}

async function newCube(key: string): Promise<string> {
  const created = await call("POST", "/v1/cubes", { key, body: { user_id: uniqueUser(), name: "shelf" } });
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  return created.body.id;
}

const search = (key: string, listingId: string, query: string) =>
  call("POST", `/v1/memstore/listings/${listingId}/search`, { key, body: { query, top_k: 20 } });

const SENSITIVE = "Alice's passport number is X1234567";
const FORGOTTEN = "The sourdough starter lives in the blue jar";

/** A publisher with a cube of recipes: one sensitive memory, one forgotten, one episode of raw conversation. */
async function publisher() {
  const tenant = await newTenant(["read", "write", "admin"]);
  const user = uniqueUser();
  const [first] = await remember(tenant.key, user, [
    { content: "Rest bread dough for an hour before shaping", tags: ["bread"] },
    { content: "Pizza ovens work best at 300 degrees", tags: ["pizza"] },
    { content: SENSITIVE, sensitivity: ["pii"] },
    { content: FORGOTTEN },
  ]);
  const cubeId: string = first.cube_id;
  const all = (await call("GET", `/v1/memories?cube_id=${cubeId}&limit=10`, { key: tenant.key })).body.data;
  const forgotten = all.find((m: { content: string }) => m.content === FORGOTTEN);
  expect((await call("DELETE", `/v1/memories/${forgotten.id}`, { key: tenant.key })).status).toBe(200);
  // A conversation (kept as an episode) whose first message becomes a memory marked sensitive afterwards: neither the
  // episode nor its neighbour's session context may carry it into a snapshot.
  const ingested = await call("POST", "/v1/memories", {
    key: tenant.key,
    body: {
      user_id: user,
      session_id: "kitchen",
      messages: [
        { role: "user", content: "My home address is 12 Secret Lane" },
        { role: "user", content: "I like rye bread with caraway" },
      ],
      infer: false,
      sync: true,
    },
  });
  expect(ingested.status, JSON.stringify(ingested.body)).toBe(200);
  const address = ingested.body.data.find((m: { content: string }) => m.content.includes("Secret Lane"));
  const marked = await call("PATCH", `/v1/memories/${address.id}`, { key: tenant.key, body: { sensitivity: ["pii"] } });
  expect(marked.status, JSON.stringify(marked.body)).toBe(200);
  return { ...tenant, user, cubeId };
}

describe("publishing", { timeout: 60_000 }, () => {
  it("publishes a versioned snapshot that subscribers' reads follow, without sensitive, forgotten or raw content", async () => {
    const pub = await publisher();
    const listing = await publish(pub.key, pub.cubeId);
    expect(listing).toMatchObject({ latest_version: 1, visibility: "tenant", mine: true, licence: "CC-BY-4.0", source_cube_id: pub.cubeId });
    // Counted once the file is whole and loaded: a preparing version has no size yet.
    expect(listing.versions).toEqual([expect.objectContaining({ version: 1, status: "preparing", memories: null, bytes: null })]);

    // Not readable before the snapshot has loaded: a clear 409, not an empty answer.
    expectError(await search(pub.key, listing.id, "bread"), 409, "conflict");
    const ready = await untilReady(pub.key, listing.id, 1);

    const found = await search(pub.key, listing.id, "bread dough pizza passport address blue jar");
    expect(found.status, JSON.stringify(found.body)).toBe(200);
    expect(found.body.version).toBe(1);
    const contents = found.body.data.map((m: { content: string }) => m.content);
    expect(contents).toEqual(expect.arrayContaining(["Rest bread dough for an hour before shaping", "Pizza ovens work best at 300 degrees"]));
    expect(contents.join("\n")).not.toMatch(/passport|Secret Lane|blue jar/);
    for (const memory of found.body.data) {
      expect(memory.sensitivity).toEqual([]);
      expect(memory.owner).toBe("agent:memstore");
      expect(memory.cube_id).not.toBe(pub.cubeId);
      expect(memory.source).toMatchObject({ kind: "import", key_id: "memstore", episode_id: null, message_ids: [] });
    }

    // The snapshot file itself: no sensitive memory, no episode, no history of another memory.
    const row = await versionRow(listing.id, 1);
    const file = await (await env.ARCHIVE.get(row.snapshot_key))!.text();
    expect(file).not.toContain("passport");
    expect(file).not.toContain("Secret Lane");
    expect(file).not.toContain("blue jar");
    expect(file).not.toContain(pub.user);
    expect(file).not.toContain(pub.keyId);
    const lines = file.trim().split("\n").map((line) => JSON.parse(line));
    expect(lines.filter((line) => line.type === "episode")).toEqual([]);
    expect(lines.at(-1).counts.memories).toBe(ready.versions[0].memories);
    expect(new TextEncoder().encode(file).length).toBe(ready.versions[0].bytes);
  });

  it("a new version becomes what subscribers read once ready; the live cube is never read", async () => {
    const pub = await publisher();
    const listing = await publish(pub.key, pub.cubeId);
    await untilReady(pub.key, listing.id, 1);

    // Written to the live cube after v1: invisible to readers until published.
    await remember(pub.key, pub.user, [{ content: "Croissants need laminated butter layers" }]);
    expect((await search(pub.key, listing.id, "croissants laminated")).body.data.map((m: { content: string }) => m.content)).not.toContain(
      "Croissants need laminated butter layers",
    );

    // A page of v1 started now keeps reading v1 through its cursor, whatever is published meanwhile.
    const page1 = await call("GET", `/v1/memstore/listings/${listing.id}/memories?limit=1`, { key: pub.key });
    expect(page1.status, JSON.stringify(page1.body)).toBe(200);
    expect(page1.body).toMatchObject({ version: 1, data: [expect.objectContaining({ owner: "agent:memstore" })] });

    const v2 = await call("POST", `/v1/memstore/listings/${listing.id}/versions`, { key: pub.key });
    expect(v2.status, JSON.stringify(v2.body)).toBe(201);
    expect(v2.body.latest_version).toBe(2);
    // While v2 loads, reads stay on v1.
    expect((await search(pub.key, listing.id, "croissants")).body.version).toBe(1);
    await untilReady(pub.key, listing.id, 2);
    const after = await search(pub.key, listing.id, "croissants laminated");
    expect(after.body.version).toBe(2);
    expect(after.body.data.map((m: { content: string }) => m.content)).toContain("Croissants need laminated butter layers");
    const rest = await call("GET", `/v1/memstore/listings/${listing.id}/memories?limit=100&cursor=${page1.body.next_cursor}`, { key: pub.key });
    expect(rest.body.version).toBe(1);
    const v1Contents = [...page1.body.data, ...rest.body.data].map((m: { content: string }) => m.content);
    expect(v1Contents).not.toContain("Croissants need laminated butter layers");
    expect(v1Contents.length).toBe((await untilReady(pub.key, listing.id, 1)).versions.find((v: { version: number }) => v.version === 1).memories);
    const fresh = await call("GET", `/v1/memstore/listings/${listing.id}/memories?limit=100`, { key: pub.key });
    expect(fresh.body.version).toBe(2);
    expect(fresh.body.data.map((m: { content: string }) => m.content)).toContain("Croissants need laminated butter layers");
    expectError(await call("GET", `/v1/memstore/listings/${listing.id}/memories?cursor=nope!`, { key: pub.key }), 400, "invalid_request");
    // Versions are separate snapshot cubes.
    expect((await versionRow(listing.id, 2)).snapshot_cube_id).not.toBe((await versionRow(listing.id, 1)).snapshot_cube_id);
  });

  it("publishes an archived memory with its whole content, read from R2", async () => {
    const tenant = await newTenant(["read", "write", "admin"]);
    const user = uniqueUser();
    const long = `The bicycle chain was oiled and the brakes adjusted ${"with great care ".repeat(30)}on a sunny afternoon.`;
    const [bike] = await remember(tenant.key, user, [{ content: long, importance: 0.1 }]);
    const stub = env.CUBE.getByName(cubeObjectName(tenant.tenantId, bike.cube_id)) as DurableObjectStub<CubeDurableObject>;
    const ref = { tenantId: tenant.tenantId, cubeId: bike.cube_id, owner: `user:${user}` };
    const later = Date.now() + 31 * 86_400_000;
    await runInDurableObject(stub, (instance: CubeDurableObject) => {
      instance.clock = () => later;
    });
    const job = await runInDurableObject(stub, (instance: CubeDurableObject) => instance.startJob(ref, "archive"));
    expect((await finishJob(tenant.key, tenant.tenantId, bike.cube_id, job.id)).status).toBe("done");
    await runInDurableObject(stub, (instance: CubeDurableObject) => {
      instance.clock = () => Date.now();
    });
    expect((await call("GET", `/v1/memories?cube_id=${bike.cube_id}&state=archived`, { key: tenant.key })).body.data).toHaveLength(1);

    const listing = await publish(tenant.key, bike.cube_id);
    expect((await untilReady(tenant.key, listing.id, 1)).versions[0].memories).toBe(1);
    const file = await (await env.ARCHIVE.get((await versionRow(listing.id, 1)).snapshot_key))!.text();
    const line = file.trim().split("\n").map((l) => JSON.parse(l)).find((l) => l.type === "memory");
    expect(line.memory).toMatchObject({ state: "archived", content: long });
    expect(line.memory).not.toHaveProperty("content_preview");
    await untilReady(tenant.key, listing.id, 1);
    const found = await search(tenant.key, listing.id, "sunny afternoon bicycle");
    // Found by words past the preview; reading it restores it in the snapshot cube, as any archived memory on access.
    expect(found.body.data.map((m: { content: string }) => m.content)).toEqual([long]);
  });

  it("bounds every field and names conflicts", async () => {
    const pub = await publisher();
    const post = (body: object) => call("POST", "/v1/memstore/listings", { key: pub.key, body: { cube_id: pub.cubeId, name: "n", licence: "MIT", ...body } });
    expectError(await post({ name: "x".repeat(101) }), 400, "invalid_request");
    expectError(await post({ description: "é".repeat(1001) }), 400, "invalid_request");
    expectError(await post({ tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }), 400, "invalid_request");
    expectError(await post({ tags: ["bad\u0000tag"] }), 400, "invalid_request");
    expectError(await post({ licence: " " }), 400, "invalid_request");
    expectError(await post({ visibility: "everyone" }), 400, "invalid_request");
    expectError(await post({ extra: true }), 400, "invalid_request");
    expectError(await post({ cube_id: "cube_0000000000000000" }), 404, "not_found");
    const first = await post({ name: "same name" });
    expect(first.status).toBe(201);
    expectError(await post({ name: "same name" }), 409, "conflict");
    expectError(await call("GET", "/v1/memstore/listings/lst_nope", { key: pub.key }), 404, "not_found");
    expectError(await call("GET", "/v1/memstore/listings?cursor=garbage!", { key: pub.key }), 400, "invalid_request");
    expectError(await call("GET", `/v1/memstore/listings?q=${"a".repeat(201)}`, { key: pub.key }), 400, "invalid_request");
    expectError(await call("POST", `/v1/memstore/listings/${first.body.id}/fork`, { key: pub.key, body: { cube_id: pub.cubeId, version: 0 } }), 400, "invalid_request");
    expectError(await call("POST", `/v1/memstore/listings/${first.body.id}/fork`, { key: pub.key, body: { cube_id: pub.cubeId, version: 9 } }), 404, "not_found");
  });

  it("caps versions per listing and listings per tenant", async () => {
    const pub = await publisher();
    const listing = await publish(pub.key, pub.cubeId);
    await env.DB.prepare("UPDATE memstore_listings SET latest_version = 100 WHERE id = ?").bind(listing.id).run();
    expectError(await call("POST", `/v1/memstore/listings/${listing.id}/versions`, { key: pub.key }), 409, "conflict");

    const empty = await newCube(pub.key);
    for (let i = 1; i < 50; i++) await publish(pub.key, empty, { name: `listing ${i}` });
    const over = await call("POST", "/v1/memstore/listings", { key: pub.key, body: { cube_id: empty, name: "one too many", licence: "MIT" } });
    expectError(over, 409, "conflict");
    expect(errorOf(over).message).toContain("50");
  });

  it("only the cube's owner side publishes; read-only keys cannot", async () => {
    const pub = await publisher();
    const reader = await call("POST", "/v1/keys", { key: pub.key, body: { scopes: ["read"] } });
    expectError(await call("POST", "/v1/memstore/listings", { key: reader.body.key, body: { cube_id: pub.cubeId, name: "r", licence: "MIT" } }), 403, "forbidden");
    const other = await call("POST", "/v1/keys", { key: pub.key, body: { scopes: ["read", "write"], allowed_owners: ["user:someone-else"] } });
    expectError(await call("POST", "/v1/memstore/listings", { key: other.body.key, body: { cube_id: pub.cubeId, name: "o", licence: "MIT" } }), 404, "not_found");
    const confined = await call("POST", "/v1/keys", { key: pub.key, body: { scopes: ["read", "write"], allowed_cubes: [pub.cubeId] } });
    expectError(await call("POST", "/v1/memstore/listings", { key: confined.body.key, body: { cube_id: pub.cubeId, name: "c", licence: "MIT" } }), 403, "forbidden");
    // ... and a confined key cannot unpublish what the tenant published either.
    const listing = await publish(pub.key, pub.cubeId);
    expectError(await call("DELETE", `/v1/memstore/listings/${listing.id}`, { key: confined.body.key }), 403, "forbidden");
  });
});

describe("the catalog", { timeout: 60_000 }, () => {
  it("finds listings by words (prefixes), tag and scope, paged", async () => {
    const pub = await publisher();
    const word = `zq${crypto.randomUUID().slice(0, 8)}`;
    const a = await publish(pub.key, pub.cubeId, { name: `${word} sourdough`, tags: ["bread", word] });
    const b = await publish(pub.key, pub.cubeId, { name: `${word} pasta`, description: "fresh noodles" });
    await publish(pub.key, pub.cubeId, { name: "unrelated" });

    const ids = async (query: string) => (await call("GET", `/v1/memstore/listings?${query}`, { key: pub.key })).body.data.map((l: { id: string }) => l.id);
    expect(await ids(`q=${word}`)).toEqual([b.id, a.id]);
    expect(await ids(`q=${word}%20sourd`)).toEqual([a.id]);
    expect(await ids(`q=${word}%20noodles`)).toEqual([b.id]);
    expect(await ids(`q=${word}&tag=bread`)).toEqual([a.id]);
    // FTS5 syntax in the query is only text.
    expect((await call("GET", `/v1/memstore/listings?q=${encodeURIComponent('" OR * NEAR(')}`, { key: pub.key })).status).toBe(200);

    const first = await call("GET", `/v1/memstore/listings?q=${word}&limit=1`, { key: pub.key });
    expect(first.body.data.map((l: { id: string }) => l.id)).toEqual([b.id]);
    const second = await call("GET", `/v1/memstore/listings?q=${word}&limit=1&cursor=${first.body.next_cursor}`, { key: pub.key });
    expect(second.body.data.map((l: { id: string }) => l.id)).toEqual([a.id]);
    expect(second.body.next_cursor).toBeNull();
  });
});

describe("isolation across tenants", { timeout: 90_000 }, () => {
  it("a private listing does not exist for another tenant: list, search, get, subscribe, fork all 404", async () => {
    const pub = await publisher();
    const listing = await publish(pub.key, pub.cubeId, { name: `private ${crypto.randomUUID()}` });
    await untilReady(pub.key, listing.id, 1);
    const stranger = await newTenant(["read", "write", "admin"]);
    const theirCube = await newCube(stranger.key);

    const catalog = await call("GET", `/v1/memstore/listings?limit=100&q=${encodeURIComponent(listing.name)}`, { key: stranger.key });
    expect(catalog.body.data.map((l: { id: string }) => l.id)).not.toContain(listing.id);
    expectError(await call("GET", `/v1/memstore/listings/${listing.id}`, { key: stranger.key }), 404, "not_found");
    expectError(await search(stranger.key, listing.id, "bread"), 404, "not_found");
    expectError(await call("GET", `/v1/memstore/listings/${listing.id}/memories`, { key: stranger.key }), 404, "not_found");
    expectError(await call("POST", `/v1/memstore/listings/${listing.id}/subscription`, { key: stranger.key }), 404, "not_found");
    expectError(await call("POST", `/v1/memstore/listings/${listing.id}/fork`, { key: stranger.key, body: { cube_id: theirCube } }), 404, "not_found");
    expectError(await call("POST", `/v1/memstore/listings/${listing.id}/versions`, { key: stranger.key }), 404, "not_found");
    expectError(await call("DELETE", `/v1/memstore/listings/${listing.id}`, { key: stranger.key }), 404, "not_found");
  });

  it("a public listing is readable by subscribers, forkable, not writable; unpublishing stops reads and keeps forks", async () => {
    const pub = await publisher();
    const listing = await publish(pub.key, pub.cubeId, { name: `public ${crypto.randomUUID()}`, visibility: "public" });
    await untilReady(pub.key, listing.id, 1);
    const reader = await newTenant(["read", "write", "admin"]);

    const seen = await call("GET", `/v1/memstore/listings/${listing.id}`, { key: reader.key });
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ mine: false, subscribed: false, source_cube_id: null, visibility: "public" });
    const catalog = await call("GET", `/v1/memstore/listings?q=${encodeURIComponent(listing.name)}`, { key: reader.key });
    expect(catalog.body.data.map((l: { id: string }) => l.id)).toContain(listing.id);

    // Not writable by anyone but the publisher.
    expectError(await call("POST", `/v1/memstore/listings/${listing.id}/versions`, { key: reader.key }), 403, "forbidden");
    expectError(await call("DELETE", `/v1/memstore/listings/${listing.id}`, { key: reader.key }), 403, "forbidden");
    // The source cube is still the publisher's alone.
    expectError(await call("GET", `/v1/memories?cube_id=${pub.cubeId}`, { key: reader.key }), 404, "not_found");

    // Reading needs a subscription; a tenant-wide key subscribes for the tenant.
    expectError(await search(reader.key, listing.id, "bread"), 403, "forbidden");
    expectError(await call("GET", `/v1/memstore/listings/${listing.id}/memories`, { key: reader.key }), 403, "forbidden");
    const scoped = await call("POST", "/v1/keys", { key: reader.key, body: { scopes: ["read", "write"], allowed_owners: ["user:x"] } });
    expectError(await call("POST", `/v1/memstore/listings/${listing.id}/subscription`, { key: scoped.body.key }), 403, "forbidden");
    const subscribed = await call("POST", `/v1/memstore/listings/${listing.id}/subscription`, { key: reader.key });
    expect(subscribed.status).toBe(201);
    expect((await call("POST", `/v1/memstore/listings/${listing.id}/subscription`, { key: reader.key })).status).toBe(200);
    const read = await search(reader.key, listing.id, "bread dough passport");
    expect(read.status).toBe(200);
    expect(read.body.data.map((m: { content: string }) => m.content)).toContain("Rest bread dough for an hour before shaping");
    expect(JSON.stringify(read.body)).not.toContain("passport");
    const listed = await call("GET", `/v1/memstore/listings/${listing.id}/memories?limit=100`, { key: reader.key });
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).not.toMatch(/passport|Secret Lane|blue jar/);
    const mine = await call("GET", "/v1/memstore/listings?scope=subscribed", { key: reader.key });
    expect(mine.body.data.map((l: { id: string }) => l.id)).toEqual([listing.id]);

    // A new version reaches the subscriber without doing anything.
    await remember(pub.key, pub.user, [{ content: "Bagels are boiled before baking" }]);
    expect((await call("POST", `/v1/memstore/listings/${listing.id}/versions`, { key: pub.key })).status).toBe(201);
    await untilReady(pub.key, listing.id, 2);
    const followed = await search(reader.key, listing.id, "bagels boiled");
    expect(followed.body.version).toBe(2);
    expect(followed.body.data.map((m: { content: string }) => m.content)).toContain("Bagels are boiled before baking");

    // Fork version 1 into the reader's own cube.
    const target = await newCube(reader.key);
    const forked = await call("POST", `/v1/memstore/listings/${listing.id}/fork`, { key: reader.key, body: { cube_id: target, version: 1 } });
    expect(forked.status, JSON.stringify(forked.body)).toBe(202);
    expect(forked.body.version).toBe(1);
    const job = await finishJob(reader.key, reader.tenantId, target, forked.body.job_id);
    expect(job.status).toBe("done");
    const copied = (await call("GET", `/v1/memories?cube_id=${target}&limit=50`, { key: reader.key })).body.data.map((m: { content: string }) => m.content);
    expect(copied).toContain("Rest bread dough for an hour before shaping");
    expect(copied).not.toContain("Bagels are boiled before baking");
    expect(copied.join("\n")).not.toMatch(/passport|Secret Lane/);

    // Unpublish: gone from the catalog, subscriber reads stop; the fork stays.
    const gone = await call("DELETE", `/v1/memstore/listings/${listing.id}`, { key: pub.key });
    expect(gone.status).toBe(200);
    expectError(await search(reader.key, listing.id, "bread"), 404, "not_found");
    expectError(await call("GET", `/v1/memstore/listings/${listing.id}`, { key: reader.key }), 404, "not_found");
    expect((await call("GET", "/v1/memstore/listings?scope=subscribed", { key: reader.key })).body.data).toEqual([]);
    const kept = (await call("GET", `/v1/memories?cube_id=${target}&limit=50`, { key: reader.key })).body.data;
    expect(kept.map((m: { content: string }) => m.content)).toContain("Rest bread dough for an hour before shaping");
  });

  it("unsubscribing stops reads", async () => {
    const pub = await publisher();
    const listing = await publish(pub.key, pub.cubeId, { visibility: "public" });
    await untilReady(pub.key, listing.id, 1);
    const reader = await newTenant(["read", "write"]);
    expect((await call("POST", `/v1/memstore/listings/${listing.id}/subscription`, { key: reader.key })).status).toBe(201);
    expect((await search(reader.key, listing.id, "bread")).status).toBe(200);
    expect((await call("DELETE", `/v1/memstore/listings/${listing.id}/subscription`, { key: reader.key })).status).toBe(200);
    expectError(await search(reader.key, listing.id, "bread"), 403, "forbidden");
    expectError(await call("DELETE", `/v1/memstore/listings/${listing.id}/subscription`, { key: reader.key }), 404, "not_found");
  });
});

describe("erasure", { timeout: 60_000 }, () => {
  it("deleting the source cube unpublishes its listings and destroys their snapshots; forks stay", async () => {
    const tenant = await newTenant(["read", "write", "admin"]);
    const cubeId = await newCube(tenant.key);
    const written = await call("POST", "/v1/memories", { key: tenant.key, body: { cube_id: cubeId, memories: [{ content: "Scones want cold butter" }] } });
    expect(written.status).toBe(201);
    const listing = await publish(tenant.key, cubeId, { visibility: "public" });
    await untilReady(tenant.key, listing.id, 1);
    const reader = await newTenant(["read", "write"]);
    await subscribeAs(reader.key, listing.id);
    const target = await newCube(reader.key);
    const forked = await call("POST", `/v1/memstore/listings/${listing.id}/fork`, { key: reader.key, body: { cube_id: target } });
    expect((await finishJob(reader.key, reader.tenantId, target, forked.body.job_id)).status).toBe("done");
    const { snapshot_key: key } = await versionRow(listing.id, 1);

    expect((await call("DELETE", `/v1/cubes/${cubeId}`, { key: tenant.key })).status).toBe(200);
    expectError(await call("GET", `/v1/memstore/listings/${listing.id}`, { key: tenant.key }), 404, "not_found");
    expectError(await search(reader.key, listing.id, "scones"), 404, "not_found");
    expect(await env.ARCHIVE.head(key)).toBeNull();
    const count = await env.DB.prepare("SELECT count(*) AS n FROM memstore_subscriptions WHERE listing_id = ?").bind(listing.id).first<{ n: number }>();
    expect(count?.n).toBe(0);
    const kept = (await call("GET", `/v1/memories?cube_id=${target}`, { key: reader.key })).body.data.map((m: { content: string }) => m.content);
    expect(kept).toEqual(["Scones want cold butter"]);
  });
});

describe("erasure after the commit", { timeout: 120_000 }, () => {
  it("deleting the source cube commits even when a snapshot cube cannot be destroyed; the others are destroyed after the answer", async () => {
    const tenant = await newTenant(["read", "write", "admin"]);
    const cubeId = await newCube(tenant.key);
    expect((await call("POST", "/v1/memories", { key: tenant.key, body: { cube_id: cubeId, memories: [{ content: "Crumpets need a hot griddle" }] } })).status).toBe(201);
    const listing = await publish(tenant.key, cubeId, { visibility: "public" });
    await untilReady(tenant.key, listing.id, 1);
    expect((await call("POST", `/v1/memstore/listings/${listing.id}/versions`, { key: tenant.key })).status).toBe(201);
    await untilReady(tenant.key, listing.id, 2);
    const [broken, healthy] = [await versionRow(listing.id, 1), await versionRow(listing.id, 2)];
    // Version 1's snapshot cube fails to be destroyed: in the request, that failed the whole deletion.
    await runInDurableObject(env.CUBE.getByName(cubeObjectName(broken.tenant_id, broken.snapshot_cube_id)), (instance: CubeDurableObject) => {
      (instance as unknown as { portability: { memoryAndVectorIds: () => string[] } }).portability.memoryAndVectorIds = () => {
        throw new Error("snapshot cube unavailable");
      };
    });

    const deleted = await call("DELETE", `/v1/cubes/${cubeId}`, { key: tenant.key });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    // Gone for every reader from the commit on.
    expectError(await call("GET", `/v1/memstore/listings/${listing.id}`, { key: tenant.key }), 404, "not_found");
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM memstore_versions WHERE listing_id = ?").bind(listing.id).first<{ n: number }>();
    expect(rows?.n).toBe(0);
    // The other snapshot cube is destroyed after the answer.
    for (let i = 0; i < 100 && (await env.ARCHIVE.head(healthy.snapshot_key)) !== null; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await env.ARCHIVE.head(healthy.snapshot_key)).toBeNull();
  });
});

describe("webhooks of a fork", { timeout: 120_000 }, () => {
  it("the forking tenant's import reaches the forking tenant's webhooks only, never the publisher's", async () => {
    const pub = await publisher();
    const hooks = { url: "https://receiver.example/hooks", events: ["memory.created", "job.completed"] };
    expect((await call("POST", "/v1/webhooks", { key: pub.key, body: hooks })).status).toBe(201);
    const listing = await publish(pub.key, pub.cubeId, { visibility: "public" });
    await untilReady(pub.key, listing.id, 1);
    const reader = await newTenant(["read", "write", "admin"]);
    expect((await call("POST", "/v1/webhooks", { key: reader.key, body: hooks })).status).toBe(201);
    const target = await newCube(reader.key);
    const forked = await call("POST", `/v1/memstore/listings/${listing.id}/fork`, { key: reader.key, body: { cube_id: target } });
    expect((await finishJob(reader.key, reader.tenantId, target, forked.body.job_id)).status).toBe("done");
    // The outbox drains on the alarm; the queue fans out to the tenant's webhooks.
    await runDurableObjectAlarm(env.CUBE.getByName(cubeObjectName(reader.tenantId, target)));
    const naming = (cubeId: string) =>
      env.DB.prepare("SELECT tenant_id, event_type FROM webhook_deliveries WHERE json_extract(payload, '$.cube_id') = ?").bind(cubeId).all<{ tenant_id: string; event_type: string }>();
    let rows = (await naming(target)).results;
    for (let i = 0; i < 100 && !rows.some((row) => row.event_type === "job.completed"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      rows = (await naming(target)).results;
    }
    expect(rows.map((row) => row.event_type)).toContain("job.completed");
    expect(new Set(rows.map((row) => row.tenant_id))).toEqual(new Set([reader.tenantId]));
    const publishers = await env.DB.prepare("SELECT payload FROM webhook_deliveries WHERE tenant_id = ?").bind(pub.tenantId).all<{ payload: string }>();
    expect(publishers.results.filter((row) => row.payload.includes(target) || row.payload.includes(forked.body.job_id))).toEqual([]);
  });
});

describe("webhooks of a publication", { timeout: 120_000 }, () => {
  it("name the source cube's snapshot job, never the internal snapshot cube's import or memories", async () => {
    const pub = await publisher();
    const events = ["memory.created", "memory.expired", "memory.archived", "job.completed", "job.failed"];
    expect((await call("POST", "/v1/webhooks", { key: pub.key, body: { url: "https://receiver.example/hooks", events } })).status).toBe(201);
    const listing = await publish(pub.key, pub.cubeId);
    await untilReady(pub.key, listing.id, 1);
    const { snapshot_cube_id: snapshotCubeId } = await versionRow(listing.id, 1);
    // The snapshot cube's alarm has run (its import, and the drain after it); now the source cube's drain.
    await runDurableObjectAlarm(env.CUBE.getByName(cubeObjectName(pub.tenantId, pub.cubeId)));
    const delivered = async () =>
      (await env.DB.prepare("SELECT payload FROM webhook_deliveries WHERE tenant_id = ?").bind(pub.tenantId).all<{ payload: string }>()).results.map(
        (row) => JSON.parse(row.payload) as { type: string; cube_id: string; data: { job_id?: string; job_type?: string } },
      );
    let payloads = await delivered();
    for (let i = 0; i < 100 && !payloads.some((event) => event.cube_id === pub.cubeId); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      payloads = await delivered();
    }
    expect(payloads.filter((event) => event.cube_id === pub.cubeId).map((event) => [event.type, event.data.job_type])).toEqual([["job.completed", "snapshot"]]);
    expect(payloads.filter((event) => event.cube_id === snapshotCubeId)).toEqual([]);
    // The snapshot cube did log its import: its events stay in its own log, past the outbox's cursor.
    const logged = await runInDurableObject(env.CUBE.getByName(cubeObjectName(pub.tenantId, snapshotCubeId)), (_instance, state) => ({
      completed: Number(state.storage.sql.exec("SELECT count(*) AS n FROM events WHERE type = 'job.completed'").one().n),
      pending: Number(state.storage.sql.exec("SELECT count(*) AS n FROM events WHERE seq > (SELECT last_seq FROM webhook_outbox)").one().n),
    }));
    expect(logged).toEqual({ completed: 1, pending: 0 });
  });
});

describe("a fork under way when the listing goes", { timeout: 120_000 }, () => {
  it("fails with the reason once the snapshot file is gone; what it imported stays", async () => {
    const tenant = await newTenant(["read", "write", "admin"]);
    const user = uniqueUser();
    const [seed] = await remember(tenant.key, user, [{ content: "Seed note about the cellar" }]);
    const cubeId = seed.cube_id as string;
    const stub = env.CUBE.getByName(cubeObjectName(tenant.tenantId, cubeId)) as DurableObjectStub<CubeDurableObject>;
    const ref = { tenantId: tenant.tenantId, cubeId, owner: `user:${user}` };
    // More memories than one import step loads (IMPORT_BATCH), so the fork is still running after its first step.
    const count = IMPORT_BATCH + 50;
    await runInDurableObject(stub, async (instance: CubeDurableObject) => {
      const items = Array.from({ length: count }, (_, n) => newMemory(`Cellar note ${n}: bottle ${n} rests on shelf ${n % 9}`));
      const outcome = await instance.remember(ref, items, { actor: "key_bulk", requestId: "req_bulk" });
      if (!outcome.ok) throw new Error(outcome.message);
    });
    const listing = await publish(tenant.key, cubeId, { visibility: "public" });
    await untilReady(tenant.key, listing.id, 1);
    const { snapshot_key: file } = await versionRow(listing.id, 1);

    const reader = await newTenant(["read", "write"]);
    const target = await newCube(reader.key);
    const forked = await call("POST", `/v1/memstore/listings/${listing.id}/fork`, { key: reader.key, body: { cube_id: target } });
    expect(forked.status).toBe(202);
    const targetStub = env.CUBE.getByName(cubeObjectName(reader.tenantId, target));
    await runDurableObjectAlarm(targetStub);
    const partway = (await call("GET", `/v1/jobs/${forked.body.job_id}`, { key: reader.key })).body;
    expect(partway).toMatchObject({ status: "running", progress: { done: IMPORT_BATCH } });

    expect((await call("DELETE", `/v1/memstore/listings/${listing.id}`, { key: tenant.key })).status).toBe(200);
    // The snapshot cubes are destroyed after the answer.
    for (let i = 0; i < 100 && (await env.ARCHIVE.head(file)) !== null; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await env.ARCHIVE.head(file)).toBeNull();

    const job = await finishJob(reader.key, reader.tenantId, target, forked.body.job_id);
    expect(job).toMatchObject({ status: "failed", progress: { done: IMPORT_BATCH } });
    expect(job.error).toMatch(/^the import file is gone .*MemStore listing it came from was unpublished/);
    const stats = (await call("GET", `/v1/cubes/${target}/stats`, { key: reader.key })).body;
    expect(Object.values(stats.states as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(IMPORT_BATCH);
  });
});

describe("MCP tools", { timeout: 60_000 }, () => {
  it("memos_find_listings and memos_search_listing call the same services", async () => {
    const pub = await publisher();
    const word = `mcp${crypto.randomUUID().slice(0, 8)}`;
    const listing = await publish(pub.key, pub.cubeId, { name: `${word} breads`, visibility: "public" });
    await untilReady(pub.key, listing.id, 1);
    const reader = await newTenant(["read", "write"]);
    const transport = new StreamableHTTPClientTransport(new URL("http://memos.test/mcp"), {
      requestInit: { headers: { Authorization: `Bearer ${reader.key}` } },
      fetch: (url, init) => exports.default.fetch(new Request(url, init)),
    });
    const client = new Client({ name: "memstore-test", version: "1.0.0" });
    await client.connect(transport);
    try {
      const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallToolResult;
      const found = await call("memos_find_listings", { q: word });
      expect(found.isError).toBeFalsy();
      expect((found.structuredContent as any).ids).toEqual([listing.id]);
      // Not subscribed yet: the tool answers the REST error, as a tool error.
      const refused = await call("memos_search_listing", { listing_id: listing.id, query: "bread" });
      expect(refused.isError).toBe(true);
      expect(JSON.stringify(refused.structuredContent)).toContain("forbidden");
      await subscribeAs(reader.key, listing.id);
      const hits = await call("memos_search_listing", { listing_id: listing.id, query: "bread dough" });
      expect(hits.isError, JSON.stringify(hits.content)).toBeFalsy();
      expect((hits.structuredContent as any).hits.map((h: { content: string }) => h.content)).toContain("Rest bread dough for an hour before shaping");
    } finally {
      await client.close();
    }
  });
});

async function subscribeAs(key: string, listingId: string) {
  const response = await call("POST", `/v1/memstore/listings/${listingId}/subscription`, { key });
  expect(response.status).toBe(201);
}
