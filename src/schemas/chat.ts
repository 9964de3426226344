/**
 * `POST /v1/chat/completions`: OpenAI's Chat Completions request and response shapes (the subset a memory-augmented
 * text chat needs), plus the `memos` extension object that names the cube and reports the memory used.
 */
import { z } from "@hono/zod-openapi";
import { isWellFormed } from "../core/json-bounds";
import { CubeId, ExternalId, WELL_FORMED, ownerScopeFields, utf8Bytes } from "./common";
import { LIMITS } from "./limits";

/** Messages in one chat request, and UTF-8 bytes of one message's text (the body limit bounds the whole). */
export const CHAT_LIMITS = { messages: 200, messageBytes: 64 * 1024, maxTokens: 32_768 } as const;

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

const chatText = z
  .string()
  .refine((s) => !CONTROL.test(s), "must not contain control characters")
  .refine(isWellFormed, WELL_FORMED)
  .refine((s) => utf8Bytes(s) <= CHAT_LIMITS.messageBytes, `must be at most ${CHAT_LIMITS.messageBytes} bytes (UTF-8)`);

const TextPart = z.object({ type: z.literal("text"), text: chatText }).strict();

export const ChatMessageInput = z
  .object({
    role: z.enum(["system", "developer", "user", "assistant"]).openapi({ description: "`developer` is sent to the model as `system`." }),
    content: z.union([chatText, z.array(TextPart).min(1).max(100)]).openapi({
      description: "Text, or an array of `{ type: \"text\", text }` parts (joined with newlines); images and audio are not supported.",
    }),
    name: z.string().min(1).max(64).regex(/^[^\u0000-\u001f\u007f]+$/, "must not contain control characters").optional(),
  })
  .strict()
  .openapi("ChatMessage");

export const ChatMemosOptions = z
  .object({
    ...ownerScopeFields,
    budget_tokens: z.int().min(50).max(LIMITS.contextBudgetTokens).default(1000).openapi({
      description: "Most tokens the memory context (activation block and recalled memories) may take, as POST /v1/context.",
    }),
    remember: z.boolean().default(true).openapi({
      description: "Send the exchange (the last user message and the answer) to MemReader after answering (needs the write scope).",
    }),
    session_id: ExternalId.optional().openapi({ description: "The session the remembered exchange belongs to." }),
  })
  .strict()
  .openapi("ChatMemosOptions");

export const ChatCompletionRequest = z
  .object({
    model: z.string().min(1).max(256).openapi({
      description: "Required by OpenAI clients; the deployment's configured chat model (CHAT_MODEL) answers whatever is named here.",
      example: "memos",
    }),
    messages: z.array(ChatMessageInput).min(1).max(CHAT_LIMITS.messages),
    stream: z.boolean().default(false),
    stream_options: z.object({ include_usage: z.boolean().optional() }).strict().optional(),
    max_tokens: z.int().min(1).max(CHAT_LIMITS.maxTokens).optional(),
    max_completion_tokens: z.int().min(1).max(CHAT_LIMITS.maxTokens).optional(),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    n: z.literal(1).optional().openapi({ description: "Only one choice is generated." }),
    user: ExternalId.optional().openapi({
      description: "OpenAI's end-user id; without `memos`, the chat uses this user's default cube (as `memos.user_id`).",
    }),
    memos: ChatMemosOptions.optional().openapi({
      description: "MemOS extension: exactly one of `user_id`, `agent_id`, `cube_id` names the cube; without it, `user` does.",
    }),
  })
  .strict()
  .superRefine((request, ctx) => {
    const memos = request.memos;
    const scopes = memos ? [memos.user_id, memos.agent_id, memos.cube_id].filter((v) => v !== undefined).length : 0;
    if (memos && scopes !== 1) ctx.addIssue({ code: "custom", message: "give exactly one of memos.user_id, memos.agent_id or memos.cube_id", path: ["memos"] });
    if (!memos && request.user === undefined) {
      ctx.addIssue({ code: "custom", message: "name the memory: `memos: { user_id | agent_id | cube_id }`, or `user`", path: ["memos"] });
    }
    const last = request.messages.at(-1);
    if (last && (last.role !== "user" || textOf(last.content).trim() === "")) {
      ctx.addIssue({ code: "custom", message: "the last message must be a user message with text: it is what memory is recalled for", path: ["messages"] });
    }
    if (request.max_tokens !== undefined && request.max_completion_tokens !== undefined) {
      ctx.addIssue({ code: "custom", message: "give max_tokens or max_completion_tokens, not both", path: ["max_tokens"] });
    }
    if (request.stream_options !== undefined && !request.stream) {
      ctx.addIssue({ code: "custom", message: "stream_options applies only with stream: true", path: ["stream_options"] });
    }
  })
  .openapi("ChatCompletionRequest");

/** A message's text: the string, or its text parts joined with newlines. */
export function textOf(content: z.infer<typeof ChatMessageInput>["content"]): string {
  return typeof content === "string" ? content : content.map((part) => part.text).join("\n");
}

export const ChatMemosReport = z
  .object({
    cube_id: CubeId.nullable().openapi({ description: "The cube the memory came from; null when the owner has none yet." }),
    memory_ids: z.array(z.string()).openapi({ description: "Memories put in the prompt: the activation block's, then the recalled ones." }),
    activation: z
      .object({ version: z.int(), etag: z.string(), tokens: z.int() })
      .nullable()
      .openapi({ description: "The activation block sent first (its bytes are the same while `etag` is)." }),
    recalled_tokens: z.int(),
    adapter: z
      .object({ name: z.string(), applied: z.boolean() })
      .nullable()
      .openapi({ description: "The cube's active LoRA adapter, and whether the model applied it; null when there is none." }),
    remembered: z.boolean().openapi({ description: "Whether the exchange is being sent to MemReader (after the answer)." }),
  })
  .openapi("ChatMemosReport");

export const ChatUsageWire = z
  .object({
    prompt_tokens: z.int(),
    completion_tokens: z.int(),
    total_tokens: z.int(),
    prompt_tokens_details: z.object({ cached_tokens: z.int() }).optional().openapi({
      description: "Prompt tokens served from the provider's prompt cache, when the provider reports it.",
    }),
  })
  .openapi("ChatUsage");

export const ChatCompletionResponse = z
  .object({
    id: z.string().openapi({ example: "chatcmpl-0123456789abcdef" }),
    object: z.literal("chat.completion"),
    created: z.int().openapi({ description: "Unix seconds." }),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.int(),
        message: z.object({ role: z.literal("assistant"), content: z.string(), refusal: z.null() }),
        finish_reason: z.enum(["stop", "length", "content_filter"]),
        logprobs: z.null(),
      }),
    ),
    usage: ChatUsageWire.nullable().openapi({ description: "Null when the provider reported no usage." }),
    memos: ChatMemosReport,
  })
  .openapi("ChatCompletion");

export type ChatCompletionRequestWire = z.infer<typeof ChatCompletionRequest>;
