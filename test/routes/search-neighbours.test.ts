import { describe, expect, it } from "vitest";
import { call, newTenant, remember, uniqueUser } from "../helpers";

/** One session of a chat: the question's word is in the turn asking, the answer is the next turn. */
const SESSION = [
  "Caroline: The weather was lovely all week.",
  "Caroline: What do you do to unwind after work, Melanie?",
  "Melanie: Pottery, mostly. Clay calms me down.",
  "Caroline: Nice, I should try it.",
];

const message = (i: number) => `S1:${i}`;

async function chat(key: string, user: string, extra: object[] = []) {
  return remember(key, user, [
    ...SESSION.map((content, i) => ({ content, session_id: "s1", source: { kind: "user_input", message_ids: [message(i)] } })),
    ...extra,
  ]);
}

describe("neighbour context of the best hits", () => {
  it("returns the memories before and after a top hit in its session, with their message ids, and counts their tokens", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const written = await chat(key, user, [{ content: "A note about the garden." }]);
    const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "unwind", top_k: 1, channels: ["lexical"] } });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const [hit] = response.body.data;
    expect(hit.id).toBe(written[1]!.id);
    expect(hit.neighbours).toEqual([
      { id: written[0]!.id, content: SESSION[0], message_ids: [message(0)], position: "before" },
      { id: written[2]!.id, content: SESSION[2], message_ids: [message(2)], position: "after" },
    ]);
    const tokens = [SESSION[1]!, SESSION[0]!, SESSION[2]!].reduce((sum, text) => sum + Math.ceil(text.length / 4), 0);
    expect(response.body.context_tokens).toBe(tokens);
  });

  it("gives no neighbour that is itself a hit, and none outside a session", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const written = await chat(key, user, [{ content: "Lunch: pottery and clay shop nearby, unwind there" }]);
    const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "pottery clay unwind", top_k: 4, channels: ["lexical"] } });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const byId = new Map(response.body.data.map((hit: any) => [hit.id, hit]));
    const returned = new Set(response.body.data.map((hit: any) => hit.id));
    const neighbourIds = response.body.data.flatMap((hit: any) => (hit.neighbours ?? []).map((n: any) => n.id));
    expect(neighbourIds.every((id: string) => !returned.has(id))).toBe(true);
    expect((byId.get(written[4]!.id) as any)?.neighbours).toBeUndefined();
  });

  it("gives hits below the best two their neighbours while the page stays within its context budget", async () => {
    const { key } = await newTenant();
    // "kayak" is said three times, far apart in one session, so each of the three hits has neighbours of its own.
    const session = (filler: string) =>
      Array.from({ length: 13 }, (_, i) => (i % 4 === 2 ? `Melanie: We took the kayak out, turn ${i}.${filler}` : `Caroline: small talk number ${i}.`));
    const search = async (filler: string) => {
      const user = uniqueUser();
      await remember(key, user, session(filler).map((content) => ({ content, session_id: "s1" })));
      const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "kayak", top_k: 3, channels: ["lexical"] } });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return response.body.data as { content: string; neighbours?: unknown[] }[];
    };
    // Short turns: the page and every neighbour fit in NEIGHBOUR_CONTEXT_TOKENS (500), so the third hit has context too.
    const short = await search("");
    expect(short.map((hit) => hit.neighbours?.length ?? 0)).toEqual([2, 2, 2]);
    // Three hits of ~190 tokens each fill the budget: context stays with the best two.
    const long = await search(` ${"we paddled along the quiet river bank ".repeat(19)}`);
    expect(long.reduce((sum, hit) => sum + Math.ceil(hit.content.length / 4), 0)).toBeGreaterThan(500);
    expect(long.map((hit) => hit.neighbours?.length ?? 0)).toEqual([2, 2, 0]);
  });

  it("gives the third hit its neighbours when the page reaches exactly NEIGHBOUR_CONTEXT_TOKENS, and none one token past it", async () => {
    const { key } = await newTenant();
    // Three "kayak" turns (2, 6, 10) far apart in one session, each padded to a given length (hits of like length keep
    // the neighbours' context column from outranking them); every neighbour is a small-talk turn of 30–31 characters,
    // 8 tokens, so the page costs its hits' tokens plus 16 per hit given context, whatever the ranks.
    const turns = (hitChars: Record<number, number>) =>
      Array.from({ length: 13 }, (_, i) =>
        i % 4 === 2
          ? `Melanie: We took the kayak out, turn ${i}. ${"we paddled along the quiet river bank ".repeat(20)}`.slice(0, hitChars[i])
          : `Caroline: small talk number ${i}.`,
      );
    const search = async (hitChars: Record<number, number>) => {
      const user = uniqueUser();
      await remember(key, user, turns(hitChars).map((content) => ({ content, session_id: "s1" })));
      const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "kayak", top_k: 3, channels: ["lexical"] } });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      const data = response.body.data as { content: string; neighbours?: { content: string }[] }[];
      const hitTokens = data.reduce((sum, hit) => sum + Math.ceil(hit.content.length / 4), 0);
      return { data, hitTokens, contextTokens: response.body.context_tokens as number };
    };
    // 150 + 151 + 151 tokens of hits and three hits' neighbours (48): exactly 500.
    const at = await search({ 2: 600, 6: 604, 10: 604 });
    expect(at.hitTokens).toBe(452);
    expect(at.data.map((hit) => hit.neighbours?.length ?? 0)).toEqual([2, 2, 2]);
    expect(at.contextTokens).toBe(500);
    // Four characters more is one token more: the third hit's neighbours would make 501, so it gets none.
    const past = await search({ 2: 600, 6: 604, 10: 608 });
    expect(past.hitTokens).toBe(453);
    expect(past.data.map((hit) => hit.neighbours?.length ?? 0)).toEqual([2, 2, 0]);
    expect(past.contextTokens).toBe(453 + 32);
  });

  it("leaves out a neighbour the request's filter excludes", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const written = await chat(key, user);
    const forgotten = await call("DELETE", `/v1/memories/${written[2]!.id}`, { key, body: { user_id: user } });
    expect(forgotten.status, JSON.stringify(forgotten.body)).toBeLessThan(300);
    const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "unwind", top_k: 1, channels: ["lexical"] } });
    expect(response.status).toBe(200);
    // The forgotten answer is skipped: the next live memory of the session stands after the hit.
    expect(response.body.data[0].neighbours.map((n: any) => n.id)).toEqual([written[0]!.id, written[3]!.id]);
  });

  it("returns at most the first 1,000 characters of a long neighbour", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const long = `Caroline: ${"a long story about the garden ".repeat(100)}`;
    const written = await remember(key, user, [
      { content: long, session_id: "s2" },
      { content: "Melanie: What a trip to Lisbon that was.", session_id: "s2" },
    ]);
    const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "Lisbon", top_k: 1, channels: ["lexical"] } });
    expect(response.status).toBe(200);
    expect(response.body.data[0].neighbours).toEqual([{ id: written[0]!.id, content: long.slice(0, 1000), message_ids: [], position: "before" }]);
  });
  it("returns none when the request says neighbours: false, and none in a point-in-time search", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    await chat(key, user);
    const query = { user_id: user, query: "unwind", top_k: 1, channels: ["lexical"] };
    const off = await call("POST", "/v1/search", { key, body: { ...query, neighbours: false } });
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    expect(off.body.data[0].neighbours).toBeUndefined();
    expect(off.body.context_tokens).toBe(Math.ceil(SESSION[1]!.length / 4));
    // as_of answers with memories as they stood then; a neighbour would be today's text, so none is given.
    const then = await call("POST", "/v1/search", { key, body: { ...query, as_of: new Date().toISOString() } });
    expect(then.status, JSON.stringify(then.body)).toBe(200);
    expect(then.body.data).toHaveLength(1);
    expect(then.body.data[0].neighbours).toBeUndefined();
    const on = await call("POST", "/v1/search", { key, body: query });
    expect(on.body.data[0].neighbours).toHaveLength(2);
  });

  it("refuses a neighbours flag that is not a boolean with 400 and the one error shape", async () => {
    const { key } = await newTenant();
    const response = await call("POST", "/v1/search", { key, body: { user_id: uniqueUser(), query: "x", neighbours: "no" } });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBeTypeOf("string");
  });
  it("over several cubes, only the answer's best two results keep their neighbours, and only they count in context_tokens", async () => {
    const { key } = await newTenant(["read", "write", "admin"]);
    // One long session per cube; "kayak" is said twice, far apart, so each cube's best two hits have neighbours of their own.
    const turns = Array.from({ length: 12 }, (_, i) => (i === 3 || i === 9 ? `Melanie: We took the kayak out, turn ${i}.` : `Caroline: small talk number ${i}.`));
    const longChat = (user: string) => remember(key, user, turns.map((content) => ({ content, session_id: "s1" })));
    const [first] = await longChat(uniqueUser());
    const [second] = await longChat(uniqueUser());
    const response = await call("POST", "/v1/search", {
      key,
      body: { cube_ids: [first!.cube_id, second!.cube_id], query: "kayak", top_k: 3, channels: ["lexical"] },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const data = response.body.data as { content: string; neighbours?: { content: string }[] }[];
    expect(data).toHaveLength(3);
    // Each cube gave its own best two their neighbours: three results had them before the answer kept its best two.
    expect(data.map((hit) => hit.neighbours !== undefined)).toEqual([true, true, false]);
    const tokens = (text: string) => Math.ceil(text.length / 4);
    const expected = data.reduce((sum, hit) => sum + tokens(hit.content) + (hit.neighbours ?? []).reduce((n, nb) => n + tokens(nb.content), 0), 0);
    expect(response.body.context_tokens).toBe(expected);
  });
});
