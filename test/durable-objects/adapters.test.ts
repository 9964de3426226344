/**
 * The adapter registry's upload path inside the cube (cube/adapters.ts): a body that ends before the size it declared,
 * or runs past it, is refused after its valid header and leaves nothing in R2 — for a single put and for multipart —
 * and the adapter stays pending. (Over HTTP the runtime keeps Content-Length honest, so these are driven over RPC.)
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CubeDurableObject } from "../../durable-objects/cube";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { cubeObjectName } from "../../src/core/ids";
import { buildSafetensors } from "../../src/core/safetensors";
import { newTenant, remember, uniqueUser } from "../helpers";

const META = { actor: "key_test", requestId: "req_test" };
const CONFIG = { raw: { peft_type: "LORA", r: 8 }, rank: 8 };

/** A stream of `bytes` in chunks of at most 64 KiB. */
function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + 65_536));
      at += 65_536;
    },
  });
}

describe("adapter weights upload (cube)", { timeout: 60_000 }, () => {
  it.each([
    ["small, truncated", 16, -100, /ended after .* Content-Length said/],
    ["small, overlong", 16, +100, /longer than its Content-Length/],
    ["multipart, truncated", 204_800, -1_000_000, /ended after .* Content-Length said/],
    ["multipart, overlong", 204_800, +3, /longer than its Content-Length/],
  ] as const)("refuses a %s body and stores nothing", async (_, width, delta, message) => {
    const { key, tenantId } = await newTenant();
    const [memory] = await remember(key, uniqueUser(), [{ content: "x" }]);
    const ref: CubeRef = { tenantId, cubeId: memory.cube_id, owner: memory.owner };
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, ref.cubeId));
    const file = buildSafetensors([
      { name: "m.lora_A.weight", dtype: "F16", shape: [8, width] },
      { name: "m.lora_B.weight", dtype: "F16", shape: [width, 8] },
    ]);
    // The declared size is the true one; the body sent is shorter or longer.
    const sent = delta < 0 ? file.subarray(0, file.length + delta) : new Uint8Array([...file, ...new Uint8Array(delta)]);
    const outcome = await runInDurableObject(stub, async (cube: CubeDurableObject) => {
      const registered = await cube.registerAdapter(ref, { name: "a", baseModel: "@cf/google/gemma-2b-it-lora", finetune: null, config: CONFIG, description: null }, META);
      if (!registered.ok) throw new Error(registered.message);
      const uploaded = await cube.uploadAdapterWeights(ref, registered.value.id, streamOf(sent), file.length, META);
      const [after] = await cube.adapters(ref, { id: registered.value.id });
      return { uploaded, after };
    });
    expect(outcome.uploaded).toEqual({ ok: false, code: "invalid_request", message: expect.stringMatching(message) });
    expect(outcome.after).toMatchObject({ state: "pending", weights: null });
    expect((await env.ARCHIVE.list({ prefix: `adapters/${tenantId}/` })).objects).toEqual([]);
  });
});
