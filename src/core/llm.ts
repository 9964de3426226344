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


/** One message of a chat (OpenAI's Chat Completions roles; `developer` is sent as `system`). */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/**
 * A chat completion request: the whole conversation, as the memory-augmented chat endpoint forwards it.
 * `adapter` is the parametric-memory hook: the cube's active LoRA adapter (a Workers AI fine-tune name or id), which
 * an implementation applies where its model takes one (Workers AI `lora`) and otherwise ignores, saying so in
 * {@link ChatCompletion.adapterApplied}.
 */
export interface ChatRequest {
  messages: ChatMessage[];
  maxTokens?: number | undefined;
  temperature?: number | undefined;
  topP?: number | undefined;
  adapter?: string | undefined;
}

/** Tokens as the provider counted them; `cachedPromptTokens` is null when the provider does not say. */
export interface ChatUsage {
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens: number | null;
}

export type ChatFinishReason = "stop" | "length" | "content_filter";

export interface ChatCompletion {
  content: string;
  finishReason: ChatFinishReason;
  /** Null when the provider reported no usage. */
  usage: ChatUsage | null;
  adapterApplied: boolean;
}

/** A piece of a streamed answer: text as it comes, then one `done` with why it stopped and the usage. */
export type ChatDelta =
  | { kind: "text"; text: string }
  | { kind: "done"; finishReason: ChatFinishReason; usage: ChatUsage | null };

/**
 * A chat model: what `POST /v1/chat/completions` forwards to. Implemented by the same adapters as {@link Llm}
 * (Workers AI, OpenAI-compatible servers); failures are {@link LlmError}s. `stream` resolves once the provider has
 * accepted the request (so a refusal is still an error status, not a broken stream), then yields deltas; an error
 * after that is thrown from the iterator.
 */
export interface ChatModel {
  /** Provider and model, as {@link Llm.id}. */
  readonly id: string;
  /** The model name reported to clients (`model` in responses). */
  readonly model: string;
  /** Whether `adapter` can be applied at all (Workers AI with a LoRA-capable model). */
  readonly supportsAdapters: boolean;
  chat(request: ChatRequest): Promise<ChatCompletion>;
  stream(request: ChatRequest): Promise<{ deltas: AsyncIterable<ChatDelta>; adapterApplied: boolean }>;
}
