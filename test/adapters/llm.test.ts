/**
 * The `Llm` adapters against stand-ins that speak the real wire shapes: the Workers AI binding (JSON Mode docs, error
 * table) and an OpenAI-compatible `/chat/completions` server reached through an injected `fetch`. One contract runs
 * against both; each adapter then gets the checks only it needs. Plus `createLlm`'s configuration rules.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLlm, createRetrieval, type LlmConfig, type RetrievalConfig } from "../../src/adapters/factory";
import { DEFAULT_MAX_TOKENS, LlmError, type Llm, type LlmErrorCode } from "../../src/adapters/llm";
import { OpenAiLlm } from "../../src/adapters/openai-llm";
import {
  DEFAULT_WORKERS_AI_LLM_MODEL,
  MIN_ANSWER_TOKENS,
  TEMPLATE_TOKENS_PER_MESSAGE,
  WorkersAiLlm,
  type WorkersAiTextBinding,
  type WorkersAiTextInputs,
} from "../../src/adapters/workers-ai-llm";
import { ConfigError } from "../../src/errors";

/** What a stand-in model does with the next request. */
type Behaviour =
  | { text: string }
  | { json: unknown }
  | { fail: "rate_limited" | "unavailable" | "rejected" }
  | { truncated: true }
  | { empty: true }
  | { hang: true };

const SCHEMA = {
  type: "object",
  properties: { memories: { type: "array", items: { type: "string" } } },
  required: ["memories"],
  additionalProperties: false,
};

/** Waits until the request's signal aborts, then rejects the way fetch and the binding do. */
const hang = (signal: AbortSignal | undefined) =>
  new Promise<never>((_, reject) => {
    if (!signal) return reject(new Error("the adapter sent no abort signal: this request would hang forever"));
    signal.addEventListener("abort", () => reject(signal.reason));
  });

/**
 * Workers AI text generation (messages form). Enforces the documented request: system/user messages with string
 * content, an integer `max_tokens`, temperature within 0–5, and JSON Mode as `{ type: "json_schema", json_schema:
 * <schema> }`. Answers `{ response, usage }` where `response` is the parsed object under JSON Mode (as the docs show)
 * and text otherwise; failures are thrown with the error table's internal codes.
 *
 * Context window: prompt and `max_tokens` together at most the model page's "Context Window" (24,000 tokens for
 * llama-3.3-70b-instruct-fp8-fast), refused past it with the message live deployments report
 * (github.com/cloudflare/cloudflare-docs/issues/29731). Its tokenizer counts from above, as a byte-level BPE can
 * make no more tokens than UTF-8 bytes: each message's bytes and 8 template tokens, plus the JSON schema's bytes.
 */
const CONTEXT_WINDOWS: Record<string, number> = { "@cf/meta/llama-3.3-70b-instruct-fp8-fast": 24_000 };

class WorkersAiTextStandIn implements WorkersAiTextBinding {
  readonly requests: { model: string; inputs: WorkersAiTextInputs }[] = [];
  readonly behaviours: Behaviour[] = [];

  /** The prompt's tokens as this stand-in's "tokenizer" counts them (see the class comment). */
  static promptTokens(inputs: WorkersAiTextInputs): number {
    const bytes = (text: string) => new TextEncoder().encode(text).length;
    const messages = inputs.messages.reduce((n, m) => n + bytes(m.content) + 8, 0);
    return messages + (inputs.response_format ? bytes(JSON.stringify(inputs.response_format.json_schema)) : 0);
  }

  async run(model: string, inputs: WorkersAiTextInputs, options?: { signal?: AbortSignal }): Promise<unknown> {
    this.requests.push({ model, inputs: structuredClone(inputs) });
    if (!/^@(cf|hf)\//.test(model)) throw new Error(`AiError: 5007: No such model ${model} or task`);
    if (!inputs.messages.every((m) => ["system", "user", "assistant"].includes(m.role) && typeof m.content === "string")) {
      throw new Error("AiError: 5006: Input validation failed: /messages");
    }
    if (!Number.isInteger(inputs.max_tokens) || inputs.max_tokens < 1) throw new Error("AiError: 5006: Input validation failed: /max_tokens");
    if (inputs.temperature < 0 || inputs.temperature > 5) throw new Error("AiError: 5006: Input validation failed: /temperature");
    // LoRA fine-tunes (developers.cloudflare.com/workers-ai/fine-tunes/loras/) run only on the `-lora` base models.
    if (inputs.lora !== undefined && (typeof inputs.lora !== "string" || !model.endsWith("-lora"))) {
      throw new Error("AiError: 5006: Input validation failed: /lora");
    }
    const format = inputs.response_format;
    if (format && (format.type !== "json_schema" || typeof format.json_schema !== "object" || "schema" in format.json_schema)) {
      throw new Error("AiError: 5006: Input validation failed: /response_format");
    }
    const window = CONTEXT_WINDOWS[model];
    const prompt = WorkersAiTextStandIn.promptTokens(inputs);
    if (window !== undefined && prompt + inputs.max_tokens > window) {
      throw new Error(
        `AiError: This model's maximum context length is ${window} tokens. However, you requested ${inputs.max_tokens} output tokens and your prompt contains at least ${prompt} input tokens, for a total of at least ${prompt + inputs.max_tokens} tokens. Please reduce the length of the input prompt or reduce max_tokens.`,
      );
    }
    const behaviour = this.behaviours.shift() ?? { text: "ok" };
    const usage = { prompt_tokens: 120, completion_tokens: 40, total_tokens: 160 };
    if ("hang" in behaviour) return hang(options?.signal);
    if ("fail" in behaviour) {
      throw new Error(
        {
          rate_limited: "AiError: 3040: Capacity temporarily exceeded, please try again.",
          unavailable: "InferenceUpstreamError: internal server error",
          rejected: "AiError: 3042: The model name is invalid",
        }[behaviour.fail],
      );
    }
    if ("truncated" in behaviour) return { response: '{"memories": ["Alice', usage: { ...usage, completion_tokens: inputs.max_tokens } };
    if ("empty" in behaviour) return { usage };
    if ("json" in behaviour) return { response: format ? behaviour.json : JSON.stringify(behaviour.json), usage };
    return { response: behaviour.text, usage };
  }
}

interface ChatCompletionBody {
  model: string;
  messages: { role: string; content: string }[];
  max_tokens: number;
  temperature: number;
  response_format?: { type: string; json_schema: { name: string; schema: unknown; strict?: boolean } };
}

/**
 * An OpenAI-compatible server behind `fetch`: checks the URL, method, bearer key and body, and answers
 * `{ choices: [{ message: { content, refusal }, finish_reason }] }` or OpenAI-style `{ error: { message } }` bodies.
 */
class ChatCompletionsStandIn {
  readonly requests: { url: string; headers: Headers; body: ChatCompletionBody }[] = [];
  readonly behaviours: (Behaviour | { status: number; body: string } | { refusal: string } | { network: true })[] = [];

  constructor(private readonly apiKey = "sk-test") {}

  readonly fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const headers = new Headers(init.headers);
    const body = JSON.parse(String(init.body)) as ChatCompletionBody;
    this.requests.push({ url, headers, body });
    if (init.method !== "POST" || !url.endsWith("/chat/completions")) return new Response("Not Found", { status: 404 });
    if (headers.get("authorization") !== `Bearer ${this.apiKey}`) {
      return error(401, "Incorrect API key provided.", "invalid_api_key");
    }
    if (typeof body.model !== "string" || !Array.isArray(body.messages)) return error(400, "model and messages are required");
    const format = body.response_format;
    if (format && (format.type !== "json_schema" || typeof format.json_schema?.name !== "string" || typeof format.json_schema.schema !== "object")) {
      return error(400, "Invalid schema for response_format");
    }
    const behaviour = this.behaviours.shift() ?? { text: "ok" };
    if ("network" in behaviour) throw new TypeError("fetch failed: connect ECONNREFUSED 127.0.0.1:11434");
    if ("hang" in behaviour) return hang(init.signal ?? undefined);
    if ("status" in behaviour) return new Response(behaviour.body, { status: behaviour.status });
    if ("fail" in behaviour) {
      return {
        rate_limited: () => error(429, "Rate limit reached for requests", "rate_limit_exceeded"),
        unavailable: () => error(503, "The server is overloaded or not ready yet."),
        rejected: () => error(404, "The model `nope` does not exist", "model_not_found"),
      }[behaviour.fail]();
    }
    if ("refusal" in behaviour) return completion(null, "stop", behaviour.refusal);
    if ("truncated" in behaviour) return completion('{"memories": ["Alice', "length");
    if ("empty" in behaviour) return Response.json({ id: "chatcmpl-1", object: "chat.completion", choices: [] });
    return completion("json" in behaviour ? JSON.stringify(behaviour.json) : behaviour.text, "stop");
  };
}

const error = (status: number, message: string, code: string | null = null) =>
  Response.json({ error: { message, type: "invalid_request_error", param: null, code } }, { status });

const completion = (content: string | null, finishReason: string, refusal: string | null = null) =>
  Response.json({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1_715_000_000,
    model: "test-model",
    choices: [{ index: 0, message: { role: "assistant", content, refusal }, logprobs: null, finish_reason: finishReason }],
    usage: { prompt_tokens: 120, completion_tokens: 40, total_tokens: 160 },
  });

// ── The contract ────────────────────────────────────────────────────────────────────────────────────────────

interface LlmHarness {
  llm: Llm;
  /** Queues what the model does with the next requests. */
  script(...behaviours: Behaviour[]): void;
  /** What the model received, in a provider-neutral form. */
  received(): { system: string; user: string; schema: unknown; maxTokens: number; temperature: number }[];
}

async function failure(promise: Promise<unknown>): Promise<LlmError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LlmError);
  return error as LlmError;
}

function llmContract(name: string, create: (options: { timeoutMs?: number }) => LlmHarness): void {
  describe(`Llm contract: ${name}`, () => {
    it("sends the system and user prompts and returns the model's text", async () => {
      const h = create({});
      expect(h.llm.id).toMatch(/^[a-z-]+:\S+$/);
      h.script({ text: "Hello, Alice." });
      expect(await h.llm.complete({ system: "Be brief.", user: "Greet Alice." })).toBe("Hello, Alice.");
      expect(h.received()).toEqual([{ system: "Be brief.", user: "Greet Alice.", schema: undefined, maxTokens: DEFAULT_MAX_TOKENS, temperature: 0 }]);
    });

    it("asks for JSON with the schema and returns JSON text", async () => {
      const h = create({});
      h.script({ json: { memories: ["Alice lives in Berlin."] } });
      const answer = await h.llm.complete({ system: "s", user: "u", jsonSchema: { name: "memories", schema: SCHEMA }, maxTokens: 512, temperature: 0.2 });
      expect(JSON.parse(answer)).toEqual({ memories: ["Alice lives in Berlin."] });
      expect(h.received()[0]).toMatchObject({ schema: SCHEMA, maxTokens: 512, temperature: 0.2 });
    });

    it("reports rate limits and outages as retryable, a rejected request as not", async () => {
      const h = create({});
      const expected: [Behaviour, LlmErrorCode, boolean][] = [
        [{ fail: "rate_limited" }, "rate_limited", true],
        [{ fail: "unavailable" }, "unavailable", true],
        [{ fail: "rejected" }, "rejected", false],
      ];
      for (const [behaviour, code, retryable] of expected) {
        h.script(behaviour);
        const error = await failure(h.llm.complete({ system: "s", user: "u" }));
        expect([error.code, error.retryable]).toEqual([code, retryable]);
      }
    });

    it("gives up after its timeout, retryably", async () => {
      const h = create({ timeoutMs: 30 });
      h.script({ hang: true });
      const error = await failure(h.llm.complete({ system: "s", user: "u" }));
      expect([error.code, error.retryable]).toEqual(["timeout", true]);
    });

    it("reports an answer cut at max_tokens, or without text, as invalid_output", async () => {
      const h = create({});
      h.script({ truncated: true }, { empty: true });
      for (const pattern of [/max_tokens/, /no (response text|message content)/]) {
        const error = await failure(h.llm.complete({ system: "s", user: "u", jsonSchema: { name: "memories", schema: SCHEMA } }));
        expect(error.code).toBe("invalid_output");
        expect(error.message).toMatch(pattern);
      }
    });
  });
}

function workersAiHarness(options: { timeoutMs?: number }): LlmHarness & { ai: WorkersAiTextStandIn } {
  const ai = new WorkersAiTextStandIn();
  return {
    ai,
    llm: new WorkersAiLlm(ai, undefined, options),
    script: (...behaviours) => ai.behaviours.push(...behaviours),
    received: () =>
      ai.requests.map(({ inputs }) => ({
        system: inputs.messages.find((m) => m.role === "system")?.content ?? "",
        user: inputs.messages.find((m) => m.role === "user")?.content ?? "",
        schema: inputs.response_format?.json_schema,
        maxTokens: inputs.max_tokens,
        temperature: inputs.temperature,
      })),
  };
}

function openAiHarness(options: { timeoutMs?: number }): LlmHarness & { server: ChatCompletionsStandIn } {
  const server = new ChatCompletionsStandIn();
  return {
    server,
    llm: new OpenAiLlm({ baseUrl: "http://localhost:11434/v1/", apiKey: "sk-test", model: "llama3.1:8b", fetch: server.fetch, ...options }),
    script: (...behaviours) => server.behaviours.push(...behaviours),
    received: () =>
      server.requests.map(({ body }) => ({
        system: body.messages.find((m) => m.role === "system")?.content ?? "",
        user: body.messages.find((m) => m.role === "user")?.content ?? "",
        schema: body.response_format?.json_schema.schema,
        maxTokens: body.max_tokens,
        temperature: body.temperature,
      })),
  };
}

llmContract("Workers AI (stand-in binding)", workersAiHarness);
llmContract("OpenAI-compatible (stand-in server)", openAiHarness);

// ── Workers AI specifics ────────────────────────────────────────────────────────────────────────────────────

describe("Workers AI LLM", () => {
  it("sends the documented messages request, with the bare schema as json_schema", async () => {
    const { ai, llm } = workersAiHarness({});
    expect(llm.id).toBe(`workers-ai:${DEFAULT_WORKERS_AI_LLM_MODEL}`);
    await llm.complete({ system: "S", user: "U", jsonSchema: { name: "memories", schema: SCHEMA } });
    expect(ai.requests).toEqual([
      {
        model: "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        inputs: {
          messages: [
            { role: "system", content: "S" },
            { role: "user", content: "U" },
          ],
          max_tokens: DEFAULT_MAX_TOKENS,
          temperature: 0,
          response_format: { type: "json_schema", json_schema: SCHEMA },
        },
      },
    ]);
  });

  it("uses the configured model and accepts JSON Mode answers as text as well as objects", async () => {
    const ai = new WorkersAiTextStandIn();
    const llm = new WorkersAiLlm(ai, "@cf/meta/llama-4-scout-17b-16e-instruct");
    expect(llm.id).toBe("workers-ai:@cf/meta/llama-4-scout-17b-16e-instruct");
    ai.behaviours.push({ text: '{"memories": []}' }, { json: { memories: [] } });
    const request = { system: "s", user: "u", jsonSchema: { name: "memories", schema: SCHEMA } };
    expect(await llm.complete(request)).toBe('{"memories": []}');
    expect(JSON.parse(await llm.complete(request))).toEqual({ memories: [] });
    expect(ai.requests[0]!.model).toBe("@cf/meta/llama-4-scout-17b-16e-instruct");
  });

  it("applies a cube's active adapter as `lora` only on the -lora model it was made for, deployed as a fine-tune", async () => {
    const ai = new WorkersAiTextStandIn();
    const base = "@cf/mistral/mistral-7b-instruct-v0.2-lora";
    const llm = new WorkersAiLlm(ai, base);
    const adapter = { baseModel: base, finetune: "alice-style" };
    expect(llm.appliesAdapter(adapter)).toBe(true);
    ai.behaviours.push({ text: "ok" }, { text: "ok" }, { text: "ok" });
    await llm.complete({ system: "S", user: "U", adapter });
    expect(ai.requests[0]!.inputs).toEqual({
      messages: [
        { role: "system", content: "S" },
        { role: "user", content: "U" },
      ],
      max_tokens: DEFAULT_MAX_TOKENS,
      temperature: 0,
      lora: "alice-style",
    });
    // Stored here but not deployed on Workers AI, or made for another model: the model answers as it is.
    const undeployed = { baseModel: base, finetune: null };
    const otherModel = { baseModel: "@cf/google/gemma-7b-it-lora", finetune: "g" };
    expect(llm.appliesAdapter(undeployed)).toBe(false);
    expect(llm.appliesAdapter(otherModel)).toBe(false);
    await llm.complete({ system: "S", user: "U", adapter: undeployed });
    await llm.complete({ system: "S", user: "U", adapter: otherModel });
    expect(ai.requests.slice(1).map((r) => "lora" in r.inputs)).toEqual([false, false]);
    // The default (non-LoRA) model never takes one.
    expect(new WorkersAiLlm(ai).appliesAdapter({ baseModel: base, finetune: "alice-style" })).toBe(false);
  });

  it("maps the error table's codes and messages", async () => {
    const cases: [string, LlmErrorCode][] = [
      ["AiError: 3040: Capacity temporarily exceeded, please try again.", "rate_limited"],
      ["3036: You have used up your daily free allocation of 10,000 neurons.", "rate_limited"],
      ["AiError: 3007: Request timeout", "timeout"],
      ["AiError: 5007: No such model @cf/nope or task", "rejected"],
      ["3006: Request is too large", "rejected"],
      ["AiError: This model's maximum context length is 131072 tokens. However, you requested 16000 output tokens and your prompt contains at least 115073 input tokens, for a total of at least 131073 tokens.", "rejected"],
      ["AiError: Input validation failed: /messages/0/content: must be string", "rejected"],
      ["JSON Mode couldn't be met", "invalid_output"],
      ["InferenceUpstreamError: something went wrong (request 5ab3c000)", "unavailable"],
      ["Network connection lost.", "unavailable"],
    ];
    for (const [message, code] of cases) {
      const llm = new WorkersAiLlm({ run: async () => Promise.reject(new Error(message)) });
      const error = await failure(llm.complete({ system: "s", user: "u" }));
      expect([message, error.code]).toEqual([message, code]);
      expect(error.cause).toBeInstanceOf(Error);
    }
  });

  describe("the context window (24,000 tokens for the default model), at the limit and one past", () => {
    const WINDOW = 24_000;
    /** A user prompt whose request, with the system prompt "S" and no schema, has a prompt bound of exactly `tokens`. */
    const userFor = (tokens: number) => "u".repeat(tokens - 1 - 2 * TEMPLATE_TOKENS_PER_MESSAGE);
    const sent = (ai: WorkersAiTextStandIn) => ai.requests.map((r) => [WorkersAiTextStandIn.promptTokens(r.inputs), r.inputs.max_tokens]);

    it("the stand-in takes a prompt and max_tokens of exactly the window and refuses one token more", async () => {
      const ai = new WorkersAiTextStandIn();
      const inputs = (maxTokens: number): WorkersAiTextInputs => ({
        messages: [
          { role: "system", content: "S" },
          { role: "user", content: userFor(20_000) },
        ],
        max_tokens: maxTokens,
        temperature: 0,
      });
      await expect(ai.run(DEFAULT_WORKERS_AI_LLM_MODEL, inputs(4_000))).resolves.toMatchObject({ response: "ok" });
      await expect(ai.run(DEFAULT_WORKERS_AI_LLM_MODEL, inputs(4_001))).rejects.toThrow(
        "maximum context length is 24000 tokens. However, you requested 4001 output tokens and your prompt contains at least 20000 input tokens",
      );
    });

    it("the stand-in refuses what the input schema refuses: max_tokens below 1 or fractional, temperature past 0–5, a wrapped schema", async () => {
      const ai = new WorkersAiTextStandIn();
      const run = (change: Partial<WorkersAiTextInputs>) =>
        ai
          .run(DEFAULT_WORKERS_AI_LLM_MODEL, { messages: [{ role: "user", content: "u" }], max_tokens: 1, temperature: 0, ...change })
          .then(() => "accepted", (e: Error) => e.message);
      expect(await run({ temperature: 5 })).toBe("accepted");
      expect(await run({ response_format: { type: "json_schema", json_schema: SCHEMA } })).toBe("accepted");
      expect(await run({ max_tokens: 0 })).toMatch(/\/max_tokens/);
      expect(await run({ max_tokens: 1.5 })).toMatch(/\/max_tokens/);
      expect(await run({ temperature: 5.01 })).toMatch(/\/temperature/);
      expect(await run({ temperature: -0.01 })).toMatch(/\/temperature/);
      expect(await run({ response_format: { type: "json_schema", json_schema: { name: "memories", schema: SCHEMA } } })).toMatch(/\/response_format/);
    });

    it("asks for the whole allowance while it fits and lowers max_tokens by what the prompt takes past it", async () => {
      const { ai, llm } = workersAiHarness({});
      await llm.complete({ system: "S", user: userFor(WINDOW - 4_096), maxTokens: 4_096 });
      await llm.complete({ system: "S", user: userFor(WINDOW - 4_096 + 1), maxTokens: 4_096 });
      await llm.complete({ system: "S", user: userFor(WINDOW - MIN_ANSWER_TOKENS), maxTokens: 4_096 });
      // Multi-byte text counts by its bytes; the schema counts too.
      await llm.complete({ system: "S", user: "ü".repeat(10_000), jsonSchema: { name: "memories", schema: SCHEMA }, maxTokens: 4_096 });
      const schemaBytes = JSON.stringify(SCHEMA).length;
      expect(sent(ai)).toEqual([
        [WINDOW - 4_096, 4_096],
        [WINDOW - 4_095, 4_095],
        [WINDOW - MIN_ANSWER_TOKENS, MIN_ANSWER_TOKENS],
        [1 + 20_000 + 16 + schemaBytes, WINDOW - (1 + 20_000 + 16 + schemaBytes)],
      ]);
    });

    it("never lowers max_tokens below its floor: a prompt that leaves less is sent, and the model's refusal is final", async () => {
      const { ai, llm } = workersAiHarness({});
      const error = await failure(llm.complete({ system: "S", user: userFor(WINDOW - MIN_ANSWER_TOKENS + 1), maxTokens: 4_096 }));
      expect(sent(ai)).toEqual([[WINDOW - MIN_ANSWER_TOKENS + 1, MIN_ANSWER_TOKENS]]);
      expect([error.code, error.retryable]).toEqual(["rejected", false]);
      expect(error.message).toContain("maximum context length");
    });

    it("sends a model without a documented window what was asked", async () => {
      const ai = new WorkersAiTextStandIn();
      await new WorkersAiLlm(ai, "@cf/meta/llama-3.1-8b-instruct").complete({ system: "S", user: userFor(30_000), maxTokens: 4_096 });
      expect(ai.requests[0]!.inputs.max_tokens).toBe(4_096);
    });
  });

  it("refuses an asynchronously queued answer instead of returning nothing", async () => {
    const llm = new WorkersAiLlm({ run: async () => ({ request_id: "queued-123" }) });
    expect((await failure(llm.complete({ system: "s", user: "u" }))).code).toBe("invalid_output");
  });

  it("returns a bare-string answer (the generated output type allows one)", async () => {
    expect(await new WorkersAiLlm({ run: async () => "plain" }).complete({ system: "s", user: "u" })).toBe("plain");
  });
});

// ── OpenAI-compatible specifics ─────────────────────────────────────────────────────────────────────────────

describe("OpenAI-compatible LLM", () => {
  afterEach(() => vi.restoreAllMocks());

  it("POSTs to {baseUrl}/chat/completions with the bearer key and a named, strict json_schema", async () => {
    const { server, llm } = openAiHarness({});
    expect(llm.id).toBe("openai:llama3.1:8b");
    server.behaviours.push({ json: { memories: [] } });
    await llm.complete({ system: "S", user: "U", jsonSchema: { name: "memories", schema: SCHEMA } });
    const [request] = server.requests;
    expect(request!.url).toBe("http://localhost:11434/v1/chat/completions");
    expect(request!.headers.get("authorization")).toBe("Bearer sk-test");
    expect(request!.headers.get("content-type")).toBe("application/json");
    expect(request!.body).toEqual({
      model: "llama3.1:8b",
      messages: [
        { role: "system", content: "S" },
        { role: "user", content: "U" },
      ],
      max_tokens: DEFAULT_MAX_TOKENS,
      temperature: 0,
      response_format: { type: "json_schema", json_schema: { name: "memories", schema: SCHEMA, strict: true } },
    });
  });

  it("ignores a cube's adapter: the request is the plain one (serve a LoRA under its own model name instead)", async () => {
    const { server, llm } = openAiHarness({});
    expect(llm.appliesAdapter).toBeUndefined();
    server.behaviours.push({ text: "ok" });
    await llm.complete({ system: "S", user: "U", adapter: { baseModel: "@cf/mistral/mistral-7b-instruct-v0.2-lora", finetune: "alice-style" } });
    expect(Object.keys(server.requests[0]!.body).sort()).toEqual(["max_tokens", "messages", "model", "temperature"]);
  });

  it("carries the HTTP status and the server's error message, and classifies by status", async () => {
    const cases: [number, string, LlmErrorCode][] = [
      [400, JSON.stringify({ error: { message: "Invalid schema for response_format 'memories'" } }), "rejected"],
      [401, JSON.stringify({ error: { message: "Incorrect API key provided." } }), "rejected"],
      [408, "Request Timeout", "timeout"],
      [409, JSON.stringify({ error: "conflict" }), "unavailable"],
      [429, JSON.stringify({ error: { message: "Rate limit reached" } }), "rate_limited"],
      [500, "<html>Internal Server Error</html>", "unavailable"],
      [502, "Bad Gateway", "unavailable"],
    ];
    for (const [status, body, code] of cases) {
      const { server, llm } = openAiHarness({});
      server.behaviours.push({ status, body });
      const error = await failure(llm.complete({ system: "s", user: "u" }));
      expect([status, error.code, error.status, error.retryable]).toEqual([status, code, status, code !== "rejected"]);
      expect(error.message).toContain(`HTTP ${status}`);
    }
    const { server, llm } = openAiHarness({});
    server.behaviours.push({ status: 400, body: JSON.stringify({ error: { message: "Invalid schema for response_format 'memories'" } }) });
    expect((await failure(llm.complete({ system: "s", user: "u" }))).message).toContain("Invalid schema for response_format");
  });

  it("rejects a wrong key without retrying forever", async () => {
    const server = new ChatCompletionsStandIn("sk-right");
    const llm = new OpenAiLlm({ baseUrl: "https://api.example.com/v1", apiKey: "sk-wrong", model: "m", fetch: server.fetch });
    const error = await failure(llm.complete({ system: "s", user: "u" }));
    expect([error.code, error.status, error.retryable]).toEqual(["rejected", 401, false]);
    expect(error.message).not.toContain("sk-wrong");
  });

  it("reports an unreachable server as unavailable, a refusal as rejected, a non-JSON body as invalid_output", async () => {
    const { server, llm } = openAiHarness({});
    server.behaviours.push({ network: true }, { refusal: "I can't help with that." }, { status: 200, body: "<html>proxy login</html>" });
    expect((await failure(llm.complete({ system: "s", user: "u" }))).code).toBe("unavailable");
    const refused = await failure(llm.complete({ system: "s", user: "u" }));
    expect([refused.code, refused.retryable]).toEqual(["rejected", false]);
    expect(refused.message).toContain("I can't help with that.");
    expect((await failure(llm.complete({ system: "s", user: "u" }))).code).toBe("invalid_output");
  });

  it("uses the global fetch when none is injected", async () => {
    const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async () => completion("from the global fetch", "stop"));
    const llm = new OpenAiLlm({ baseUrl: "https://api.openai.com/v1", apiKey: "sk-live", model: "gpt-4o-mini" });
    expect(await llm.complete({ system: "s", user: "u" })).toBe("from the global fetch");
    expect(spy).toHaveBeenCalledOnce();
    expect(spy.mock.calls[0]![0]).toBe("https://api.openai.com/v1/chat/completions");
  });
});

// ── Configuration ───────────────────────────────────────────────────────────────────────────────────────────

describe("createLlm", () => {
  const ai = new WorkersAiTextStandIn();
  const openai = { READER: "openai", LLM_BASE_URL: "http://localhost:11434/v1", LLM_MODEL: "llama3.1:8b", LLM_API_KEY: "local" };

  it("is off by default and with READER=rules, as wrangler.toml ships", () => {
    expect(createLlm({})).toBeNull();
    expect(createLlm({ READER: "rules", LLM_MODEL: "anything", AI: ai })).toBeNull();
    expect([env.READER, env.LLM_MODEL]).toEqual(["rules", DEFAULT_WORKERS_AI_LLM_MODEL]);
    expect(createLlm(env)).toBeNull();
  });

  it("builds the Workers AI model from the AI binding and LLM_MODEL", async () => {
    expect(createLlm({ READER: "workers-ai", AI: ai })!.id).toBe(`workers-ai:${DEFAULT_WORKERS_AI_LLM_MODEL}`);
    const llm = createLlm({ READER: "workers-ai", LLM_MODEL: "@cf/meta/llama-3.1-8b-instruct-fast", AI: ai })!;
    expect(llm.id).toBe("workers-ai:@cf/meta/llama-3.1-8b-instruct-fast");
    ai.behaviours.push({ text: "hi" });
    expect(await llm.complete({ system: "s", user: "u" })).toBe("hi");
    expect(ai.requests.at(-1)!.model).toBe("@cf/meta/llama-3.1-8b-instruct-fast");
    expect(createLlm({ ...env, READER: "workers-ai" })!.id).toBe(`workers-ai:${DEFAULT_WORKERS_AI_LLM_MODEL}`);
  });

  it("builds the OpenAI-compatible model from LLM_BASE_URL, LLM_MODEL and LLM_API_KEY", () => {
    expect(createLlm(openai)!.id).toBe("openai:llama3.1:8b");
    expect(createLlm(openai)).toBeInstanceOf(OpenAiLlm);
  });

  it("refuses configurations that ask for something missing, never falling back to rules", () => {
    const refused: [LlmConfig, RegExp][] = [
      [{ READER: "gpt" }, /READER must be one of rules, workers-ai, openai/],
      [{ READER: "workers-ai" }, /needs the AI binding/],
      [{ READER: "workers-ai", AI: ai, LLM_MODEL: "gpt-4o-mini" }, /Workers AI model id/],
      [{ ...openai, LLM_BASE_URL: undefined }, /needs LLM_BASE_URL/],
      [{ ...openai, LLM_BASE_URL: "localhost:11434" }, /http\(s\) URL/],
      [{ ...openai, LLM_BASE_URL: "ftp://models.example.com/v1" }, /http\(s\) URL/],
      [{ ...openai, LLM_MODEL: " " }, /needs LLM_MODEL/],
      [{ ...openai, LLM_API_KEY: undefined }, /needs the LLM_API_KEY secret/],
      [{ ...openai, LLM_API_KEY: "" }, /needs the LLM_API_KEY secret/],
    ];
    for (const [config, message] of refused) {
      expect(() => createLlm(config)).toThrow(ConfigError);
      expect(() => createLlm(config)).toThrow(message);
    }
  });

  it("leaves retrieval's configuration alone", () => {
    const config: LlmConfig & RetrievalConfig = { ...openai, READER: "workers-ai", AI: ai };
    const retrieval = createRetrieval(config);
    expect([retrieval.embedder.id, retrieval.reranker.id, retrieval.remoteIndex]).toEqual([
      createRetrieval({}).embedder.id,
      createRetrieval({}).reranker.id,
      null,
    ]);
  });
});
