/**
 * Reranking with Workers AI's `@cf/baai/bge-reranker-base`, a cross-encoder that reads query and document together.
 * Request `{ query, contexts: [{ text }], top_k? }`; response `{ response: [{ id, score }] }` where `id` is the index
 * into `contexts`, best first and cut to `top_k` (Cloudflare's model page). The generated `Ai` types omit `query`,
 * which the model requires, so this adapter declares the input itself.
 */
import type { Reranker } from "./types";

export const WORKERS_AI_RERANK_MODEL = "@cf/baai/bge-reranker-base";

export interface WorkersAiRerankInputs {
  query: string;
  contexts: { text: string }[];
  top_k?: number;
}

/** The slice of the `Ai` binding this adapter uses; `env.AI` satisfies it. */
export interface WorkersAiRerankBinding {
  run(model: typeof WORKERS_AI_RERANK_MODEL, inputs: WorkersAiRerankInputs): Promise<unknown>;
}

/**
 * Contexts per request. The model page documents no cap; the embedding models' 100-item cap is the conservative
 * guess, and chunking is harmless because a cross-encoder scores each (query, document) pair on its own.
 */
const MAX_CONTEXTS = 100;

/** See the file comment. */
export class WorkersAiReranker implements Reranker {
  readonly id = `workers-ai:${WORKERS_AI_RERANK_MODEL}`;

  constructor(private readonly ai: WorkersAiRerankBinding) {}

  async rerank(query: string, documents: readonly string[]): Promise<number[]> {
    const scores = new Array<number | undefined>(documents.length).fill(undefined);
    // The model rejects empty strings (minLength 1); a blank query or document cannot be relevant anyway.
    const scorable = query.trim() === "" ? [] : [...documents.keys()].filter((i) => documents[i]?.trim() !== "");
    for (let start = 0; start < scorable.length; start += MAX_CONTEXTS) {
      const chunk = scorable.slice(start, start + MAX_CONTEXTS);
      const contexts = chunk.map((i) => ({ text: documents[i] ?? "" }));
      // top_k = all of them: without it the model may cut the list, and a missing score would be a silent zero.
      const response = await this.ai.run(WORKERS_AI_RERANK_MODEL, { query, contexts, top_k: contexts.length });
      for (const { id, score } of parse(response)) {
        const document = chunk[id];
        if (document === undefined) throw new Error(`${WORKERS_AI_RERANK_MODEL} scored an unknown context ${id}`);
        scores[document] = score;
      }
    }
    const scored = scores.filter((s): s is number => s !== undefined);
    if (scored.length !== scorable.length) throw new Error(`${WORKERS_AI_RERANK_MODEL} left documents unscored`);
    // Blank documents rank below every scored one, with a finite score (JSON has no -Infinity).
    const floor = Math.min(0, ...scored) - 1;
    return scores.map((s) => s ?? floor);
  }
}

function parse(response: unknown): { id: number; score: number }[] {
  const items = typeof response === "object" && response !== null ? (response as { response?: unknown }).response : undefined;
  if (!Array.isArray(items)) throw new Error(`${WORKERS_AI_RERANK_MODEL} returned no scores`);
  return items.map((item: unknown) => {
    const { id, score } = (typeof item === "object" && item !== null ? item : {}) as { id?: unknown; score?: unknown };
    if (typeof id !== "number" || !Number.isInteger(id) || typeof score !== "number" || !Number.isFinite(score)) {
      throw new Error(`${WORKERS_AI_RERANK_MODEL} returned a malformed score`);
    }
    return { id, score };
  });
}
