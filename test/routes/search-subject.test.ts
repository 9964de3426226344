import { describe, expect, it } from "vitest";
import { call, newTenant, remember, uniqueUser } from "../helpers";

/** A chat between two people: each name opens about half the turns, so lexical search ranks by neither. */
const TURNS = [
  "Caroline: Wow, Melanie! Family support is huge, family is everything.",
  "Melanie: Thanks! Yesterday was busy at work.",
  "Caroline: Melanie, your family sounds lovely. I miss my family.",
  "Melanie: We went camping by the lake last weekend, the whole family came along and the kids roasted marshmallows all night.",
  "Caroline: Family dinners are the best, Melanie.",
  "Melanie: I read a book about painting.",
  "Caroline: I joined a support group.",
  "Melanie: Running helps me clear my head.",
  "Caroline: My family visited for my birthday.",
  "Melanie: Pottery class was fun.",
];

describe("subject and aspect sub-queries", () => {
  it("ranks the question's words among the memories of the person it names, so theirs reach the top", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const written = await remember(key, user, TURNS.map((content) => ({ content })));
    const camping = written[3]!.id;
    const response = await call("POST", "/v1/search", {
      key,
      body: { user_id: user, query: "What has Melanie done with her family?", top_k: 2, channels: ["lexical"] },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.data.map((m: any) => m.id)).toContain(camping);
    expect(response.body.data.every((m: any) => m.score >= 0 && m.score <= 1)).toBe(true);
  });

  it("adds nothing when the question names no one who opens the cube's memories", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    await remember(key, user, TURNS.map((content) => ({ content })));
    const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "family", top_k: 10, channels: ["lexical"] } });
    expect(response.status).toBe(200);
    // Only memories holding the word: no subject ranking joined fusion to bring in others.
    expect(response.body.data.every((m: any) => /family/i.test(m.content))).toBe(true);
  });

  it("gives each aspect of a question its own ranking, not only the memories that match its rarest word", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    // Every lighthouse memory outranks every ferry memory on "ferry lighthouse" (the rarer word weighs more), so
    // the best ferry memory is fourth in the question's own ranking; ranked alone, "ferry" puts it first.
    const written = await remember(key, user, [
      { content: "The ferry crossing took an hour." },
      ...Array.from({ length: 3 }, (_, i) => ({ content: `Visit ${i}: the lighthouse keeper waved` })),
      ...Array.from({ length: 5 }, (_, i) => ({ content: `Note ${i}: a long list of groceries, bills, errands, chores and the ferry timetable for later` })),
      ...Array.from({ length: 8 }, (_, i) => ({ content: `Weather note ${i}: sunny and windy` })),
    ]);
    const ferry = written[0]!.id;
    const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "ferry lighthouse", top_k: 10, channels: ["lexical"] } });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const hit = response.body.data.find((m: any) => m.id === ferry);
    expect(hit.channel_ranks).toEqual([{ channel: "lexical", rank: 1, score: expect.any(Number) }]);
  });
});
