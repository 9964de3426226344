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
});
