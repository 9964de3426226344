/**
 * Search keeps the cube's FTS statistics (document counts, posting lists) between searches while the cube stands
 * still (cube/term-stats.ts). A warm search must answer exactly what a cold one does after any change: these tests
 * warm the statistics, change the cube through the API, and compare the fusion breakdown with that of an evicted
 * (cold) object. Without the invalidation the warm answer keeps the old posting lists and differs. (Forgetting keeps
 * a memory's FTS row — statistics count memories in any state — so it changes no statistic; the generation still
 * moves and drops them.)
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BM25_WEIGHTS, TermStats, holds, integers } from "../../durable-objects/cube/term-stats";
import { matchAny } from "../../src/core/fts-query";
import { cubeObjectName } from "../../src/core/ids";
import { call, newTenant, remember, uniqueUser } from "../helpers";

const QUERY = "alpha beta";
const FILLER = ["gamma one", "gamma two", "gamma three", "gamma four", "gamma five", "gamma six"];

/** Each hit's fusion breakdown (channel ranks and shares): unlike the score, it does not move with access counts. */
async function breakdown(key: string, user: string) {
  const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: QUERY, top_k: 10, channels: ["lexical"] } });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return Object.fromEntries(response.body.data.map((hit: any) => [hit.content, hit.channel_ranks]));
}

async function setUp() {
  const { key, tenantId } = await newTenant();
  const user = uniqueUser();
  const written = await remember(key, user, [
    { content: "alpha beta first" },
    { content: "alpha second" },
    { content: "beta third" },
    ...FILLER.map((content) => ({ content })),
  ]);
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, written[0].cube_id));
  // Warm: the statistics of both words are now held by the object.
  await breakdown(key, user);
  return { key, user, written, stub };
}

async function coldBreakdown(stub: DurableObjectStub, key: string, user: string) {
  await evictDurableObject(stub);
  return breakdown(key, user);
}

describe("term statistics between searches", () => {
  it("are dropped when a memory is written", async () => {
    const { key, user, stub } = await setUp();
    await remember(key, user, [{ content: "alpha fourth" }]);
    const warm = await breakdown(key, user);
    expect(warm["alpha fourth"]).toBeDefined();
    expect(warm).toEqual(await coldBreakdown(stub, key, user));
  }, 60_000);

  it("are dropped when a memory is updated", async () => {
    const { key, user, written, stub } = await setUp();
    const updated = await call("PATCH", `/v1/memories/${written[1].id}`, { key, body: { content: "alpha beta second" } });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    const warm = await breakdown(key, user);
    expect(warm["alpha beta second"]).toBeDefined();
    expect(warm).toEqual(await coldBreakdown(stub, key, user));
  }, 60_000);

  it("hold a word's memories in ascending order, with its count, and start over with the generation", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const written = await remember(key, user, [{ content: "delta one" }, { content: "epsilon" }, { content: "deltas two" }]);
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, written[0].cube_id));
    const seen = await runInDurableObject(stub, (_instance, state) => {
      const stats = new TermStats(state.storage.sql);
      const match = matchAny(["delta"])!;
      stats.use(1);
      const before = [...stats.postings(match)];
      const count = stats.documentCount(match);
      const seqs = state.storage.sql.exec("SELECT seq FROM memories ORDER BY seq").toArray().map((row) => Number(row.seq));
      const setContent = (content: string) => state.storage.sql.exec("UPDATE memories SET content = ? WHERE seq = ?", content, seqs[1]!);
      setContent("delta epsilon");
      const sameGeneration = [...stats.postings(match)];
      stats.use(2);
      const after = [...stats.postings(match)];
      setContent("epsilon");
      return { seqs, before, count, sameGeneration, after };
    });
    // "deltas" meets "delta" through the porter stemmer; "epsilon" does not.
    expect(seen.before).toEqual([seen.seqs[0], seen.seqs[2]]);
    expect(seen.count).toBe(2);
    expect(seen.sameGeneration).toEqual(seen.before);
    expect(seen.after).toEqual(seen.seqs);
    expect(holds(Float64Array.from(seen.before), seen.seqs[2]!)).toBe(true);
    expect(holds(Float64Array.from(seen.before), seen.seqs[1]!)).toBe(false);
  }, 60_000);

  it("hold posting lists up to their entry budget exactly, and start over one entry past it", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const written = await remember(key, user, [
      { content: "kappa lambda" },
      { content: "kappa lambda" },
      { content: "kappa mu" },
    ]);
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, written[0].cube_id));
    const seen = await runInDurableObject(stub, (_instance, state) => {
      let queries = 0;
      const sql = { exec: (query: string, ...bindings: unknown[]) => (queries++, state.storage.sql.exec(query, ...bindings)) } as SqlStorage;
      /** How many SQL queries asking for these words' lists takes. */
      const ask = (stats: TermStats, ...words: string[]) => {
        const before = queries;
        for (const word of words) stats.postings(matchAny([word])!);
        return queries - before;
      };
      // kappa 3 + lambda 2 = 5 entries: exactly a budget of 5, so both stay held.
      const atCap = new TermStats(sql, 5);
      atCap.use(1);
      const first = ask(atCap, "kappa", "lambda");
      const again = ask(atCap, "kappa", "lambda");
      // mu's one entry would make 6: every held list is dropped, mu is held, kappa and lambda are read again.
      const past = ask(atCap, "mu");
      const muAgain = ask(atCap, "mu");
      const reread = ask(atCap, "kappa", "lambda");
      // A list longer than the whole budget is held alone.
      const tiny = new TermStats(sql, 2);
      tiny.use(1);
      const longList = [ask(tiny, "kappa"), ask(tiny, "kappa")];
      return { first, again, past, muAgain, reread, longList, kappa: [...atCap.postings(matchAny(["kappa"])!)] };
    });
    expect(seen).toMatchObject({ first: 2, again: 0, past: 1, muAgain: 0, reread: 2, longList: [1, 0] });
    expect(seen.kappa).toHaveLength(3);
  }, 60_000);
  it("hold each phrase's BM25 shares to the bit, as integers in their range and as text outside it", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    // "omega" is in every memory (FTS5 floors its idf at 1e-6) and one memory is ~30 times the average length: its
    // omega share falls below 2^-22, where the integer halves would lose bits. "sigma" shares are ordinary.
    const written = await remember(key, user, [
      { content: `omega sigma ${"f ".repeat(4000)}` },
      ...Array.from({ length: 30 }, (_, i) => ({ content: `omega note ${i}${i % 3 === 0 ? " sigma" : ""}` })),
    ]);
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, written[0].cube_id));
    const seen = await runInDurableObject(stub, (_instance, state) => {
      let queries = 0;
      const sql = { exec: (query: string, ...bindings: unknown[]) => (queries++, state.storage.sql.exec(query, ...bindings)) } as SqlStorage;
      const stats = new TermStats(sql);
      stats.use(1);
      return ["omega", "sigma"].map((word) => {
        const match = matchAny([word])!;
        const before = queries;
        const held = stats.phraseScores(match);
        const asked = queries - before;
        const rows = state.storage.sql
          .exec(`SELECT rowid, bm25(memories_fts, ${BM25_WEIGHTS.join(", ")}) AS score FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rowid`, match)
          .toArray();
        return {
          word,
          asked,
          held: { seqs: [...held.seqs], scores: [...held.scores] },
          fts: { seqs: rows.map((row) => Number(row.rowid)), scores: rows.map((row) => row.score as number) },
        };
      });
    });
    const [omega, sigma] = seen;
    // The text path was taken (a second query) for omega only, and its smallest share is really out of range.
    expect(omega!.asked).toBe(2);
    expect(Math.min(...omega!.fts.scores.map(Math.abs))).toBeLessThan(2 ** -22);
    expect(sigma!.asked).toBe(1);
    expect(sigma!.fts.seqs).toHaveLength(11);
    for (const { word, held, fts } of seen) {
      expect(held.seqs, word).toEqual(fts.seqs);
      // Compared as bit patterns: toEqual on doubles alone would accept -0 for 0 but nothing coarser either.
      expect(held.scores.map((x) => new Float64Array([x]).buffer).map((b) => new BigUint64Array(b)[0]), word).toEqual(
        fts.scores.map((x) => new Float64Array([x]).buffer).map((b) => new BigUint64Array(b)[0]),
      );
    }
  }, 60_000);
});

describe("integer lists as group_concat prints them", () => {
  it("are read exactly: signs, zero, one value, and the largest integers a double holds", () => {
    const values = [0, 7, -7, 12, -4_294_967_296, 2 ** 53 - 1, -(2 ** 53 - 1), 17_592_186_044_415, 1];
    const read = integers(values.join(","));
    expect(Array.from(read)).toEqual(values);
    expect(Array.from(integers("42"))).toEqual([42]);
    // What Number() made of each piece before, bit for bit, over a long list like a common word's.
    const long = Array.from({ length: 5_000 }, (_, i) => (i % 2 === 0 ? -1 : 1) * ((i * 2_654_435_761) % 2 ** 44)).join(",");
    expect(Array.from(integers(long))).toEqual(long.split(",").map(Number));
  });

  it("refuse anything that is not one", () => {
    for (const text of ["1,2.5", "1, 2", "1e3", "x"]) expect(() => integers(text), text).toThrow(/not an integer list/);
  });
});

