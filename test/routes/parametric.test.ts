/**
 * Parametric memory through the public surface (issue 15 item 2): the adapter registry — register, upload validated
 * weights (good, truncated, hostile: all 4xx with nothing stored), versions, one active adapter per cube, events —
 * and the distill dataset job, downloaded as JSONL.
 */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cubeObjectName } from "../../src/core/ids";
import { buildSafetensors } from "../../src/core/safetensors";
import { TEST_ORIGIN, call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

const MISTRAL = "@cf/mistral/mistral-7b-instruct-v0.2-lora";
const CONFIG = { peft_type: "LORA", r: 8, lora_alpha: 16, base_model_name_or_path: "mistralai/Mistral-7B-Instruct-v0.2", target_modules: ["q_proj", "v_proj"] };
const tensors = (rank: number, width = 16) => [
  { name: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", dtype: "F16", shape: [rank, width] },
  { name: "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", dtype: "F16", shape: [width, rank] },
];

async function upload(key: string, cubeId: string, adapterId: string, file: Uint8Array, headers: Record<string, string> = {}) {
  const response = await exports.default.fetch(
    new Request(`${TEST_ORIGIN}/v1/cubes/${cubeId}/adapters/${adapterId}/weights`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/octet-stream", ...headers },
      body: file,
    }),
  );
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
}

async function newCube(key: string) {
  const [memory] = await remember(key, uniqueUser(), [{ content: "Ada likes tea.", type: "preference" }]);
  return memory.cube_id as string;
}

async function registerLora(key: string, cubeId: string, name = "ada-style") {
  const created = await call("POST", `/v1/cubes/${cubeId}/adapters`, { key, body: { name, base_model: MISTRAL, config: CONFIG } });
  expect(created.status).toBe(201);
  return created.body;
}

async function r2Objects(tenantId: string, cubeId: string) {
  return (await env.ARCHIVE.list({ prefix: `adapters/${tenantId}/${cubeId}/` })).objects.map((o) => o.key);
}

describe("adapter registry", { timeout: 60_000 }, () => {
  it("registers a LoRA, takes its validated weights into R2, and hands the files back", async () => {
    const { key, tenantId } = await newTenant();
    const cubeId = await newCube(key);
    const adapter = await registerLora(key, cubeId);
    expect(adapter).toMatchObject({ name: "ada-style", version: 1, kind: "lora", state: "pending", base_model: MISTRAL, rank: 8, weights: null, config: CONFIG });

    const file = buildSafetensors(tensors(8));
    const uploaded = await upload(key, cubeId, adapter.id, file);
    expect(uploaded.status).toBe(200);
    const digest = Buffer.from(await crypto.subtle.digest("SHA-256", file)).toString("hex");
    expect(uploaded.body).toMatchObject({ state: "ready", weights: { bytes: file.length, tensors: 2, sha256: digest } });
    expect(await r2Objects(tenantId, cubeId)).toEqual([`adapters/${tenantId}/${cubeId}/${adapter.id}/adapter_model.safetensors`]);

    const weights = await exports.default.fetch(
      new Request(`${TEST_ORIGIN}/v1/cubes/${cubeId}/adapters/${adapter.id}/files/adapter_model.safetensors`, { headers: { Authorization: `Bearer ${key}` } }),
    );
    expect(weights.status).toBe(200);
    expect(new Uint8Array(await weights.arrayBuffer())).toEqual(file);
    const config = await call("GET", `/v1/cubes/${cubeId}/adapters/${adapter.id}/files/adapter_config.json`, { key });
    expect(config.body).toEqual(CONFIG);

    // Uploading again is refused: a new version is a new registration.
    expect(errorOf(await upload(key, cubeId, adapter.id, file)).code).toBe("conflict");
    const second = await registerLora(key, cubeId);
    expect(second.version).toBe(2);
  });

  it("streams a file larger than one part through R2 multipart", async () => {
    const { key, tenantId } = await newTenant();
    const cubeId = await newCube(key);
    const adapter = await registerLora(key, cubeId);
    // 2 × 8 × 204800 F16 values: 6.25 MiB, two 5 MiB parts.
    const file = buildSafetensors(tensors(8, 204_800));
    expect(file.length).toBeGreaterThan(5 << 20);
    const uploaded = await upload(key, cubeId, adapter.id, file);
    expect(uploaded.status).toBe(200);
    const stored = await env.ARCHIVE.head(`adapters/${tenantId}/${cubeId}/${adapter.id}/adapter_model.safetensors`);
    expect(stored?.size).toBe(file.length);
    const weights = await exports.default.fetch(
      new Request(`${TEST_ORIGIN}/v1/cubes/${cubeId}/adapters/${adapter.id}/files/adapter_model.safetensors`, { headers: { Authorization: `Bearer ${key}` } }),
    );
    const body = new Uint8Array(await weights.arrayBuffer());
    expect(body.length).toBe(file.length);
    expect(Buffer.from(await crypto.subtle.digest("SHA-256", body)).toString("hex")).toBe(uploaded.body.weights.sha256);
  });

  it("refuses truncated and hostile files with a 4xx and stores nothing", async () => {
    const { key, tenantId } = await newTenant();
    const cubeId = await newCube(key);
    const adapter = await registerLora(key, cubeId);
    const good = buildSafetensors(tensors(8));
    const withHeader = (header: object | string, data: number, declared?: bigint) => {
      const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
      const file = new Uint8Array(8 + json.length + data);
      new DataView(file.buffer).setBigUint64(0, declared ?? BigInt(json.length), true);
      file.set(json, 8);
      return file;
    };
    const hostile: [string, Uint8Array, RegExp][] = [
      ["truncated", good.subarray(0, good.length - 10), /truncated/],
      ["header length past the file", withHeader({}, 0, 10_000n), /runs past the end/],
      ["huge header", withHeader({}, 0, 2n ** 62n), /over the 1048576-byte limit/],
      ["not JSON", withHeader("{{{{ nope", 0), /not valid JSON/],
      ["unknown dtype", withHeader({ a: { dtype: "Q4", shape: [4], data_offsets: [0, 4] } }, 4), /unknown dtype/],
      ["overlapping", withHeader({ "x.lora_A.weight": { dtype: "U8", shape: [2, 2], data_offsets: [0, 4] }, "x.lora_B.weight": { dtype: "U8", shape: [2, 2], data_offsets: [2, 6] } }, 6), /overlaps/],
      ["out of bounds", withHeader({ "x.lora_A.weight": { dtype: "U8", shape: [2, 2], data_offsets: [0, 4] } }, 2), /need 4 bytes of data/],
      ["not LoRA", buildSafetensors([{ name: "lm_head.weight", dtype: "F32", shape: [4] }]), /no lora_A/],
      ["another rank", buildSafetensors(tensors(4)), /rank 4, but adapter_config.json says r = 8/],
    ];
    for (const [what, file, message] of hostile) {
      const response = await upload(key, cubeId, adapter.id, file);
      expect([what, response.status]).toEqual([what, 400]);
      expect([what, errorOf(response).message]).toEqual([what, expect.stringMatching(message)]);
    }
    expect(errorOf(await upload(key, cubeId, adapter.id, good, { "Content-Type": "text/plain" })).code).toBe("unsupported_media_type");
    expect((await call("GET", `/v1/cubes/${cubeId}/adapters/${adapter.id}`, { key })).body).toMatchObject({ state: "pending", weights: null });
    expect(await r2Objects(tenantId, cubeId)).toEqual([]);
    // And the good file still goes in afterwards.
    expect((await upload(key, cubeId, adapter.id, good)).status).toBe(200);
  });

  it("refuses configs outside Workers AI's limits, and keys without write scope", async () => {
    const { key, tenantId } = await newTenant();
    const cubeId = await newCube(key);
    const bad = await call("POST", `/v1/cubes/${cubeId}/adapters`, { key, body: { name: "x", base_model: MISTRAL, config: { ...CONFIG, r: 64 } } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(errorOf(bad).details)).toContain("ranks up to 8");
    const model = await call("POST", `/v1/cubes/${cubeId}/adapters`, { key, body: { name: "x", base_model: "@cf/meta/llama-3.3-70b-instruct-fp8-fast", config: CONFIG } });
    expect(model.status).toBe(400);
    const neither = await call("POST", `/v1/cubes/${cubeId}/adapters`, { key, body: { name: "x", base_model: MISTRAL } });
    expect(neither.status).toBe(400);
    const reader = await call("POST", `/v1/admin/tenants/${tenantId}/keys`, { key: "test-root-key-0123456789abcdef", body: { scopes: ["read"] } });
    const readKey = reader.body.key as string;
    const refused = await call("POST", `/v1/cubes/${cubeId}/adapters`, { key: readKey, body: { name: "x", base_model: MISTRAL, finetune: "ft" } });
    expect(refused.status).toBe(403);
    expect((await call("GET", `/v1/cubes/${cubeId}/adapters`, { key: readKey })).body).toEqual({ data: [], active_adapter_id: null });
    const other = await newTenant();
    expect((await call("GET", `/v1/cubes/${cubeId}/adapters`, { key: other.key })).status).toBe(404);

    // Over Workers AI's 100 MB limit: refused from the declared length, before a byte is read. (A key's written
    // bytes per minute, 60 MB by default, refuse it first; this key has no such limit, like an uploader's should.)
    const uploader = await newTenant();
    await env.DB.prepare("UPDATE api_keys SET rate_limit_write_bytes = 0 WHERE id = ?").bind(uploader.keyId).run();
    const uploaderCube = await newCube(uploader.key);
    const adapter = await registerLora(uploader.key, uploaderCube);
    const huge = await exports.default.fetch(
      new Request(`${TEST_ORIGIN}/v1/cubes/${uploaderCube}/adapters/${adapter.id}/weights`, {
        method: "PUT",
        headers: { Authorization: `Bearer ${uploader.key}`, "Content-Type": "application/octet-stream", "Content-Length": "100000000" },
        body: new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array(16)), c.close()) }),
      }),
    );
    expect(huge.status).toBe(413);
    expect(errorOf({ status: 413, body: await huge.json(), headers: huge.headers }).message).toMatch(/smaller than 100 MB/);
  });

  it("keeps one active adapter per cube, moves through its states, and logs every move", async () => {
    const { key, tenantId } = await newTenant();
    const cubeId = await newCube(key);
    const lora = await registerLora(key, cubeId);
    const state = (id: string, to: string) => call("POST", `/v1/cubes/${cubeId}/adapters/${id}/state`, { key, body: { state: to } });

    expect(errorOf(await state(lora.id, "active")).message).toMatch(/upload its weights first/);
    expect((await upload(key, cubeId, lora.id, buildSafetensors(tensors(8)))).status).toBe(200);
    expect((await state(lora.id, "active")).body.state).toBe("active");

    const finetune = await call("POST", `/v1/cubes/${cubeId}/adapters`, { key, body: { name: "ada-ft", base_model: MISTRAL, finetune: "ada-ft-v1" } });
    expect(finetune.body).toMatchObject({ kind: "finetune", state: "ready", finetune: "ada-ft-v1", config: null });
    expect((await state(finetune.body.id, "active")).body.state).toBe("active");
    const list = await call("GET", `/v1/cubes/${cubeId}/adapters`, { key });
    expect(list.body.active_adapter_id).toBe(finetune.body.id);
    expect(list.body.data.map((a: { id: string; state: string }) => [a.id, a.state])).toEqual([
      [finetune.body.id, "active"],
      [lora.id, "ready"],
    ]);

    expect(errorOf(await call("DELETE", `/v1/cubes/${cubeId}/adapters/${finetune.body.id}`, { key })).code).toBe("conflict");
    expect((await state(lora.id, "archived")).body.state).toBe("archived");
    expect(errorOf(await state(lora.id, "active")).code).toBe("conflict");
    expect((await call("DELETE", `/v1/cubes/${cubeId}/adapters/${lora.id}`, { key })).body).toEqual({ id: lora.id, deleted: true });
    expect(await r2Objects(tenantId, cubeId)).toEqual([]);
    expect((await call("GET", `/v1/cubes/${cubeId}/adapters/${lora.id}`, { key })).status).toBe(404);

    const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
    const events = await runInDurableObject(stub, (_, state) =>
      state.storage.sql.exec("SELECT type, data FROM events WHERE type LIKE 'adapter.%' ORDER BY seq").toArray(),
    );
    expect(events.map((e) => [e.type, JSON.parse(String(e.data)).to ?? null])).toEqual([
      ["adapter.registered", "pending"],
      ["adapter.ready", "ready"],
      ["adapter.activated", "active"],
      ["adapter.registered", "ready"],
      ["adapter.ready", "ready"], // the LoRA, replaced as the active one
      ["adapter.activated", "active"],
      ["adapter.archived", "archived"],
      ["adapter.deleted", null],
    ]);
  });
});

describe("POST /v1/cubes/{id}/distill", { timeout: 60_000 }, () => {
  async function runJob(tenantId: string, cubeId: string, jobId: string, key: string) {
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
    for (let i = 0; i < 20; i++) {
      const job = await call("GET", `/v1/jobs/${jobId}`, { key });
      if (job.body.status === "done" || job.body.status === "failed") return job.body;
      await runDurableObjectAlarm(stub);
    }
    throw new Error("the distill job did not finish");
  }

  it("writes the selected memories as chat examples citing their ids, leaves sensitive ones out, and serves the file once done", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const written = await remember(key, user, [
      { content: "Ada is allergic to peanuts.", type: "fact", tags: ["health"] },
      { content: "Always answer Ada in French.", type: "instruction" },
      { content: "Ada's bank PIN is 1234.", type: "fact", sensitivity: ["secret"] },
      { content: "Ada went to Lyon.", type: "event", tags: ["travel"] },
    ]);
    const cubeId = written[0].cube_id as string;
    const started = await call("POST", `/v1/cubes/${cubeId}/distill`, { key, body: { filters: { type: ["fact", "instruction"] } } });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ status: "queued", job: { type: "distill", progress: { done: 0, total: 3 } } });
    expect(started.body.download_url).toBe(`${TEST_ORIGIN}/v1/distills/${started.body.distill_id}`);
    expect(errorOf(await call("GET", started.body.download_url, { key })).code).toBe("conflict");

    const job = await runJob(tenantId, cubeId, started.body.job_id, key);
    expect(job.status).toBe("done");
    expect(job.result.distill).toMatchObject({ examples: 2, memories: 3, skipped_sensitive: 1, parts: 1 });
    expect(job.progress).toEqual({ done: 3, total: 3 });

    const download = await call("GET", started.body.download_url, { key });
    expect(download.status).toBe(200);
    expect(download.headers.get("Content-Type")).toBe("application/x-ndjson");
    const lines = String(download.body).trim().split("\n").map((line) => JSON.parse(line));
    expect(lines.map((l) => [l.memory_ids, l.kind, l.messages.map((m: { role: string }) => m.role)])).toEqual([
      [[written[0].id], "knowledge", ["system", "user", "assistant"]],
      [[written[1].id], "behaviour", ["system", "user", "assistant"]],
    ]);
    expect(lines[0].messages[1].content).toBe("What do you know about health?");
    expect(lines[0].messages[2].content).toBe("Ada is allergic to peanuts.");
    expect(download.body).not.toContain("PIN");

    // Opting in takes the sensitive memory too; `where` narrows like search's.
    const all = await call("POST", `/v1/cubes/${cubeId}/distill`, {
      key,
      body: { include_sensitive: true, where: { field: "type", op: "eq", value: "fact" }, system_prompt: "You are Ada's assistant." },
    });
    const done = await runJob(tenantId, cubeId, all.body.job_id, key);
    expect(done.result.distill).toMatchObject({ examples: 2, skipped_sensitive: 0 });
    const text = String((await call("GET", all.body.download_url, { key })).body);
    expect(text).toContain("PIN");
    expect(JSON.parse(text.split("\n")[0]!).messages[0]).toEqual({ role: "system", content: "You are Ada's assistant." });

    // A dataset stays until deleted (or its cube is): then it is gone from R2.
    expect((await call("DELETE", `/v1/distills/${all.body.distill_id}`, { key })).body).toEqual({ id: all.body.distill_id, deleted: true, objects: 2 });
    expect((await call("GET", all.body.download_url, { key })).status).toBe(404);
    expect((await env.ARCHIVE.list({ prefix: `distills/${tenantId}/${cubeId}/${all.body.distill_id}/` })).objects).toEqual([]);
    expect((await call("DELETE", `/v1/distills/${all.body.distill_id}`, { key })).status).toBe(404);
  });

  it("steps through a large cube a batch at a time and stops at max_examples", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const memories = Array.from({ length: 250 }, (_, i) => ({ content: `Fact number ${i} about Ada.`, type: "fact" }));
    const written = [...(await remember(key, user, memories.slice(0, 100))), ...(await remember(key, user, memories.slice(100, 200))), ...(await remember(key, user, memories.slice(200)))];
    const cubeId = written[0].cube_id as string;
    const started = await call("POST", `/v1/cubes/${cubeId}/distill`, { key, body: { max_examples: 240 } });
    const job = await runJob(tenantId, cubeId, started.body.job_id, key);
    expect(job.result.distill).toMatchObject({ examples: 240, parts: 2 });
    const download = await call("GET", started.body.download_url, { key });
    const lines = String(download.body).trim().split("\n");
    expect(lines).toHaveLength(240);
    expect(Number(download.headers.get("Content-Length"))).toBe(job.result.distill.bytes);
    expect(JSON.parse(lines[239]!).memory_ids).toEqual([written[239].id]);
  });

  it("answers bad input with 4xx: unknown fields, bad where, bounds, unknown ids, other tenants", async () => {
    const { key } = await newTenant();
    const cubeId = await newCube(key);
    expect((await call("POST", `/v1/cubes/${cubeId}/distill`, { key, body: { max_examples: 0 } })).status).toBe(400);
    expect((await call("POST", `/v1/cubes/${cubeId}/distill`, { key, body: { max_examples: 50_001 } })).status).toBe(400);
    expect((await call("POST", `/v1/cubes/${cubeId}/distill`, { key, body: { where: { field: "content", op: "eq", value: "x" } } })).status).toBe(400);
    expect((await call("POST", `/v1/cubes/${cubeId}/distill`, { key, body: { nope: true } })).status).toBe(400);
    expect((await call("GET", "/v1/distills/dst_nope", { key })).status).toBe(404);
    expect((await call("GET", `/v1/distills/dst_${cubeId.slice(5)}0000000000000000`, { key })).status).toBe(404);
    const started = await call("POST", `/v1/cubes/${cubeId}/distill`, { key, body: {} });
    expect(errorOf(await call("DELETE", `/v1/distills/${started.body.distill_id}`, { key })).code).toBe("conflict");
    const other = await newTenant();
    expect((await call("DELETE", `/v1/distills/${started.body.distill_id}`, { key: other.key })).status).toBe(404);
    expect((await call("GET", started.body.download_url, { key: other.key })).status).toBe(404);
    expect((await call("POST", `/v1/cubes/${cubeId}/distill`, { key: other.key, body: {} })).status).toBe(404);
  });
});
