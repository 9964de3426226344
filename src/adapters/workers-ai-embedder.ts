/**
 * Embeddings from Workers AI's BGE models. The default is `@cf/baai/bge-m3`:
 * - multilingual (100+ languages): memories are whatever language users speak, and an English-only model would
 *   put every non-English memory in one blurry corner of the space;
 * - inputs up to 8,192 tokens (bge-base-en-v1.5: 512), so long episodes are embedded whole instead of cut;
 * - cheaper per token ($0.012/M vs $0.067/M input tokens, Cloudflare's model pages, 2026);
 * - no query instruction needed. Its 1,024 dimensions fit Vectorize (max 1,536); the cost is index size, which is
 *   why the Durable Object keeps bge-m3 vectors only until Vectorize has them (see durable-objects/cube/vector-store.ts).
 * `@cf/baai/bge-base-en-v1.5` (768-d, English) stays available for English-only deployments.
 *
 * Request shape (both models): `{ text: string[] }`, at most 100 texts of at least one character each;
 * response: `{ shape: [n, d], data: number[][] }`. Vectors are normalised here rather than trusting the model to.
 */
import type { Embedder } from "./types";

export type WorkersAiEmbeddingModel = "@cf/baai/bge-m3" | "@cf/baai/bge-base-en-v1.5";

/** The inputs this adapter sends; a subset of what the models accept. */
export interface WorkersAiEmbeddingInputs {
  text: string[];
  truncate_inputs?: boolean;
  pooling?: "mean" | "cls";
}

/**
 * The slice of the `Ai` binding this adapter uses. `env.AI` satisfies it; tests pass a stand-in that answers with
 * the real response shape.
 */
export interface WorkersAiEmbeddingBinding {
  run(model: WorkersAiEmbeddingModel, inputs: WorkersAiEmbeddingInputs): Promise<unknown>;
}

interface ModelProfile {
  readonly dimensions: number;
  /** Texts per request: the models' input schema caps the `text` array at 100 items. */
  readonly maxBatchTexts: number;
  /**
   * Upper bound on the summed length of one request, in UTF-16 code units used as a token estimate. bge-m3's
   * context window is 60,000 tokens per request; XLM-R's tokenizer rarely makes more tokens than characters, so
   * counting characters errs on the safe side. bge-base's window (153,600) is never reached by 100 × 512 tokens.
   */
  readonly maxBatchChars: number;
  /** Prepended to queries only (asymmetric retrieval). */
  readonly queryPrefix: string;
  readonly extraInputs: Omit<WorkersAiEmbeddingInputs, "text">;
  /** Distinguishes settings that change the vectors (pooling) inside the embedder id. */
  readonly idSuffix: string;
  /**
   * Embedder.confidentSimilarity. Not measured here (no model runs offline): BAAI note that BGE similarities of
   * related texts concentrate in [0.6, 1]; 0.6 is the low end of that. Re-calibrate with real traffic.
   */
  readonly confidentSimilarity: number;
}

/** What this adapter knows of each model; exported for tests and for whoever sizes a Vectorize index. */
export const WORKERS_AI_EMBEDDING_MODELS: Readonly<Record<WorkersAiEmbeddingModel, ModelProfile>> = {
  "@cf/baai/bge-m3": {
    dimensions: 1024,
    maxBatchTexts: 100,
    maxBatchChars: 60_000,
    queryPrefix: "",
    // Longer than 8,192 tokens: truncate rather than fail the whole batch (a memory's head carries its topic).
    extraInputs: { truncate_inputs: true },
    idSuffix: "",
    confidentSimilarity: 0.6,
  },
  "@cf/baai/bge-base-en-v1.5": {
    dimensions: 768,
    maxBatchTexts: 100,
    maxBatchChars: Number.POSITIVE_INFINITY,
    // BAAI's recommended instruction for short queries against passages.
    queryPrefix: "Represent this sentence for searching relevant passages: ",
    // Cloudflare recommends `cls` (more accurate); it is incompatible with the default `mean`, hence the id suffix.
    extraInputs: { pooling: "cls" },
    idSuffix: "#cls",
    confidentSimilarity: 0.6,
  },
};

export const DEFAULT_WORKERS_AI_EMBEDDING_MODEL: WorkersAiEmbeddingModel = "@cf/baai/bge-m3";

// The models reject empty strings (minLength 1); a blank text still gets a vector, the one of this placeholder.
const BLANK_PLACEHOLDER = "(empty)";

/** See the file comment. */
export class WorkersAiEmbedder implements Embedder {
  readonly id: string;
  readonly dimensions: number;
  readonly confidentSimilarity: number;
  /** A trained retrieval model: an equal partner of BM25 in fusion (the usual hybrid setting). */
  readonly fusionWeight = 1;
  private readonly profile: ModelProfile;

  constructor(
    private readonly ai: WorkersAiEmbeddingBinding,
    private readonly model: WorkersAiEmbeddingModel = DEFAULT_WORKERS_AI_EMBEDDING_MODEL,
  ) {
    this.profile = WORKERS_AI_EMBEDDING_MODELS[model];
    this.id = `workers-ai:${model}${this.profile.idSuffix}`;
    this.dimensions = this.profile.dimensions;
    this.confidentSimilarity = this.profile.confidentSimilarity;
  }

  async embed(texts: readonly string[], kind: "document" | "query"): Promise<Float32Array[]> {
    const prefix = kind === "query" ? this.profile.queryPrefix : "";
    const inputs = texts.map((text) => prefix + (text.trim() === "" ? BLANK_PLACEHOLDER : text));
    const vectors: Float32Array[] = [];
    // One request at a time: bulk embedding happens in background jobs, where staying under the per-minute rate
    // limit matters more than latency, and the result order is trivially the input order.
    for (const batch of batches(inputs, this.profile.maxBatchTexts, this.profile.maxBatchChars)) {
      const response = await this.ai.run(this.model, { text: batch, ...this.profile.extraInputs });
      vectors.push(...this.parse(response, batch.length));
    }
    return vectors;
  }

  private parse(response: unknown, expected: number): Float32Array[] {
    const data = isRecord(response) ? response.data : undefined;
    if (!Array.isArray(data) || data.length !== expected) {
      // e.g. `{ request_id }` from an async-queued request, or a changed response format.
      throw new Error(`${this.model} returned no embeddings for ${expected} texts`);
    }
    return data.map((row: unknown) => {
      if (!Array.isArray(row) || row.length !== this.dimensions || !row.every((x) => typeof x === "number")) {
        throw new Error(`${this.model} returned a vector that is not ${this.dimensions} numbers`);
      }
      return unit(row as number[]);
    });
  }
}

/** Splits texts into consecutive batches of at most `maxTexts` items and `maxChars` summed length (≥ 1 item each). */
export function batches(texts: readonly string[], maxTexts: number, maxChars: number): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let chars = 0;
  for (const text of texts) {
    if (current.length > 0 && (current.length >= maxTexts || chars + text.length > maxChars)) {
      out.push(current);
      current = [];
      chars = 0;
    }
    current.push(text);
    chars += text.length;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function unit(values: readonly number[]): Float32Array {
  const norm = Math.sqrt(values.reduce((acc, x) => acc + x * x, 0));
  if (!Number.isFinite(norm) || norm === 0) throw new Error("embedding model returned a zero or non-finite vector");
  return Float32Array.from(values, (x) => x / norm);
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null;
