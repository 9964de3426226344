/**
 * Erasure completeness (issue 16, D5 and item 5): after DELETE /v1/owners/{owner} nothing in D1, the cube's storage
 * or R2 names the owner or holds their content — apart from the documented hashed receipt and the `owner.deleted`
 * event until it is delivered. Every D1 table is enumerated from sqlite_master, so a table added later is scanned too.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cubeObjectName } from "../../src/core/ids";
import { createDeps } from "../../src/deps";
import type { Deps } from "../../src/services/context";
import { attemptDelivery, fanOut } from "../../src/services/webhook-delivery";
import { call, errorOf, newTenant, remember, uniqueUser } from "../helpers";
import { createReceiver } from "../webhook-receiver";

const d1 = (query: string, ...params: unknown[]) =>
  env.DB.prepare(query)
    .bind(...params)
    .all<Record<string, unknown>>()
    .then((r) => r.results);

/** Every row of every D1 table, as text, with the table it came from. */
async function everyD1Row(): Promise<{ table: string; row: Record<string, unknown>; text: string }[]> {
  const tables = await d1("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'");
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(["api_keys", "audit_log", "cubes", "owners", "grants", "webhook_deliveries"]));
  const out: { table: string; row: Record<string, unknown>; text: string }[] = [];
  for (const { name } of tables) {
    for (const row of await d1(`SELECT * FROM "${String(name)}"`)) out.push({ table: String(name), row, text: JSON.stringify(row) });
  }
  return out;
}

/** Every row of every table in a cube's storage (FTS shadow tables included), as text. */
const everyCubeRow = (stub: DurableObjectStub) =>
  runInDurableObject(stub, (_instance, state) => {
    const tables = state.storage.sql
      .exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
      .toArray()
      .map((row) => String(row.name));
    return tables.flatMap((table) => state.storage.sql.exec(`SELECT * FROM "${table}"`).toArray().map((row) => `${table}: ${JSON.stringify(row)}`));
  });

async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await probe();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const mint = async (key: string, body: object) => {
  const minted = await call("POST", "/v1/keys", { key, body: { scopes: ["read", "write"], ...body } });
  expect(minted.status).toBe(201);
  return minted.body as { id: string; key: string };
};

describe("owner erasure leaves nothing that names the owner", () => {
  it("revokes or narrows keys, removes webhook deliveries, and every D1 table and the cube's storage are clean", async () => {
    const { key, tenantId } = await newTenant(["read", "write", "admin"]);
    const alice = uniqueUser();
    const bob = uniqueUser();
    const owner = `user:${alice}`;
    const marker = `zqx${crypto.randomUUID().replaceAll("-", "")}`;
    const hook = await call("POST", "/v1/webhooks", { key, body: { url: "https://receiver.example/hooks", events: ["memory.created", "memory.updated", "owner.deleted"] } });
    expect(hook.status).toBe(201);

    // Her content everywhere a caller can put it: content, tags, metadata, an ingested session, an idempotent write.
    const [first] = await remember(key, alice, [{ content: `Alice keeps ${marker} in the attic.`, tags: [`${marker}tag`], metadata: { note: `${marker}meta` } }]);
    const cubeId = first.cube_id as string;
    const idempotent = await call("POST", "/v1/memories", {
      key,
      headers: { "Idempotency-Key": `${marker}-idem` },
      body: { user_id: alice, memories: [{ content: `Second ${marker} fact.` }] },
    });
    expect(idempotent.status).toBe(201);
    const ingested = await call("POST", "/v1/memories", {
      key,
      body: { user_id: alice, sync: true, session_id: `${marker}sess`, messages: [{ role: "user", content: `I moved to ${marker}ville.` }] },
    });
    expect(ingested.status).toBe(200);
    const named = await call("POST", "/v1/cubes", { key, body: { user_id: alice, name: `${marker}cube` } });
    expect(named.status).toBe(201);
    const namedCube = named.body.id as string;
    const [bobs] = await remember(key, bob, [{ content: "Bob likes tea." }]);

    // Keys: hers alone, hers and Bob's, confined to her named cube, one already revoked — and one of Bob's.
    const hersAlone = await mint(key, { allowed_owners: [owner] });
    const shared = await mint(key, { allowed_owners: [owner, `user:${bob}`] });
    const cubeOnly = await mint(key, { allowed_cubes: [namedCube] });
    const oldOne = await mint(key, { allowed_owners: [owner] });
    expect((await call("DELETE", `/v1/keys/${oldOne.id}`, { key })).status).toBe(200);
    const bobsKey = await mint(key, { allowed_owners: [`user:${bob}`] });
    // Used once, so this isolate caches it: revocation must reach the cache.
    expect((await call("GET", `/v1/memories?user_id=${alice}`, { key: hersAlone.key })).status).toBe(200);

    // Deliveries naming her exist before the deletion (the outbox drains on the alarm, the queue fans out).
    await runDurableObjectAlarm(env.CUBE.getByName(cubeObjectName(tenantId, cubeId)));
    await until(
      () => d1("SELECT id FROM webhook_deliveries WHERE tenant_id = ? AND json_extract(payload, '$.owner') = ?", tenantId, owner),
      (rows) => rows.length > 0,
      "her deliveries",
    );
    const before = (await everyD1Row()).filter((r) => r.text.includes(alice));
    expect(new Set(before.map((r) => r.table))).toEqual(new Set(["api_keys", "owners", "cubes", "webhook_deliveries"]));

    const deleted = await call("DELETE", `/v1/owners/${encodeURIComponent(owner)}`, { key });
    expect(deleted.status).toBe(200);
    expect([...deleted.body.cubes].sort()).toEqual([cubeId, namedCube].sort());

    // Keys: revoked through the key path (the cached one is refused at once), narrowed, or redacted.
    const refused = await call("GET", `/v1/memories?user_id=${bob}`, { key: hersAlone.key });
    expect([refused.status, errorOf(refused).code]).toEqual([401, "unauthorized"]);
    expect((await call("GET", `/v1/memories?user_id=${bob}`, { key: cubeOnly.key })).status).toBe(401);
    expect((await call("GET", `/v1/memories/${bobs.id}`, { key: shared.key })).status).toBe(200);
    expect((await call("GET", `/v1/memories/${bobs.id}`, { key: bobsKey.key })).status).toBe(200);
    const keys = new Map<string, any>((await call("GET", "/v1/keys", { key })).body.data.map((k: any) => [k.id, k]));
    expect(keys.get(hersAlone.id)).toMatchObject({ allowed_owners: [], revoked_at: expect.any(String) });
    expect(keys.get(shared.id)).toMatchObject({ allowed_owners: [`user:${bob}`], revoked_at: null });
    expect(keys.get(cubeOnly.id)).toMatchObject({ allowed_cubes: [], revoked_at: expect.any(String) });
    expect(keys.get(oldOne.id)).toMatchObject({ allowed_owners: [] });
    expect(keys.get(bobsKey.id)).toMatchObject({ allowed_owners: [`user:${bob}`], revoked_at: null });

    // The owner.deleted event names her until it is delivered — the one documented exception; it arrives with her id,
    // then the stored copy keeps her SHA-256 only.
    const [announced] = await until(
      () => d1("SELECT id, payload FROM webhook_deliveries WHERE tenant_id = ? AND event_type = 'owner.deleted'", tenantId),
      (rows) => rows.length > 0,
      "the owner.deleted delivery",
    );
    const receiver = createReceiver({ secret: hook.body.secret, toleranceSeconds: 7200 });
    const later: Deps = { ...createDeps(env), clock: () => Date.now() + 3600_000 };
    const hooks = { queue: { sendBatch: async () => {} }, fetch: receiver.fetch, policy: { local: true } };
    expect(await attemptDelivery(later, hooks, String(announced!.id))).toEqual({ ack: true });
    expect(receiver.handled).toEqual([expect.objectContaining({ type: "owner.deleted" })]);
    expect(JSON.parse(receiver.requests[0]!.body).owner).toBe(owner);
    const kept = JSON.parse(String((await d1("SELECT payload FROM webhook_deliveries WHERE id = ?", announced!.id))[0]!.payload));
    expect(kept).toMatchObject({ type: "owner.deleted", owner: null, data: { owner_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });

    // Every D1 table: no row names her id, her content or her cubes — except the receipt, which names her cubes.
    const rows = await everyD1Row();
    const isReceipt = (r: { table: string; row: Record<string, unknown> }) =>
      (r.table === "audit_log" && r.row.action === "owner.delete") || (r.table === "webhook_deliveries" && r.row.event_type === "owner.deleted");
    expect(rows.filter((r) => r.text.includes(alice) || r.text.includes(marker)).map((r) => r.table)).toEqual([]);
    for (const id of [cubeId, namedCube]) {
      expect(rows.filter((r) => r.text.includes(id.slice("cube_".length)) && !isReceipt(r)).map((r) => r.text)).toEqual([]);
    }
    // Bob's deliveries and rows are still there.
    expect(rows.some((r) => r.table === "cubes" && r.row.id === bobs.cube_id)).toBe(true);

    // The cubes' storage holds nothing (every table, FTS shadow tables included); R2 holds nothing of hers.
    const memoryBody = String(first.id).slice("mem_".length);
    for (const id of [cubeId, namedCube]) {
      const left = await everyCubeRow(env.CUBE.getByName(cubeObjectName(tenantId, id)));
      // Only the fresh schema's own bookkeeping rows (versions, FTS config, the outbox cursor) are there.
      expect(left.length).toBeGreaterThan(0);
      expect(left.filter((row) => [alice, marker, memoryBody, "memories:", "events:", "idempotency:"].some((s) => row.includes(s)))).toEqual([]);
    }
    const r2 = (await env.ARCHIVE.list()).objects.map((o) => o.key);
    expect(r2.filter((k) => k.includes(cubeId) || k.includes(namedCube))).toEqual([]);
  }, 60_000);

  it("deleting one named cube narrows keys confined to it and removes its deliveries; the owner keeps the rest", async () => {
    const { key, tenantId } = await newTenant(["read", "write", "admin"]);
    const alice = uniqueUser();
    const owner = `user:${alice}`;
    await call("POST", "/v1/webhooks", { key, body: { url: "https://receiver.example/hooks", events: ["memory.created"] } });
    const [kept] = await remember(key, alice, [{ content: "Alice keeps this." }]);
    const named = (await call("POST", "/v1/cubes", { key, body: { user_id: alice, name: "drafts" } })).body.id as string;
    expect((await call("POST", "/v1/memories", { key, body: { cube_id: named, memories: [{ content: "A draft." }] } })).status).toBe(201);
    const both = await mint(key, { allowed_cubes: [named, kept.cube_id] });
    const onlyNamed = await mint(key, { allowed_cubes: [named] });
    const hers = await mint(key, { allowed_owners: [owner] });
    await runDurableObjectAlarm(env.CUBE.getByName(cubeObjectName(tenantId, named)));
    await until(
      () => d1("SELECT id FROM webhook_deliveries WHERE tenant_id = ? AND json_extract(payload, '$.cube_id') = ?", tenantId, named),
      (rows) => rows.length > 0,
      "the named cube's deliveries",
    );

    const deletedAt = Date.now();
    expect((await call("DELETE", `/v1/cubes/${named}`, { key })).status).toBe(200);
    expect(await d1("SELECT id FROM webhook_deliveries WHERE tenant_id = ? AND json_extract(payload, '$.cube_id') = ?", tenantId, named)).toEqual([]);
    // An event still on the queue when the deletion committed makes no delivery; one of the cube made again later does.
    const event = (at: number) => ({
      id: `evt_late_${crypto.randomUUID()}`,
      type: "memory.created" as const,
      created_at: new Date(at).toISOString(),
      tenant_id: tenantId,
      cube_id: named,
      owner,
      data: { memory_id: "mem_0123456789abcdef0123456789abcdef", version: 1 },
    });
    const hooks = { queue: { sendBatch: async () => {} }, fetch: async () => new Response(null, { status: 204 }), policy: { local: true } };
    expect(await fanOut(createDeps(env), hooks, tenantId, [event(deletedAt - 1000)])).toEqual([]);
    expect(await fanOut(createDeps(env), hooks, tenantId, [event(Date.now() + 60_000)])).toHaveLength(1);
    // The tombstone holds the cube id's hash only.
    expect(JSON.stringify(await d1("SELECT * FROM erased_cubes WHERE tenant_id = ?", tenantId))).not.toContain(named);
    const keys = new Map<string, any>((await call("GET", "/v1/keys", { key })).body.data.map((k: any) => [k.id, k]));
    expect(keys.get(both.id)).toMatchObject({ allowed_cubes: [kept.cube_id], revoked_at: null });
    expect(keys.get(onlyNamed.id)).toMatchObject({ allowed_cubes: [], revoked_at: expect.any(String) });
    expect(keys.get(hers.id)).toMatchObject({ allowed_owners: [owner], revoked_at: null });
    expect((await call("GET", `/v1/memories/${kept.id}`, { key: both.key })).status).toBe(200);
    expect((await call("GET", `/v1/memories/${kept.id}`, { key: hers.key })).status).toBe(200);
  }, 60_000);
});
