/** HTTP for the memory-augmented, OpenAI-compatible chat endpoint (docs/chat.md). */
import { createRoute } from "@hono/zod-openapi";
import { ChatCompletionRequest, ChatCompletionResponse } from "../schemas/chat";
import { completeChat, prepareChat, streamChat } from "../services/chat";
import { bearerSecurity, createRouter, errorResponses, jsonBody, tenantContext } from "./shared";

export const CHAT_PATH = "/v1/chat/completions";

export const chatRoutes = createRouter().openapi(
  createRoute({
    method: "post",
    path: CHAT_PATH,
    tags: ["chat"],
    summary: "OpenAI-compatible chat completion with the cube's memory in the prompt",
    description:
      "OpenAI's Chat Completions request and response (and its streaming Server-Sent Events with `stream: true`). The " +
      "cube is named by `memos.user_id` / `memos.agent_id` / `memos.cube_id`, or by `user`. The prompt starts with the " +
      "cube's activation block (a system message whose bytes stay the same until the block changes, so prompt caches " +
      "keep it), then the memories recalled for the last user message, then your messages; the configured chat model " +
      "answers, and the exchange goes to MemReader afterwards (unless `memos.remember` is false). `memos` in the " +
      "response (the first chunk when streaming) lists the memory ids used and the activation block's version and etag.",
    security: bearerSecurity,
    request: { body: jsonBody(ChatCompletionRequest) },
    responses: {
      200: {
        description: "The completion (JSON), or with `stream: true` a `text/event-stream` of `chat.completion.chunk` events ending in `data: [DONE]`.",
        content: {
          "application/json": { schema: ChatCompletionResponse },
          "text/event-stream": { schema: { type: "string" } },
        },
      },
      ...errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "payload_too_large", "chat_model_failed", "chat_model_not_configured"),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const ctx = tenantContext(c, body.memos?.remember === false ? "read" : "write");
    const prepared = await prepareChat(ctx, body, c.var.chatModel);
    if (!body.stream) return c.json(await completeChat(prepared), 200);
    return new Response(await streamChat(prepared), {
      status: 200,
      headers: { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", Connection: "keep-alive" },
    });
  },
);
