/**
 * Parametric memory's pure parts (issue 15 item 2): the safetensors header checks with good, truncated and hostile
 * files, Workers AI's LoRA limits on adapter_config.json, the adapter lifecycle table, and the distill examples.
 */
import { describe, expect, it } from "vitest";
import { defaultSystemPrompt, exampleOf, topicOf } from "../../src/core/distill";
import { LORA_LIMITS, canTransition, checkLoraConfig, modelTakesAdapter } from "../../src/core/lora";
import { HEADER_MAX_BYTES, buildSafetensors, headerLength, loraRank, parseHeader } from "../../src/core/safetensors";

const MISTRAL = "@cf/mistral/mistral-7b-instruct-v0.2-lora";
const LORA_TENSORS = [
  { name: "base_model.model.layers.0.self_attn.q_proj.lora_A.weight", dtype: "F16", shape: [8, 16] },
  { name: "base_model.model.layers.0.self_attn.q_proj.lora_B.weight", dtype: "F16", shape: [16, 8] },
];

/** A file with a hand-written header (for lies the builder would never tell). */
function fileWithHeader(header: string | object, dataBytes: number, declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const file = new Uint8Array(8 + json.length + dataBytes);
  new DataView(file.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  file.set(json, 8);
  return file;
}
const problemOf = (file: Uint8Array, size = file.length) => {
  const result = parseHeader(file, size);
  return result.ok ? null : result.problem;
};

describe("safetensors header", () => {
  it("parses a good file: tensors, contiguous data, metadata, padding", () => {
    const file = buildSafetensors(LORA_TENSORS, { format: "pt" });
    const result = parseHeader(file, file.length);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.header.tensors.map((t) => [t.name.split(".").at(-2), t.begin, t.end])).toEqual([
      ["lora_A", 0, 256],
      ["lora_B", 256, 512],
    ]);
    expect(result.header.dataStart + result.header.dataBytes).toBe(file.length);
    expect(result.header.metadata).toEqual({ format: "pt" });
    expect(loraRank(result.header.tensors)).toEqual({ rank: 8 });
  });

  it("refuses a truncated file, and one with bytes after its last tensor", () => {
    const file = buildSafetensors(LORA_TENSORS);
    expect(problemOf(file.subarray(0, file.length - 1))).toMatch(/need 512 bytes of data but the file holds 511/);
    expect(problemOf(file.subarray(0, 5))).toMatch(/shorter than the 8-byte header length/);
    const longer = new Uint8Array(file.length + 3);
    longer.set(file);
    expect(problemOf(longer)).toMatch(/3 bytes after the last tensor/);
  });

  it("refuses a header length past the file, over the limit, or too small; and a prefix that ends inside the header", () => {
    expect(headerLength(fileWithHeader({}, 0, 1000n), 100)).toEqual({ ok: false, problem: expect.stringMatching(/runs past the end of the 100-byte file/) });
    expect(headerLength(fileWithHeader({}, 0, 2n ** 63n), 2 ** 40)).toEqual({ ok: false, problem: expect.stringMatching(/over the 1048576-byte limit/) });
    expect(headerLength(fileWithHeader({}, 0, BigInt(HEADER_MAX_BYTES + 1)), 2 ** 30).ok).toBe(false);
    expect(headerLength(fileWithHeader({}, 0, 1n), 100).ok).toBe(false);
    const file = buildSafetensors(LORA_TENSORS);
    expect(problemOf(file.subarray(0, 20), file.length)).toMatch(/ends inside its header/);
  });

  it("refuses headers that are not a JSON object of well-formed tensors", () => {
    expect(problemOf(fileWithHeader("not json at all", 0))).toMatch(/not a JSON object/);
    expect(problemOf(fileWithHeader("{\"a\": ", 0))).toMatch(/not valid JSON/);
    expect(problemOf(fileWithHeader("[1, 2]", 0))).toMatch(/not a JSON object/);
    expect(problemOf(fileWithHeader({}, 0))).toMatch(/no tensors/);
    const bytes = new Uint8Array([...new Uint8Array(8), 0xff, 0xfe]);
    new DataView(bytes.buffer).setBigUint64(0, 2n, true);
    expect(problemOf(bytes)).toMatch(/not UTF-8/);
    expect(problemOf(fileWithHeader({ t: { dtype: "F128", shape: [2], data_offsets: [0, 32] } }, 32))).toMatch(/unknown dtype "F128"/);
    expect(problemOf(fileWithHeader({ t: { dtype: 7, shape: [2], data_offsets: [0, 2] } }, 2))).toMatch(/unknown dtype/);
    expect(problemOf(fileWithHeader({ t: { dtype: "F32", shape: [2, -1], data_offsets: [0, 8] } }, 8))).toMatch(/invalid shape/);
    expect(problemOf(fileWithHeader({ t: { dtype: "F32", shape: [2], data_offsets: [0] } }, 8))).toMatch(/invalid data_offsets/);
    expect(problemOf(fileWithHeader({ t: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8))).toMatch(/needs 12 bytes, its offsets span 8/);
    expect(problemOf(fileWithHeader({ t: { dtype: "F32", shape: [2], data_offsets: [8, 0] } }, 8))).toMatch(/ends before it begins/);
    expect(problemOf(fileWithHeader({ __metadata__: { n: 1 }, t: { dtype: "U8", shape: [1], data_offsets: [0, 1] } }, 1))).toMatch(/__metadata__/);
  });

  it("refuses overlapping tensors, gaps, and offsets out of bounds", () => {
    const overlapping = { a: { dtype: "U8", shape: [4], data_offsets: [0, 4] }, b: { dtype: "U8", shape: [4], data_offsets: [2, 6] } };
    expect(problemOf(fileWithHeader(overlapping, 6))).toMatch(/overlaps/);
    const same = { a: { dtype: "U8", shape: [4], data_offsets: [0, 4] }, b: { dtype: "U8", shape: [4], data_offsets: [0, 4] } };
    expect(problemOf(fileWithHeader(same, 4))).toMatch(/overlaps/);
    const gap = { a: { dtype: "U8", shape: [4], data_offsets: [0, 4] }, b: { dtype: "U8", shape: [4], data_offsets: [6, 10] } };
    expect(problemOf(fileWithHeader(gap, 10))).toMatch(/gap of 2 bytes/);
    const outside = { a: { dtype: "U8", shape: [4], data_offsets: [1_000_000, 1_000_004] } };
    expect(problemOf(fileWithHeader(outside, 4))).toMatch(/gap of 1000000 bytes/);
    const past = { a: { dtype: "F64", shape: [2 ** 40], data_offsets: [0, 2 ** 43] } };
    expect(problemOf(fileWithHeader(past, 16))).toMatch(/need 8796093022208 bytes of data but the file holds 16/);
  });

  it("finds the LoRA rank, and refuses tensors that disagree on it", () => {
    expect(loraRank([{ name: "x.lora_A.weight", dtype: "F16", shape: [4, 16], begin: 0, end: 0 }])).toEqual({ rank: 4 });
    expect(loraRank([{ name: "x.weight", dtype: "F16", shape: [4, 16], begin: 0, end: 0 }])).toEqual({ rank: null });
    expect(
      loraRank([
        { name: "x.lora_A.weight", dtype: "F16", shape: [4, 16], begin: 0, end: 0 },
        { name: "x.lora_B.weight", dtype: "F16", shape: [16, 8], begin: 0, end: 0 },
      ]),
    ).toEqual({ problem: expect.stringMatching(/disagree/) });
  });
});

describe("Workers AI LoRA limits", () => {
  it("accepts a LoRA config of rank ≤ 8 for one of the four -lora models, naming the same base model", () => {
    const config = { peft_type: "LORA", r: 8, lora_alpha: 16, base_model_name_or_path: "mistralai/Mistral-7B-Instruct-v0.2" };
    const checked = checkLoraConfig(config, MISTRAL);
    expect(checked).toEqual({ ok: true, config: { rank: 8, baseModelName: "mistralai/Mistral-7B-Instruct-v0.2", raw: config } });
    expect(checkLoraConfig({ r: 1 }, "@cf/google/gemma-2b-it-lora").ok).toBe(true);
  });

  it("lists every problem: rank, peft type, base model", () => {
    const checked = checkLoraConfig({ peft_type: "IA3", r: 16, base_model_name_or_path: "google/gemma-7b-it" }, MISTRAL);
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.problems).toEqual([
      expect.stringMatching(/peft_type must be "LORA"/),
      expect.stringMatching(/ranks up to 8/),
      expect.stringMatching(/is not mistral-7b-instruct-v0.2/),
    ]);
    expect(checkLoraConfig({ r: 2 }, "@cf/meta/llama-3.3-70b-instruct-fp8-fast")).toEqual({ ok: false, problems: [expect.stringMatching(/base_model must be one of/)] });
    expect(checkLoraConfig({ r: 2.5 }, MISTRAL).ok).toBe(false);
    expect(checkLoraConfig({}, MISTRAL).ok).toBe(false);
    expect(LORA_LIMITS.maxWeightsBytes).toBeLessThan(100_000_000);
  });

  it("applies an adapter only on the model it was made for", () => {
    expect(modelTakesAdapter(MISTRAL, MISTRAL)).toBe(true);
    expect(modelTakesAdapter("@cf/mistral/mistral-7b-instruct-v0.1", MISTRAL)).toBe(false);
    expect(modelTakesAdapter("@cf/x/y", "@cf/x/y")).toBe(false);
  });
});

describe("adapter lifecycle", () => {
  it.each([
    ["pending", "ready", true],
    ["pending", "active", false],
    ["ready", "active", true],
    ["active", "ready", true],
    ["active", "archived", true],
    ["archived", "active", false],
    ["archived", "ready", true],
    ["ready", "pending", false],
  ] as const)("%s → %s: %s", (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
  });
});

describe("distill examples", () => {
  const system = defaultSystemPrompt("user:ada");
  it("turns a fact into a question it answers, citing the memory", () => {
    const example = exampleOf({ id: "mem_1", type: "fact", content: "Ada is allergic to peanuts.", tags: [], at: 0 }, system);
    expect(example).toEqual({
      messages: [
        { role: "system", content: "You are the personal assistant of user:ada. Answer from what you know about them, briefly and accurately." },
        { role: "user", content: "What do you know about ada allergic peanuts?" },
        { role: "assistant", content: "Ada is allergic to peanuts." },
      ],
      memory_ids: ["mem_1"],
      kind: "knowledge",
    });
  });

  it("asks by tags when there are some, dates events, and marks instructions and preferences as behaviour", () => {
    expect(topicOf({ content: "whatever", tags: ["diet", "health"] })).toBe("diet, health");
    const event = exampleOf({ id: "mem_2", type: "event", content: "Ada ran a marathon.", tags: [], at: Date.parse("2026-05-03T10:00:00Z") }, "S");
    expect(event.messages[1]!.content).toBe("What happened on 2026-05-03 regarding ada ran marathon?");
    const rule = exampleOf({ id: "mem_3", type: "instruction", content: "Always answer Ada in French.", tags: [], at: 0 }, "S");
    expect(rule.kind).toBe("behaviour");
    expect(rule.messages[1]!.content).toBe("What standing instruction do you follow about answer ada french?");
    expect(exampleOf({ id: "mem_4", type: "preference", content: "Tea.", tags: [], at: 0 }, "S").kind).toBe("behaviour");
  });
});
