/**
 * The chat model on any OpenAI-compatible Chat Completions server (the same servers as {@link OpenAiLlm}), for the
 * memory-augmented chat endpoint. Request: `{ model, messages, max_tokens?, temperature?, top_p?, stream?,
 * stream_options: { include_usage: true } }`. Usage comes back as `usage: { prompt_tokens, completion_tokens,
 * prompt_tokens_details?: { cached_tokens } }` (OpenAI reports the prompt-cache hits there; vLLM and others may
 * not), in the last chunk when streaming. No LoRA: an OpenAI-compatible server picks adapters by model name, so
 * the cube's adapter is not applied here (`adapterApplied: false`).
 */
import type { ChatCompletion, ChatDelta, ChatFinishReason, ChatModel, ChatRequest, ChatUsage } from "../core/llm";
import { DEFAULT_LLM_TIMEOUT_MS, LlmError, excerpt, isAbort } from "./llm";
import { openAiHttpError, type OpenAiLlmOptions } from "./openai-llm";
import { sseData } from "./sse";

/** See the file comment. */
export class OpenAiChatModel implements ChatModel {
  readonly id: string;
  readonly model: string;
  readonly supportsAdapters = false;
  private readonly url: string;
  private readonly fetch: (input: string, init: RequestInit) => Promise<Response>;
  private readonly timeoutMs: number;

  constructor(private readonly options: OpenAiLlmOptions) {
    this.model = options.model;
    this.id = `openai:${options.model}`;
    this.url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`;
    // Wrapped, not stored bare: calling the global fetch with another `this` throws "Illegal invocation" in workerd.
    this.fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS;
  }

  async chat(request: ChatRequest): Promise<ChatCompletion> {
    const response = await this.send(request, false);
    const text = await this.read(() => response.text());
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      throw new LlmError("invalid_output", `${this.id} answered with a body that is not JSON: ${excerpt(text, 100)}`);
    }
    const body = (payload ?? {}) as { choices?: unknown; usage?: unknown };
    const choice = Array.isArray(body.choices) ? (body.choices[0] as Record<string, unknown> | undefined) : undefined;
    const message = choice?.message as { content?: unknown; refusal?: unknown } | undefined;
    const content = typeof message?.content === "string" ? message.content : typeof message?.refusal === "string" ? message.refusal : null;
    if (content === null) throw new LlmError("invalid_output", `${this.id} returned no message content`);
    return { content, finishReason: finishReasonOf(choice?.finish_reason), usage: usageOf(body.usage), adapterApplied: false };
  }

  async stream(request: ChatRequest): Promise<{ deltas: AsyncIterable<ChatDelta>; adapterApplied: boolean }> {
    const response = await this.send(request, true);
    if (!response.body) throw new LlmError("invalid_output", `${this.id} answered a stream request without a body`);
    return { deltas: this.deltas(response.body), adapterApplied: false };
  }

  private async *deltas(body: ReadableStream<Uint8Array>): AsyncGenerator<ChatDelta> {
    let finishReason: ChatFinishReason = "stop";
    let usage: ChatUsage | null = null;
    try {
      for await (const data of sseData(body)) {
        if (data === "[DONE]") break;
        let chunk: { choices?: unknown; usage?: unknown; error?: { message?: unknown } };
        try {
          chunk = JSON.parse(data) as typeof chunk;
        } catch {
          throw new LlmError("invalid_output", `${this.id} streamed an event that is not JSON: ${excerpt(data, 100)}`);
        }
        if (chunk.error) throw new LlmError("unavailable", `${this.id} failed mid-stream: ${excerpt(String(chunk.error.message ?? "unknown error"))}`);
        usage = usageOf(chunk.usage) ?? usage;
        const choice = Array.isArray(chunk.choices) ? (chunk.choices[0] as Record<string, unknown> | undefined) : undefined;
        const delta = choice?.delta as { content?: unknown } | undefined;
        if (typeof delta?.content === "string" && delta.content !== "") yield { kind: "text", text: delta.content };
        if (typeof choice?.finish_reason === "string") finishReason = finishReasonOf(choice.finish_reason);
      }
    } catch (error) {
      throw this.failure(error);
    }
    yield { kind: "done", finishReason, usage };
  }

  private async send(request: ChatRequest, stream: boolean): Promise<Response> {
    const body = {
      model: this.model,
      messages: request.messages,
      ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(request.topP !== undefined ? { top_p: request.topP } : {}),
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    };
    const response = await this.read(() =>
      this.fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${this.options.apiKey}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      }),
    );
    if (!response.ok) throw openAiHttpError(this.id, response.status, await this.read(() => response.text()));
    return response;
  }

  private async read<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw this.failure(error);
    }
  }

  private failure(error: unknown): LlmError {
    if (error instanceof LlmError) return error;
    if (isAbort(error)) return new LlmError("timeout", `${this.id} gave no answer within ${this.timeoutMs} ms`, undefined, { cause: error });
    return new LlmError("unavailable", `${this.id}: ${excerpt(error instanceof Error ? error.message : String(error))}`, undefined, { cause: error });
  }
}

/** OpenAI's finish reasons, with the tool-call ones (never asked for here) read as a plain stop. */
export function finishReasonOf(value: unknown): ChatFinishReason {
  return value === "length" || value === "content_filter" ? value : "stop";
}

/** `usage` as OpenAI-compatible servers (and Workers AI) report it, or null when absent or malformed. */
export function usageOf(value: unknown): ChatUsage | null {
  const usage = value as { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } } | null;
  if (typeof usage?.prompt_tokens !== "number" || typeof usage.completion_tokens !== "number") return null;
  const cached = usage.prompt_tokens_details?.cached_tokens;
  return { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, cachedPromptTokens: typeof cached === "number" ? cached : null };
}
