/**
 * The chat models behind POST /v1/chat/completions against stand-ins speaking the providers' wire shapes: Workers AI
 * (`{ response, usage }`, or an SSE stream of `{ response }` events with `usage` last; `lora` on the -lora models
 * only) and an OpenAI-compatible server (JSON or SSE, events split anywhere, CRLF line ends). Plus the factory's rules.
 */
import { describe, expect, it } from "vitest";
import { createChatModel } from "../../src/adapters/chat-factory";
import { OpenAiChatModel } from "../../src/adapters/openai-chat";
import { sseData } from "../../src/adapters/sse";
import { type WorkersAiChatBinding, WorkersAiChatModel } from "../../src/adapters/workers-ai-chat";
import { TEMPLATE_TOKENS_PER_MESSAGE } from "../../src/adapters/workers-ai-llm";
import type { ChatDelta, ChatModel } from "../../src/core/llm";
import { LlmError } from "../../src/core/llm";
import { ConfigError } from "../../src/errors";

const streamOf = (text: string, piece = 5) => {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += piece) controller.enqueue(bytes.slice(i, i + piece));
      controller.close();
    },
  });
};

async function collect(deltas: AsyncIterable<ChatDelta>) {
  const out: ChatDelta[] = [];
  for await (const delta of deltas) out.push(delta);
  return out;
}

class WorkersAiStandIn implements WorkersAiChatBinding {
  readonly requests: { model: string; inputs: Record<string, unknown> }[] = [];
  failWith: Error | null = null;
  async run(model: string, inputs: Record<string, unknown>): Promise<unknown> {
    this.requests.push({ model, inputs: structuredClone(inputs) });
    if (this.failWith) throw this.failWith;
    if ("lora" in inputs && !model.endsWith("-lora")) throw new Error("AiError: 5018: This model does not support LoRA");
    const usage = { prompt_tokens: 30, completion_tokens: 4, total_tokens: 34 };
    if (!inputs.stream) return { response: "Hello there", usage };
    return streamOf(`data: {"response":"Hello"}\n\ndata: {"response":" there"}\n\ndata: {"response":"","usage":${JSON.stringify(usage)}}\n\ndata: [DONE]\n\n`);
  }
}

describe("the SSE reader", () => {
  it("reads events split anywhere, with LF, CRLF or CR line ends, multi-line data and comments", async () => {
    const text = ": keep-alive\r\ndata: one\r\n\r\ndata: two\ndata: lines\n\nevent: x\rdata:three\r\rdata: [DONE]\n\n";
    for (const piece of [1, 3, 1000]) {
      const seen: string[] = [];
      for await (const data of sseData(streamOf(text, piece))) seen.push(data);
      expect(seen, `pieces of ${piece}`).toEqual(["one", "two\nlines", "three", "[DONE]"]);
    }
  });
});

describe("Workers AI chat model", () => {
  it("answers with text and usage, and streams deltas with the usage last", async () => {
    const ai = new WorkersAiStandIn();
    const model = new WorkersAiChatModel(ai, "@cf/meta/llama-3.3-70b-instruct-fp8-fast");
    const messages = [{ role: "system" as const, content: "block" }, { role: "user" as const, content: "hi" }];
    expect(await model.chat({ messages, maxTokens: 100 })).toEqual({
      content: "Hello there",
      finishReason: "stop",
      usage: { promptTokens: 30, completionTokens: 4, cachedPromptTokens: null },
      adapterApplied: false,
    });
    expect(ai.requests[0]!.inputs).toEqual({ messages, max_tokens: 100 });
    const { deltas } = await model.stream({ messages });
    expect(await collect(deltas)).toEqual([
      { kind: "text", text: "Hello" },
      { kind: "text", text: " there" },
      { kind: "done", finishReason: "stop", usage: { promptTokens: 30, completionTokens: 4, cachedPromptTokens: null } },
    ]);
    expect(ai.requests[1]!.inputs.stream).toBe(true);
  });

  it("sends the cube's adapter as `lora` only to a model that takes one", async () => {
    const ai = new WorkersAiStandIn();
    const lora = new WorkersAiChatModel(ai, "@cf/mistral/mistral-7b-instruct-v0.2-lora");
    expect((await lora.chat({ messages: [{ role: "user", content: "hi" }], adapter: "cube-tone-v3" })).adapterApplied).toBe(true);
    expect(ai.requests[0]!.inputs.lora).toBe("cube-tone-v3");
    const plain = new WorkersAiChatModel(ai, "@cf/meta/llama-3.3-70b-instruct-fp8-fast");
    expect((await plain.stream({ messages: [{ role: "user", content: "hi" }], adapter: "cube-tone-v3" })).adapterApplied).toBe(false);
    expect(ai.requests[1]!.inputs).not.toHaveProperty("lora");
  });

  it("lowers max_tokens to what the model's context window leaves after the prompt, as extraction does", async () => {
    const ai = new WorkersAiStandIn();
    const model = new WorkersAiChatModel(ai, "@cf/meta/llama-3.3-70b-instruct-fp8-fast");
    const messages = [{ role: "user" as const, content: "hi" }];
    await model.chat({ messages, maxTokens: 32_768 }); // the API allows 32,768; this model's window is 24,000
    expect(ai.requests[0]!.inputs.max_tokens).toBe(24_000 - (2 + TEMPLATE_TOKENS_PER_MESSAGE));
    await model.stream({ messages, maxTokens: 100 });
    expect(ai.requests[1]!.inputs.max_tokens).toBe(100);
    await new WorkersAiChatModel(ai, "@cf/meta/llama-3.1-8b-instruct").chat({ messages, maxTokens: 32_768 });
    expect(ai.requests[2]!.inputs.max_tokens, "no documented window: sent as asked").toBe(32_768);
  });

  it("classifies binding failures like the extraction adapter", async () => {
    const ai = new WorkersAiStandIn();
    ai.failWith = new Error("AiError: 3040: Capacity temporarily exceeded, please try again. (429)");
    const error = await new WorkersAiChatModel(ai, "@cf/meta/llama-3.1-8b-instruct").chat({ messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmError);
    expect((error as LlmError).code).toBe("rate_limited");
  });
});

describe("OpenAI-compatible chat model", () => {
  const sse = (events: unknown[]) => `${events.map((e) => `data: ${JSON.stringify(e)}\r\n\r\n`).join("")}data: [DONE]\r\n\r\n`;

  it("reads cached prompt tokens, streamed deltas and the usage chunk, and errors by status", async () => {
    const sent: any[] = [];
    let status = 200;
    const model: ChatModel = new OpenAiChatModel({
      baseUrl: "http://llm.test/v1/",
      apiKey: "k",
      model: "small",
      fetch: async (url, init) => {
        const body = JSON.parse(String(init.body));
        sent.push({ url, body });
        if (status !== 200) return Response.json({ error: { message: "no" } }, { status });
        const usage = { prompt_tokens: 1200, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 1024 } };
        if (!body.stream) return Response.json({ choices: [{ message: { content: "Hi!" }, finish_reason: "length" }], usage });
        return new Response(
          streamOf(
            sse([
              { choices: [{ delta: { role: "assistant", content: "" } }] },
              { choices: [{ delta: { content: "Hi" } }] },
              { choices: [{ delta: { content: "!" }, finish_reason: "stop" }] },
              { choices: [], usage },
            ]),
            7,
          ),
        );
      },
    });
    expect(await model.chat({ messages: [{ role: "user", content: "hey" }], temperature: 0.5 })).toEqual({
      content: "Hi!",
      finishReason: "length",
      usage: { promptTokens: 1200, completionTokens: 2, cachedPromptTokens: 1024 },
      adapterApplied: false,
    });
    expect(sent[0]).toEqual({ url: "http://llm.test/v1/chat/completions", body: { model: "small", messages: [{ role: "user", content: "hey" }], temperature: 0.5 } });
    const { deltas } = await model.stream({ messages: [{ role: "user", content: "hey" }] });
    expect(await collect(deltas)).toEqual([
      { kind: "text", text: "Hi" },
      { kind: "text", text: "!" },
      { kind: "done", finishReason: "stop", usage: { promptTokens: 1200, completionTokens: 2, cachedPromptTokens: 1024 } },
    ]);
    expect(sent[1].body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    status = 400;
    const rejected = await model.stream({ messages: [{ role: "user", content: "hey" }] }).catch((e: unknown) => e);
    expect(rejected).toMatchObject({ code: "rejected", retryable: false });
  });
});

describe("createChatModel", () => {
  it("is off by default, and refuses a configuration it cannot honour", () => {
    expect(createChatModel({})).toBeNull();
    expect(createChatModel({ CHAT: "off" })).toBeNull();
    expect(createChatModel({ CHAT: "openai", LLM_BASE_URL: "http://x.test/v1", LLM_API_KEY: "k", CHAT_MODEL: "m" })?.id).toBe("openai:m");
    expect(createChatModel({ CHAT: "workers-ai", AI: {} })?.id).toBe("workers-ai:@cf/meta/llama-3.3-70b-instruct-fp8-fast");
    for (const env of [
      { CHAT: "gpt" },
      { CHAT: "workers-ai" },
      { CHAT: "workers-ai", AI: {}, CHAT_MODEL: "llama3" },
      { CHAT: "openai", LLM_API_KEY: "k", CHAT_MODEL: "m" },
      { CHAT: "openai", LLM_BASE_URL: "ftp://x", LLM_API_KEY: "k", CHAT_MODEL: "m" },
      { CHAT: "openai", LLM_BASE_URL: "http://x.test/v1", LLM_API_KEY: "k" },
      { CHAT: "openai", LLM_BASE_URL: "http://x.test/v1", CHAT_MODEL: "m" },
    ]) {
      expect(() => createChatModel(env), JSON.stringify(env)).toThrow(ConfigError);
    }
  });
});
