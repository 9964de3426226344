/**
 * The memory-augmented chat (issue 15, item 3): an OpenAI-compatible chat completion whose prompt starts with the
 * cube's activation block (the same bytes while the block is unchanged, so provider prompt caches keep it), then
 * the memories recalled for the last user message, then the caller's messages; answered by the configured chat
 * model (with the cube's active LoRA adapter where the model takes one); the exchange then goes to MemReader in the
 * background. Nothing after the model has answered can turn the answer into an error.
 */
import type { ChatDelta, ChatMessage, ChatModel, ChatRequest, ChatUsage } from "../core/llm";
import { LlmError } from "../core/llm";
import { ApiError } from "../errors";
import type { ChatCompletionRequestWire } from "../schemas/chat";
import { textOf } from "../schemas/chat";
import { utf8Bytes } from "../schemas/common";
import { LIMITS } from "../schemas/limits";
import type { TenantContext } from "./context";
import { cubeForRead, cubeForWrite } from "./cubes";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { ingest } from "./memories";
import { activeAdapterOf } from "./parametric";
import { assembleContext } from "./scheduler";

/** Heads the activation block in the prompt; part of the cached bytes, so it never changes with the request. */
export const ACTIVATION_PREAMBLE =
  "Memory (MemOS activation block): standing instructions, preferences and facts to follow and use. Bracketed ids are memory ids; do not mention them unless asked.\n\n";
/** Heads the memories recalled for this request. */
export const RECALL_PREAMBLE = "Memories recalled for the user's latest message (bracketed ids are memory ids):\n\n";

/**
 * The Workers AI fine-tune of the cube's active adapter from its registry (services/parametric.ts,
 * docs/parametric.md), or null: only when the chat model can apply one and the adapter was made for that very model
 * and is deployed on Workers AI — a LoRA sent to another base model would fail the whole request, so it is left out
 * (the response's `memos.adapter` is then null).
 */
async function activeFinetune(ctx: TenantContext, ref: CubeRef, model: ChatModel): Promise<string | null> {
  if (!model.supportsAdapters) return null;
  const active = await activeAdapterOf(ctx, ref);
  return active?.finetune && active.baseModel === model.model ? active.finetune : null;
}

/** A chat ready to send: the model request, and what the response reports about memory. */
export interface PreparedChat {
  id: string;
  created: number;
  model: ChatModel;
  request: ChatRequest;
  report: {
    cube_id: string | null;
    memory_ids: string[];
    activation: { version: number; etag: string; tokens: number } | null;
    recalled_tokens: number;
    adapter: { name: string; applied: boolean } | null;
    remembered: boolean;
  };
  /** Sends the exchange to MemReader in the background (never throws; a failure is logged). */
  remember: (answer: string) => void;
  includeUsage: boolean;
}

/** Validates access, assembles the memory context and builds the model request. Throws {@link ApiError}. */
export async function prepareChat(
  ctx: TenantContext,
  body: ChatCompletionRequestWire,
  model: ChatModel | null,
): Promise<PreparedChat> {
  if (!model) {
    throw new ApiError(
      "chat_model_not_configured",
      "no chat model is configured on this deployment: set CHAT to workers-ai or openai (docs/chat.md)",
    );
  }
  const scope = body.memos
    ? { user_id: body.memos.user_id, agent_id: body.memos.agent_id, cube_id: body.memos.cube_id }
    : { user_id: body.user };
  const remember = body.memos?.remember ?? true;
  // Access first (a write when the exchange is remembered: a read-only grant is refused before the model is paid for).
  const ref = remember ? await cubeForWrite(ctx, scope) : await cubeForRead(ctx, scope);
  const last = body.messages.at(-1)!;
  const lastText = textOf(last.content);
  const context = await assembleContext(ctx, {
    ...scope,
    query: truncateBytes(lastText, LIMITS.queryBytes),
    budget_tokens: body.memos?.budget_tokens ?? 1000,
    filters: {},
  });
  const messages: ChatMessage[] = [];
  if (context.stable && context.stable.text !== "") messages.push({ role: "system", content: ACTIVATION_PREAMBLE + context.stable.text });
  if (context.dynamic.text !== "") messages.push({ role: "system", content: RECALL_PREAMBLE + context.dynamic.text });
  for (const message of body.messages) {
    messages.push({ role: message.role === "developer" ? "system" : message.role, content: textOf(message.content) });
  }
  const adapterName = ref ? await activeFinetune(ctx, ref, model) : null;
  const request: ChatRequest = {
    messages,
    maxTokens: body.max_tokens ?? body.max_completion_tokens,
    temperature: body.temperature,
    topP: body.top_p,
    ...(adapterName !== null ? { adapter: adapterName } : {}),
  };
  const stableIds = context.stable?.ids ?? [];
  const recalledIds = context.dynamic.items.map((item) => item.id);
  // The exchange is remembered without the chat's Idempotency-Key: a retried chat gets a new answer, a new episode.
  const background: TenantContext = { ...ctx, idempotencyKey: undefined };
  return {
    id: `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`,
    created: Math.floor(ctx.deps.clock() / 1000),
    model,
    request,
    includeUsage: body.stream_options?.include_usage ?? false,
    report: {
      cube_id: ref?.cubeId ?? null,
      memory_ids: [...new Set([...stableIds, ...recalledIds])],
      activation: context.stable ? { version: context.stable.version, etag: context.stable.etag, tokens: context.stable.tokens } : null,
      recalled_tokens: context.dynamic.tokens,
      adapter: adapterName !== null ? { name: adapterName, applied: false } : null,
      remembered: remember,
    },
    remember: (answer) => {
      if (!remember) return;
      ctx.background(rememberExchange(background, scope, body, lastText, answer));
    },
  };
}

/** The last user message and the answer, through MemReader (the ingest path of POST /v1/memories). */
async function rememberExchange(
  ctx: TenantContext,
  scope: { user_id?: string | undefined; agent_id?: string | undefined; cube_id?: string | undefined },
  body: ChatCompletionRequestWire,
  userText: string,
  answer: string,
): Promise<void> {
  const last = body.messages.at(-1)!;
  const messages = [
    { role: "user" as const, content: storable(userText), ...(last.name ? { name: last.name } : {}) },
    ...(storable(answer).trim() !== "" ? [{ role: "assistant" as const, content: storable(answer) }] : []),
  ];
  await ingest(ctx, {
    ...scope,
    messages,
    ...(body.memos?.session_id ? { session_id: body.memos.session_id } : {}),
    metadata: { source: "chat" },
  });
}

// What a memory may hold: no control characters, at most LIMITS.contentBytes.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;
const storable = (text: string) => truncateBytes(text.replace(CONTROL, " "), LIMITS.contentBytes);

/** The longest prefix of `text` of at most `maxBytes` UTF-8 bytes, never splitting a character. */
export function truncateBytes(text: string, maxBytes: number): string {
  if (utf8Bytes(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = utf8Bytes(char);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}

/** A model failure as the API's error: 502 with the model's reason, or 504-like timeouts as the same code. */
export function chatModelError(error: unknown): unknown {
  if (!(error instanceof LlmError)) return error;
  return new ApiError("chat_model_failed", `the chat model failed: ${error.message}`, { model_error: error.code, retryable: error.retryable });
}

function usageWire(usage: ChatUsage | null) {
  if (!usage) return null;
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    ...(usage.cachedPromptTokens !== null ? { prompt_tokens_details: { cached_tokens: usage.cachedPromptTokens } } : {}),
  };
}

/** A non-streamed chat completion in OpenAI's shape, with the `memos` report. */
export async function completeChat(prepared: PreparedChat) {
  let completion;
  try {
    completion = await prepared.model.chat(prepared.request);
  } catch (error) {
    throw chatModelError(error);
  }
  prepared.remember(completion.content);
  const report = { ...prepared.report, adapter: prepared.report.adapter && { ...prepared.report.adapter, applied: completion.adapterApplied } };
  return {
    id: prepared.id,
    object: "chat.completion" as const,
    created: prepared.created,
    model: prepared.model.model,
    choices: [
      {
        index: 0,
        message: { role: "assistant" as const, content: completion.content, refusal: null },
        finish_reason: completion.finishReason,
        logprobs: null,
      },
    ],
    usage: usageWire(completion.usage),
    memos: report,
  };
}

const encoder = new TextEncoder();
const event = (data: unknown) => encoder.encode(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);

/**
 * A streamed chat completion: OpenAI's `chat.completion.chunk` events as Server-Sent Events, ending with
 * `data: [DONE]`. The first chunk carries the role and the `memos` report; the usage chunk (`choices: []`) comes
 * when `stream_options.include_usage` asks for it. The model has accepted the request before this returns (a
 * refusal is an error status); a failure after that is an `error` event, and the exchange is not remembered.
 */
export async function streamChat(prepared: PreparedChat): Promise<ReadableStream<Uint8Array>> {
  let started: { deltas: AsyncIterable<ChatDelta>; adapterApplied: boolean };
  try {
    started = await prepared.model.stream(prepared.request);
  } catch (error) {
    throw chatModelError(error);
  }
  const base = { id: prepared.id, object: "chat.completion.chunk", created: prepared.created, model: prepared.model.model };
  const report = { ...prepared.report, adapter: prepared.report.adapter && { ...prepared.report.adapter, applied: started.adapterApplied } };
  const choice = (delta: object, finishReason: string | null) => ({ index: 0, delta, finish_reason: finishReason, logprobs: null });
  const iterator = started.deltas[Symbol.asyncIterator]();
  let answer = "";
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(event({ ...base, choices: [choice({ role: "assistant", content: "" }, null)], memos: report }));
    },
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done) {
          controller.close();
          return;
        }
        const delta = next.value;
        if (delta.kind === "text") {
          answer += delta.text;
          controller.enqueue(event({ ...base, choices: [choice({ content: delta.text }, null)] }));
          return;
        }
        controller.enqueue(event({ ...base, choices: [choice({}, delta.finishReason)] }));
        if (prepared.includeUsage) controller.enqueue(event({ ...base, choices: [], usage: usageWire(delta.usage) }));
        controller.enqueue(event("[DONE]"));
        controller.close();
        prepared.remember(answer);
      } catch (error) {
        console.error(`chat ${prepared.id}: the model failed mid-stream`, error);
        const code = error instanceof LlmError ? error.code : "unavailable";
        controller.enqueue(event({ error: { code: "chat_model_failed", message: `the chat model failed mid-stream (${code})`, model_error: code } }));
        controller.close();
      }
    },
    async cancel() {
      // The client went away: stop reading the model; nothing is remembered.
      await iterator.return?.();
    },
  });
}
