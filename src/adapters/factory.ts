/**
 * Picks the retrieval adapters from validated configuration. A binding the configuration asks for and that is
 * missing is a {@link ConfigError}, never a silent fallback to the local implementation.
 */
import { ConfigError } from "../errors";
import type { Llm } from "./llm";
import { LocalEmbedder } from "./local-embedder";
import { LocalReranker } from "./local-reranker";
import { OpenAiLlm } from "./openai-llm";
import type { Embedder, Reranker, VectorIndex } from "./types";
import { VECTOR_QUEUES, tenantShardedSender } from "./queue-shards";
import type { VectorQueue, VectorQueueMessage } from "./vector-queue";
import { VectorizeVectorIndex } from "./vectorize-index";
import { DEFAULT_WORKERS_AI_EMBEDDING_MODEL, WORKERS_AI_EMBEDDING_MODELS, WorkersAiEmbedder, type WorkersAiEmbeddingModel } from "./workers-ai-embedder";
import { DEFAULT_WORKERS_AI_LLM_MODEL, WorkersAiLlm, type WorkersAiTextBinding } from "./workers-ai-llm";
import { WorkersAiReranker } from "./workers-ai-reranker";

export interface Retrieval {
  embedder: Embedder;
  /** The shared semantic index in production; null in local mode, where the cube's own vector store is the index. */
  remoteIndex: VectorIndex | null;
  reranker: Reranker;
  /**
   * Where cubes hand a few vectors for the shared index, to be upserted with other cubes' (adapters/vector-queue.ts);
   * null or absent: each cube upserts its own. Only with a shared index and the VECTOR_UPSERTS binding.
   */
  vectorQueue?: VectorQueue | null;
}

/** The configuration variables retrieval reads (wrangler.toml [vars]). */
export interface RetrievalConfig {
  EMBEDDER?: string;
  EMBEDDING_MODEL?: string;
  VECTOR_INDEX?: string;
  RERANKER?: string;
  AI?: unknown;
  VECTORIZE?: unknown;
  VECTOR_UPSERTS?: unknown;
}

function choice<T extends string>(name: string, value: string | undefined, options: readonly T[], fallback: T): T {
  const chosen = (value ?? fallback) as T;
  if (!options.includes(chosen)) throw new ConfigError(`${name} must be one of ${options.join(", ")}; got ${value}`);
  return chosen;
}

function binding<T>(name: string, value: unknown, purpose: string): T {
  if (!value) throw new ConfigError(`${purpose} needs the ${name} binding (see wrangler.toml)`);
  return value as T;
}

export function createRetrieval(env: RetrievalConfig): Retrieval {
  const embedderKind = choice("EMBEDDER", env.EMBEDDER, ["local", "workers-ai"] as const, "local");
  const indexKind = choice("VECTOR_INDEX", env.VECTOR_INDEX, ["local", "vectorize"] as const, "local");
  const rerankerKind = choice("RERANKER", env.RERANKER, ["local", "workers-ai"] as const, "local");
  const models = Object.keys(WORKERS_AI_EMBEDDING_MODELS) as WorkersAiEmbeddingModel[];
  const model = choice("EMBEDDING_MODEL", env.EMBEDDING_MODEL, models, DEFAULT_WORKERS_AI_EMBEDDING_MODEL);
  return {
    embedder:
      embedderKind === "local"
        ? new LocalEmbedder()
        : new WorkersAiEmbedder(binding("AI", env.AI, "EMBEDDER=workers-ai"), model),
    remoteIndex:
      indexKind === "local" ? null : new VectorizeVectorIndex(binding("VECTORIZE", env.VECTORIZE, "VECTOR_INDEX=vectorize")),
    reranker:
      rerankerKind === "local" ? new LocalReranker() : new WorkersAiReranker(binding("AI", env.AI, "RERANKER=workers-ai")),
    // The vectors queue's shards by tenant (./queue-shards.ts); none bound: each cube upserts its own.
    vectorQueue: indexKind === "local" ? null : tenantShardedSender<VectorQueueMessage>(env, VECTOR_QUEUES),
  };
}

/** The configuration variables the model-backed reader reads (wrangler.toml [vars], plus the `LLM_API_KEY` secret). */
export interface LlmConfig {
  READER?: string;
  LLM_MODEL?: string;
  LLM_BASE_URL?: string;
  LLM_API_KEY?: string;
  AI?: unknown;
}

/**
 * The model MemReader extracts with, or null for `READER=rules` (the default, offline). `READER=workers-ai` needs the
 * AI binding and takes `LLM_MODEL` (a Workers AI model id, default {@link DEFAULT_WORKERS_AI_LLM_MODEL});
 * `READER=openai` needs `LLM_BASE_URL`, `LLM_MODEL` and the `LLM_API_KEY` secret (local servers that ignore keys
 * still get one: any value, so that a hosted endpoint is never called without one by mistake).
 */
export function createLlm(env: LlmConfig): Llm | null {
  const reader = choice("READER", env.READER, ["rules", "workers-ai", "openai"] as const, "rules");
  const model = env.LLM_MODEL?.trim() || undefined;
  if (reader === "rules") return null;
  if (reader === "workers-ai") {
    if (model !== undefined && !/^@(cf|hf)\/\S+$/.test(model)) {
      throw new ConfigError(`READER=workers-ai needs LLM_MODEL to be a Workers AI model id (@cf/… or @hf/…); got ${model}`);
    }
    return new WorkersAiLlm(binding<WorkersAiTextBinding>("AI", env.AI, "READER=workers-ai"), model ?? DEFAULT_WORKERS_AI_LLM_MODEL);
  }
  const baseUrl = env.LLM_BASE_URL?.trim();
  if (!baseUrl) throw new ConfigError("READER=openai needs LLM_BASE_URL, e.g. http://localhost:11434/v1 (see wrangler.toml)");
  if (!URL.canParse(baseUrl) || !/^https?:$/.test(new URL(baseUrl).protocol)) {
    throw new ConfigError(`LLM_BASE_URL must be an http(s) URL; got ${baseUrl}`);
  }
  if (model === undefined) throw new ConfigError("READER=openai needs LLM_MODEL, the model name the server knows");
  const apiKey = env.LLM_API_KEY?.trim();
  if (!apiKey) throw new ConfigError("READER=openai needs the LLM_API_KEY secret (wrangler secret put LLM_API_KEY, or .dev.vars)");
  return new OpenAiLlm({ baseUrl, apiKey, model });
}
