/**
 * Search remembers which candidates pass its filter while the cube stands still (cube/filter-verdicts.ts): what a
 * memory's row decides is kept per generation and filter, validity is judged at each request's own time. These
 * searches run back to back on one object, so the second of each pair answers from what the first remembered.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { FilterVerdicts, type SearchFilter } from "../../durable-objects/cube/filter-verdicts";
import { call, newTenant, remember, uniqueUser } from "../helpers";
import { cubeWith } from "../helpers/cubes";

async function searchIds(key: string, body: object) {
  const response = await call("POST", "/v1/search", { key, body: { channels: ["lexical", "vector"], ...body } });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.data.map((m: any) => m.id) as string[];
}

async function seeded() {
  const { key } = await newTenant();
  const user = uniqueUser();
  const memories = await remember(key, user, [
    { content: "the harbour ferry leaves at noon", type: "fact", valid_at: "2020-01-01T00:00:00Z", invalid_at: "2024-06-01T00:00:00Z" },
    { content: "the harbour ferry leaves at nine", type: "fact", valid_at: "2024-06-01T00:00:00Z" },
    { content: "the harbour ferry was lovely", type: "event" },
  ]);
  return { key, user, memories };
}

describe("filter verdicts between searches", () => {
  it("judge validity at each request's time, not at the time they were first read", async () => {
    const { key, user, memories } = await seeded();
    const query = { user_id: user, query: "harbour ferry" };
    const in2022 = await searchIds(key, { ...query, reference_time: "2022-01-01T00:00:00Z" });
    expect(in2022).toContain(memories[0].id);
    expect(in2022).not.toContain(memories[1].id);
    const in2025 = await searchIds(key, { ...query, reference_time: "2025-01-01T00:00:00Z" });
    expect(in2025).toContain(memories[1].id);
    expect(in2025).not.toContain(memories[0].id);
    expect(await searchIds(key, { ...query, reference_time: "2022-01-01T00:00:00Z" })).toEqual(in2022);
  });

  it("are kept per filter: another filter in the same generation is read for itself", async () => {
    const { key, user, memories } = await seeded();
    const query = { user_id: user, query: "harbour ferry" };
    expect(await searchIds(key, { ...query, filters: { type: "fact" } })).toEqual([memories[1].id]);
    expect(await searchIds(key, { ...query, filters: { type: "event" } })).toEqual([memories[2].id]);
    expect(await searchIds(key, { ...query, where: { field: "type", op: "ne", value: "event" } })).toEqual([memories[1].id]);
  });

  it("are dropped when a memory changes", async () => {
    const { key, user, memories } = await seeded();
    const query = { user_id: user, query: "harbour ferry" };
    expect(await searchIds(key, query)).toContain(memories[2].id);
    const forgotten = await call("DELETE", `/v1/memories/${memories[2].id}`, { key });
    expect(forgotten.status, JSON.stringify(forgotten.body)).toBeLessThan(300);
    expect(await searchIds(key, query)).not.toContain(memories[2].id);
    const updated = await call("PATCH", `/v1/memories/${memories[1].id}`, { key, body: { invalid_at: "2025-01-01T00:00:00Z" } });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(await searchIds(key, query)).not.toContain(memories[1].id);
  });
});

describe("the cap on remembered verdicts", () => {
  const CAP = 4;
  const facts: SearchFilter = { clauses: ["m.type = ?"], params: ["fact"], timeless: { clauses: ["m.type = ?"], params: ["fact"] }, at: Date.now() };

  /**
   * Asks a FilterVerdicts capped at CAP about `count` memories twice within one generation, counting its SQL reads;
   * the answers and the number of reads of each round.
   */
  async function twice(count: number) {
    const { stub } = await cubeWith(Array.from({ length: CAP + 2 }, (_, i) => ({ content: `verdict cap note ${i}`, type: i % 2 === 0 ? "fact" : "event" })));
    return runInDurableObject(stub, (_instance, state) => {
      let reads = 0;
      const counted = { exec: (...args: Parameters<SqlStorage["exec"]>) => (reads++, state.storage.sql.exec(...args)) } as SqlStorage;
      const rows = state.storage.sql.exec("SELECT seq, id, type FROM memories ORDER BY seq").toArray();
      const candidates = rows.slice(0, count).map((row) => Number(row.seq));
      const expected = rows.slice(0, count).filter((row) => row.type === "fact").map((row) => String(row.id));
      const verdicts = new FilterVerdicts(counted, CAP);
      const rounds = [0, 1].map(() => {
        verdicts.use(1);
        const before = reads;
        const kept = verdicts.passing("seq", candidates, facts, null, count);
        return { kept, reads: reads - before };
      });
      return { expected, rounds };
    });
  }

  it("keeps exactly the cap's worth of verdicts for the next search of the same generation", async () => {
    const { expected, rounds } = await twice(CAP);
    expect(expected.length).toBeGreaterThan(0);
    expect(rounds.map((round) => round.kept)).toEqual([expected, expected]);
    expect(rounds.map((round) => round.reads)).toEqual([1, 0]);
  });

  it("starts over one past the cap, and the verdicts read again are the same", async () => {
    const { expected, rounds } = await twice(CAP + 1);
    expect(rounds.map((round) => round.kept)).toEqual([expected, expected]);
    expect(rounds.map((round) => round.reads)).toEqual([1, 1]);
  });
});

describe("seqs the verdicts read", () => {
  it("answer a read memory's seq by id until the generation moves, and nothing for a memory not read", async () => {
    const { stub } = await cubeWith([{ content: "seq note one" }, { content: "seq note two" }, { content: "seq note three" }]);
    const seen = await runInDurableObject(stub, (_instance, state) => {
      const rows = state.storage.sql.exec("SELECT seq, id FROM memories ORDER BY seq").toArray();
      const all: SearchFilter = { clauses: [], params: [], timeless: { clauses: [], params: [] }, at: Date.now() };
      const verdicts = new FilterVerdicts(state.storage.sql);
      verdicts.use(1);
      verdicts.passing("seq", [Number(rows[0]!.seq), Number(rows[1]!.seq)], all, null, 10);
      const ids = rows.map((row) => String(row.id));
      const read = ids.map((id) => verdicts.seqOf(id) ?? null);
      verdicts.use(2);
      return { read, expected: rows.map((row) => Number(row.seq)), after: ids.map((id) => verdicts.seqOf(id) ?? null) };
    });
    expect(seen.read).toEqual([seen.expected[0], seen.expected[1], null]);
    expect(seen.after).toEqual([null, null, null]);
  });
});
