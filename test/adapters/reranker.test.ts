import { describe, expect, it } from "vitest";
import { LocalReranker } from "../../src/adapters/local-reranker";
import { WorkersAiReranker } from "../../src/adapters/workers-ai-reranker";
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
