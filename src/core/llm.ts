/**
 * The text-generation interface the model-backed MemReader reaches its model through, and how a completion fails.
 * Declared in core so the reader takes an interface; the implementations (Workers AI, OpenAI-compatible endpoints)
 * live in src/adapters/ and are picked by config (`createLlm`).
 *
 * Deliberately small: one system prompt, one user prompt, text back. Retrying malformed output is the caller's job
 * (only it knows what "malformed" means); retrying unavailability is the job system's (it backs off between attempts),
 * so implementations make exactly one request and report failures as an {@link LlmError}.
 */

/** One completion request. */
export interface LlmRequest {
  system: string;
  user: string;
  /**
   * Ask for JSON matching this schema (OpenAI "structured outputs", Workers AI "JSON mode"). Keep the schema in the
   * subset every server accepts: all properties required, nullable instead of optional, `additionalProperties: false`,
   * no length or numeric constraints — and validate the answer anyway: not every server enforces it.
   */
  jsonSchema?: { name: string; schema: Record<string, unknown> };
  /** Upper bound on generated tokens; implementations default to `DEFAULT_MAX_TOKENS` (src/adapters/llm.ts). */
  maxTokens?: number;
  /** Sampling temperature; implementations default to 0 (extraction wants the most likely answer, not variety). */
  temperature?: number;
  /**
   * A cube's active adapter (parametric memory, docs/parametric.md). Applied only by an implementation whose model
   * takes it ({@link Llm.appliesAdapter}); the others answer with the model as it is.
   */
  adapter?: LlmAdapterRef | null;
}

/** An adapter as a model call sees it: the base model it was made for and the Workers AI fine-tune that serves it. */
export interface LlmAdapterRef {
  baseModel: string;
  /** The Workers AI fine-tune name or id (`lora`); null when the adapter is stored here but not deployed there. */
  finetune: string | null;
}

export interface Llm {
  /** Provider and model, e.g. `workers-ai:@cf/meta/llama-3.3-70b-instruct-fp8-fast` or `openai:gpt-4o-mini`. */
  readonly id: string;
  /** The model's answer as text (JSON text when `jsonSchema` is given). Throws {@link LlmError}. */
  complete(request: LlmRequest): Promise<string>;
  /** Whether `complete` applies this adapter (absent: never). */
  appliesAdapter?(adapter: LlmAdapterRef): boolean;
}

/**
 * Why a completion failed:
 * - `rate_limited`: 429 or out of capacity;
 * - `unavailable`: 5xx, network failure, or an error the adapter cannot classify;
 * - `timeout`: no answer within the adapter's timeout;
 * - `rejected`: the provider refused the request (4xx other than 408/409/429: bad key, unknown model, too large,
 *   a refusal) — the same request will fail again, so it is the only code that is not retryable;
 * - `invalid_output`: the provider answered but without usable text (empty, cut at `maxTokens`, JSON mode unmet).
 */
export type LlmErrorCode = "rate_limited" | "unavailable" | "timeout" | "rejected" | "invalid_output";

/** A failed completion. `retryable` says whether the same request may succeed later. */
export class LlmError extends Error {
  override name = "LlmError";
  readonly retryable: boolean;

  constructor(
    readonly code: LlmErrorCode,
    message: string,
    /** The HTTP status, when the provider answered with one. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.retryable = code !== "rejected";
  }
}

