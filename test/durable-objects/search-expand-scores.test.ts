/**
 * The expanded lexical ranking (cube/search.ts, expandedBest) scores only the memories its added words match and
 * keeps the rest at their scores for the question's own words. It must still be the true best of the whole
 * expanded query: these tests rank both ways over a cube where more memories match than the ranking keeps.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BM25_WEIGHTS, CubeSearch } from "../../durable-objects/cube/search";
import { CubeStore } from "../../durable-objects/cube/store";
import { VectorStore } from "../../durable-objects/cube/vector-store";
import { matchAny } from "../../src/core/fts-query";
import { cubeObjectName } from "../../src/core/ids";
import { newTenant, remember, uniqueUser } from "../helpers";

/** Varied memories: a third to a half hold each query word, a seventh the added word, at many lengths. */
function content(i: number): string {
  const words = [i % 2 === 0 ? "alpha" : "", i % 3 === 0 ? "beta" : "", i % 7 === 0 ? "gamma" : "", i % 11 === 0 ? "alpha" : ""];
  for (let j = 0; j < (i * 7) % 13; j++) words.push(`filler${(i + j) % 17}`);
  return `${words.filter(Boolean).join(" ")} note ${i}`;
}

describe("the expanded lexical ranking", () => {
  it("is the best of the whole expanded query, without ranking its question's words twice", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    let first: any;
    for (let batch = 0; batch < 5; batch++) {
      const written = await remember(key, user, Array.from({ length: 100 }, (_, i) => ({ content: content(batch * 100 + i) })));
      first ??= written[0];
    }
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, first.cube_id));
    const { expanded, whole } = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      const searcher = new CubeSearch(sql, new CubeStore(sql), new VectorStore(sql));
      const expanded = searcher["expandedBest"](["alpha", "beta"], ["gamma"])!;
      const whole = new Map(
        sql
          .exec(
            `SELECT rowid, bm25(memories_fts, ${BM25_WEIGHTS.join(", ")}) AS score FROM memories_fts WHERE memories_fts MATCH ?`,
            matchAny(["alpha", "beta", "gamma"])!,
          )
          .toArray()
          .map((row) => [Number(row.rowid), Number(row.score)]),
      );
      return { expanded, whole };
    });
    // More memories match than the ranking keeps, so the cut matters.
    expect(whole.size).toBeGreaterThan(300);
    expect(expanded).toHaveLength(300);
    const scores = expanded.map((rowid) => whole.get(rowid)!);
    scores.forEach((score, i) => {
      expect(score).toBeDefined();
      if (i > 0) expect(score).toBeGreaterThanOrEqual(scores[i - 1]! - 1e-9);
    });
    // Nothing left out scores better than the last one kept (BM25 here: lower is better).
    const kept = new Set(expanded);
    const bestLeftOut = Math.min(...[...whole].filter(([rowid]) => !kept.has(rowid)).map(([, score]) => score));
    expect(bestLeftOut).toBeGreaterThanOrEqual(scores.at(-1)! - 1e-9);
  }, 120_000);
});
