/**
 * The model path of MemReader with recorded model outputs: what a model answered to the extraction prompt (good,
 * malformed, schema-violating, citing unknown or assistant-only messages), replayed through a recording `Llm`.
 */
import { describe, expect, it } from "vitest";
import { LlmError, type Llm, type LlmRequest } from "../../src/adapters/llm";
import {
  ExtractionError,
  ExtractionOutput,
  LLM_READER_LIMITS,
  LlmReader,
  MESSAGE_OVERHEAD_CHARS,
  parseIsoDate,
  windows,
} from "../../src/core/reader/llm-reader";
import type { ReaderContext, ReaderMessage } from "../../src/core/reader/types";

/** Replays recorded answers (or computes them from the request) and records every request. */
class RecordedLlm implements Llm {
  readonly id = "recorded:test-model";
  readonly requests: LlmRequest[] = [];

  constructor(private readonly answers: (string | LlmError)[] | ((request: LlmRequest, index: number) => string)) {}

  async complete(request: LlmRequest): Promise<string> {
    this.requests.push(request);
    if (typeof this.answers === "function") return this.answers(request, this.requests.length - 1);
    const next = this.answers.shift();
    if (next === undefined) throw new Error(`no recorded answer for request ${this.requests.length}`);
    if (next instanceof LlmError) throw next;
    return next;
  }
}

const T0 = Date.parse("2024-05-07T14:03:00Z"); // a Tuesday
const minutes = (n: number) => T0 + n * 60_000;
const context: ReaderContext = { ownerName: "Alice", now: Date.parse("2024-05-08T09:00:00Z") };

const conversation: ReaderMessage[] = [
  { id: "m0", role: "user", name: "Alice", content: "Hi! I moved to Berlin last week with my partner Sam.", createdAt: minutes(0) },
  { id: "m1", role: "assistant", name: null, content: "Congratulations! How are you finding Berlin so far?", createdAt: minutes(1) },
  { id: "m2", role: "user", name: "Alice", content: "Love it. Please always answer me in German from now on.", createdAt: minutes(2) },
  { id: "m3", role: "assistant", name: null, content: "Natürlich! Du magst bestimmt Techno, wenn du nach Berlin gezogen bist.", createdAt: minutes(3) },
  { id: "m4", role: "user", name: null, content: "Mein Zahnarzttermin ist nächsten Freitag um 10 Uhr.", createdAt: null },
];

/** A good answer, as recorded: third person, relative dates resolved, German kept, one assistant-only guess. */
const GOOD = JSON.stringify({
  memories: [
    {
      content: "Alice moved to Berlin with her partner Sam in the week of 2024-04-29.",
      type: "event",
      tags: ["Berlin", "Sam", "move", "berlin"],
      valid_at: "2024-04-29",
      message_ids: ["m0"],
      key: null,
    },
    { content: "Alice's partner is Sam.", type: "fact", tags: ["sam", "partner"], valid_at: null, message_ids: ["m0"], key: "Alice|Partner" },
    {
      content: "Alice wants the assistant to always answer in German.",
      type: "instruction",
      tags: ["german", "language"],
      valid_at: "2024-05-07T14:05:00Z",
      message_ids: ["m2"],
      key: "alice|answer_language",
    },
    { content: "Alice mag Techno.", type: "preference", tags: ["techno"], valid_at: null, message_ids: ["m3"], key: "alice|music" },
    {
      content: "Alice hat am 2024-05-10 um 10 Uhr einen Zahnarzttermin.",
      type: "event",
      tags: ["zahnarzt"],
      valid_at: "2024-05-10T10:00:00Z",
      message_ids: ["m4"],
      key: null,
    },
  ],
});

const memory = (overrides: Record<string, unknown> = {}) => ({
  content: "Alice lives in Berlin.",
  type: "fact",
  tags: ["berlin"],
  valid_at: null,
  message_ids: ["m0"],
  key: "alice|lives_in",
  ...overrides,
});
const answer = (...memories: Record<string, unknown>[]) => JSON.stringify({ memories });

async function extractionFailure(promise: Promise<unknown>): Promise<ExtractionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExtractionError);
  return error as ExtractionError;
}

describe("LlmReader with recorded model outputs", () => {
  it("turns a good answer into memories: dates as ms, tags and keys normalised, assistant-only claims dropped", async () => {
    const llm = new RecordedLlm([GOOD]);
    const reader = new LlmReader(llm);
    expect(reader.id).toBe("llm:recorded:test-model");
    const memories = await reader.read(conversation, context);
    expect(memories).toEqual([
      {
        content: "Alice moved to Berlin with her partner Sam in the week of 2024-04-29.",
        type: "event",
        tags: ["berlin", "sam", "move"],
        validAt: Date.UTC(2024, 3, 29),
        messageIds: ["m0"],
        key: null,
      },
      { content: "Alice's partner is Sam.", type: "fact", tags: ["sam", "partner"], validAt: null, messageIds: ["m0"], key: "alice|partner" },
      {
        content: "Alice wants the assistant to always answer in German.",
        type: "instruction",
        tags: ["german", "language"],
        validAt: Date.parse("2024-05-07T14:05:00Z"),
        messageIds: ["m2"],
        key: "alice|answer_language",
      },
      {
        content: "Alice hat am 2024-05-10 um 10 Uhr einen Zahnarzttermin.",
        type: "event",
        tags: ["zahnarzt"],
        validAt: Date.parse("2024-05-10T10:00:00Z"),
        messageIds: ["m4"],
        key: null,
      },
    ]);
    expect(llm.requests).toHaveLength(1);
  });

  it("asks with the extraction rules, the owner's name and every message's id, role, speaker and time", async () => {
    const llm = new RecordedLlm([GOOD]);
    await new LlmReader(llm).read(conversation, context);
    const [request] = llm.requests;
    expect(request!.temperature).toBe(0);
    expect(request!.maxTokens).toBe(LLM_READER_LIMITS.maxTokens);
    expect(request!.jsonSchema?.name).toBe("memories");
    for (const rule of [/third person/, /Resolve relative times/, /language of the messages/, /only the assistant said/, /\{"memories": \[\]\}/]) {
      expect(request!.system).toMatch(rule);
    }
    expect(request!.system).toContain("Alice");
    expect(request!.user).toContain("The memories are about: Alice");
    const lines = request!.user.split("\n").filter((line) => line.startsWith("{"));
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { id: "m0", role: "user", speaker: "Alice", time: "2024-05-07T14:03:00.000Z", text: conversation[0]!.content },
      { id: "m1", role: "assistant", speaker: "assistant", time: "2024-05-07T14:04:00.000Z", text: conversation[1]!.content },
      { id: "m2", role: "user", speaker: "Alice", time: "2024-05-07T14:05:00.000Z", text: conversation[2]!.content },
      { id: "m3", role: "assistant", speaker: "assistant", time: "2024-05-07T14:06:00.000Z", text: conversation[3]!.content },
      // No name and no time: the owner speaks, at ingestion time.
      { id: "m4", role: "user", speaker: "Alice", time: "2024-05-08T09:00:00.000Z", text: conversation[4]!.content },
    ]);
  });

  it("sends a JSON Schema in the subset every server accepts: all required, no extra properties, no length limits", async () => {
    const llm = new RecordedLlm([answer()]);
    await new LlmReader(llm).read(conversation, context);
    const schema = llm.requests[0]!.jsonSchema!.schema as {
      required: string[];
      additionalProperties: boolean;
      properties: { memories: { items: { required: string[]; additionalProperties: boolean; properties: Record<string, unknown> } } };
    };
    expect(schema).not.toHaveProperty("$schema");
    expect([schema.required, schema.additionalProperties]).toEqual([["memories"], false]);
    const item = schema.properties.memories.items;
    expect(item.additionalProperties).toBe(false);
    expect(item.required.sort()).toEqual(Object.keys(item.properties).sort());
    expect(item.properties.valid_at).toEqual({ type: ["string", "null"] });
    expect(JSON.stringify(schema)).not.toMatch(/maxLength|minLength|maxItems|minItems|pattern/);
    // The zod schema and the JSON Schema describe the same answer.
    expect(ExtractionOutput.safeParse(JSON.parse(GOOD)).success).toBe(true);
  });

  it("takes an explicit empty list as the answer, in one request", async () => {
    const llm = new RecordedLlm(['{"memories": []}']);
    expect(await new LlmReader(llm).read(conversation, context)).toEqual([]);
    expect(llm.requests).toHaveLength(1);
  });

  it("accepts the object inside a code fence or prose (servers without JSON mode)", async () => {
    const fenced = "Here are the memories:\n```json\n" + answer(memory()) + "\n```";
    const prose = "Sure! " + answer(memory()) + " Let me know if you need more.";
    for (const output of [fenced, prose]) {
      expect((await new LlmReader(new RecordedLlm([output])).read(conversation, context)).map((m) => m.content)).toEqual(["Alice lives in Berlin."]);
    }
  });

  it("retries malformed JSON with the problem fed back, and succeeds", async () => {
    const llm = new RecordedLlm(['{"memories": [{"content": "Alice lives in Berl', GOOD]);
    const memories = await new LlmReader(llm).read(conversation, context);
    expect(memories).toHaveLength(4);
    expect(llm.requests).toHaveLength(2);
    expect(llm.requests[0]!.user).not.toContain("rejected");
    expect(llm.requests[1]!.user).toContain("Your previous answer was rejected:\n- the answer is not a JSON object");
    expect(llm.requests[1]!.system).toBe(llm.requests[0]!.system);
  });

  it("fails visibly with the reason after three schema-violating answers", async () => {
    const bad = answer(memory({ type: "location", valid_at: "last Friday" }), memory({ tags: "berlin" }));
    const llm = new RecordedLlm([bad, bad, bad, GOOD]);
    const error = await extractionFailure(new LlmReader(llm).read(conversation, context));
    expect(llm.requests).toHaveLength(3); // never a fourth
    expect(error.attempts).toBe(3);
    expect(error.retryable).toBe(false);
    expect(error.reason).toContain("memories[0].type");
    expect(error.reason).toContain("memories[1].tags");
    expect(error.message).toMatch(/failed validation 3 times/);
    expect(error.lastOutput).toBe(bad);
    // Each retry says what was wrong.
    expect(llm.requests[2]!.user).toContain("memories[0].type");
  });

  it("never takes a missing or empty answer for 'no memories'", async () => {
    for (const output of ["", "{}", '{"memory": []}', "null", "[]", '{"memories": null}']) {
      const llm = new RecordedLlm([output, output, output]);
      const error = await extractionFailure(new LlmReader(llm).read(conversation, context));
      expect(llm.requests).toHaveLength(3);
      expect(error.reason).not.toBe("");
    }
    const error = await extractionFailure(new LlmReader(new RecordedLlm(["", "", ""])).read(conversation, context));
    expect(error.reason).toContain("the answer is empty");
  });

  it("retries answers citing message ids that are not in the conversation", async () => {
    const llm = new RecordedLlm([answer(memory({ message_ids: ["m0", "m9"] })), answer(memory())]);
    expect(await new LlmReader(llm).read(conversation, context)).toHaveLength(1);
    expect(llm.requests[1]!.user).toContain('memories[0].message_ids[1]: "m9" is not one of the message ids given');
    const always = answer(memory({ message_ids: ["msg-0"] }));
    const error = await extractionFailure(new LlmReader(new RecordedLlm([always, always, always])).read(conversation, context));
    expect(error.reason).toContain('"msg-0" is not one of the message ids given');
  });

  it("drops memories that cite only assistant messages, keeps those a user message confirms", async () => {
    const withConfirmation: ReaderMessage[] = [
      ...conversation,
      { id: "m5", role: "user", name: "Alice", content: "Stimmt, ich liebe Techno!", createdAt: minutes(5) },
    ];
    const output = answer(
      memory({ content: "Alice mag Techno.", type: "preference", message_ids: ["m3"], key: null }),
      memory({ content: "Alice liebt Techno.", type: "preference", message_ids: ["m3", "m5"], key: "alice|music" }),
      memory({ content: "Berlin is a great city.", message_ids: ["m1"], key: null }),
    );
    const memories = await new LlmReader(new RecordedLlm([output])).read(withConfirmation, context);
    expect(memories.map((m) => [m.content, m.messageIds])).toEqual([["Alice liebt Techno.", ["m3", "m5"]]]);
  });

  it("enforces the limits the JSON Schema leaves out", async () => {
    const cases: [string, string][] = [
      [answer(...Array.from({ length: 51 }, (_, i) => memory({ content: `Fact ${i}.` }))), "at most 50 memories"],
      [answer(memory({ content: "x".repeat(2001) })), "longer than 2000 characters"],
      [answer(memory({ content: "   " })), "content is empty"],
      [answer(memory({ message_ids: [] })), "cite at least one message id"],
      [answer(memory({ valid_at: "2024-02-30" })), "is not an ISO-8601 date"],
      [answer(memory({ valid_at: "May 10, 2024" })), "is not an ISO-8601 date"],
      [answer(memory({ key: "k".repeat(201) })), "key is longer than 200 characters"],
    ];
    for (const [output, problem] of cases) {
      const error = await extractionFailure(new LlmReader(new RecordedLlm([output, output, output])).read(conversation, context));
      expect(error.reason).toContain(problem);
    }
    const fifty = answer(...Array.from({ length: 50 }, (_, i) => memory({ content: `Fact ${i}.` })));
    expect(await new LlmReader(new RecordedLlm([fifty])).read(conversation, context)).toHaveLength(50);
  });

  it("asks again after an adapter's invalid_output error, but leaves provider failures to the job system", async () => {
    const cut = new LlmError("invalid_output", "workers-ai:m stopped at max_tokens (4096) before finishing its answer");
    const llm = new RecordedLlm([cut, answer(memory())]);
    expect(await new LlmReader(llm).read(conversation, context)).toHaveLength(1);
    expect(llm.requests[1]!.user).toContain("stopped at max_tokens");

    const limited = new RecordedLlm([new LlmError("rate_limited", "429"), answer(memory())]);
    const error = await new LlmReader(limited).read(conversation, context).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmError);
    expect((error as LlmError).retryable).toBe(true);
    expect(limited.requests).toHaveLength(1);

    const unmet = new LlmError("invalid_output", "could not satisfy the JSON schema");
    const failed = await extractionFailure(new LlmReader(new RecordedLlm([unmet, unmet, unmet])).read(conversation, context));
    expect(failed.reason).toContain("could not satisfy the JSON schema");
  });
});

// ── Windows ─────────────────────────────────────────────────────────────────────────────────────────────────

const message = (i: number, chars: number, role: ReaderMessage["role"] = "user"): ReaderMessage => ({
  id: `m${i}`,
  role,
  name: null,
  content: `${i}`.padEnd(chars, "."),
  createdAt: minutes(i),
});
const ids = (windowed: ReaderMessage[][]) => windowed.map((w) => w.map((m) => m.id));
const cost = (w: ReaderMessage[]) => w.reduce((sum, m) => sum + m.content.length + MESSAGE_OVERHEAD_CHARS, 0);

describe("windows", () => {
  it("keeps a short conversation whole, and an empty one empty", () => {
    expect(ids(windows(conversation, 6000))).toEqual([["m0", "m1", "m2", "m3", "m4"]]);
    expect(windows([], 6000)).toEqual([]);
  });

  it("splits a long conversation into windows within the budget, overlapping by two messages", () => {
    const messages = Array.from({ length: 20 }, (_, i) => message(i, 200)); // 300 chars each with overhead
    const windowed = windows(messages, 3000);
    expect(ids(windowed)).toEqual([
      ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"],
      ["m8", "m9", "m10", "m11", "m12", "m13", "m14", "m15", "m16", "m17"],
      ["m16", "m17", "m18", "m19"],
    ]);
    expect(windowed.every((w) => cost(w) <= 3000)).toBe(true);
    expect(ids(windows(messages, 3000, 0))).toEqual([0, 10].map((s) => Array.from({ length: 10 }, (_, i) => `m${s + i}`)));
  });

  it("gives an oversized message a window of its own and shrinks the overlap to make room", () => {
    const messages = [message(0, 500), message(1, 500), message(2, 5000), message(3, 500)];
    expect(ids(windows(messages, 2000))).toEqual([["m0", "m1"], ["m2"], ["m3"]]);
    const three = [message(0, 1000), message(1, 1000), message(2, 1000)]; // 1,100 each: two fit, so one overlaps
    expect(ids(windows(three, 2500))).toEqual([["m0", "m1"], ["m1", "m2"]]);
  });

  it("covers every message in order, each window bringing a new one, for any sizes", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let run = 0; run < 50; run++) {
      const messages = Array.from({ length: 1 + Math.floor(random() * 60) }, (_, i) => message(i, Math.floor(random() * 3000)));
      const maxChars = 500 + Math.floor(random() * 6000);
      const windowed = windows(messages, maxChars);
      let seen = -1;
      for (const window of windowed) {
        const indexes = window.map((m) => Number(m.id.slice(1)));
        expect(indexes).toEqual(indexes.map((_, k) => indexes[0]! + k)); // consecutive
        expect(indexes.at(-1)!).toBeGreaterThan(seen); // something new
        expect(seen - indexes[0]! + 1).toBeLessThanOrEqual(2); // overlap ≤ 2
        expect(indexes[0]!).toBeLessThanOrEqual(seen + 1); // no gap
        if (window.length > 1) expect(cost(window)).toBeLessThanOrEqual(maxChars);
        seen = indexes.at(-1)!;
      }
      expect(seen).toBe(messages.length - 1);
    }
  });
});

describe("LlmReader over several windows", () => {
  it("reads each window with only its messages and merges duplicates from the overlap", async () => {
    const messages = Array.from({ length: 12 }, (_, i) => message(i, 400, i % 2 === 0 ? "user" : "assistant")); // 500 each
    const llm = new RecordedLlm((request, index) => {
      const windowIds = [...request.user.matchAll(/"id":"(m\d+)"/g)].map((m) => m[1]!);
      const firstUser = windowIds.find((id) => Number(id.slice(1)) % 2 === 0)!;
      const lastUser = windowIds.filter((id) => Number(id.slice(1)) % 2 === 0).at(-1)!;
      return answer(
        // Every window reports the same statement, worded with different spacing and case.
        memory({ content: index % 2 ? "Alice  lives in Berlin." : "alice lives in berlin. ", message_ids: [firstUser], tags: [`w${windowIds[0]}`] }),
        memory({ content: `Alice said something in ${lastUser}.`, message_ids: [lastUser], key: null }),
      );
    });
    const memories = await new LlmReader(llm, { windowChars: 2500 }).read(messages, context);
    const windowed = windows(messages, 2500);
    expect(windowed.length).toBeGreaterThan(1);
    expect(llm.requests).toHaveLength(windowed.length);
    llm.requests.forEach((request, i) => {
      const sent = [...request.user.matchAll(/"id":"(m\d+)"/g)].map((m) => m[1]);
      expect(sent).toEqual(windowed[i]!.map((m) => m.id));
    });
    const berlin = memories.filter((m) => /berlin/i.test(m.content));
    expect(berlin).toHaveLength(1);
    expect(berlin[0]!.messageIds).toEqual([...new Set(windowed.map((w) => w.find((m) => m.role === "user")!.id))]);
    expect(berlin[0]!.tags).toEqual(windowed.map((w) => `w${w[0]!.id}`));
    // The overlap makes two windows see the same last user message only when a window ends on it; either way
    // every distinct statement appears once.
    const said = memories.filter((m) => m.content.startsWith("Alice said"));
    expect(new Set(said.map((m) => m.content)).size).toBe(said.length);
  });

  it("rejects a window's answer citing a message from another window", async () => {
    const messages = Array.from({ length: 6 }, (_, i) => message(i, 900)); // 1000 each: windows of 2
    // m5 is in the conversation, but not in the first window.
    const llm = new RecordedLlm(() => answer(memory({ message_ids: ["m5"] })));
    const error = await extractionFailure(new LlmReader(llm, { windowChars: 2000 }).read(messages, context));
    expect(error.reason).toContain('"m5" is not one of the message ids given');
  });
});

describe("parseIsoDate", () => {
  it.each([
    ["2024-04-29", Date.UTC(2024, 3, 29)],
    ["2024-05-10T10:00:00Z", Date.UTC(2024, 4, 10, 10)],
    ["2024-05-10T10:00", Date.UTC(2024, 4, 10, 10)],
    ["2024-05-10T10:00:00.000+02:00", Date.UTC(2024, 4, 10, 8)],
    ["2024-02-29", Date.UTC(2024, 1, 29)],
    ["2023-02-29", null],
    ["2024-13-01", null],
    ["yesterday", null],
    ["10/05/2024", null],
    ["2024", null],
    ["", null],
  ])("%s → %s", (input, expected) => {
    expect(parseIsoDate(input)).toBe(expected);
  });
});
