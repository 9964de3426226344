/**
 * With a shared index (Vectorize in production, a stand-in with its request shapes and delayed visibility here),
 * the cube keeps a vector in its own store only until the index serves it: writes are found at once, the alarm
 * confirms them against the index and prunes the local copy, and a changed or lost vector is never pruned early.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FIRST_BACKOFF_MS, MAX_BACKOFF_MS } from "../../durable-objects/cube/backoff";
import { CONFIRM_DELAY_MS, REPUSH_AFTER_MS, SEND_DELAY_MS } from "../../durable-objects/cube/remote-vectors";
import { VectorStore } from "../../durable-objects/cube/vector-store";
import type { Retrieval } from "../../src/adapters/factory";
import { VectorizeVectorIndex } from "../../src/adapters/vectorize-index";
import { cubeObjectName } from "../../src/core/ids";
import { VectorizeStandIn } from "../adapters/stand-ins";
import { call, newTenant, remember, uniqueUser } from "../helpers";

interface CubeInternals {
  retrieval: Retrieval;
  retrievalAdapters: Retrieval | null;
  clock: () => number;
}

/** A cube whose shared index is a Vectorize stand-in, and a clock the test moves. */
async function cubeWithSharedIndex() {
  const { key, tenantId } = await newTenant();
  const user = uniqueUser();
  const [first] = await remember(key, user, [{ content: "Written before the shared index was configured." }]);
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, first.cube_id));
  let now = Date.now();
  let failUpserts = false;
  let failReads = false;
  let failDeletes = false;
  let refused = 0;
  const refuse = () => {
    refused++;
    return Promise.reject(new Error("Vectorize unavailable"));
  };
  const vectorize = await runInDurableObject(stub, (instance) => {
    const cube = instance as unknown as CubeInternals;
    const standIn = new VectorizeStandIn(cube.retrieval.embedder.dimensions);
    standIn.clock = () => now;
    const flaky = Object.assign(Object.create(standIn) as VectorizeStandIn, {
      upsert: (vectors: VectorizeVector[]) => (failUpserts ? refuse() : standIn.upsert(vectors)),
      getByIds: (ids: string[]) => (failReads ? refuse() : standIn.getByIds(ids)),
      describe: () => standIn.describe(),
      deleteByIds: (ids: string[]) => (failDeletes ? refuse() : standIn.deleteByIds(ids)),
    });
    cube.retrievalAdapters = { ...cube.retrieval, remoteIndex: new VectorizeVectorIndex(flaky) };
    cube.clock = () => now;
    return standIn;
  });
  const local = () => runInDurableObject(stub, (_instance, state) => new VectorStore(state.storage.sql).ids(vectorsSpace(state)).sort());
  const rows = () =>
    runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec("SELECT id, pushed_at, confirmed_at FROM remote_vectors ORDER BY id").toArray(),
    );
  return {
    key,
    user,
    stub,
    first,
    vectorize,
    local,
    rows,
    advance: (ms: number) => (now += ms),
    now: () => now,
    /** Calls the failing index refused. */
    refused: () => refused,
    alarmAt: () => runInDurableObject(stub, (_instance, state) => state.storage.getAlarm()),
    failUpserts: (fail: boolean) => (failUpserts = fail),
    failReads: (fail: boolean) => (failReads = fail),
    failDeletes: (fail: boolean) => (failDeletes = fail),
  };
}

/** The embedding space the cube's store holds (one, the local embedder's). */
function vectorsSpace(state: DurableObjectState): string {
  return new VectorStore(state.storage.sql).embedderIds()[0] ?? "";
}

const vectorSearch = (key: string, user: string, query: string) =>
  call("POST", "/v1/search", { key, body: { user_id: user, query, channels: ["vector"], top_k: 3 } });

describe("vectors confirmed by the shared index leave the cube's store", () => {
  it("finds a write at once, prunes it once the index serves it, and still finds it through the index", async () => {
    const cube = await cubeWithSharedIndex();
    const written = await remember(cube.key, cube.user, [
      { content: "Maria adopted a grey kitten named Pixel." },
      { content: "The quarterly budget review moved to Thursday." },
    ]);
    const ids = written.map((m) => m.id);
    // Read-your-writes: the index has not shown the writes yet, the cube's own store answers.
    const early = await vectorSearch(cube.key, cube.user, "kitten adopted by Maria");
    expect(early.body.data[0]).toMatchObject({ id: ids[0], channels: ["vector"] });
    expect(await cube.local()).toEqual([cube.first.id, ...ids].sort());

    // Not sent with the write: the alarm sends what the cube queued, in one upsert; nothing is pruned yet.
    expect(cube.vectorize.upserts).toEqual([]);
    cube.advance(SEND_DELAY_MS);
    expect(await runDurableObjectAlarm(cube.stub)).toBe(true);
    expect(cube.vectorize.upserts.map((batch) => batch.map((v) => v.id).sort())).toEqual([ids.map((id) => `${written[0].cube_id}:${id}`).sort()]);
    expect(await cube.local()).toEqual([cube.first.id, ...ids].sort());

    // Checked before the index applied the upsert: describe() says so, no getByIds is spent, nothing is pruned, and
    // the check backs off (cube/backoff.ts).
    cube.advance(CONFIRM_DELAY_MS);
    expect(await runDurableObjectAlarm(cube.stub)).toBe(true);
    expect(await cube.local()).toEqual([cube.first.id, ...ids].sort());
    expect(cube.vectorize.describes).toBe(1);
    expect(cube.vectorize.gets).toEqual([]);

    cube.vectorize.flush();
    cube.advance(FIRST_BACKOFF_MS);
    expect(await runDurableObjectAlarm(cube.stub)).toBe(true);
    // describe() names the upsert's mutation as processed: its vectors are read back (one getByIds) and confirmed.
    expect(cube.vectorize.gets.flat().sort()).toEqual(ids.map((id) => `${written[0].cube_id}:${id}`).sort());
    expect(await cube.local()).toEqual([cube.first.id]);
    expect((await cube.rows()).filter((r) => r.confirmed_at !== null).map((r) => r.id).sort()).toEqual([...ids].sort());
    const stats = await call("GET", `/v1/cubes/${written[0].cube_id}/stats`, { key: cube.key });
    expect(stats.body.vectors).toBe(3);

    const late = await vectorSearch(cube.key, cube.user, "kitten adopted by Maria");
    expect(late.body.data[0]).toMatchObject({ id: ids[0], channels: ["vector"] });
  });

  it("coalesces a cube's writes into upserts of Vectorize's 1,000 vectors per call: 1,001 queued vectors go in two", async () => {
    const cube = await cubeWithSharedIndex();
    const ids: string[] = [];
    for (let request = 0; request < 10; request++) {
      const written = await remember(cube.key, cube.user, Array.from({ length: 100 }, (_, i) => ({ content: `note ${request}-${i} on the harbour` })));
      ids.push(...written.map((m) => m.id as string));
    }
    // Eleven write requests, no upsert yet: each queued its vectors.
    const [last] = await remember(cube.key, cube.user, [{ content: "the last note" }]);
    ids.push(last.id);
    expect(cube.vectorize.upserts).toEqual([]);
    cube.advance(SEND_DELAY_MS);
    await runDurableObjectAlarm(cube.stub);
    expect(cube.vectorize.upserts.map((batch) => batch.length)).toEqual([1000, 1]);
    expect(cube.vectorize.upserts.flat().map((v) => v.id).sort()).toEqual(ids.map((id) => `${last.cube_id}:${id}`).sort());
    // Every row is sent; the next alarm is the check, not another send.
    expect((await cube.rows()).filter((r) => r.id !== cube.first.id).every((r) => Number(r.pushed_at) === cube.now())).toBe(true);
    expect((await cube.alarmAt())! - cube.now()).toBe(CONFIRM_DELAY_MS);
  }, 120_000);

  it("never prunes a vector the index still serves in an older version", async () => {
    const cube = await cubeWithSharedIndex();
    const [memory] = await remember(cube.key, cube.user, [{ content: "The team offsite is in Porto." }]);
    cube.advance(SEND_DELAY_MS);
    await runDurableObjectAlarm(cube.stub);
    cube.vectorize.flush();
    cube.advance(CONFIRM_DELAY_MS);
    await runDurableObjectAlarm(cube.stub);
    expect(await cube.local()).toEqual([cube.first.id]);

    // New text, new vector: local again until the index shows the new one, not the old.
    expect((await call("PATCH", `/v1/memories/${memory.id}`, { key: cube.key, body: { content: "Quarterly planning happens over video calls." } })).status).toBe(200);
    cube.advance(CONFIRM_DELAY_MS);
    await runDurableObjectAlarm(cube.stub);
    expect(await cube.local()).toEqual([cube.first.id, memory.id].sort());
    const found = await vectorSearch(cube.key, cube.user, "planning over video calls");
    expect(found.body.data[0]).toMatchObject({ id: memory.id });

    cube.vectorize.flush();
    // The check that found nothing backed off (cube/backoff.ts): the next one runs a backoff later.
    cube.advance(FIRST_BACKOFF_MS);
    await runDurableObjectAlarm(cube.stub);
    expect(await cube.local()).toEqual([cube.first.id]);
  });

  it("sends a vector again when the send failed or the index lost it, and forgets the record of a purged memory", async () => {
    const cube = await cubeWithSharedIndex();
    cube.failUpserts(true);
    const [memory] = await remember(cube.key, cube.user, [{ content: "Sam's flight lands at 6 pm." }]);
    cube.advance(SEND_DELAY_MS);
    await runDurableObjectAlarm(cube.stub);
    expect(cube.refused()).toBe(1);
    expect((await cube.rows()).find((r) => r.id === memory.id)).toMatchObject({ pushed_at: 0, confirmed_at: null });

    cube.failUpserts(false);
    const upsertsBefore = cube.vectorize.upserts.length;
    // Not before the backoff: an alarm at once sends nothing.
    await runDurableObjectAlarm(cube.stub);
    expect(cube.vectorize.upserts.length).toBe(upsertsBefore);
    cube.advance(FIRST_BACKOFF_MS);
    await runDurableObjectAlarm(cube.stub);
    expect(cube.vectorize.upserts.length).toBe(upsertsBefore + 1);
    expect(await cube.local()).toContain(memory.id);

    // An upsert the index never applies: after REPUSH_AFTER_MS it goes again.
    cube.advance(REPUSH_AFTER_MS);
    await runDurableObjectAlarm(cube.stub);
    expect(cube.vectorize.upserts.length).toBe(upsertsBefore + 2);
    cube.vectorize.flush();
    cube.advance(CONFIRM_DELAY_MS);
    await runDurableObjectAlarm(cube.stub);
    expect(await cube.local()).toEqual([cube.first.id]);

    expect((await call("DELETE", `/v1/memories/${memory.id}?hard=true`, { key: cube.key })).status).toBe(200);
    expect((await cube.rows()).map((r) => r.id)).not.toContain(memory.id);
    expect(cube.vectorize.deletes.flat()).toContain(`${memory.cube_id}:${memory.id}`);
  });

  it("a purge whose shared-index delete fails still answers 200, and the alarm deletes the vector later (issue 16 item 3)", async () => {
    const cube = await cubeWithSharedIndex();
    const [memory] = await remember(cube.key, cube.user, [{ content: "A purge meets a failing index." }]);
    cube.failDeletes(true);
    const purged = await call("DELETE", `/v1/memories/${memory.id}?hard=true`, { key: cube.key });
    expect(purged.status, JSON.stringify(purged.body)).toBe(200);
    expect((await call("GET", `/v1/memories/${memory.id}`, { key: cube.key })).status).toBe(404);
    expect(cube.vectorize.deletes.flat()).not.toContain(`${memory.cube_id}:${memory.id}`);
    // The delete waits in the cube's teardown plan, and the alarm is armed for it.
    const planned = await runInDurableObject(cube.stub, (_instance, state) => state.storage.sql.exec("SELECT count(*) AS n FROM teardown").one().n);
    expect(planned).toBe(1);
    expect(await cube.alarmAt()).not.toBeNull();

    cube.failDeletes(false);
    cube.advance(MAX_BACKOFF_MS);
    await runDurableObjectAlarm(cube.stub);
    expect(cube.vectorize.deletes.flat()).toContain(`${memory.cube_id}:${memory.id}`);
    expect(await runInDurableObject(cube.stub, (_instance, state) => state.storage.sql.exec("SELECT count(*) AS n FROM teardown").one().n)).toBe(0);
  });

  it("a reindex does not re-embed vectors that live only in the index", async () => {
    const cube = await cubeWithSharedIndex();
    await remember(cube.key, cube.user, [{ content: "Ana prefers aisle seats." }, { content: "Leo is learning the cello." }]);
    cube.vectorize.flush();
    cube.advance(CONFIRM_DELAY_MS);
    await runDurableObjectAlarm(cube.stub);
    const upserts = cube.vectorize.upserts.flat().length;

    const job = await call("POST", `/v1/cubes/${cube.first.cube_id}/reindex`, { key: cube.key });
    expect(job.status).toBe(202);
    await runDurableObjectAlarm(cube.stub);
    const done = await call("GET", `/v1/jobs/${job.body.job_id}`, { key: cube.key });
    expect(done.body.status).toBe("done");
    // Every vector is already in the current space: the pruned ones by their records, the first one locally.
    expect(cube.vectorize.upserts.flat().length - upserts).toBe(0);
  });

  it("backs off per cube while the index fails: 30 s, 60 s, … 30 min between attempts, never an alarm loop; then recovers", async () => {
    const cube = await cubeWithSharedIndex();
    cube.failUpserts(true);
    cube.failReads(true);
    const [memory] = await remember(cube.key, cube.user, [{ content: "Noor's locker is number 42." }]);
    expect((await cube.rows()).find((r) => r.id === memory.id)).toMatchObject({ pushed_at: 0 });
    await runDurableObjectAlarm(cube.stub); // the write's own alarm (webhook outbox): too early for a check
    const calls = () => cube.refused() + cube.vectorize.upserts.length + cube.vectorize.gets.length;
    // The alarm also wakes for the cube's own upkeep (cube/upkeep.ts): gaps are measured between attempts.
    const gaps: number[] = [];
    let lastAttempt = cube.now();
    for (let alarms = 0; gaps.length < 9 && alarms < 40; alarms++) {
      const armed = await cube.alarmAt();
      expect(armed).not.toBeNull();
      cube.advance(armed! - cube.now());
      const before = calls();
      expect(await runDurableObjectAlarm(cube.stub)).toBe(true);
      // At most one attempt per alarm (the failing getByIds), not one per due vector or a retry loop.
      const made = calls() - before;
      expect(made).toBeLessThanOrEqual(1);
      if (made === 1) {
        gaps.push(cube.now() - lastAttempt);
        lastAttempt = cube.now();
      }
    }
    // The first attempt is the queued send, SEND_DELAY_MS after the write; then the backoff doubles.
    const doubling = Array.from({ length: 8 }, (_, i) => Math.min(FIRST_BACKOFF_MS * 2 ** i, MAX_BACKOFF_MS));
    expect(gaps).toEqual([SEND_DELAY_MS, ...doubling]);
    // Nothing lost meanwhile: the memory is stored and its vector serves search from the cube's own store.
    expect((await vectorSearch(cube.key, cube.user, "Noor locker number")).body.data[0]).toMatchObject({ id: memory.id });

    cube.failUpserts(false);
    cube.failReads(false);
    cube.advance((await cube.alarmAt())! - cube.now());
    await runDurableObjectAlarm(cube.stub);
    expect(cube.vectorize.upserts.flat().map((v) => v.id)).toContain(`${memory.cube_id}:${memory.id}`);
    // The index took the send: the wait is back to the first check's delay.
    expect((await cube.alarmAt())! - cube.now()).toBe(CONFIRM_DELAY_MS);
    cube.vectorize.flush();
    cube.advance(CONFIRM_DELAY_MS);
    await runDurableObjectAlarm(cube.stub);
    expect(await cube.local()).toEqual([cube.first.id]);
    expect(await runInDurableObject(cube.stub, (_i, state) => state.storage.sql.exec("SELECT * FROM retry_backoff").toArray())).toEqual([]);
  });

  it("drill: while the shared index fails every call, writes answer 201, search answers 200 from the cube, nothing is lost", async () => {
    const cube = await cubeWithSharedIndex();
    cube.vectorize.failWith = new Error("VECTOR_QUERY_ERROR (code = 429): too many requests");
    const [memory] = await remember(cube.key, cube.user, [{ content: "Tomas keeps the spare key under the blue pot." }]);
    const text = await call("POST", "/v1/search", { key: cube.key, body: { user_id: cube.user, query: "spare key blue pot" } });
    expect(text.status).toBe(200);
    expect(text.body.data[0]).toMatchObject({ id: memory.id });
    const vector = await vectorSearch(cube.key, cube.user, "where is the spare key");
    expect(vector.status).toBe(200);
    expect(vector.body.data.map((h: { id: string }) => h.id)).toContain(memory.id);
    cube.vectorize.failWith = null;
    // The write's alarm, then the backed-off re-send.
    for (let i = 0; i < 3; i++) {
      cube.advance(Math.max(0, (await cube.alarmAt())! - cube.now()));
      await runDurableObjectAlarm(cube.stub);
    }
    cube.vectorize.flush();
    expect(cube.vectorize.contents().map((v) => v.id)).toContain(`${memory.cube_id}:${memory.id}`);
  });
});
