/**
 * The chat model on Workers AI, for the memory-augmented chat endpoint: `AI.run(model, { messages, max_tokens?,
 * temperature?, top_p?, stream?, lora? })`. Without `stream` the answer is `{ response, usage? }`; with it, a
 * Server-Sent Events body of `data: {"response": "…"}` events, the last ones carrying `usage`, then `data: [DONE]`.
 * `usage.prompt_tokens_details.cached_tokens` is read when Workers AI reports prefix-cache hits, else null.
 *
 * LoRA (parametric memory): Workers AI applies a fine-tune given as `lora` (its name or id) only on the base models
 * its docs list (developers.cloudflare.com/workers-ai/fine-tunes/loras: the `-lora` variants of Llama 2 7B, Mistral
 * 7B v0.2, Gemma 2B/7B); on any other model the adapter is not sent and `adapterApplied` is false.
 */
import type { ChatCompletion, ChatDelta, ChatFinishReason, ChatModel, ChatRequest, ChatUsage } from "../core/llm";
import { DEFAULT_LLM_TIMEOUT_MS, LlmError, excerpt } from "./llm";
import { finishReasonOf, usageOf } from "./openai-chat";
import { sseData } from "./sse";
import { WorkersAiLlm, type WorkersAiTextBinding, answerAllowance } from "./workers-ai-llm";

/** Whether Workers AI applies LoRA adapters on this model (see the file comment). */
export const workersAiModelTakesLora = (model: string): boolean => /-lora$/.test(model);

/** The slice of the `Ai` binding the chat model uses (inputs vary with the request, the answer with `stream`). */
export interface WorkersAiChatBinding {
  run(model: string, inputs: Record<string, unknown>, options?: { signal?: AbortSignal }): Promise<unknown>;
}

/** See the file comment. */
export class WorkersAiChatModel implements ChatModel {
  readonly id: string;
  readonly supportsAdapters: boolean;
  private readonly timeoutMs: number;
  /** Classifies the binding's errors exactly as the extraction adapter does (its table of Workers AI codes). */
  private readonly classifier: WorkersAiLlm;

  constructor(
    private readonly ai: WorkersAiChatBinding,
    readonly model: string,
    options: { timeoutMs?: number } = {},
  ) {
    this.id = `workers-ai:${model}`;
    this.supportsAdapters = workersAiModelTakesLora(model);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS;
    this.classifier = new WorkersAiLlm(ai as unknown as WorkersAiTextBinding, model, { timeoutMs: this.timeoutMs });
  }

  async chat(request: ChatRequest): Promise<ChatCompletion> {
    const { inputs, adapterApplied, maxTokens } = this.inputs(request, false);
    const answer = await this.run(inputs);
    const body = typeof answer === "object" && answer !== null ? (answer as Record<string, unknown>) : { response: answer };
    const content = typeof body.response === "string" ? body.response : null;
    if (content === null) throw new LlmError("invalid_output", `${this.model} returned no response text`);
    const usage = usageOf(body.usage);
    const finishReason: ChatFinishReason =
      usage && maxTokens !== undefined && usage.completionTokens >= maxTokens ? "length" : "stop";
    return { content, finishReason, usage, adapterApplied };
  }

  async stream(request: ChatRequest): Promise<{ deltas: AsyncIterable<ChatDelta>; adapterApplied: boolean }> {
    const { inputs, adapterApplied, maxTokens } = this.inputs(request, true);
    const answer = await this.run(inputs);
    if (!(answer instanceof ReadableStream)) throw new LlmError("invalid_output", `${this.model} answered a stream request without a stream`);
    return { deltas: this.deltas(answer as ReadableStream<Uint8Array>, maxTokens), adapterApplied };
  }

  private async *deltas(body: ReadableStream<Uint8Array>, maxTokens: number | undefined): AsyncGenerator<ChatDelta> {
    let usage: ChatUsage | null = null;
    try {
      for await (const data of sseData(body)) {
        if (data === "[DONE]") break;
        let event: { response?: unknown; usage?: unknown };
        try {
          event = JSON.parse(data) as typeof event;
        } catch {
          throw new LlmError("invalid_output", `${this.model} streamed an event that is not JSON: ${excerpt(data, 100)}`);
        }
        usage = usageOf(event.usage) ?? usage;
        if (typeof event.response === "string" && event.response !== "") yield { kind: "text", text: event.response };
      }
    } catch (error) {
      throw error instanceof LlmError ? error : new LlmError("unavailable", `${this.model} failed mid-stream: ${excerpt(String(error))}`, undefined, { cause: error });
    }
    const finishReason = usage && maxTokens !== undefined && usage.completionTokens >= maxTokens ? "length" : finishReasonOf("stop");
    yield { kind: "done", finishReason, usage };
  }

  /**
   * The binding's inputs. An asked-for `max_tokens` is lowered to what the model's context window leaves after the
   * prompt (answerAllowance, as extraction does), so a chat asking for more than the window answers rather than
   * being refused by the model; `maxTokens` is what was sent, against which a "length" finish is judged.
   */
  private inputs(request: ChatRequest, stream: boolean) {
    const adapterApplied = request.adapter !== undefined && this.supportsAdapters;
    const maxTokens = request.maxTokens === undefined ? undefined : answerAllowance(this.model, request, request.maxTokens);
    const inputs: Record<string, unknown> = {
      messages: request.messages,
      ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(request.topP !== undefined ? { top_p: request.topP } : {}),
      ...(stream ? { stream: true } : {}),
      ...(adapterApplied ? { lora: request.adapter } : {}),
    };
    return { inputs, adapterApplied, maxTokens };
  }

  private async run(inputs: Record<string, unknown>): Promise<unknown> {
    try {
      return await this.ai.run(this.model, inputs, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw this.classifier.classifyError(error);
    }
  }
}
