import { describe, expect, it } from "vitest";
import { LocalReranker } from "../../src/adapters/local-reranker";
import { RERANK_LIMITS, WorkersAiReranker } from "../../src/adapters/workers-ai-reranker";
import { rerankerContract } from "./contracts";
import { RerankModelStandIn } from "./stand-ins";

rerankerContract("local (lexical)", () => new LocalReranker());
rerankerContract("Workers AI bge-reranker-base (stand-in binding)", () => new WorkersAiReranker(new RerankModelStandIn()));

describe("Workers AI reranker requests", () => {
  it("asks for every context's score and maps them back by id, whatever order they come in", async () => {
    const ai = new RerankModelStandIn();
    const reranker = new WorkersAiReranker(ai);
    const scores = await reranker.rerank("violin lessons", ["groceries", "she takes violin lessons", "violin"]);
    expect(ai.requests).toEqual([
      {
        model: "@cf/baai/bge-reranker-base",
        inputs: {
          query: "violin lessons",
          contexts: [{ text: "groceries" }, { text: "she takes violin lessons" }, { text: "violin" }],
          top_k: 3,
        },
      },
    ]);
    expect(scores[1]!).toBeGreaterThan(scores[2]!);
    expect(scores[2]!).toBeGreaterThan(scores[0]!);
  });

  it("sends at most 100 contexts per request and never a blank one", async () => {
    const ai = new RerankModelStandIn();
    const documents = Array.from({ length: 160 }, (_, i) => (i % 40 === 0 ? " " : `note ${i}`));
    const scores = await new WorkersAiReranker(ai).rerank("note 7", documents);
    expect(ai.requests.map((r) => r.inputs.contexts.length)).toEqual([100, 56]);
    expect(ai.requests.flatMap((r) => r.inputs.contexts).every((c) => c.text.trim() !== "")).toBe(true);
    expect(scores).toHaveLength(160);
    expect(Math.min(...scores)).toBe(scores[0]);
  });

  it("does not call the model for a blank query", async () => {
    const ai = new RerankModelStandIn();
    expect(await new WorkersAiReranker(ai).rerank("  ", ["a", "b"])).toHaveLength(2);
    expect(ai.requests).toEqual([]);
  });
});

describe("bge-reranker-base's input limits (stand-in and adapter, at each limit and one past)", () => {
  const refusal = (promise: Promise<unknown>) => promise.then(() => "accepted", (e: Error) => e.message);

  it("the stand-in takes a (query, context) pair of exactly 512 tokens and refuses 513", async () => {
    const ai = new RerankModelStandIn();
    const query = "q".repeat(99); // 100 tokens from above, and 4 special ones: 407 characters of context fit.
    const run = (chars: number) => refusal(ai.run("@cf/baai/bge-reranker-base", { query, contexts: [{ text: "c".repeat(chars) }] }));
    expect(await run(407)).toBe("accepted");
    expect(await run(408)).toMatch(/contexts\/0: .*512 tokens/);
  });

  it("the stand-in refuses what the input schema refuses: an empty query or context, top_k below 1 or fractional", async () => {
    const ai = new RerankModelStandIn();
    const run = (inputs: Parameters<RerankModelStandIn["run"]>[1]) => refusal(ai.run("@cf/baai/bge-reranker-base", inputs));
    expect(await run({ query: "a", contexts: [{ text: "b" }], top_k: 1 })).toBe("accepted");
    expect(await run({ query: "", contexts: [{ text: "b" }] })).toMatch(/Input validation failed: \/query/);
    expect(await run({ query: "a", contexts: [{ text: "b" }, { text: "" }] })).toMatch(/\/contexts\/1\/text/);
    expect(await run({ query: "a", contexts: [{ text: "b" }], top_k: 0 })).toMatch(/\/top_k/);
    expect(await run({ query: "a", contexts: [{ text: "b" }], top_k: 1.5 })).toMatch(/\/top_k/);
  });

  it("sends a document that exactly fills the pair whole and cuts one a character longer", async () => {
    const ai = new RerankModelStandIn();
    const query = "violin lessons"; // 15 tokens from above: 512 − 4 − 15 = 493 for the document, 492 characters.
    const fits = "v".repeat(492);
    await new WorkersAiReranker(ai).rerank(query, [fits, `${fits}w`, "x".repeat(20_000)]);
    expect(ai.requests[0]!.inputs.contexts.map((c) => c.text.length)).toEqual([492, 492, 492]);
    expect(ai.requests[0]!.inputs.contexts[1]!.text).toBe(fits);
  });

  it("cuts a query past its half of the pair, never inside a surrogate pair, and still scores every document", async () => {
    const ai = new RerankModelStandIn();
    const reranker = new WorkersAiReranker(ai);
    const fits = "q".repeat(RERANK_LIMITS.queryTokens - 1);
    await reranker.rerank(fits, ["a"]);
    await reranker.rerank(`${fits}r`, ["a"]);
    await reranker.rerank(`${"q".repeat(RERANK_LIMITS.queryTokens - 2)}😀`, ["a"]);
    expect(ai.requests.map((r) => r.inputs.query.length)).toEqual([255, 255, 254]);
    const scores = await reranker.rerank("q".repeat(5_000), ["d".repeat(5_000), "q".repeat(5_000)]);
    expect(scores[1]!).toBeGreaterThan(scores[0]!);
  });
});

describe("local reranker", () => {
  it("matches word forms and rewards words that stay together", async () => {
    const scores = await new LocalReranker().rerank("painting lessons", [
      "she paints; later, after dinner, she goes to her lessons",
      "she took painting lessons",
      "she painted her kitchen",
    ]);
    expect(scores[1]!).toBeGreaterThan(scores[0]!);
    expect(scores[0]!).toBeGreaterThan(scores[2]!);
    expect(scores[2]!).toBeGreaterThan(0);
  });
});
