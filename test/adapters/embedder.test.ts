import { describe, expect, it } from "vitest";
import { LOCAL_GLOSS_ID, LOCAL_TABLE_ID, LocalEmbedder } from "../../src/adapters/local-embedder";
import { baseForms } from "../../src/adapters/local-embedder/inflections";
import { GLOSS_BASE64, GLOSS_BASE_TABLE_ID, GLOSS_ID, GLOSS_SHA256 } from "../../src/adapters/local-embedder/word-table-gloss";
import { TABLE_BASE64, TABLE_ID, TABLE_SHA256 } from "../../src/adapters/local-embedder/word-table-int8";
import { WorkersAiEmbedder, batches } from "../../src/adapters/workers-ai-embedder";
import { embedderContract } from "./contracts";
import { EmbeddingModelStandIn } from "./stand-ins";

embedderContract("local (GloVe + distilled USE, 128-d int8)", () => new LocalEmbedder(), { semantic: true });
embedderContract("Workers AI bge-m3 (stand-in binding)", () => new WorkersAiEmbedder(new EmbeddingModelStandIn()), {
  semantic: false,
});
embedderContract(
  "Workers AI bge-base-en-v1.5 (stand-in binding)",
  () => new WorkersAiEmbedder(new EmbeddingModelStandIn(), "@cf/baai/bge-base-en-v1.5"),
  { semantic: false },
);

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((acc, x, i) => acc + x * (b[i] ?? 0), 0);

describe("local embedder", () => {
  const sha256 = async (base64: string) => {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))));
    return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  };

  it("names the tables it ships, and the tables are intact", async () => {
    expect(new LocalEmbedder().id).toBe(`local:${TABLE_ID}+${GLOSS_ID}@2`);
    expect(LOCAL_TABLE_ID).toBe(TABLE_ID);
    expect(LOCAL_GLOSS_ID).toBe(GLOSS_ID);
    expect(await sha256(TABLE_BASE64)).toBe(TABLE_SHA256);
    expect(await sha256(GLOSS_BASE64)).toBe(GLOSS_SHA256);
    // The gloss table's links are positions in one word table: rebuilding that table means rebuilding this one.
    expect(GLOSS_BASE_TABLE_ID).toBe(TABLE_ID);
  });

  it("gives an inflection of a table word its base form's vector", async () => {
    const [inflected, base] = await new LocalEmbedder().embed(["knits", "knit"], "document");
    expect(Array.from(inflected!)).toEqual(Array.from(base!));
    expect(baseForms("snores")).toContain("snore");
    expect(baseForms("running")).toContain("run");
  });

  it("gives a word outside the table that WordNet defines the meaning of its definition", async () => {
    // "sauerkraut" is past the word table's 50,000 words; WordNet: "shredded cabbage fermented in brine".
    const [word, meaning, other] = await new LocalEmbedder().embed(["sauerkraut", "pickled cabbage", "a bicycle"], "document");
    expect(cosine(word!, meaning!)).toBeGreaterThan(cosine(word!, other!) + 0.3);
  });

  it("lets an out-of-vocabulary name match itself", async () => {
    const [name, withName, other] = await new LocalEmbedder().embed(
      ["Zorblaxian", "we met the Zorblaxian engineers", "we met the Quimbletonian engineers"],
      "document",
    );
    expect(cosine(name!, withName!)).toBeGreaterThan(cosine(name!, other!) + 0.2);
  });

  it("ignores case, punctuation and stopwords", async () => {
    const [a, b] = await new LocalEmbedder().embed(["The PUPPY, of course!", "puppy course"], "query");
    expect(Array.from(a!)).toEqual(Array.from(b!));
  });
});

describe("Workers AI embedder requests", () => {
  it("sends bge-m3 batches of at most 100 texts, in order, with truncation on", async () => {
    const ai = new EmbeddingModelStandIn();
    const embedder = new WorkersAiEmbedder(ai);
    expect([embedder.id, embedder.dimensions]).toEqual(["workers-ai:@cf/baai/bge-m3", 1024]);
    const texts = Array.from({ length: 250 }, (_, i) => `text ${i}`);
    await embedder.embed(texts, "query");
    expect(ai.requests.map((r) => r.model)).toEqual(Array(3).fill("@cf/baai/bge-m3"));
    expect(ai.requests.map((r) => r.inputs.text.length)).toEqual([100, 100, 50]);
    expect(ai.requests.flatMap((r) => r.inputs.text)).toEqual(texts); // bge-m3 takes no query instruction
    expect(ai.requests.every((r) => r.inputs.truncate_inputs === true && r.inputs.pooling === undefined)).toBe(true);
  });

  it("keeps a bge-m3 request inside the model's 60,000-token context window", async () => {
    const ai = new EmbeddingModelStandIn();
    await new WorkersAiEmbedder(ai).embed(Array(100).fill("x".repeat(1_000)), "document");
    expect(ai.requests.map((r) => r.inputs.text.length)).toEqual([60, 40]);
    expect(batches(["a".repeat(70_000), "b"], 100, 60_000).map((b) => b.length)).toEqual([1, 1]);
    // The stand-in takes exactly 60,000 and refuses one more (texts past 8,192 count as cut, with truncate_inputs).
    const run = (text: string[], truncate_inputs: boolean) => ai.run("@cf/baai/bge-m3", { text, truncate_inputs }).then(() => "accepted", (e: Error) => e.message);
    expect(await run(Array(60).fill("x".repeat(1_000)), false)).toBe("accepted");
    expect(await run([...Array(59).fill("x".repeat(1_000)), "x".repeat(1_001)], false)).toMatch(/60,000-token context window/);
    expect(await run(["a".repeat(70_000)], true)).toBe("accepted");
  });

  it("prefixes bge-base-en-v1.5 queries only, with cls pooling in the request and the id", async () => {
    const ai = new EmbeddingModelStandIn();
    const embedder = new WorkersAiEmbedder(ai, "@cf/baai/bge-base-en-v1.5");
    expect([embedder.id, embedder.dimensions]).toEqual(["workers-ai:@cf/baai/bge-base-en-v1.5#cls", 768]);
    await embedder.embed(["where is the cat?"], "query");
    await embedder.embed(["the cat sleeps"], "document");
    expect(ai.requests.map((r) => r.inputs)).toEqual([
      { text: ["Represent this sentence for searching relevant passages: where is the cat?"], pooling: "cls" },
      { text: ["the cat sleeps"], pooling: "cls" },
    ]);
  });

  it("never sends an empty string (the models reject them)", async () => {
    const ai = new EmbeddingModelStandIn();
    await new WorkersAiEmbedder(ai).embed(["", "  ", "ok"], "document");
    expect(ai.requests[0]!.inputs.text).toEqual(["(empty)", "(empty)", "ok"]);
  });

  it("fails loudly on a response without embeddings", async () => {
    const ai = new EmbeddingModelStandIn();
    ai.nextResponse = { request_id: "queued-123" };
    await expect(new WorkersAiEmbedder(ai).embed(["a"], "document")).rejects.toThrow(/no embeddings/);
    ai.nextResponse = { shape: [1, 3], data: [[0.1, 0.2, 0.3]] };
    await expect(new WorkersAiEmbedder(ai).embed(["a"], "document")).rejects.toThrow(/not 1024 numbers/);
  });
});

describe("Workers AI embedder against the stand-in's limits and failures", () => {
  it("100 texts go in one request and 101 in two; the stand-in itself refuses 101", async () => {
    const ai = new EmbeddingModelStandIn();
    const embedder = new WorkersAiEmbedder(ai);
    await embedder.embed(Array.from({ length: 100 }, (_, i) => `text ${i}`), "document");
    await embedder.embed(Array.from({ length: 101 }, (_, i) => `text ${i}`), "document");
    expect(ai.requests.map((r) => r.inputs.text.length)).toEqual([100, 100, 1]);
    await expect(ai.run("@cf/baai/bge-m3", { text: Array.from({ length: 101 }, () => "x") })).rejects.toThrow(/100 items/);
  });

  it("a 429 or an outage reaches the caller as an error (the cube stores without vectors and retries later)", async () => {
    const ai = new EmbeddingModelStandIn();
    const embedder = new WorkersAiEmbedder(ai);
    ai.requestsAllowed = 1;
    await expect(embedder.embed(["first"], "document")).resolves.toHaveLength(1);
    await expect(embedder.embed(["second"], "document")).rejects.toThrow(/3040|429/);
    ai.requestsAllowed = null;
    ai.failWith = new Error("AiError: request timed out");
    await expect(embedder.embed(["third"], "query")).rejects.toThrow(/timed out/);
    ai.failWith = null;
    await expect(embedder.embed(["fourth"], "query")).resolves.toHaveLength(1);
  });
});
