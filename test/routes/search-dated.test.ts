import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/schemas/limits";
import { call, newTenant, remember, uniqueUser } from "../helpers";

/**
 * A question that names a time ranks its words again among the memories of that time (cube/search-dated.ts). The
 * short August memory is the best lexical match for "painting … Melanie … Caroline"; the long October one only
 * the memory of the day the question names.
 */
const MEMORIES = [
  { content: "Melanie showed Caroline her painting.", valid_at: "2023-08-01T14:00:00Z" },
  {
    content: "Melanie: Here is one I did recently, inspired by the sunsets over the lake; the painting makes me feel calm and happy.",
    valid_at: "2023-10-13T19:30:00Z",
  },
  { content: "Caroline went to a poetry reading at the library.", valid_at: "2023-10-13T19:35:00Z" },
  { content: "Caroline adopted a dog from the shelter.", valid_at: "2023-09-02T10:00:00Z" },
  { content: "Melanie ran a charity race for mental health.", valid_at: "2023-06-20T08:00:00Z" },
  { content: "Caroline joined a support group.", valid_at: "2023-05-08T18:00:00Z" },
];

async function cube() {
  const { key } = await newTenant();
  const user = uniqueUser();
  const written = await remember(key, user, MEMORIES);
  return { key, user, ids: written.map((m: any) => m.id as string) };
}

const search = (key: string, body: object) => call("POST", "/v1/search", { key, body: { top_k: 3, channels: ["lexical"], ...body } });

describe("dated questions", () => {
  it("ranks the memories of the day a question names first among those sharing its words", async () => {
    const { key, user, ids } = await cube();
    const undated = await search(key, { user_id: user, query: "What painting did Melanie show to Caroline?" });
    expect(undated.status, JSON.stringify(undated.body)).toBe(200);
    // Without a time, the short August memory is the better match.
    expect(undated.body.data[0].id).toBe(ids[0]);
    const dated = await search(key, { user_id: user, query: "What painting did Melanie show to Caroline on October 13, 2023?" });
    expect(dated.status, JSON.stringify(dated.body)).toBe(200);
    expect(dated.body.data[0].id).toBe(ids[1]);
    // Nothing is filtered out: the August memory still comes back, and scores stay in [0, 1].
    expect(dated.body.data.map((m: any) => m.id)).toContain(ids[0]);
    expect(dated.body.data.every((m: any) => m.score >= 0 && m.score <= 1)).toBe(true);
  });

  it("resolves a relative time against the search's reference time", async () => {
    const { key, user, ids } = await cube();
    // 20 October 2023 is a Friday: "last week" is Monday 9 – Sunday 15 October, which holds the 13th.
    const dated = await search(key, { user_id: user, query: "What painting did Melanie show to Caroline last week?", reference_time: "2023-10-20T12:00:00Z" });
    expect(dated.status, JSON.stringify(dated.body)).toBe(200);
    expect(dated.body.data[0].id).toBe(ids[1]);
    // A week later, "last week" holds no memory: the question ranks as the same question naming no time.
    const later = { reference_time: "2023-10-27T12:00:00Z", top_k: 6 };
    const lastWeek = await search(key, { user_id: user, query: "What painting did Melanie show to Caroline last week?", ...later });
    const undated = await search(key, { user_id: user, query: "What painting did Melanie show to Caroline?", ...later });
    expect(lastWeek.status).toBe(200);
    expect(lastWeek.body.data.map((m: any) => m.id)).toEqual(undated.body.data.map((m: any) => m.id));
  });

  it("answers a query of dates at exactly the size limit, and refuses one byte more without a 500", async () => {
    const { key, user, ids } = await cube();
    const phrase = "painting on October 13, 2023 and ";
    const atLimit = phrase.repeat(Math.ceil(LIMITS.queryBytes / phrase.length)).slice(0, LIMITS.queryBytes);
    expect(new TextEncoder().encode(atLimit).length).toBe(LIMITS.queryBytes);
    const response = await search(key, { user_id: user, query: atLimit });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.data[0].id).toBe(ids[1]);
    const over = await search(key, { user_id: user, query: `${atLimit}x` });
    expect(over.status).toBe(400);
    expect(over.body.error.code).toBeDefined();
  });

  it("treats an impossible date as no date", async () => {
    const { key, user, ids } = await cube();
    const response = await search(key, { user_id: user, query: "What painting did Melanie show to Caroline on 2023-02-31?" });
    expect(response.status).toBe(200);
    expect(response.body.data[0].id).toBe(ids[0]);
  });
});
