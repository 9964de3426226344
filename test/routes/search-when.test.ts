import { describe, expect, it } from "vitest";
import { call, newTenant, remember, uniqueUser } from "../helpers";

/**
 * A question asking "when" ranks the vector channel's candidates again among those that state a time
 * (cube/search-when.ts). "When was Nadia born?" has one content word; to a sentence vector built from words, "born" is
 * nearer "father" than "birthday", and "when", which says a date is wanted, is a stopword.
 */
const MEMORIES = [
  "Nadia's father is a retired teacher.",
  "Nadia's birthday is November 22.",
  "Nadia works in a hospital pharmacy.",
  "Nadia grew up near the coast.",
  "Nadia keeps her photos backed up in the cloud.",
  "Nadia said thanks.",
].map((content) => ({ content, type: "fact" }));

async function cube() {
  const { key } = await newTenant();
  const user = uniqueUser();
  const written = await remember(key, user, MEMORIES);
  return { key, user, ids: written.map((m: any) => m.id as string) };
}

const search = (key: string, body: object) => call("POST", "/v1/search", { key, body: { top_k: 6, ...body } });

describe("questions asking when", () => {
  it("put the memory stating a time first, where the same words not asking when do not", async () => {
    const { key, user, ids } = await cube();
    // The same content words ("was" and "when" are stopwords): the same vector, the same lexical matches.
    const plain = await search(key, { user_id: user, query: "Was Nadia born?" });
    expect(plain.status, JSON.stringify(plain.body)).toBe(200);
    expect(plain.body.data[0].id).not.toBe(ids[1]);
    const when = await search(key, { user_id: user, query: "When was Nadia born?" });
    expect(when.status, JSON.stringify(when.body)).toBe(200);
    expect(when.body.data[0].id).toBe(ids[1]);
    // Nothing is filtered out, and scores stay in [0, 1].
    expect(new Set(when.body.data.map((m: any) => m.id))).toEqual(new Set(plain.body.data.map((m: any) => m.id)));
    expect(when.body.data.every((m: any) => m.score >= 0 && m.score <= 1)).toBe(true);
  });

  it("changes nothing when no candidate states a time, or when the vector channel is not asked", async () => {
    // A search counts as a read of its hits, which moves the next search's scores: each search gets a cube of its own.
    const withoutTimes = async (query: string, extra: object = {}) => {
      const { key, user, ids } = await cube();
      expect((await call("DELETE", `/v1/memories/${ids[1]}`, { key })).status).toBe(200);
      const found = await search(key, { user_id: user, query, ...extra });
      expect(found.status, JSON.stringify(found.body)).toBe(200);
      return found.body.data.map((m: any) => ids.indexOf(m.id));
    };
    expect(await withoutTimes("When was Nadia born?")).toEqual(await withoutTimes("Was Nadia born?"));

    const lexicalOnly = async (query: string) => {
      const { key, user, ids } = await cube();
      const found = await search(key, { user_id: user, query, channels: ["lexical"] });
      expect(found.status, JSON.stringify(found.body)).toBe(200);
      return found.body.data.map((m: any) => ids.indexOf(m.id));
    };
    expect(await lexicalOnly("When was Nadia born?")).toEqual(await lexicalOnly("Was Nadia born?"));
  });
});
