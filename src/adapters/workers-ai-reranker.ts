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
 * What this adapter sends per request, so no request exceeds what the model takes. Cloudflare's input schema
 * (developers.cloudflare.com/workers-ai/models/bge-reranker-base/) requires `query` and every context's `text` to
 * be ≥ 1 character and `top_k` an integer ≥ 1, and documents no cap on contexts or length; the model itself (an
 * XLM-RoBERTa cross-encoder, BAAI's model card: max length 512, 514 positions) reads at most 512 tokens per
 * (query, context) pair, special tokens included. Workers AI documents neither a refusal nor a truncation past
 * that, so the adapter cuts before sending.
 */
export const RERANK_LIMITS = {
  /** Contexts per request: none documented; the embedding models' 100 is the conservative guess (chunking is harmless: each pair is scored on its own). */
  contexts: 100,
  /** Tokens per (query, context) pair, the four special tokens `<s> q </s></s> c </s>` included. */
  pairTokens: 512,
  /** Of which the query may take at most this many (a long query leaves the context the rest). */
  queryTokens: 256,
} as const;

/** XLM-R's tokenizer marks every special token as one token. */
const SPECIAL_TOKENS = 4;

/**
 * Tokens of a text for XLM-R's SentencePiece tokenizer, from above: every piece covers at least one character (spaces
 * included), plus the leading word marker. Counting UTF-16 code units errs on the safe side (a surrogate pair is one
 * character but two units).
 */
export const rerankTokensBound = (text: string): number => text.length + 1;

/** Cuts `text` so that {@link rerankTokensBound} is at most `tokens`, never inside a surrogate pair. */
function cut(text: string, tokens: number): string {
  if (rerankTokensBound(text) <= tokens) return text;
  let end = Math.max(0, tokens - 1);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end);
}

/** See the file comment. */
export class WorkersAiReranker implements Reranker {
  readonly id = `workers-ai:${WORKERS_AI_RERANK_MODEL}`;

  constructor(private readonly ai: WorkersAiRerankBinding) {}

  async rerank(query: string, documents: readonly string[]): Promise<number[]> {
    const scores = new Array<number | undefined>(documents.length).fill(undefined);
    // The model rejects empty strings (minLength 1); a blank query or document cannot be relevant anyway.
    const scorable = query.trim() === "" ? [] : [...documents.keys()].filter((i) => documents[i]?.trim() !== "");
    // The model reads 512 tokens per pair: the query's head (at most half of them) and each document's head.
    const sent = cut(query, RERANK_LIMITS.queryTokens);
    const documentTokens = RERANK_LIMITS.pairTokens - SPECIAL_TOKENS - rerankTokensBound(sent);
    for (let start = 0; start < scorable.length; start += RERANK_LIMITS.contexts) {
      const chunk = scorable.slice(start, start + RERANK_LIMITS.contexts);
      const contexts = chunk.map((i) => ({ text: cut(documents[i] ?? "", documentTokens) }));
      // top_k = all of them: without it the model may cut the list, and a missing score would be a silent zero.
      const response = await this.ai.run(WORKERS_AI_RERANK_MODEL, { query: sent, contexts, top_k: contexts.length });
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
