/**
 * An OpenAI-compatible `/chat/completions` server for tests (the Workers test runtime has no network): it records
 * every request it is sent and answers in OpenAI's shapes, as JSON or as Server-Sent Events with a usage chunk.
 */
export interface RecordedChatRequest {
  url: string;
  authorization: string | null;
  body: {
    model: string;
    messages: { role: string; content: string }[];
    stream?: boolean;
    stream_options?: { include_usage?: boolean };
    max_tokens?: number;
    temperature?: number;
  };
}

export const STAND_IN_BASE_URL = "http://chat-model.test/v1";

export function createChatModelStandIn() {
  const state = {
    requests: [] as RecordedChatRequest[],
    /** The answer's text; streamed in pieces of at most 8 characters. */
    answer: "Bonjour ! Pas de cacahuètes pour vous.",
    /** Answer this status (with an OpenAI error body) instead, while set. */
    failWith: null as number | null,
    cachedTokens: 64,
  };
  const fetch = async (input: string, init: RequestInit): Promise<Response> => {
    const body = JSON.parse(String(init.body)) as RecordedChatRequest["body"];
    state.requests.push({ url: input, authorization: new Headers(init.headers).get("authorization"), body });
    if (state.failWith !== null) {
      return Response.json({ error: { message: "the stand-in is down", type: "server_error" } }, { status: state.failWith });
    }
    const usage = {
      prompt_tokens: body.messages.reduce((n, m) => n + Math.ceil(m.content.length / 4), 0),
      completion_tokens: Math.ceil(state.answer.length / 4),
      total_tokens: 0,
      prompt_tokens_details: { cached_tokens: state.cachedTokens },
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const base = { id: "chatcmpl-standin", created: 1_700_000_000, model: body.model };
    if (!body.stream) {
      return Response.json({
        ...base,
        object: "chat.completion",
        choices: [{ index: 0, message: { role: "assistant", content: state.answer, refusal: null }, finish_reason: "stop", logprobs: null }],
        usage,
      });
    }
    const events: unknown[] = [{ ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] }];
    for (let i = 0; i < state.answer.length; i += 8) {
      events.push({ ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: state.answer.slice(i, i + 8) }, finish_reason: null }] });
    }
    events.push({ ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });
    if (body.stream_options?.include_usage) events.push({ ...base, object: "chat.completion.chunk", choices: [], usage });
    const text = events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + "data: [DONE]\n\n";
    // Split mid-event, as a network would, so the reader's buffering is exercised.
    const bytes = new TextEncoder().encode(text);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 37) controller.enqueue(bytes.slice(i, i + 37));
        controller.close();
      },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream" } });
  };
  return { state, fetch };
}
