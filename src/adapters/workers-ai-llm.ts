/**
 * Text generation on Workers AI. The default model is `@cf/meta/llama-3.3-70b-instruct-fp8-fast`:
 * - it is on Workers AI's JSON Mode list (developers.cloudflare.com/workers-ai/json-mode), so the answer is
 *   constrained to the extraction schema instead of merely asked for;
 * - extraction is instruction-heavy (third person, names, date arithmetic, what not to store): a 70B model follows
 *   such rules far more reliably than the 8B ones on the same list;
 * - multilingual (Llama 3.3: en, de, fr, it, pt, hi, es, th), and memories stay in the user's language;
 * - a 24,000-token context window: a 6,000-character window plus the prompt and 4,096 output tokens fit easily;
 * - $0.29/M input and $2.25/M output tokens (Cloudflare's model page, 2026): extraction runs once per episode.
 * Any other model id works through `LLM_MODEL`; one without JSON Mode gets the same prompt and is validated the same.
 *
 * Request (messages form): `{ messages: [{ role, content }], max_tokens, temperature, response_format? }` with
 * `response_format: { type: "json_schema", json_schema: <the schema itself> }` (no OpenAI-style `{ name, schema }`
 * wrapper). Response: `{ response, usage? }`. The generated types say `response: string`, but the JSON Mode docs show
 * it as the parsed object when a schema was given, so both are accepted (an object is re-serialised).
 * Failures are thrown by the binding with Workers AI's internal error codes in the message
 * (developers.cloudflare.com/workers-ai/platform/errors), mapped to {@link LlmError} codes below.
 */
import { modelTakesAdapter } from "../core/lora";
import { DEFAULT_LLM_TIMEOUT_MS, DEFAULT_MAX_TOKENS, LlmError, excerpt, isAbort, type Llm, type LlmAdapterRef, type LlmErrorCode, type LlmRequest } from "./llm";

export const DEFAULT_WORKERS_AI_LLM_MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";

/** The inputs this adapter sends; a subset of what the text-generation models accept. */
export interface WorkersAiTextInputs {
  messages: { role: "system" | "user"; content: string }[];
  max_tokens: number;
  temperature: number;
  response_format?: { type: "json_schema"; json_schema: Record<string, unknown> };
  /**
   * A fine-tune (LoRA adapter) by name or id, for the `-lora` base models
   * (developers.cloudflare.com/workers-ai/fine-tunes/loras/): sent only when the request's adapter was made for
   * this adapter's model (see appliesAdapter).
   */
  lora?: string;
}

/**
 * The slice of the `Ai` binding this adapter uses. `env.AI` provides it (the factory passes it through untyped: the
 * generated overloads only accept model names known at compile time, and the model here comes from config).
 */
export interface WorkersAiTextBinding {
  run(model: string, inputs: WorkersAiTextInputs, options?: { signal?: AbortSignal }): Promise<unknown>;
}

/**
 * Internal error codes of the documented error table that mean "this request will never work": unknown or invalid
 * model, invalid input, missing model agreement, blocked account, request too large, unsupported LoRA, old SDK.
 */
const REJECTED_CODES = new Set([3003, 3006, 3023, 3039, 3041, 3042, 5004, 5005, 5006, 5007, 5016, 5018, 5019]);
/**
 * The same failures when the message carries no code: the binding's input validation, and a prompt plus `max_tokens`
 * past the context window ("AiError: This model's maximum context length is 131072 tokens. However, you requested …",
 * HTTP 400, as reported from a live deployment in github.com/cloudflare/cloudflare-docs/issues/29731).
 */
const REJECTED_MESSAGES = /input validation failed|no such model|model name is invalid|request is too large|maximum context length/i;
/** 3036: daily free allocation used up; 3040: out of capacity. Both are HTTP 429. */
const RATE_LIMIT_CODES = new Set([3036, 3040]);
/** 3007: request timeout; 3008: request aborted. Both are HTTP 408. */
const TIMEOUT_CODES = new Set([3007, 3008]);

/**
 * Context windows (prompt and answer together, in tokens) of the models whose Workers AI page documents one
 * (developers.cloudflare.com/workers-ai/models/<model>/, "Context Window"). A model not listed is sent the request
 * as asked; if it refuses, the refusal is `rejected` (REJECTED_MESSAGES).
 */
export const WORKERS_AI_CONTEXT_WINDOWS: Readonly<Record<string, number>> = {
  "@cf/meta/llama-3.3-70b-instruct-fp8-fast": 24_000,
};

/** Tokens the chat template adds per message (role header and end-of-turn markers: 4–5 for Llama 3), from above. */
export const TEMPLATE_TOKENS_PER_MESSAGE = 8;

/**
 * The least `max_tokens` this adapter lowers a request to when the prompt's bound leaves less: the bound is loose
 * (non-Latin text counts several bytes a token), so the model may well take it, and a shorter allowance would
 * only cut the answer.
 */
export const MIN_ANSWER_TOKENS = 1024;

/**
 * The prompt's tokens from above: Llama's tokenizer is a byte-level BPE, so no token is shorter than one UTF-8 byte;
 * plus the template's tokens per message, plus the JSON schema's bytes in case the service puts it in the prompt.
 */
/** What the window arithmetic reads of a request: its messages' text and the JSON schema, if any. */
export interface PromptShape {
  messages: readonly { content: string }[];
  response_format?: WorkersAiTextInputs["response_format"];
}

export function promptTokensBound(inputs: PromptShape): number {
  const encoder = new TextEncoder();
  let tokens = 0;
  for (const message of inputs.messages) tokens += encoder.encode(message.content).length + TEMPLATE_TOKENS_PER_MESSAGE;
  if (inputs.response_format) tokens += encoder.encode(JSON.stringify(inputs.response_format.json_schema)).length;
  return tokens;
}

/**
 * `max_tokens` for a request, so that prompt and answer fit the model's context window: the asked-for allowance
 * when the prompt's bound leaves room for it, else what room is left, but not below {@link MIN_ANSWER_TOKENS}.
 */
export function answerAllowance(model: string, inputs: PromptShape, asked: number): number {
  const window = WORKERS_AI_CONTEXT_WINDOWS[model];
  if (window === undefined) return asked;
  const room = window - promptTokensBound(inputs);
  return room >= asked ? asked : Math.min(asked, Math.max(room, MIN_ANSWER_TOKENS));
}

/** See the file comment. */
export class WorkersAiLlm implements Llm {
  readonly id: string;
  private readonly timeoutMs: number;

  constructor(
    private readonly ai: WorkersAiTextBinding,
    private readonly model: string = DEFAULT_WORKERS_AI_LLM_MODEL,
    options: { timeoutMs?: number } = {},
  ) {
    this.id = `workers-ai:${model}`;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS;
  }

  async complete(request: LlmRequest): Promise<string> {
    const messages: WorkersAiTextInputs["messages"] = [
      { role: "system", content: request.system },
      { role: "user", content: request.user },
    ];
    const responseFormat = request.jsonSchema ? { response_format: { type: "json_schema", json_schema: request.jsonSchema.schema } as const } : {};
    const maxTokens = answerAllowance(this.model, { messages, ...responseFormat }, request.maxTokens ?? DEFAULT_MAX_TOKENS);
    const inputs: WorkersAiTextInputs = {
      messages,
      max_tokens: maxTokens,
      temperature: request.temperature ?? 0,
      ...responseFormat,
      ...(request.adapter && this.appliesAdapter(request.adapter) ? { lora: request.adapter.finetune! } : {}),
    };
    let response: unknown;
    try {
      response = await this.ai.run(this.model, inputs, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw this.classifyError(error);
    }
    return this.text(response, maxTokens);
  }

  /** A cube's adapter applies when this model is the `-lora` model it was made for and it is deployed as a fine-tune. */
  appliesAdapter(adapter: LlmAdapterRef): boolean {
    return adapter.finetune !== null && modelTakesAdapter(this.model, adapter.baseModel);
  }

  private text(response: unknown, maxTokens: number): string {
    // The generated output type also allows a bare string.
    if (typeof response === "string") return response;
    const body = typeof response === "object" && response !== null ? (response as Record<string, unknown>) : {};
    const usage = body.usage as { completion_tokens?: unknown } | undefined;
    if (typeof usage?.completion_tokens === "number" && usage.completion_tokens >= maxTokens) {
      // Cut mid-answer: the JSON is incomplete, and saying why lets the caller ask for less.
      throw new LlmError("invalid_output", `${this.model} stopped at max_tokens (${maxTokens}) before finishing its answer`);
    }
    const answer = body.response;
    if (typeof answer === "string") return answer;
    if (answer !== undefined && answer !== null) return JSON.stringify(answer); // JSON Mode: already parsed
    // e.g. `{ request_id }`: an asynchronously queued request, which this adapter never asks for.
    throw new LlmError("invalid_output", `${this.model} returned no response text`);
  }

  /** A binding failure as an {@link LlmError} (also used by the chat model, workers-ai-chat.ts). */
  classifyError(error: unknown): LlmError {
    if (error instanceof LlmError) return error;
    const message = error instanceof Error ? error.message : String(error);
    if (isAbort(error)) {
      return new LlmError("timeout", `${this.model} gave no answer within ${this.timeoutMs} ms`, undefined, { cause: error });
    }
    if (/JSON Mode couldn't be met/i.test(message)) {
      return new LlmError("invalid_output", `${this.model} could not satisfy the JSON schema`, undefined, { cause: error });
    }
    const code = [...message.matchAll(/\b([35]\d{3})\b/g)].map((m) => Number(m[1])).find((c) => knownCode(c));
    const kind: LlmErrorCode =
      code === undefined
        ? REJECTED_MESSAGES.test(message)
          ? "rejected"
          : "unavailable" // internal errors, upstream failures, network: worth another try later
        : REJECTED_CODES.has(code)
          ? "rejected"
          : RATE_LIMIT_CODES.has(code)
            ? "rate_limited"
            : "timeout";
    return new LlmError(kind, `Workers AI ${this.model}: ${excerpt(message)}`, undefined, { cause: error });
  }
}

const knownCode = (code: number) => REJECTED_CODES.has(code) || RATE_LIMIT_CODES.has(code) || TIMEOUT_CODES.has(code);
