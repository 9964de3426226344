/**
 * Picks the retrieval adapters from validated configuration. A binding the configuration asks for and that is
 * missing is a {@link ConfigError}, never a silent fallback to the local implementation.
 */
import { ConfigError } from "../errors";
import { LocalEmbedder } from "./local-embedder";
import { LocalReranker } from "./local-reranker";
import type { Embedder, Reranker, VectorIndex } from "./types";
import { VectorizeVectorIndex } from "./vectorize-index";
import { DEFAULT_WORKERS_AI_EMBEDDING_MODEL, WORKERS_AI_EMBEDDING_MODELS, WorkersAiEmbedder, type WorkersAiEmbeddingModel } from "./workers-ai-embedder";
import { WorkersAiReranker } from "./workers-ai-reranker";

export interface Retrieval {
  embedder: Embedder;
  /** The shared semantic index in production; null in local mode, where the cube's own vector store is the index. */
  remoteIndex: VectorIndex | null;
  reranker: Reranker;
}

/** The configuration variables retrieval reads (wrangler.toml [vars]). */
export interface RetrievalConfig {
  EMBEDDER?: string;
  EMBEDDING_MODEL?: string;
  VECTOR_INDEX?: string;
  RERANKER?: string;
  AI?: unknown;
  VECTORIZE?: unknown;
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
  };
}
