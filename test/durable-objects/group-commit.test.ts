/**
 * Issue 14, item 7: single-memory writes that reach a cube together share one commit (cube/group-commit.ts), and
 * each caller still gets its own outcome — its ids, its idempotent replay, its own refusal — with nothing of a
 * refused or failed write stored.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { cubeObjectName } from "../../src/core/ids";
import { GroupCommit } from "../../durable-objects/cube/group-commit";
import { call, newTenant, remember, uniqueUser } from "../helpers";
import { newMemory } from "../helpers/memories";
import type { CubeDurableObject as Cube } from "../../durable-objects/cube";
import type { CubeRef } from "../../durable-objects/cube/protocol";

interface RootCounter {
  rootTransactions: number;
}

/** A cube whose storage counts its root (outermost) synchronous transactions: each is one SQLite commit. */
async function countedCube() {
  const { key, tenantId } = await newTenant();
  const user = uniqueUser();
  const [first] = await remember(key, user, [{ content: "opens the cube" }]);
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, first.cube_id));
  await runInDurableObject(stub, (instance, state) => {
    const counter = instance as unknown as RootCounter;
    counter.rootTransactions = 0;
    const original = state.storage.transactionSync.bind(state.storage);
    let depth = 0;
    vi.spyOn(state.storage, "transactionSync").mockImplementation(<T>(closure: () => T): T => {
      if (depth === 0) counter.rootTransactions += 1;
      depth += 1;
      try {
        return original(closure);
      } finally {
        depth -= 1;
      }
    });
  });
  const roots = () => runInDurableObject(stub, (instance) => (instance as unknown as RootCounter).rootTransactions);
  return { key, user, stub, roots };
}

const post = (key: string, user: string, content: string, headers?: Record<string, string>) =>
  call("POST", "/v1/memories", { key, headers, body: { user_id: user, memories: [{ content }] } });

describe("group commit of single-memory writes", () => {
  it("writes arriving together share commits, and each caller gets its own memory, readable and searchable at once", { timeout: 60_000 }, async () => {
    const { key, user, roots } = await countedCube();
    const contents = Array.from({ length: 16 }, (_, i) => `the heron number ${i} nests by the ${["mill", "weir", "ford", "lock"][i % 4]} pond`);
    const answers = await Promise.all(contents.map((content) => post(key, user, content)));
    for (const [i, answer] of answers.entries()) {
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
      expect(answer.body.data).toHaveLength(1);
      expect(answer.body.data[0].content).toBe(contents[i]);
    }
    expect(new Set(answers.map((answer) => answer.body.data[0].id)).size).toBe(16);
    // One commit per write before group commit; the sixteen calls were in flight together.
    const commits = await roots();
    expect(commits).toBeGreaterThan(0);
    expect(commits).toBeLessThan(16);
    // Read-your-writes: each answer means committed, so a read and a search right after find it.
    for (const answer of answers) {
      const read = await call("GET", `/v1/memories/${answer.body.data[0].id}`, { key });
      expect(read.status).toBe(200);
    }
    const found = await call("POST", "/v1/search", { key, body: { user_id: user, query: "heron number 7", top_k: 20 } });
    expect(found.status, JSON.stringify(found.body)).toBe(200);
    expect(found.body.data.map((hit: { id: string }) => hit.id)).toContain(answers[7]!.body.data[0].id);
  });

  it("a group sweeps, counts its live memories and rewrites its vector block once, not once per write", { timeout: 60_000 }, async () => {
    const { key, user, stub, roots } = await countedCube();
    // Every SQL statement the object runs from here on, by what it does.
    await runInDurableObject(stub, (instance, state) => {
      const counter = instance as unknown as { statements: string[] };
      counter.statements = [];
      const original = state.storage.sql.exec.bind(state.storage.sql);
      vi.spyOn(state.storage.sql, "exec").mockImplementation((query: string, ...bindings: unknown[]) => {
        counter.statements.push(query);
        return original(query, ...(bindings as SqlStorageValue[]));
      });
    });
    const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => post(key, user, `the otter number ${i} fishes below the weir`)));
    for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    const commits = await roots();
    expect(commits).toBeLessThan(16);
    const statements = await runInDurableObject(stub, (instance) => (instance as unknown as { statements: string[] }).statements);
    const count = (pattern: RegExp) => statements.filter((query) => pattern.test(query)).length;
    // Without the change each is 16: one per write. With it, one per group (a root transaction), whatever its size.
    expect(count(/DELETE FROM idempotency WHERE created_at/)).toBe(commits);
    expect(count(/AND expires_at <= \? ORDER BY expires_at/)).toBe(commits);
    expect(count(/SELECT count\(\*\) AS n FROM memories WHERE state IN/)).toBe(commits);
    expect(count(/INSERT INTO lifecycle_schedule/)).toBe(commits);
    // One upsert per group; 16 memories fit one or two blocks, so at most two rows per group.
    expect(count(/INSERT INTO vector_blocks/)).toBeLessThanOrEqual(2 * commits);
    expect(count(/INSERT INTO vector_blocks/)).toBeGreaterThan(0);
    // What stays per write: its idempotency check is per key (none here), its memory, version, event and outbox rows.
    expect(count(/INSERT INTO memories/)).toBe(16);

    // Every write's vector was stored: each memory is found by its own vector in the cube's index.
    const stored = await runInDurableObject(stub, (instance) => {
      const vectors = (instance as unknown as { vectors: { get(id: string): unknown } }).vectors;
      return answers.map((answer) => vectors.get(answer.body.data[0].id) !== null);
    });
    expect(stored).toEqual(Array.from({ length: 16 }, () => true));
  });

  it("each caller of a group gets the live count its group committed, taken once", { timeout: 30_000 }, async () => {
    const { stub } = await countedCube();
    const seen = await runInDurableObject(stub, async (instance, state) => {
      const ref = JSON.parse(String(state.storage.sql.exec("SELECT ref FROM cube_identity WHERE id = 1").one().ref)) as CubeRef;
      const cube = instance as unknown as Cube;
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, (_, i) => cube.remember(ref, [newMemory(`the badger number ${i} digs at dusk`)], { actor: "test", requestId: `live-${i}` })),
      );
      const live = Number(state.storage.sql.exec("SELECT count(*) AS n FROM memories WHERE state IN ('generated', 'activated', 'archived')").one().n);
      return { counts: outcomes.map((outcome) => (outcome.ok ? outcome.value.liveCount : -1)), live, rootsSeen: (instance as unknown as RootCounter).rootTransactions };
    });
    // The five were in flight together: one group, so each count is the cube's count after all five.
    expect(seen.rootsSeen).toBe(1);
    expect(seen.counts).toEqual([seen.live, seen.live, seen.live, seen.live, seen.live]);
    expect(seen.live).toBe(6);
  });

  it("updates and forgets arriving together share commits, each with its own outcome", { timeout: 60_000 }, async () => {
    const { key, user, roots } = await countedCube();
    const written = await remember(key, user, Array.from({ length: 12 }, (_, i) => ({ content: `the swift number ${i} roosts under the eaves` })));
    const before = await roots();
    const updates = written.slice(0, 6).map((memory, i) => call("PATCH", `/v1/memories/${memory.id}`, { key, body: { content: `the swallow number ${i} roosts in the barn` } }));
    const forgets = written.slice(6).map((memory) => call("DELETE", `/v1/memories/${memory.id}`, { key, body: { user_id: user } }));
    const missing = call("DELETE", "/v1/memories/mem_not_there", { key, body: { user_id: user } });
    const answers = await Promise.all([...updates, ...forgets, missing]);
    for (const answer of answers.slice(0, 12)) expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300);
    // The one refused is refused alone.
    expect(answers[12]!.status).toBe(404);
    // Twelve writes in flight together took fewer than twelve commits (twelve before they joined groups).
    expect((await roots()) - before).toBeLessThan(12);
    for (const [i, memory] of written.slice(0, 6).entries()) {
      const read = await call("GET", `/v1/memories/${memory.id}`, { key });
      expect(read.body.content).toBe(`the swallow number ${i} roosts in the barn`);
    }
    const found = await call("POST", "/v1/search", { key, body: { user_id: user, query: "swallow barn", top_k: 20 } });
    // The updated texts are searchable at once: the six are the best six hits.
    expect(found.body.data.slice(0, 6).map((hit: { id: string }) => hit.id).sort()).toEqual(written.slice(0, 6).map((m) => m.id).sort());
    for (const answer of answers.slice(6, 12)) expect(answer.body.deleted).toBe("forgotten");
    const forgotten = await call("GET", `/v1/memories?user_id=${user}&state=forgotten&limit=100`, { key });
    expect(forgotten.body.data.map((m: { id: string }) => m.id).sort()).toEqual(written.slice(6).map((m) => m.id).sort());
  });

  it("idempotency holds inside a group: a replay gets the first write's ids, a reused key with another body its own 422", { timeout: 60_000 }, async () => {
    const { key, user } = await countedCube();
    const replayKey = { "Idempotency-Key": `group-replay-${crypto.randomUUID()}` };
    const reusedKey = { "Idempotency-Key": `group-reused-${crypto.randomUUID()}` };
    const [first, replay, owner, stranger, ...others] = await Promise.all([
      post(key, user, "the kettle whistles at seven", replayKey),
      post(key, user, "the kettle whistles at seven", replayKey),
      post(key, user, "the lamp is brass", reusedKey),
      post(key, user, "the lamp is copper", reusedKey),
      ...Array.from({ length: 6 }, (_, i) => post(key, user, `a bystander write ${i}`)),
    ]);
    expect(first!.status, JSON.stringify(first!.body)).toBe(201);
    expect(replay!.status, JSON.stringify(replay!.body)).toBe(201);
    expect(replay!.body.data[0].id).toBe(first!.body.data[0].id);
    // Which of the two with the reused key came first is the cube's order; exactly one is stored.
    const statuses = [owner!.status, stranger!.status].sort();
    expect(statuses).toEqual([201, 422]);
    const refused = owner!.status === 422 ? owner! : stranger!;
    expect(refused.body.error.code).toBe("idempotency_key_reused");
    for (const other of others) expect(other.status, JSON.stringify(other.body)).toBe(201);

    const listed = await call("GET", `/v1/memories?user_id=${user}&limit=100`, { key });
    expect(listed.status).toBe(200);
    const stored = listed.body.data.map((memory: { content: string }) => memory.content);
    expect(stored.filter((content: string) => content === "the kettle whistles at seven")).toHaveLength(1);
    expect(stored.filter((content: string) => content.startsWith("the lamp is"))).toHaveLength(1);
    expect(stored.filter((content: string) => content.startsWith("a bystander write"))).toHaveLength(6);
  });

  it("a write that throws rolls back alone: the others in its group commit and their callers get their results", { timeout: 30_000 }, async () => {
    const { stub } = await countedCube();
    const outcome = await runInDurableObject(stub, async (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec("CREATE TABLE IF NOT EXISTS group_probe (name TEXT PRIMARY KEY)");
      const groups = new GroupCommit((pass) => state.storage.transactionSync(pass));
      const insert = (name: string, fail: boolean) => () =>
        state.storage.transactionSync(() => {
          sql.exec("INSERT INTO group_probe (name) VALUES (?)", name);
          if (fail) throw new Error(`refused ${name}`);
          return name;
        });
      const settled = await Promise.allSettled([groups.submit(insert("a", false)), groups.submit(insert("b", true)), groups.submit(insert("c", false))]);
      const rows = sql.exec("SELECT name FROM group_probe ORDER BY name").toArray().map((row) => row.name);
      return { settled: settled.map((s) => (s.status === "fulfilled" ? s.value : String((s.reason as Error).message))), rows, stats: groups.stats() };
    });
    expect(outcome.settled).toEqual(["a", "refused b", "c"]);
    expect(outcome.rows).toEqual(["a", "c"]);
    expect(outcome.stats).toMatchObject({ groups: 1, writes: 3, largest: 3 });
  });

  it("a full group is applied at once and the rest go in the next", { timeout: 30_000 }, async () => {
    const { stub } = await countedCube();
    const stats = await runInDurableObject(stub, async (_instance, state) => {
      const groups = new GroupCommit((pass) => state.storage.transactionSync(pass), undefined, undefined, 4);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => groups.submit(() => i)));
      expect(results).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      return groups.stats();
    });
    expect(stats).toMatchObject({ groups: 3, writes: 10, largest: 4 });
  });
});
