/**
 * The lexical channel's strengths (cube/lexical-coverage.ts): a memory matching every ranked word of the query counts
 * fully, one matching a single word of several counts for that word's IDF-weighted share (issue 12: partial word
 * matches outvoted the vector channel's nearest meaning).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { lexicalCoverage } from "../../durable-objects/cube/lexical-coverage";
import { TermStats } from "../../durable-objects/cube/term-stats";
import { cubeObjectName } from "../../src/core/ids";
import { matchAny } from "../../src/core/fts-query";
import { newTenant, remember, uniqueUser } from "../helpers";

describe("lexical coverage", () => {
  it("is the IDF-weighted share of the query's words a memory contains, stemmed like the index", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const [both, school, little, none] = await remember(key, user, [
      { content: "The little school by the river closed." },
      { content: "Priya teaches chemistry at a high school." },
      { content: "Priya gets migraines when she sleeps too little." },
      { content: "Priya adopted a grey cat." },
    ]);
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, both.cube_id));
    const coverage = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      const stats = new TermStats(sql);
      stats.use(0);
      const index = {
        sql,
        documents: 4,
        documentCount: (term: string) => stats.documentCount(matchAny([term])!),
        postings: (term: string) => stats.postings(matchAny([term])!),
      };
      return {
        two: lexicalCoverage(index, [both.id, school.id, little.id, none.id], ["schools", "little"]),
        one: lexicalCoverage(index, [school.id], ["school"]),
      };
    });
    // "schools" meets "school" through the porter stemmer; both words are in two memories, so they weigh the same.
    expect(coverage.two![0]).toBeCloseTo(1, 6);
    expect(coverage.two![1]).toBeCloseTo(0.5, 6);
    expect(coverage.two![2]).toBeCloseTo(0.5, 6);
    // A candidate matching no ranked word (found through archived text) keeps full strength.
    expect(coverage.two![3]).toBe(1);
    // One word: nothing to weigh, every candidate counts fully.
    expect(coverage.one).toBeNull();
  }, 30_000);

  it("reads the seqs of only the candidates the filter verdicts have not read (the same strengths either way)", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const memories = await remember(key, user, [
      { content: "The little school by the river closed." },
      { content: "Priya teaches chemistry at a high school." },
      { content: "Priya gets migraines when she sleeps too little." },
    ]);
    const ids = memories.map((m) => m.id);
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, memories[0].cube_id));
    const runs = await runInDurableObject(stub, (_instance, state) => {
      const seqOf = new Map(
        state.storage.sql
          .exec("SELECT seq, id FROM memories")
          .toArray()
          .map((row) => [String(row.id), Number(row.seq)]),
      );
      const stats = new TermStats(state.storage.sql);
      stats.use(0);
      /** Coverage with `known` ids' seqs given, and the id lists the seq look-up was asked for. */
      const run = (known: readonly string[]) => {
        const asked: string[][] = [];
        const sql = {
          exec: (query: string, ...params: SqlStorageValue[]) => {
            if (query.startsWith("SELECT seq, id FROM memories")) asked.push(JSON.parse(String(params[0])) as string[]);
            return state.storage.sql.exec(query, ...params);
          },
        } as unknown as SqlStorage;
        const index = {
          sql,
          documents: 3,
          documentCount: (term: string) => stats.documentCount(matchAny([term])!),
          postings: (term: string) => stats.postings(matchAny([term])!),
          knownSeq: (id: string) => (known.includes(id) ? seqOf.get(id) : undefined),
        };
        return { strengths: lexicalCoverage(index, ids, ["school", "little"]), asked };
      };
      return { none: run([]), some: run([ids[0]!, ids[2]!]), all: run(ids) };
    });
    expect(runs.none.asked).toEqual([ids]);
    expect(runs.some.asked).toEqual([[ids[1]]]);
    expect(runs.all.asked).toEqual([]);
    expect(runs.some.strengths).toEqual(runs.none.strengths);
    expect(runs.all.strengths).toEqual(runs.none.strengths);
    expect(runs.none.strengths![1]).toBeCloseTo(0.5, 6);
  }, 30_000);
});
