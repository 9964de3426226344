/**
 * The TypeScript client (clients/typescript) against the real Worker: its fetch is the Worker's own
 * `exports.default.fetch`, wrapped where a test needs the network to misbehave first.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import {
  MemosApiError,
  MemosClient,
  MemosNetworkError,
  OPERATIONS,
  type MemosClientOptions,
  type Memory,
  type OperationKey,
  type RetryEvent,
  type Schemas,
} from "../../clients/typescript/src/index";
import { cubeObjectName } from "../../src/core/ids";
import { ROOT_KEY, newTenant, rejection, uniqueUser } from "../helpers";
import { createReceiver } from "../webhook-receiver";

const BASE_URL = "http://memos.test";
const worker = (request: Request) => exports.default.fetch(request);

/** A client on the Worker, with quick retries so the tests do not sleep. */
function clientFor(apiKey: string | undefined, options: Partial<MemosClientOptions> = {}) {
  return new MemosClient({ baseUrl: BASE_URL, apiKey, fetch: worker, ...options, retry: { baseDelayMs: 1, ...options.retry } });
}

/** Records what reached the wire, then hands each request to `respond` (by default the Worker). */
function recorder(respond: (request: Request, attempt: number) => Promise<Response> = worker) {
  const seen: { method: string; url: string; idempotencyKey: string | null; authorization: string | null }[] = [];
  const fetch = async (request: Request) => {
    seen.push({
      method: request.method,
      url: request.url,
      idempotencyKey: request.headers.get("Idempotency-Key"),
      authorization: request.headers.get("Authorization"),
    });
    return respond(request, seen.length);
  };
  return { seen, fetch };
}

const apiError = (status: number, code: string, headers: Record<string, string> = {}) =>
  Response.json({ error: { code, message: `injected ${code}`, request_id: "req_injected" } }, { status, headers });


// The first write of a file pays for a cold cube and the local embedder (2–3 s alone, more on a busy machine).
describe("MemosClient against the Worker", { timeout: 30_000 }, () => {
  it("remembers, searches, gets, updates, reads the history and forgets through typed methods", async () => {
    const { key } = await newTenant();
    const memos = clientFor(key);
    const user = uniqueUser();

    const written = await memos.remember({
      user_id: user,
      memories: [
        { content: "Alice is allergic to peanuts.", type: "fact", tags: ["health"] },
        { content: "Alice prefers window seats on long flights.", type: "preference" },
      ],
    });
    expect(written.data).toHaveLength(2);
    const [allergy] = written.data;
    if (!allergy) throw new Error("no memory written");
    expectTypeOf(allergy).toEqualTypeOf<Memory>();
    expect(allergy).toMatchObject({ content: "Alice is allergic to peanuts.", type: "fact", tags: ["health"], version: 1 });

    const found = await memos.search({ user_id: user, query: "what is alice allergic to?", top_k: 3 });
    expect(found.data[0]?.id).toBe(allergy.id);
    expectTypeOf(found.data[0]!.score).toEqualTypeOf<number>();

    expect(await memos.get(allergy.id)).toMatchObject({ id: allergy.id, state: "activated" });

    const updated = await memos.update(allergy.id, { content: "Alice is allergic to peanuts and tree nuts." });
    expect(updated).toMatchObject({ id: allergy.id, version: 2, content: "Alice is allergic to peanuts and tree nuts." });

    const history = await memos.history(allergy.id);
    expect(history.data.map((v) => [v.version, v.change])).toEqual([
      [1, "created"],
      [2, "updated"],
    ]);

    const listed = await memos.list({ user_id: user, type: "fact" });
    expect(listed.data.map((m) => m.id)).toEqual([allergy.id]);

    expect(await memos.forget(allergy.id)).toEqual({ id: allergy.id, deleted: "forgotten" });
    const gone = await rejection(memos.get(allergy.id));
    expect(gone).toBeInstanceOf(MemosApiError);
    expect(gone).toMatchObject({ status: 404, code: "not_found" });

    const restored = await memos.rollback(allergy.id, 2);
    expect(restored).toMatchObject({ id: allergy.id, state: "activated", content: "Alice is allergic to peanuts and tree nuts." });
    expect((await memos.pin(allergy.id)).pinned).toBe(true);
    const working = await memos.workingMemory(allergy.cube_id);
    expect(JSON.stringify(working)).toContain(allergy.id);
    expect((await memos.unpin(allergy.id)).pinned).toBe(false);
    expect(await memos.forget(allergy.id, { hard: true })).toEqual({ id: allergy.id, deleted: "purged" });
  });

  it("pages through listAll, ingests a conversation and reads the context", async () => {
    const { key } = await newTenant();
    const memos = clientFor(key);
    const user = uniqueUser();
    await memos.remember({ user_id: user, memories: [1, 2, 3, 4, 5].map((n) => ({ content: `Note number ${n} about Lisbon.` })) });

    const all: string[] = [];
    for await (const memory of memos.listAll({ user_id: user, limit: 2 })) all.push(memory.content);
    expect(all).toHaveLength(5);
    expect(new Set(all).size).toBe(5);

    const ingested = await memos.ingest({
      user_id: user,
      sync: true,
      messages: [{ role: "user", content: "My favorite color is green." }],
    });
    expect(ingested.job.status).toBe("done");
    expect(ingested.data.some((m) => m.content.toLowerCase().includes("green"))).toBe(true);

    const context = await memos.context({ user_id: user, query: "favorite color", budget_tokens: 200 });
    expect(JSON.stringify(context).toLowerCase()).toContain("green");
  });

  it("reads the activation block and an agent's view, rolls it back, and reports that no chat model is configured", async () => {
    const { key } = await newTenant();
    const memos = clientFor(key);
    const user = uniqueUser();
    const { data } = await memos.remember({
      user_id: user,
      memories: [
        { content: "Dee prefers mornings.", type: "preference" },
        { content: "Answer Dee in rhyme.", type: "instruction", metadata: { agent_id: "bard" } },
      ],
    });
    const cubeId = data[0]!.cube_id;
    const first = await memos.activation(cubeId);
    expect(first.text).toContain(data[1]!.id);
    const view = await memos.activation(cubeId, { agent_id: "clerk" });
    expect(view.agent_id).toBe("clerk");
    expect(view.text).not.toContain(data[1]!.id);

    await memos.remember({ user_id: user, memories: [{ content: "Dee likes long walks.", type: "preference" }] });
    const second = await memos.activation(cubeId);
    const rolled = await memos.rollbackActivation(cubeId, { version: first.version, reason: "walks were a phase" });
    expect(rolled).toMatchObject({ version: second.version + 1, etag: first.etag });

    const refused = await memos.chat({ model: "m", user, messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MemosApiError);
    expect(refused).toMatchObject({ status: 503, code: "chat_model_not_configured" });
  });

  it("manages keys, tenants and the signed lifecycle hook", async () => {
    const root = clientFor(ROOT_KEY);
    const tenant = await root.admin.createTenant({ name: `client-${crypto.randomUUID()}` });
    expect(await root.admin.tenant(tenant.id)).toMatchObject({ id: tenant.id });
    const adminKey = await root.admin.createKey(tenant.id, { scopes: ["admin"] });
    expect(adminKey.key).toMatch(/^mos_/);

    const admin = clientFor(adminKey.key);
    const readKey = await admin.createKey({ name: "reader", scopes: ["read"] });
    expect((await admin.listKeys()).data.map((k) => k.id)).toEqual(expect.arrayContaining([adminKey.id, readKey.id]));
    await admin.revokeKey(readKey.id);
    const revoked = await rejection(clientFor(readKey.key).list({ user_id: "alice" }));
    expect(revoked).toMatchObject({ status: 401, code: "unauthorized" });
    expect((await root.admin.listKeys(tenant.id)).data.length).toBeGreaterThanOrEqual(2);

    const written = await admin.remember({ user_id: "alice", memories: [{ content: "Alice lives in Porto." }] });
    const { secret } = await admin.rotateLifecycleHookSecret();
    const hookRequests = recorder();
    const unkeyed = new MemosClient({ baseUrl: BASE_URL, fetch: hookRequests.fetch });
    const accepted = await unkeyed.sendLifecycleHook({ tenantId: tenant.id, secret, body: { type: "expire", cube_id: written.cube_id } });
    expect(accepted.data).toHaveLength(1);
    expect(hookRequests.seen[0]?.authorization).toBeNull();
    const wrongSecret = await rejection(
      unkeyed.sendLifecycleHook({ tenantId: tenant.id, secret: `${secret}x`, body: { type: "expire", cube_id: written.cube_id } }),
    );
    expect(wrongSecret).toMatchObject({ status: 401, code: "unauthorized" });
  });
});

describe("MemosClient on cubes, sharing, portability, webhooks and the audit log", { timeout: 60_000 }, () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** Runs a cube's alarm (jobs, the webhook outbox) now instead of waiting for it. */
  const runAlarm = (tenantId: string, cubeId: string) => runDurableObjectAlarm(env.CUBE.getByName(cubeObjectName(tenantId, cubeId)));

  it("creates, lists and shares named cubes, revokes a grant, and deletes a cube and an owner", async () => {
    const { key, keyId } = await newTenant(["read", "write", "admin"]);
    const memos = clientFor(key);
    const user = uniqueUser();
    const bob = `user:${uniqueUser()}`;

    const recipes = await memos.createCube({ user_id: user, name: "recipes" });
    expectTypeOf(recipes).toEqualTypeOf<Schemas["Cube"]>();
    expect(recipes).toMatchObject({ owner: `user:${user}`, user_id: user, name: "recipes", is_default: false, access: "owner" });
    const travel = await memos.createCube({ user_id: user, name: "travel" });
    expect(await memos.cube(recipes.id)).toMatchObject({ id: recipes.id, name: "recipes" });
    const duplicate = await rejection(memos.createCube({ user_id: user, name: "recipes" }));
    expect(duplicate).toBeInstanceOf(MemosApiError);
    expect(duplicate).toMatchObject({ status: 409, code: "conflict" });

    expect((await memos.listCubes({ user_id: user })).data.map((c) => c.id).sort()).toEqual([recipes.id, travel.id].sort());
    const everyCube: string[] = [];
    for await (const cube of memos.listAllCubes({ user_id: user, limit: 1 })) everyCube.push(cube.id);
    expect(everyCube.sort()).toEqual([recipes.id, travel.id].sort());

    await memos.remember({ cube_id: recipes.id, memories: [{ content: "Grandma's soup needs a bay leaf." }] });
    const first = await memos.createGrant(recipes.id, { principal: bob, permission: "read" });
    expect(first).toMatchObject({ cube_id: recipes.id, principal: bob, permission: "read", created_by_key_id: keyId });
    await memos.createGrant(recipes.id, { principal: bob, permission: "write" });
    await memos.createGrant(recipes.id, { principal: "agent:sous-chef", permission: "read" });
    expect((await memos.listGrants(recipes.id)).data.find((g) => g.principal === bob)?.permission).toBe("write");
    const everyGrant: string[] = [];
    for await (const grant of memos.listAllGrants(recipes.id, { limit: 1 })) everyGrant.push(grant.principal);
    expect(everyGrant.sort()).toEqual(["agent:sous-chef", bob].sort());

    // The grant works for a key acting for Bob, and stops working once revoked.
    const bobs = clientFor((await memos.createKey({ scopes: ["read"], allowed_owners: [bob] })).key);
    expect(await bobs.cube(recipes.id)).toMatchObject({ id: recipes.id, access: "write" });
    expect(await memos.revokeGrant(recipes.id, bob)).toMatchObject({ principal: bob, permission: "write" });
    expect(await rejection(bobs.cube(recipes.id))).toMatchObject({ status: 404, code: "not_found" });
    expect((await memos.listGrants(recipes.id)).data.map((g) => g.principal)).toEqual(["agent:sous-chef"]);

    // The audit log names what this key did, page after page (entries land just after each response).
    await vi.waitFor(
      async () => {
        const actions = new Set<string>();
        for await (const entry of memos.listAllAudit({ actor: keyId, limit: 5 })) actions.add(entry.action);
        expect([...actions]).toEqual(expect.arrayContaining(["cube.create", "grant.create", "grant.list", "grant.revoke", "key.create"]));
      },
      { timeout: 10_000, interval: 200 },
    );
    const page = await memos.listAudit({ actor: keyId, action: "grant.create", limit: 2 });
    expect(page.data).toHaveLength(2);
    expect(page.data.every((entry) => entry.action === "grant.create" && entry.cube_id === recipes.id && entry.status !== null)).toBe(true);
    expect(page.next_cursor).not.toBeNull();

    const deletedCube = await memos.deleteCube(travel.id);
    expect(deletedCube).toMatchObject({ owner: `user:${user}`, cubes: [travel.id], memories_deleted: 0 });
    expect(await rejection(memos.cube(travel.id))).toMatchObject({ status: 404, code: "not_found" });
    const written = await memos.remember({ user_id: user, memories: [{ content: "Lives in Porto." }] });
    expect(await rejection(memos.deleteCube(written.cube_id))).toMatchObject({ status: 409, code: "conflict" });

    const receipt = await memos.deleteOwner(`user:${user}`);
    expectTypeOf(receipt).toEqualTypeOf<Schemas["DeletionReceipt"]>();
    expect(receipt).toMatchObject({ owner: `user:${user}`, memories_deleted: 2 });
    expect([...receipt.cubes].sort()).toEqual([recipes.id, written.cube_id].sort());
    expect((await memos.listCubes({ user_id: user })).data).toEqual([]);
    expect(await rejection(memos.deleteOwner(`user:${user}`))).toMatchObject({ status: 404, code: "not_found" });
  });

  it("reads provenance, exports a cube, downloads the file, and imports it into other cubes", async () => {
    const { key, keyId, tenantId } = await newTenant(["read", "write"]);
    const memos = clientFor(key);
    const user = uniqueUser();
    const written = await memos.remember({
      user_id: user,
      memories: [{ content: "Alice is allergic to peanuts.", source: { kind: "user_input", message_ids: ["m1"] } }, { content: "Alice swims on Tuesdays." }],
    });
    const [peanuts] = written.data;
    if (!peanuts) throw new Error("no memory written");

    const provenance = await memos.provenance(peanuts.id);
    expectTypeOf(provenance).toEqualTypeOf<Schemas["Provenance"]>();
    expect(provenance).toMatchObject({
      memory_id: peanuts.id,
      cube_id: written.cube_id,
      source: { kind: "user_input", message_ids: ["m1"], key_id: keyId },
      writer: { key_id: keyId, version: 1, verified: true },
      imported_from: null,
    });

    const exporting = await memos.exportCube(written.cube_id);
    expectTypeOf(exporting).toEqualTypeOf<Schemas["ExportAccepted"]>();
    const exported = await memos.waitForExport(exporting);
    expect(exported).toMatchObject({ cube_id: written.cube_id, status: "done", job: { type: "export", result: { export: { memories: 2, vectors: 0 } } } });
    const file = await memos.downloadExport(exported.export_id);
    expectTypeOf(file).toEqualTypeOf<string>();
    const lines = file.trim().split("\n").map((line) => JSON.parse(line) as { type: string; counts?: object });
    expect(lines[0]).toMatchObject({ type: "header", format: "memos-cube-export", cube_id: written.cube_id, vectors: false });
    expect(lines.filter((line) => line.type === "memory")).toHaveLength(2);
    expect(lines.at(-1)).toMatchObject({ type: "end", counts: { memories: 2 } });
    expect(new TextEncoder().encode(file).byteLength).toBe(exported.job.result.export?.bytes);
    expect(await new Response(await memos.streamExport(exported.export_id)).text()).toBe(file);
    expect((await memos.waitForExport(await memos.exportCube(written.cube_id, { includeVectors: true }))).job.result.export?.vectors).toBe(2);

    const contents = async (cubeId: string) => (await memos.list({ cube_id: cubeId })).data.map((m) => m.content).sort();
    const importAndWait = async (cubeId: string, source: Parameters<typeof memos.importIntoCube>[1]) => {
      const started = await memos.importIntoCube(cubeId, source);
      expect(started.job).toMatchObject({ type: "import", cube_id: cubeId });
      await runAlarm(tenantId, cubeId);
      return memos.waitForJob(started.job_id, { intervalMs: 50, timeoutMs: 20_000 });
    };

    // By export id.
    const copy = await memos.createCube({ user_id: user, name: "copy" });
    const byId = await importAndWait(copy.id, { export_id: exported.export_id });
    expect(byId).toMatchObject({ status: "done", result: { import: { export_id: exported.export_id, imported: 2, skipped: 0 } } });
    expect(await contents(copy.id)).toEqual(await contents(written.cube_id));
    const [imported] = (await memos.list({ cube_id: copy.id, limit: 1 })).data;
    expect((await memos.provenance(imported!.id)).imported_from).toMatchObject({ export_id: exported.export_id, cube_id: written.cube_id });

    // As a file, sent as NDJSON.
    const sent: { contentType: string | null; body: string }[] = [];
    const uploader = clientFor(key, {
      fetch: async (request) => {
        sent.push({ contentType: request.headers.get("Content-Type"), body: new TextDecoder().decode(await request.clone().arrayBuffer()) });
        return worker(request);
      },
    });
    const other = await memos.createCube({ user_id: user, name: "from a file" });
    const started = await uploader.importIntoCube(other.id, { file });
    expect(sent).toEqual([{ contentType: "application/x-ndjson", body: file }]);
    await runAlarm(tenantId, other.id);
    expect(await memos.waitForJob(started.job_id, { intervalMs: 50, timeoutMs: 20_000 })).toMatchObject({ status: "done", result: { import: { imported: 2 } } });
    expect(await contents(other.id)).toEqual(await contents(written.cube_id));

    const invalid = await rejection(memos.importIntoCube(other.id, { file: '{"type":"end"}\n' }));
    expect(invalid).toMatchObject({ status: 400, code: "invalid_request" });
    expect((invalid as MemosApiError).details).toEqual(expect.arrayContaining([expect.objectContaining({ line: 1 })]));
    expect(await rejection(memos.downloadExport("exp_0123456789abcdef0123456789abcdef"))).toMatchObject({ status: 404, code: "not_found" });
  });

  it("registers a webhook, rotates its secret, lists and replays its deliveries, and deletes it", async () => {
    const { key, tenantId } = await newTenant(["read", "write", "admin"]);
    const memos = clientFor(key);
    const created = await memos.webhooks.create({ url: "http://localhost:8788/client", events: ["memory.created"] });
    expectTypeOf(created.secret).toEqualTypeOf<string>();
    expect(created.secret).toMatch(/^whsec_/);
    const listed = await memos.webhooks.list();
    expect(listed.data.map((w) => w.id)).toEqual([created.id]);
    expect(listed.data[0]).not.toHaveProperty("secret");
    const rotated = await memos.webhooks.rotateSecret(created.id);
    expect(rotated).toMatchObject({ id: created.id, secret: expect.stringMatching(/^whsec_/) });
    expect(rotated.secret).not.toBe(created.secret);
    expect(await memos.webhooks.listDeliveries(created.id)).toEqual({ data: [], next_cursor: null });

    // The Worker's queue consumer delivers through the global fetch: here it reaches a receiver holding the new secret.
    const receiver = createReceiver({ secret: rotated.secret });
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => receiver.fetch(String(input instanceof Request ? input.url : input), init ?? {}));
    const written = await memos.remember({ user_id: uniqueUser(), memories: [{ content: "Carol is vegetarian." }] });
    await runAlarm(tenantId, written.cube_id);
    const delivered = async () => {
      const all: Schemas["WebhookDelivery"][] = [];
      for await (const delivery of memos.webhooks.listAllDeliveries(created.id, { status: "delivered" })) all.push(delivery);
      expect(all).toHaveLength(1);
      return all[0]!;
    };
    const delivery = await vi.waitFor(delivered, { timeout: 20_000, interval: 200 });
    expect(delivery).toMatchObject({ webhook_id: created.id, event_type: "memory.created", attempts: 1 });
    expect(delivery.event.data).toMatchObject({ memory_id: written.data[0]?.id });
    expect(receiver.requests.every((r) => r.verified)).toBe(true);

    const replayed = await memos.webhooks.replayDelivery(created.id, delivery.id);
    expect(replayed).toMatchObject({ id: delivery.id, status: "queued", attempts: 0, event_id: delivery.event_id });
    await vi.waitFor(delivered, { timeout: 20_000, interval: 200 });
    expect(receiver.duplicates).toBe(1);
    const unknown = await rejection(memos.webhooks.replayDelivery(created.id, "dlv_0123456789abcdef"));
    expect(unknown).toMatchObject({ status: 404, code: "not_found" });

    expect(await memos.webhooks.delete(created.id)).toMatchObject({ id: created.id, url: created.url });
    expect((await memos.webhooks.list()).data).toEqual([]);
    expect(await rejection(memos.webhooks.listDeliveries(created.id))).toMatchObject({ status: 404, code: "not_found" });
    // Webhooks need the admin scope: a read/write key is refused with the typed error.
    const writer = clientFor((await memos.createKey({ scopes: ["read", "write"] })).key);
    expect(await rejection(writer.webhooks.list())).toMatchObject({ status: 403, code: "forbidden" });
  });
});

describe("errors", () => {
  it("throws MemosApiError with the code, the message and the request id of the response", async () => {
    const { key } = await newTenant();
    let requestIdHeader: string | null = null;
    const memos = clientFor(key, {
      fetch: async (request) => {
        const response = await worker(request);
        requestIdHeader = response.headers.get("X-Request-Id");
        return response;
      },
    });
    const error = await rejection(memos.get("mem_0123456789abcdef0123456789abcdef"));
    expect(error).toBeInstanceOf(MemosApiError);
    expect(error).toBeInstanceOf(Error);
    const apiErr = error as MemosApiError;
    expect(apiErr).toMatchObject({ name: "MemosApiError", status: 404, code: "not_found", attempts: 1 });
    expect(apiErr.message).not.toBe("");
    expect(apiErr.requestId).toMatch(/^req_/);
    expect(apiErr.requestId).toBe(requestIdHeader);
  });

  it("carries the details of a 400 and the status of a 401", async () => {
    const { key } = await newTenant();
    const invalid = await rejection(clientFor(key).search({ user_id: uniqueUser(), query: "x", top_k: 1000 }));
    expect(invalid).toMatchObject({ status: 400, code: "invalid_request" });
    expect((invalid as MemosApiError).details).toEqual(expect.arrayContaining([expect.objectContaining({ path: "top_k" })]));

    const unauthorized = await rejection(clientFor("mos_not-a-real-key").list({ user_id: "alice" }));
    expect(unauthorized).toMatchObject({ status: 401, code: "unauthorized" });
  });

  it("turns a body that is not the API's error shape into code http_<status>, with the X-Request-Id header", async () => {
    const memos = clientFor("k", {
      fetch: async () => new Response("<h1>Bad gateway</h1>", { status: 502, headers: { "X-Request-Id": "req_from_proxy" } }),
      retry: { maxAttempts: 1 },
    });
    expect(await rejection(memos.health())).toMatchObject({
      status: 502,
      code: "http_502",
      message: "<h1>Bad gateway</h1>",
      requestId: "req_from_proxy",
    });
  });
});

describe("retries and idempotency keys", () => {
  it("retries a write after a 503, with the same Idempotency-Key, and writes once", async () => {
    const { key } = await newTenant();
    const { seen, fetch } = recorder((request, attempt) => (attempt === 1 ? Promise.resolve(apiError(503, "internal_error")) : worker(request)));
    const retries: RetryEvent[] = [];
    const memos = clientFor(key, { fetch, retry: { baseDelayMs: 1, onRetry: (event) => retries.push(event) } });
    const user = uniqueUser();

    const written = await memos.remember({ user_id: user, memories: [{ content: "Bob takes his coffee black." }] });
    expect(written.data).toHaveLength(1);
    expect(seen).toHaveLength(2);
    expect(seen[0]?.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen[1]?.idempotencyKey).toBe(seen[0]?.idempotencyKey);
    expect(retries).toMatchObject([{ attempt: 1, status: 503, method: "POST" }]);
    expect((await clientFor(key).list({ user_id: user })).data).toHaveLength(1);
  });

  it("does not write twice when the Worker wrote but the answer was lost", async () => {
    const { key } = await newTenant();
    let replayed: string | null = null;
    const { seen, fetch } = recorder(async (request, attempt) => {
      const response = await worker(request);
      if (attempt === 1) return apiError(502, "bad_gateway"); // written, but the caller never hears of it
      replayed = response.headers.get("Idempotent-Replayed");
      return response;
    });
    const user = uniqueUser();
    const written = await clientFor(key, { fetch }).remember({ user_id: user, memories: [{ content: "Carol is vegetarian." }] });

    expect(seen.map((s) => s.idempotencyKey)).toEqual([seen[0]?.idempotencyKey, seen[0]?.idempotencyKey]);
    expect(replayed).toBe("true");
    const stored = (await clientFor(key).list({ user_id: user })).data;
    expect(stored.map((m) => m.id)).toEqual(written.data.map((m) => m.id));
  });

  it("gives every call its own key, and uses the caller's key when given one", async () => {
    const { key } = await newTenant();
    const { seen, fetch } = recorder();
    const memos = clientFor(key, { fetch });
    const user = uniqueUser();
    const body = { user_id: user, memories: [{ content: "Dan plays the cello." }] };
    await memos.remember(body);
    await memos.remember(body);
    expect(seen[0]?.idempotencyKey).not.toBe(seen[1]?.idempotencyKey);

    await memos.remember(body, { idempotencyKey: "onboarding-dan" });
    const again = await memos.remember(body, { idempotencyKey: "onboarding-dan" });
    expect(seen.slice(2).map((s) => s.idempotencyKey)).toEqual(["onboarding-dan", "onboarding-dan"]);
    expect((await memos.list({ user_id: user })).data).toHaveLength(3);
    expect(again.data).toHaveLength(1);

    const reused = await rejection(memos.remember({ user_id: user, memories: [{ content: "Something else." }] }, { idempotencyKey: "onboarding-dan" }));
    expect(reused).toMatchObject({ status: 422, code: "idempotency_key_reused", idempotencyKey: "onboarding-dan" });
    expect(seen.find((s) => s.method === "GET")?.idempotencyKey).toBeNull();
  });

  it("honours Retry-After on a 429", async () => {
    const { key } = await newTenant();
    const { seen, fetch } = recorder((request, attempt) =>
      attempt === 1 ? Promise.resolve(apiError(429, "rate_limited", { "Retry-After": "1" })) : worker(request),
    );
    const retries: RetryEvent[] = [];
    const memos = clientFor(key, { fetch, retry: { onRetry: (event) => retries.push(event) } });
    const started = Date.now();
    await memos.list({ user_id: uniqueUser() });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(seen).toHaveLength(2);
    expect(retries).toMatchObject([{ attempt: 1, status: 429, delayMs: 1000 }]);
  });

  it("throws the 429 at once when Retry-After is longer than it may wait", async () => {
    const { key } = await newTenant();
    const { seen, fetch } = recorder(() => Promise.resolve(apiError(429, "rate_limited", { "Retry-After": "60" })));
    const error = await rejection(clientFor(key, { fetch, retry: { maxDelayMs: 5_000 } }).list({ user_id: "alice" }));
    expect(error).toMatchObject({ status: 429, code: "rate_limited", retryAfterMs: 60_000, attempts: 1 });
    expect(seen).toHaveLength(1);
  });

  it("retries a 429 on any route, but a 5xx only where repeating is safe", async () => {
    const { key } = await newTenant(["read", "write", "admin"]);
    // POST /v1/keys does not honour Idempotency-Key: after a 500 the key may exist, so the client must not resend.
    const failing = recorder(() => Promise.resolve(apiError(500, "internal_error")));
    const error = await rejection(clientFor(key, { fetch: failing.fetch }).createKey({ name: "ci" }));
    expect(error).toMatchObject({ status: 500, code: "internal_error", attempts: 1 });
    expect(failing.seen).toHaveLength(1);

    const limited = recorder((request, attempt) => (attempt === 1 ? Promise.resolve(apiError(429, "rate_limited", { "Retry-After": "0" })) : worker(request)));
    const created = await clientFor(key, { fetch: limited.fetch }).createKey({ name: "ci" });
    expect(created.key).toMatch(/^mos_/);
    expect(limited.seen).toHaveLength(2);

    // Search is a read sent as POST: its named method marks it repeatable.
    const flaky = recorder((request, attempt) => (attempt === 1 ? Promise.resolve(apiError(503, "internal_error")) : worker(request)));
    await clientFor(key, { fetch: flaky.fetch }).search({ user_id: uniqueUser(), query: "anything" });
    expect(flaky.seen).toHaveLength(2);
  });

  it("gives up after maxAttempts and throws the last answer", async () => {
    const { seen, fetch } = recorder(() => Promise.resolve(apiError(503, "internal_error")));
    const error = await rejection(clientFor("k", { fetch, retry: { maxAttempts: 4, baseDelayMs: 1 } }).get("mem_x"));
    expect(error).toMatchObject({ status: 503, attempts: 4 });
    expect(seen).toHaveLength(4);
  });

  it("retries network failures of repeatable calls and reports MemosNetworkError with the key to reuse", async () => {
    const { key } = await newTenant();
    const flaky = recorder((request, attempt) => (attempt === 1 ? Promise.reject(new TypeError("connection reset")) : worker(request)));
    await clientFor(key, { fetch: flaky.fetch }).list({ user_id: uniqueUser() });
    expect(flaky.seen).toHaveLength(2);

    const down = recorder(() => Promise.reject(new TypeError("connection refused")));
    const error = await rejection(clientFor(key, { fetch: down.fetch }).update("mem_x", { content: "x" }));
    expect(error).toBeInstanceOf(MemosNetworkError);
    expect(error).toMatchObject({ name: "MemosNetworkError", attempts: 3, timedOut: false });
    expect((error as MemosNetworkError).idempotencyKey).toBe(down.seen[0]?.idempotencyKey);
    expect(new Set(down.seen.map((s) => s.idempotencyKey)).size).toBe(1);
    expect((error as MemosNetworkError).cause).toBeInstanceOf(TypeError);
  });

  it("times out each attempt", async () => {
    const hanging = recorder(() => new Promise<Response>(() => {}));
    const error = await rejection(clientFor("k", { fetch: hanging.fetch, timeoutMs: 20, retry: { maxAttempts: 2, baseDelayMs: 1 } }).get("mem_x"));
    expect(error).toBeInstanceOf(MemosNetworkError);
    expect(error).toMatchObject({ timedOut: true, attempts: 2 });
    expect(hanging.seen).toHaveLength(2);
  });

  it("stops when the caller aborts", async () => {
    const controller = new AbortController();
    const hanging = recorder(() => new Promise<Response>(() => {}));
    const pending = rejection(clientFor("k", { fetch: hanging.fetch }).get("mem_x", undefined, { signal: controller.signal }));
    controller.abort(new Error("user navigated away"));
    expect(await pending).toMatchObject({ message: "user navigated away" });
    expect(hanging.seen).toHaveLength(1);
  });
});

describe("the typed surface", () => {
  it("reaches every operation of the OpenAPI document through request()", async () => {
    const { key } = await newTenant(["read", "write", "admin"]);
    const memos = clientFor(key, { retry: { maxAttempts: 1 } });
    const operations = Object.keys(OPERATIONS) as OperationKey[];
    expect(operations.length).toBeGreaterThan(0);
    const unreached: string[] = [];
    for (const operation of operations) {
      const [method, path] = operation.split(" ") as [string, string];
      const pathParams = Object.fromEntries([...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => [name, `x_${name}`]));
      // Dynamic on purpose: the compile-time half of this check is that `request` accepts exactly `keyof paths`.
      const call = memos.request.bind(memos) as (method: string, path: string, init: object) => Promise<unknown>;
      // parseAs "text": a route may answer with something other than JSON (an NDJSON export, say).
      const init = { params: { path: pathParams }, parseAs: "text" };
      const outcome = await call(method.toLowerCase(), path, init).catch((error: unknown) => error);
      // Validation errors, 403s and missing resources are fine: the route answered. The router's own 404 is not.
      if (outcome instanceof MemosApiError && outcome.status === 404 && outcome.message.startsWith("no route for")) unreached.push(operation);
      else if (outcome instanceof Error && !(outcome instanceof MemosApiError)) unreached.push(`${operation}: ${outcome.message}`);
    }
    expect(unreached).toEqual([]);
  });

  it("types paths, parameters and bodies from the document", () => {
    const memos = clientFor("k");
    type Get = Awaited<ReturnType<typeof memos.get>>;
    expectTypeOf<Get>().toEqualTypeOf<Memory>();
    expectTypeOf<Awaited<ReturnType<typeof memos.request<"get", "/v1/memories/{id}/history", { params: { path: { id: string } } }>>>>().toEqualTypeOf<
      Awaited<ReturnType<typeof memos.history>>
    >();
    expectTypeOf<
      Awaited<ReturnType<typeof memos.request<"get", "/v1/memories/{id}", { params: { path: { id: string } }; parseAs: "text" }>>>
    >().toEqualTypeOf<string>();
    // @ts-expect-error not a path of the API
    void (() => memos.request("get", "/v1/no-such-route"));
    // @ts-expect-error the path parameter is required
    void (() => memos.request("get", "/v1/memories/{id}", {}));
    // @ts-expect-error `query` is required by POST /v1/search
    void (() => memos.search({ user_id: "alice" }));

    // The named methods of the newer routes take and return the document's types too.
    expectTypeOf<Awaited<ReturnType<typeof memos.downloadExport>>>().toEqualTypeOf<string>();
    expectTypeOf<Awaited<ReturnType<typeof memos.streamExport>>>().toEqualTypeOf<NonNullable<Response["body"]>>();
    expectTypeOf<Awaited<ReturnType<typeof memos.importIntoCube>>>().toEqualTypeOf<Schemas["JobAccepted"]>();
    expectTypeOf<ReturnType<typeof memos.listAllAudit>>().toEqualTypeOf<AsyncGenerator<Schemas["AuditEntry"]>>();
    expectTypeOf<ReturnType<typeof memos.webhooks.listAllDeliveries>>().toEqualTypeOf<AsyncGenerator<Schemas["WebhookDelivery"]>>();
    expectTypeOf(memos.createGrant).parameter(1).toEqualTypeOf<Schemas["CreateGrantRequest"]>();
    // @ts-expect-error a grant needs a permission
    void (() => memos.createGrant("cube_x", { principal: "user:bob" }));
    // @ts-expect-error an import is an export id or a file, not both spelled otherwise
    void (() => memos.importIntoCube("cube_x", { exportId: "exp_x" }));
    // @ts-expect-error `status` is one of queued, delivered, failed, dead
    void (() => memos.webhooks.listDeliveries("whk_x", { status: "lost" }));
  });
});
