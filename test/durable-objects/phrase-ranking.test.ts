/**
 * BM25 rankings summed from per-phrase scores (cube/phrase-ranking.ts, kept per generation by cube/term-stats.ts)
 * must be FTS5's own: the same rows, the same scores to the bit, the same order (ties aside), for every form of
 * expression search builds — the question's words, the expanded query, a subject sub-query — over a cube where more
 * memories match than a ranking keeps, so the cut matters too.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DENSE_SEQS_MAX, type PhraseScores, type ScoredRow, bestMatches, parsePhrases } from "../../durable-objects/cube/phrase-ranking";
import { BM25_WEIGHTS, TermStats } from "../../durable-objects/cube/term-stats";
import { matchAny } from "../../src/core/fts-query";
import { cubeObjectName } from "../../src/core/ids";
import { opensWith, subjectQuery } from "../../src/core/subject";
import { newTenant, remember, uniqueUser } from "../helpers";

/** Varied memories: a third to a half hold each query word, a seventh the added word, at many lengths. */
function content(i: number): string {
  const opener = i % 5 === 0 ? "Alpha:" : i % 5 === 1 ? "Delta:" : "";
  const words = [opener, i % 2 === 0 ? "alpha" : "", i % 3 === 0 ? "beta" : "", i % 7 === 0 ? "gamma" : "", i % 11 === 0 ? "alpha" : ""];
  for (let j = 0; j < (i * 7) % 13; j++) words.push(`filler${(i + j) % 17}`);
  return `${words.filter(Boolean).join(" ")} note ${i}`;
}

const LIMIT = 300;

describe("phrase expressions", () => {
  it("are split into the groups of one-phrase expressions search builds", () => {
    expect(parsePhrases(matchAny(["alpha", "beta"])!)).toEqual([['"alpha"', '"beta"']]);
    expect(parsePhrases(opensWith("alpha"))).toEqual([['{content} : (^"alpha")']]);
    expect(parsePhrases(subjectQuery(["alpha", "delta"], ["beta", "gamma"])!)).toEqual([
      ['{content} : (^"alpha")', '{content} : (^"delta")'],
      ['"beta"', '"gamma"'],
    ]);
    expect(parsePhrases(matchAny(["alpha"], "tags")!)).toEqual([['{tags} : ("alpha")']]);
  });

  it("of other forms are left to FTS5", () => {
    for (const expression of ['"alpha" NOT "beta"', '"alpha beta"', "alpha", 'NEAR("a" "b")', '"a" OR', "(\"a\") AND (\"b\"", '"a*"']) {
      expect(parsePhrases(expression), expression).toBeNull();
    }
  });
});

/** A phrase's list over seqs `from`, `from + step`, … with made-up shares. */
function list(from: number, step: number, count: number, salt: number): PhraseScores {
  const seqs = Float64Array.from({ length: count }, (_, i) => from + i * step);
  return { seqs, scores: Float64Array.from(seqs, (seq) => -(((seq * salt) % 97) + 1) / 7) };
}

/**
 * The ranking summed the plainest way, as the reference: every row's shares added in group and phrase order (FTS5's
 * order), kept when every group matched, best first, ties by seq.
 */
function reference(groups: readonly (readonly PhraseScores[])[], limit: number): ScoredRow[] {
  const rows = new Map<number, { score: number; groups: Set<number> }>();
  groups.forEach((group, g) =>
    group.forEach(({ seqs, scores }) =>
      seqs.forEach((seq, i) => {
        const row = rows.get(seq) ?? { score: 0, groups: new Set<number>() };
        row.score += scores[i]!;
        row.groups.add(g);
        rows.set(seq, row);
      }),
    ),
  );
  return [...rows]
    .filter(([, row]) => row.groups.size === groups.length)
    .map(([rowid, row]) => ({ rowid, score: row.score }))
    .sort((a, b) => a.score - b.score || a.rowid - b.rowid)
    .slice(0, limit);
}

/** Each score's 64 bits, so a comparison tells a last-bit difference (and -0 from 0). */
const bits = (rows: readonly ScoredRow[]) => rows.map(({ rowid, score }) => `${rowid}:${new BigUint64Array(Float64Array.of(score).buffer)[0]}`);

describe("rankings summed from phrase scores", () => {
  it("are bit for bit the same at DENSE_SEQS_MAX (arrays) and one seq past it (the Map)", () => {
    // Lists whose largest seq makes the sum arrays exactly DENSE_SEQS_MAX long, then one longer.
    for (const largest of [DENSE_SEQS_MAX - 1, DENSE_SEQS_MAX]) {
      const from = largest - 2 * 599;
      const groups = [[list(from, 2, 600, 13), list(from + 1, 1, 1_198, 31)], [list(from, 3, 400, 7), list(from + 2, 4, 300, 11)]];
      expect(Math.max(...groups.flat().map((phrase) => phrase.seqs.at(-1)!))).toBe(largest);
      const summed = bestMatches(groups, 120);
      expect(summed).toHaveLength(120);
      expect(bits(summed)).toEqual(bits(reference(groups, 120)));
      // The other path over the same lists: the Map below the bound, arrays above it.
      expect(bits(bestMatches(groups, 120, largest === DENSE_SEQS_MAX ? largest + 1 : largest))).toEqual(bits(summed));
    }
  });

  it("are empty for no rows or no room, in arrays or in the Map", () => {
    for (const denseMax of [DENSE_SEQS_MAX, 1]) {
      expect(bestMatches([[list(3, 1, 10, 5)]], 0, denseMax)).toEqual([]);
      expect(bestMatches([[list(3, 1, 0, 5)]], 10, denseMax)).toEqual([]);
      expect(bestMatches([[list(3, 1, 10, 5)], [list(20, 1, 10, 5)]], 10, denseMax)).toEqual([]);
    }
  });

  it("do not carry sums from one ranking into the next (the sum arrays are reused)", () => {
    // A large ranking, then smaller ones over the same seqs, a different group count and a shorter range: each must
    // be the reference's, as it would be from fresh arrays.
    const wide = [[list(1, 1, 2_000, 13), list(2, 2, 900, 31)], [list(1, 3, 600, 7)]];
    const rankings = [wide, [[list(1, 1, 400, 5)]], [[list(3, 2, 300, 11)], [list(1, 1, 700, 3)], [list(2, 3, 200, 17)]], wide, [[list(1, 1, 50, 9)]]];
    for (const groups of rankings) expect(bits(bestMatches(groups, 120))).toEqual(bits(reference(groups, 120)));
  });

  it("of small lists are the reference's in arrays and in the Map", () => {
    const groups = [[list(5, 3, 400, 13), list(7, 2, 500, 31)], [list(1, 1, 900, 7)]];
    expect(bits(bestMatches(groups, 50))).toEqual(bits(reference(groups, 50)));
    expect(bits(bestMatches(groups, 50, 10))).toEqual(bits(reference(groups, 50)));
  });

  it("are FTS5's rankings, score for score", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    let first: any;
    for (let batch = 0; batch < 5; batch++) {
      const written = await remember(key, user, Array.from({ length: 100 }, (_, i) => ({ content: content(batch * 100 + i) })));
      first ??= written[0];
    }
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, first.cube_id));
    const expressions = [
      matchAny(["alpha", "beta"])!,
      matchAny(["alpha", "beta", "gamma"])!,
      matchAny(["gamma", "alpha", "filler3", "missing"])!,
      subjectQuery(["alpha"], ["beta", "gamma"])!,
      subjectQuery(["alpha", "delta"], ["note"])!,
    ];
    const compared = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      const stats = new TermStats(sql);
      stats.use(1);
      return expressions.map((expression) => {
        const summed = bestMatches(parsePhrases(expression)!.map((group) => group.map((phrase) => stats.phraseScores(phrase))), LIMIT);
        const whole = sql
          .exec(`SELECT rowid, bm25(memories_fts, ${BM25_WEIGHTS.join(", ")}) AS score FROM memories_fts WHERE memories_fts MATCH ?`, expression)
          .toArray()
          .map((row) => ({ rowid: Number(row.rowid), score: Number(row.score) }));
        return { expression, summed, whole };
      });
    });
    for (const { expression, summed, whole } of compared) {
      const best = [...whole].sort((a, b) => a.score - b.score || a.rowid - b.rowid).slice(0, LIMIT);
      expect(summed, expression).toEqual(best);
    }
    // More memories match than a ranking keeps, so the cut was tested; and an AND of groups was.
    expect(compared[1]!.whole.length).toBeGreaterThan(LIMIT);
    expect(compared[3]!.whole.length).toBeGreaterThan(0);
    expect(compared[3]!.whole.length).toBeLessThan(compared[0]!.whole.length);
  }, 120_000);
});
