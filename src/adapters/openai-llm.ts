/**
 * Text generation on any OpenAI-compatible Chat Completions endpoint: OpenAI itself, or the server people run their
 * own model on (Ollama `http://localhost:11434/v1`, llama.cpp, vLLM, LM Studio), or Workers AI's own
 * OpenAI-compatible endpoint. `baseUrl` is everything before `/chat/completions`.
 *
 * Request: `POST {baseUrl}/chat/completions` with `Authorization: Bearer <key>` and
 * `{ model, messages, max_tokens, temperature, response_format? }`, where a schema is sent as
 * `response_format: { type: "json_schema", json_schema: { name, schema, strict: true } }` — the spelling OpenAI, vLLM,
 * Ollama and LM Studio all accept (LM Studio refuses `json_object`). `max_tokens` rather than the newer
 * `max_completion_tokens`: local servers know the former. Response: `{ choices: [{ message: { content, refusal? },
 * finish_reason }] }`. Errors: non-2xx with `{ error: { message } }` in most servers.
 *
 * A cube's adapter (`request.adapter`, parametric memory) is ignored here: OpenAI-compatible servers that serve LoRAs
 * (vLLM `--lora-modules`, LM Studio) expose each one as a model name chosen when the server started, which this
 * adapter cannot know — configure that name as the model instead. `appliesAdapter` is absent: never applied.
 */
import { DEFAULT_LLM_TIMEOUT_MS, DEFAULT_MAX_TOKENS, LlmError, excerpt, isAbort, type Llm, type LlmRequest } from "./llm";

export interface OpenAiLlmOptions {
  /** e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`; a trailing slash is ignored. */
  baseUrl: string;
  apiKey: string;
  /** The model name the server knows, e.g. `gpt-4o-mini` or `llama3.1:8b`. */
  model: string;
  /** Injected in tests (the Workers test runtime cannot reach the internet); defaults to the global `fetch`. */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  timeoutMs?: number;
}

/** See the file comment. */
export class OpenAiLlm implements Llm {
  readonly id: string;
  private readonly url: string;
  private readonly fetch: (input: string, init: RequestInit) => Promise<Response>;
  private readonly timeoutMs: number;

  constructor(private readonly options: OpenAiLlmOptions) {
    this.id = `openai:${options.model}`;
    this.url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`;
    // Wrapped, not stored bare: calling the global fetch with another `this` throws "Illegal invocation" in workerd.
    this.fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS;
  }

  async complete(request: LlmRequest): Promise<string> {
    const body = {
      model: this.options.model,
      messages: [
        { role: "system", content: request.system },
        { role: "user", content: request.user },
      ],
      max_tokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
      temperature: request.temperature ?? 0,
      ...(request.jsonSchema
        ? { response_format: { type: "json_schema", json_schema: { ...request.jsonSchema, strict: true } } }
        : {}),
    };
    let response: Response;
    let text: string;
    try {
      response = await this.fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${this.options.apiKey}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      if (isAbort(error)) {
        throw new LlmError("timeout", `${this.id} gave no answer within ${this.timeoutMs} ms`, undefined, { cause: error });
      }
      throw new LlmError("unavailable", `${this.id}: ${excerpt(error instanceof Error ? error.message : String(error))}`, undefined, {
        cause: error,
      });
    }
    if (!response.ok) throw openAiHttpError(this.id, response.status, text);
    return this.content(text);
  }

  private content(text: string): string {
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      throw new LlmError("invalid_output", `${this.id} answered with a body that is not JSON: ${excerpt(text, 100)}`);
    }
    const choices = (payload as { choices?: unknown } | null)?.choices;
    const choice = Array.isArray(choices) ? (choices[0] as Record<string, unknown> | undefined) : undefined;
    const message = choice?.message as { content?: unknown; refusal?: unknown } | undefined;
    if (typeof message?.refusal === "string" && message.refusal !== "") {
      // A refusal is a decision about this input: asking again gets the same answer.
      throw new LlmError("rejected", `${this.id} refused: ${excerpt(message.refusal)}`);
    }
    if (choice?.finish_reason === "length") {
      throw new LlmError("invalid_output", `${this.id} stopped at max_tokens before finishing its answer`);
    }
    if (typeof message?.content !== "string") throw new LlmError("invalid_output", `${this.id} returned no message content`);
    return message.content;
  }
}

/** An OpenAI-compatible server's error status as an {@link LlmError} (shared with the chat model, openai-chat.ts). */
export function openAiHttpError(id: string, status: number, body: string): LlmError {
  const detail = errorMessage(body);
  const message = `${id} answered HTTP ${status}${detail ? `: ${excerpt(detail)}` : ""}`;
  if (status === 429) return new LlmError("rate_limited", message, status);
  if (status === 408) return new LlmError("timeout", message, status);
  // 409: a conflict on the server's side (OpenAI documents it for concurrent requests) clears on its own.
  if (status >= 500 || status === 409) return new LlmError("unavailable", message, status);
  return new LlmError("rejected", message, status);
}

/** `error.message` of an OpenAI-style error body, else the body itself. */
function errorMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string };
    if (typeof parsed.error === "string") return parsed.error;
    if (typeof parsed.error?.message === "string") return parsed.error.message;
  } catch {
    // not JSON: plain-text error pages
  }
  return body.trim();
}
