/**
 * POST /v1/chat/completions (issue 15, item 3) through the official `openai` npm client, against the Worker with its
 * chat model configured to an OpenAI-compatible stand-in that records what it was sent: the activation block first
 * and byte-identical across requests, recalled memories next, usage and memory ids reported, the exchange ingested
 * through MemReader afterwards; streaming and not. The Worker's own fetch handler is called with the chat variables
 * added to the test environment (the vitest config's bindings are shared by every test file).
 */
import { createExecutionContext, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { cubeObjectName } from "../../src/core/ids";
import { ACTIVATION_PREAMBLE, RECALL_PREAMBLE } from "../../src/services/chat";
import { STAND_IN_BASE_URL, createChatModelStandIn } from "../chat-model-stand-in";
import { TEST_ORIGIN, call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

const chatEnv = { ...env, CHAT: "openai", CHAT_MODEL: "stand-in-model", LLM_BASE_URL: STAND_IN_BASE_URL, LLM_API_KEY: "stand-in-key", REQUEST_LOG: "off" } as Env;

let model: ReturnType<typeof createChatModelStandIn>;
/** Execution contexts of the requests sent, so a test can wait for their background work (the ingest). */
let contexts: ExecutionContext[];

beforeEach(() => {
  model = createChatModelStandIn();
  contexts = [];
  const original = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    return url.startsWith(STAND_IN_BASE_URL) ? model.fetch(url, init ?? {}) : original(input, init);
  });
});
afterEach(() => vi.restoreAllMocks());

/** The Worker, with the chat model configured, as a `fetch` for the openai client. */
async function workerFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  contexts.push(ctx);
  return worker.fetch(new Request(input, init), chatEnv, ctx);
}

const clientFor = (key: string) => new OpenAI({ apiKey: key, baseURL: `${TEST_ORIGIN}/v1`, fetch: workerFetch, maxRetries: 0 });

async function settle() {
  for (const ctx of contexts.splice(0)) await waitOnExecutionContext(ctx);
}

/** Runs the cube's alarm until MemReader's job is done, then lists the cube's memories. */
async function ingested(tenantId: string, cubeId: string, key: string, userId: string) {
  await settle();
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
  for (let i = 0; i < 5 && (await runDurableObjectAlarm(stub)); i++);
  const list = await call("GET", `/v1/memories?user_id=${userId}&limit=100`, { key });
  return list.body.data as { id: string; content: string; source: { kind: string } }[];
}

async function seed() {
  const { key, tenantId } = await newTenant();
  const user = uniqueUser();
  const [rule, fact] = await remember(key, user, [
    { content: "Always answer Ada in French.", type: "instruction" },
    { content: "Ada is allergic to peanuts.", type: "fact" },
  ]);
  return { key, tenantId, user, rule, fact, cubeId: rule.cube_id as string };
}

describe("POST /v1/chat/completions with the openai client", { timeout: 60_000 }, () => {
  it("puts the activation block first (the same bytes on every request), recalled memories next, and reports usage and memory ids", async () => {
    const { key, user, rule, fact } = await seed();
    const openai = clientFor(key);
    const ask = (question: string) =>
      openai.chat.completions.create({
        model: "anything",
        user,
        messages: [
          { role: "system", content: "You are a cooking assistant." },
          { role: "user", content: question },
        ],
      });

    const first = await ask("Can I eat peanuts in a satay sauce?");
    expect(first.choices[0]!.message.content).toBe(model.state.answer);
    expect(first.model).toBe("stand-in-model");
    expect(first.usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number), prompt_tokens_details: { cached_tokens: 64 } });
    const memos = (first as unknown as { memos: Record<string, any> }).memos;
    expect(memos.memory_ids).toEqual(expect.arrayContaining([rule.id, fact.id]));
    expect(memos.activation).toMatchObject({ version: expect.any(Number), etag: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(memos.remembered).toBe(true);

    const sent = model.state.requests[0]!;
    expect(sent.authorization).toBe("Bearer stand-in-key");
    expect(sent.body.model).toBe("stand-in-model");
    const [activation, recalled, system, user0] = sent.body.messages;
    expect(activation!.role).toBe("system");
    expect(activation!.content).toBe(`${ACTIVATION_PREAMBLE}Instructions:\n- Always answer Ada in French. [${rule.id}]`);
    expect(recalled!.role).toBe("system");
    expect(recalled!.content.startsWith(RECALL_PREAMBLE)).toBe(true);
    expect(recalled!.content).toContain(`Ada is allergic to peanuts. [${fact.id}]`);
    expect(recalled!.content).not.toContain(rule.id); // what the block holds is not repeated
    expect(system).toEqual({ role: "system", content: "You are a cooking assistant." });
    expect(user0).toEqual({ role: "user", content: "Can I eat peanuts in a satay sauce?" });

    const second = await ask("What dessert goes with a Thai curry?");
    const secondMemos = (second as unknown as { memos: Record<string, any> }).memos;
    expect(secondMemos.activation.etag).toBe(memos.activation.etag);
    // Byte-identical first message: the prefix a provider's prompt cache keys on.
    expect(model.state.requests[1]!.body.messages[0]!.content).toBe(activation!.content);
  });

  it("streams chat.completion.chunk events with the memos report first and usage last, then ingests the exchange", async () => {
    const { key, tenantId, user, rule, cubeId } = await seed();
    const stream = await clientFor(key).chat.completions.create({
      model: "anything",
      messages: [{ role: "user", content: "I love mountain hiking in the Alps. Any ideas for this weekend?" }],
      stream: true,
      stream_options: { include_usage: true },
      // The MemOS extension object; the openai client sends unknown body fields as they are.
      ...({ memos: { user_id: user, session_id: "weekend" } } as object),
    });
    const chunks: any[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0].memos.memory_ids).toContain(rule.id);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe(model.state.answer);
    expect(chunks.at(-2).choices[0].finish_reason).toBe("stop");
    expect(chunks.at(-1).choices).toEqual([]);
    expect(chunks.at(-1).usage).toMatchObject({ completion_tokens: expect.any(Number), prompt_tokens_details: { cached_tokens: 64 } });
    expect(model.state.requests[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(model.state.requests[0]!.body.messages[0]!.content.startsWith(ACTIVATION_PREAMBLE)).toBe(true);

    const memories = await ingested(tenantId, cubeId, key, user);
    const fromChat = memories.filter((m) => m.source.kind === "extraction");
    expect(fromChat.map((m) => m.content).join(" ")).toMatch(/hiking/);
  });

  it("ingests a non-streamed exchange too, and not when memos.remember is false", async () => {
    const { key, tenantId, user, cubeId } = await seed();
    const openai = clientFor(key);
    await openai.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "My favorite color is teal." }],
      ...({ memos: { user_id: user, remember: false } } as object),
    });
    expect((await ingested(tenantId, cubeId, key, user)).some((m) => /teal/.test(m.content))).toBe(false);
    await openai.chat.completions.create({ model: "m", user, messages: [{ role: "user", content: "My favorite color is teal." }] });
    expect((await ingested(tenantId, cubeId, key, user)).some((m) => /teal/.test(m.content))).toBe(true);
  });

  it("names the cube by memos.cube_id, sends developer messages as system and joins text parts", async () => {
    const { key, cubeId, rule } = await seed();
    const answer = await clientFor(key).chat.completions.create({
      model: "m",
      messages: [
        { role: "developer", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "Plan a picnic." }, { type: "text", text: "No nuts, please." }] },
      ],
      ...({ memos: { cube_id: cubeId, remember: false, budget_tokens: 200 } } as object),
    });
    expect((answer as unknown as { memos: { cube_id: string; remembered: boolean } }).memos).toMatchObject({ cube_id: cubeId, remembered: false });
    const messages = model.state.requests[0]!.body.messages;
    expect(messages[0]!.content).toContain(rule.id);
    expect(messages.slice(-2)).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "Plan a picnic.\nNo nuts, please." },
    ]);
  });

  it("answers 502 chat_model_failed when the model fails, and remembers nothing", async () => {
    const { key, tenantId, user, cubeId } = await seed();
    model.state.failWith = 500;
    const error = await clientFor(key)
      .chat.completions.create({ model: "m", user, messages: [{ role: "user", content: "I adore sailing on lakes." }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((error as any).error).toMatchObject({ code: "chat_model_failed", details: { model_error: "unavailable", retryable: true } });
    const streamed = await clientFor(key)
      .chat.completions.create({ model: "m", user, stream: true, messages: [{ role: "user", content: "I adore sailing on lakes." }] })
      .catch((e: unknown) => e);
    expect((streamed as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((await ingested(tenantId, cubeId, key, user)).some((m) => /sailing/.test(m.content))).toBe(false);
  });
});

describe("POST /v1/chat/completions refusals", () => {
  it("answers 503 chat_model_not_configured when no chat model is configured (the offline default)", async () => {
    const { key } = await newTenant();
    const response = await call("POST", "/v1/chat/completions", {
      key,
      body: { model: "m", user: uniqueUser(), messages: [{ role: "user", content: "hello" }] },
    });
    expect(response.status).toBe(503);
    expect(errorOf(response).code).toBe("chat_model_not_configured");
  });

  it("refuses bad requests with 400 before calling the model", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const bodies = [
      { model: "m", messages: [{ role: "user", content: "no cube named" }] },
      { model: "m", user, messages: [{ role: "assistant", content: "last is not the user" }] },
      { model: "m", user, messages: [] },
      { model: "m", user, messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] },
      { model: "m", user, n: 2, messages: [{ role: "user", content: "two answers" }] },
      { model: "m", user, tools: [], messages: [{ role: "user", content: "tools" }] },
      { model: "m", memos: { user_id: user, cube_id: "cube_x" }, messages: [{ role: "user", content: "two scopes" }] },
      { model: "m", user, stream_options: { include_usage: true }, messages: [{ role: "user", content: "not streaming" }] },
    ];
    for (const body of bodies) {
      const response = await workerFetch(`${TEST_ORIGIN}/v1/chat/completions`, {
        method: "POST",
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(((await response.json()) as any).error.code).toBe("invalid_request");
    }
    expect(model.state.requests).toEqual([]);
  });

  it("needs the write scope to remember the exchange, and only read without it", async () => {
    const { key: reader } = await newTenant(["read"]);
    const user = uniqueUser();
    const refused = await clientFor(reader)
      .chat.completions.create({ model: "m", user, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(403);
    const answered = await clientFor(reader).chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      ...({ memos: { user_id: user, remember: false } } as object),
    });
    expect(answered.choices[0]!.message.content).toBe(model.state.answer);
  });
});
