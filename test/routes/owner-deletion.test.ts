/**
 * Deletion on request: DELETE /v1/owners/{owner} removes every cube of the owner — Durable Object storage, vectors,
 * R2 objects, D1 rows — and answers with a receipt; afterwards nothing of theirs can be found anywhere. DELETE
 * /v1/cubes/{id} does the same for one named cube.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cubePrefixes } from "../../durable-objects/cube/portability";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import type { Retrieval } from "../../src/adapters/factory";
import { VectorStore } from "../../durable-objects/cube/vector-store";
import { cubeObjectName } from "../../src/core/ids";
import { shardNames } from "../audit-helpers";
import { call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

const DAY = 86_400_000;
/** Every table of a cube that holds anything of its owner. */
const CUBE_TABLES = ["memories", "memory_versions", "events", "vector_blocks", "remote_vectors", "jobs", "episodes", "idempotency", "cube_identity"];

async function admin() {
  const created = await newTenant(["read", "write", "admin"]);
  const stubOf = (cubeId: string) => env.CUBE.getByName(cubeObjectName(created.tenantId, cubeId));
  return { ...created, stubOf };
}

const d1 = (query: string, ...params: unknown[]) =>
  env.DB.prepare(query)
    .bind(...params)
    .all<Record<string, unknown>>()
    .then((r) => r.results);

/** Rows per table in a cube's storage, and its local vector count and alarm. */
const cubeContents = (stub: DurableObjectStub) =>
  runInDurableObject(stub, async (_instance, state) => {
    const rows = Object.fromEntries(
      CUBE_TABLES.map((table) => [table, Number(state.storage.sql.exec(`SELECT count(*) AS n FROM ${table}`).one().n)]),
    );
    return { rows, vectors: new VectorStore(state.storage.sql).count(), alarm: await state.storage.getAlarm() };
  });

async function r2Keys(ref: CubeRef): Promise<string[]> {
  const keys: string[] = [];
  for (const prefix of cubePrefixes(ref)) keys.push(...(await env.ARCHIVE.list({ prefix })).objects.map((o) => o.key));
  return keys;
}

/** Rows of the tenant's audit objects (durable-objects/audit.ts): its shards, where the bookkeeping queue files entries, and its own. */
async function audited(tenantId: string, query: string, ...params: (string | number)[]) {
  const rows: Record<string, SqlStorageValue>[] = [];
  for (const name of [tenantId, ...(await shardNames(tenantId))]) {
    rows.push(...(await runInDurableObject(env.AUDIT.getByName(name), (_instance, state) => state.storage.sql.exec(query, ...params).toArray())));
  }
  return rows;
}

/** Waits for the audit middleware's background writes about a cube to land. */
async function auditRowsOf(tenantId: string, cubeId: string, atLeast: number) {
  for (let i = 0; i < 100; i++) {
    const rows = await audited(tenantId, "SELECT action FROM audit_log WHERE cube_id = ?", cubeId);
    if (rows.length >= atLeast) return rows;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return audited(tenantId, "SELECT action FROM audit_log WHERE cube_id = ?", cubeId);
}

/** Alice with a default cube (hot, archived, ingested memories, an export, a pending TTL) and a named cube. */
async function aliceEverywhere(key: string, tenantId: string, stubOf: (cubeId: string) => ReturnType<typeof env.CUBE.getByName>) {
  const alice = uniqueUser();
  const owner = `user:${alice}`;
  const [peanuts, bike] = await remember(key, alice, [
    { content: "Alice is allergic to peanuts.", tags: ["health"] },
    { content: "The old bicycle is in the shed.", importance: 0.1 },
    { content: "The door code is 4711.", ttl: 60 * 86_400 },
  ]);
  const defaultCube = peanuts.cube_id as string;
  const ingested = await call("POST", "/v1/memories", {
    key,
    body: { user_id: alice, sync: true, messages: [{ role: "user", name: "Alice", content: "I live in Lisbon." }] },
  });
  expect(ingested.status).toBe(200);
  const ref: CubeRef = { tenantId, cubeId: defaultCube, owner };
  const stub = stubOf(defaultCube);
  await runInDurableObject(stub, (instance) => {
    const later = Date.now() + 31 * DAY;
    instance.clock = () => later;
  });
  await runInDurableObject(stub, (instance) => instance.startJob(ref, "archive"));
  await runDurableObjectAlarm(stub);
  await runInDurableObject(stub, (instance) => {
    instance.clock = () => Date.now();
  });
  const exported = await call("POST", `/v1/cubes/${defaultCube}/export?include_vectors=true`, { key });
  expect([exported.status, exported.body.status]).toEqual([202, "done"]);

  const named = await call("POST", "/v1/cubes", { key, body: { user_id: alice, name: "recipes" } });
  expect(named.status).toBe(201);
  const namedCube = named.body.id as string;
  await call("POST", "/v1/memories", { key, body: { cube_id: namedCube, memories: [{ content: "Alice's pancake recipe needs buttermilk." }] } });
  const upload = (await call("GET", exported.body.download_url, { key })).body as string;
  const imported = await call("POST", `/v1/cubes/${namedCube}/import`, { key, raw: upload, headers: { "Content-Type": "application/x-ndjson" } });
  expect(imported.status).toBe(202);
  for (let i = 0; i < 10 && (await call("GET", `/v1/jobs/${imported.body.job_id}`, { key })).body.status !== "done"; i++) {
    await runDurableObjectAlarm(stubOf(namedCube));
  }
  expect((await call("GET", `/v1/jobs/${imported.body.job_id}`, { key })).body.status).toBe("done");
  return { alice, owner, defaultCube, namedCube, peanuts, bike, exported: exported.body, refs: [ref, { tenantId, cubeId: namedCube, owner }] };
}

describe("DELETE /v1/owners/{owner}", () => {
  it("removes every cube of the owner everywhere, with a receipt; nothing of theirs can be found afterwards", async () => {
    const { key, tenantId, stubOf } = await admin();
    const a = await aliceEverywhere(key, tenantId, stubOf);
    // Bob shares with Alice, and Alice with Bob: both grants are Alice's.
    const bob = uniqueUser();
    const [bobs] = await remember(key, bob, [{ content: "Bob is allergic to shellfish." }]);
    expect((await call("POST", `/v1/cubes/${bobs.cube_id}/grants`, { key, body: { principal: a.owner, permission: "read" } })).status).toBe(201);
    expect((await call("POST", `/v1/cubes/${a.namedCube}/grants`, { key, body: { principal: `user:${bob}`, permission: "read" } })).status).toBe(201);

    // Before: everything is there.
    expect((await cubeContents(stubOf(a.defaultCube))).rows.memories).toBeGreaterThan(0);
    expect((await cubeContents(stubOf(a.defaultCube))).alarm).not.toBeNull();
    expect((await auditRowsOf(tenantId, a.defaultCube, 3)).length).toBeGreaterThanOrEqual(3);
    // A search across her cube and Bob's is audited under both (cube_id null, detail.cube_ids).
    expect((await call("POST", "/v1/search", { key, body: { cube_ids: [a.defaultCube, bobs.cube_id], query: "allergic" } })).status).toBe(200);
    // R2 as deletion finds it (the search above may have brought an archived memory back from R2).
    const keysBefore = [...(await r2Keys(a.refs[0]!)), ...(await r2Keys(a.refs[1]!))];
    expect(keysBefore.map((k) => k.split("/")[0]).sort()).toEqual(expect.arrayContaining(["archive", "episodes", "exports", "imports"]));
    for (let i = 0; i < 100 && (await audited(tenantId, "SELECT seq FROM audit_log WHERE action = 'search'")).length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(JSON.stringify(await audited(tenantId, "SELECT detail FROM audit_log WHERE action = 'search'"))).toContain(a.defaultCube);
    const liveBefore = (await call("GET", `/v1/memories?user_id=${a.alice}&limit=100`, { key })).body.data.length;

    // Another tenant's admin cannot reach her; a key without admin scope may not delete.
    const stranger = await admin();
    const foreign = await call("DELETE", `/v1/owners/${encodeURIComponent(a.owner)}`, { key: stranger.key });
    expect([foreign.status, errorOf(foreign).message]).toEqual([404, "owner not found"]);
    const writer = (await call("POST", "/v1/keys", { key, body: { scopes: ["read", "write"] } })).body.key as string;
    const refused = await call("DELETE", `/v1/owners/${encodeURIComponent(a.owner)}`, { key: writer });
    expect([refused.status, errorOf(refused).code]).toEqual([403, "forbidden"]);

    const deleted = await call("DELETE", `/v1/owners/${encodeURIComponent(a.owner)}`, { key });
    expect(deleted.status).toBe(200);
    const receipt = deleted.body;
    expect(receipt).toMatchObject({ owner: a.owner, r2_objects_deleted: keysBefore.length });
    expect(receipt.receipt_id).toMatch(/^del_[0-9a-z]{16}$/);
    expect([...receipt.cubes].sort()).toEqual([a.defaultCube, a.namedCube].sort());
    expect(receipt.memories_deleted).toBeGreaterThanOrEqual(liveBefore + 1);
    expect(receipt.vectors_deleted).toBeGreaterThan(0);
    expect(Date.parse(receipt.deleted_at)).toBeLessThanOrEqual(Date.now());

    // D1: no cube, owner or grant of hers, no audit row naming her cubes; one audit row says the deletion happened,
    // with the owner as a hash only.
    const cubeIds = [a.defaultCube, a.namedCube];
    expect(await d1("SELECT id FROM cubes WHERE tenant_id = ? AND owner = ?", tenantId, a.owner)).toEqual([]);
    expect(await d1("SELECT owner FROM owners WHERE tenant_id = ? AND owner = ?", tenantId, a.owner)).toEqual([]);
    expect(await d1("SELECT * FROM grants WHERE principal = ? OR cube_id IN (?, ?)", a.owner, ...cubeIds)).toEqual([]);
    expect(await d1("SELECT * FROM audit_log WHERE cube_id IN (?, ?)", ...cubeIds)).toEqual([]);
    expect(await audited(tenantId, "SELECT * FROM audit_log WHERE cube_id IN (?, ?)", ...cubeIds)).toEqual([]);
    // (The refused attempt above is audited too, as a 403 without her id.)
    const audit = await d1("SELECT actor, action, cube_id, detail FROM audit_log WHERE tenant_id = ? AND action = 'owner.delete' AND status = 200", tenantId);
    expect(audit).toHaveLength(1);
    const detail = JSON.parse(String(audit[0]!.detail));
    expect(detail).toMatchObject({ receipt_id: receipt.receipt_id, cubes: receipt.cubes, memories_deleted: receipt.memories_deleted });
    expect(detail.owner_sha256).toMatch(/^[0-9a-f]{64}$/);
    const everything = JSON.stringify([...(await d1("SELECT * FROM audit_log WHERE tenant_id = ?", tenantId)), ...(await audited(tenantId, "SELECT * FROM audit_log"))]);
    expect(everything).not.toContain(a.alice);
    // Apart from the receipt, no audit row names her cubes or memories (the cross-cube search row went too).
    const others = JSON.stringify([
      ...(await d1("SELECT * FROM audit_log WHERE tenant_id = ? AND action != 'owner.delete'", tenantId)),
      ...(await audited(tenantId, "SELECT * FROM audit_log WHERE action != 'owner.delete'")),
    ]);
    for (const cubeId of cubeIds) expect(others).not.toContain(cubeId.slice("cube_".length));
    // Bob and his cube are untouched.
    expect((await call("GET", `/v1/memories/${bobs.id}`, { key })).status).toBe(200);
    expect(await d1("SELECT id FROM cubes WHERE id = ?", bobs.cube_id)).toHaveLength(1);

    // The API finds nothing.
    const gone = await call("GET", `/v1/memories/${a.peanuts.id}`, { key });
    expect([gone.status, errorOf(gone).code]).toEqual([404, "not_found"]);
    expect((await call("GET", `/v1/memories?user_id=${a.alice}`, { key })).body.data).toEqual([]);
    expect((await call("POST", "/v1/search", { key, body: { user_id: a.alice, query: "peanuts allergic" } })).body.data).toEqual([]);
    expect((await call("GET", `/v1/cubes/${a.namedCube}`, { key })).status).toBe(404);
    expect((await call("GET", a.exported.download_url, { key })).status).toBe(404);

    // The cubes' storage is empty, with no alarm and no vectors — in the live object and in a fresh instance of it.
    const empty = { rows: Object.fromEntries(CUBE_TABLES.map((t) => [t, 0])), vectors: 0, alarm: null };
    for (const cubeId of cubeIds) {
      expect(await cubeContents(stubOf(cubeId))).toEqual(empty);
      await evictDurableObject(stubOf(cubeId));
      expect(await cubeContents(stubOf(cubeId))).toEqual(empty);
    }
    // R2: nothing under any of her cubes' prefixes.
    for (const ref of a.refs) expect(await r2Keys(ref)).toEqual([]);

    // A second deletion finds nobody; writing for her again starts from nothing.
    const again = await call("DELETE", `/v1/owners/${encodeURIComponent(a.owner)}`, { key });
    expect([again.status, errorOf(again).message]).toEqual([404, "owner not found"]);
    const [fresh] = await remember(key, a.alice, [{ content: "A new beginning." }]);
    expect(fresh.cube_id).toBe(a.defaultCube);
    expect((await call("GET", `/v1/memories?user_id=${a.alice}`, { key })).body.data.map((m: any) => m.content)).toEqual(["A new beginning."]);
  }, 60_000);

  it("refuses malformed owners and unknown ones", async () => {
    const { key } = await admin();
    for (const owner of ["alice", "user:", "robot:alice", "user:al ice"]) {
      const response = await call("DELETE", `/v1/owners/${encodeURIComponent(owner)}`, { key });
      expect([owner, response.status, errorOf(response).code]).toEqual([owner, 400, "invalid_request"]);
    }
    const unknown = await call("DELETE", `/v1/owners/${encodeURIComponent(`agent:${uniqueUser()}`)}`, { key });
    expect([unknown.status, errorOf(unknown).code]).toEqual([404, "not_found"]);
    expect((await call("DELETE", "/v1/owners/user%3Aalice")).status).toBe(401);
  });
});

describe("DELETE /v1/cubes/{id}", () => {
  it("deletes one named cube everywhere and keeps the owner; a default cube goes only with its owner", async () => {
    const { key, tenantId, stubOf } = await admin();
    const a = await aliceEverywhere(key, tenantId, stubOf);
    const namedRef = a.refs[1]!;
    expect((await r2Keys(namedRef)).length).toBeGreaterThan(0);

    const refusedDefault = await call("DELETE", `/v1/cubes/${a.defaultCube}`, { key });
    expect([refusedDefault.status, errorOf(refusedDefault).code]).toEqual([409, "conflict"]);
    const stranger = await admin();
    expect((await call("DELETE", `/v1/cubes/${a.namedCube}`, { key: stranger.key })).status).toBe(404);

    // With a shared index (Vectorize in production), the cube deletes every memory's vector there by id.
    const remoteDeletes: { namespace: string; ids: string[] }[] = [];
    const memoryIds = await runInDurableObject(stubOf(a.namedCube), (instance, state) => {
      const cube = instance as unknown as { retrieval: Retrieval; retrievalAdapters: Retrieval | null };
      cube.retrievalAdapters = {
        ...cube.retrieval,
        remoteIndex: {
          upsert: async () => {},
          query: async () => [],
          delete: async (namespace, ids) => void remoteDeletes.push({ namespace, ids: [...ids] }),
          fetch: async () => [],
        },
      };
      return state.storage.sql.exec("SELECT id FROM memories").toArray().map((row) => String(row.id));
    });
    expect(memoryIds.length).toBeGreaterThan(1);

    const deleted = await call("DELETE", `/v1/cubes/${a.namedCube}`, { key });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ owner: a.owner, cubes: [a.namedCube], memories_deleted: memoryIds.length, vectors_deleted: memoryIds.length });
    expect(remoteDeletes.map((d) => d.namespace)).toEqual([a.namedCube]);
    expect(remoteDeletes[0]!.ids.sort()).toEqual([...memoryIds].sort());
    expect(await r2Keys(namedRef)).toEqual([]);
    expect(await cubeContents(stubOf(a.namedCube))).toEqual({ rows: Object.fromEntries(CUBE_TABLES.map((t) => [t, 0])), vectors: 0, alarm: null });
    expect(await d1("SELECT id FROM cubes WHERE id = ?", a.namedCube)).toEqual([]);
    expect(await d1("SELECT * FROM audit_log WHERE tenant_id = ? AND action = 'cube.delete' AND status = 200 AND cube_id = ?", tenantId, a.namedCube)).toHaveLength(1);
    expect((await call("GET", `/v1/cubes/${a.namedCube}`, { key })).status).toBe(404);
    expect((await call("DELETE", `/v1/cubes/${a.namedCube}`, { key })).status).toBe(404);

    // Her default cube and her directory entry are still there.
    expect((await call("GET", `/v1/memories/${a.peanuts.id}`, { key })).status).toBe(200);
    expect(await d1("SELECT owner FROM owners WHERE tenant_id = ? AND owner = ?", tenantId, a.owner)).toHaveLength(1);
    expect((await r2Keys(a.refs[0]!)).length).toBeGreaterThan(0);
  }, 60_000);
});
