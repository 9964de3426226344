/**
 * Shared-index upserts coalesced across cubes (issue 17, item 8): cubes with a few vectors hand them to the vectors
 * queue (within Queues' limits, through the producer wrapper) instead of upserting; the consumer writes many cubes'
 * vectors in one upsert, each in its own namespace, and tells each cube, which then confirms them with describe() and
 * reads them back as before. At least once and idempotent; a failing index backs off; a lost message costs only time.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { FIRST_BACKOFF_MS } from "../../durable-objects/cube/backoff";
import { CONFIRM_DELAY_MS, REPUSH_AFTER_MS, SEND_DELAY_MS } from "../../durable-objects/cube/remote-vectors";
import { VectorStore } from "../../durable-objects/cube/vector-store";
import type { Retrieval } from "../../src/adapters/factory";
import { QUEUE_LIMITS } from "../../src/adapters/queue-producer";
import { VECTOR_QUEUE, type VectorQueueMessage, decodeVector, encodeVector, fitsOneSend, vectorMessages } from "../../src/adapters/vector-queue";
import { VectorizeVectorIndex } from "../../src/adapters/vectorize-index";
import { cubeObjectName } from "../../src/core/ids";
import worker from "../../src/index";
import { consumeVectorBatch, retryDelaySeconds } from "../../src/services/vector-queue";
import { QueueStandIn, VectorizeStandIn } from "../adapters/stand-ins";
import { call, newTenant, remember, uniqueUser } from "../helpers";

interface CubeInternals {
  retrieval: Retrieval;
  retrievalAdapters: Retrieval | null;
  clock: () => number;
}

const vector = (dimensions: number, seed: number) => Float32Array.from({ length: dimensions }, (_, i) => Math.sin(seed * 31 + i));

/** `n` cubes sharing one Vectorize stand-in and one capturing vectors queue, with a clock the test moves. */
async function cubes(n: number) {
  const { key, tenantId } = await newTenant();
  let now = Date.now();
  const queue = new QueueStandIn<VectorQueueMessage>();
  let standIn: VectorizeStandIn | null = null;
  const list = [];
  for (let i = 0; i < n; i++) {
    const user = uniqueUser();
    const [first] = await remember(key, user, [{ content: "written before the shared index was configured" }]);
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, first.cube_id));
    await runInDurableObject(stub, (instance) => {
      const cube = instance as unknown as CubeInternals;
      standIn ??= Object.assign(new VectorizeStandIn(cube.retrieval.embedder.dimensions), { clock: () => now });
      cube.retrievalAdapters = { ...cube.retrieval, remoteIndex: new VectorizeVectorIndex(standIn), vectorQueue: queue };
      cube.clock = () => now;
    });
    const rows = () =>
      runInDurableObject(stub, (_i, state) =>
        state.storage.sql.exec("SELECT id, pushed_at, handed_at, mutation_id, confirmed_at FROM remote_vectors ORDER BY id").toArray(),
      );
    const local = () => runInDurableObject(stub, (_i, state) => new VectorStore(state.storage.sql).count());
    list.push({ user, cubeId: first.cube_id as string, stub, rows, local });
  }
  const index = standIn!;
  /** The messages the cubes handed the queue so far, as one delivery (attempt `attempts`). */
  const delivery = (attempts = 1) =>
    createMessageBatch<unknown>(
      VECTOR_QUEUE,
      queue.batches.flat().map((body, i) => ({ id: `vec-${i}`, timestamp: new Date(now), attempts, body })),
    );
  const consume = async (batch: MessageBatch<unknown>, vectorize: VectorizeStandIn = index) => {
    const ctx = createExecutionContext();
    const report = await consumeVectorBatch(batch, new VectorizeVectorIndex(vectorize), env.CUBE, () => now);
    return { report, result: await getQueueResult(batch, ctx) };
  };
  return { key, tenantId, cubes: list, queue, index, delivery, consume, advance: (ms: number) => (now += ms), now: () => now };
}

describe("the vectors queue's messages", () => {
  it("carry float32 vectors bit-exact, and as many bge-m3 vectors as one sendBatch takes go in one call — one more does not", () => {
    const original = vector(1024, 7);
    expect(decodeVector(encodeVector(original))).toEqual(original);
    const head = { tenant_id: "ten_x", cube_id: "cube_0123456789abcdef", embedder: "e", handed_at: 1 };
    const records = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `mem_${String(i).padStart(32, "0")}`, vector: vector(1024, i) }));
    let fit = 0;
    while (fitsOneSend(vectorMessages(head, records(fit + 1)))) fit++;
    // Measured, not assumed: what the rule lets through for 1,024 floats, and each message within 128 KB.
    expect(fit).toBe(46);
    for (const message of vectorMessages(head, records(fit))) {
      expect(new TextEncoder().encode(JSON.stringify(message.body)).length + QUEUE_LIMITS.metadataBytes).toBeLessThanOrEqual(QUEUE_LIMITS.messageBytes);
    }
    expect(vectorMessages(head, records(fit)).flatMap((m) => m.body.vectors.map((v) => v.id))).toEqual(records(fit).map((r) => r.id));
  });
});

describe("coalescing shared-index upserts across cubes", () => {
  it("three cubes' writes reach the index in ONE upsert, each in its namespace, and each cube confirms and prunes its own", async () => {
    const world = await cubes(3);
    for (const [i, cube] of world.cubes.entries()) await remember(world.key, cube.user, [{ content: `cube ${i} remembers the lighthouse` }]);
    world.advance(SEND_DELAY_MS);
    for (const cube of world.cubes) await runDurableObjectAlarm(cube.stub);
    // No cube called the index: each handed one message to the queue, in one sendBatch.
    expect(world.index.upserts).toEqual([]);
    expect(world.queue.batches.map((batch) => batch.length)).toEqual([1, 1, 1]);
    for (const cube of world.cubes) expect((await cube.rows()).map((r) => [r.pushed_at, r.handed_at])).toEqual([[0, world.now()]]);

    const { report, result } = await world.consume(world.delivery());
    expect(report).toMatchObject({ vectors: 3, cubesTold: 3, orphansDeleted: 0, retried: 0, dropped: 0 });
    expect(result.explicitAcks.sort()).toEqual(["vec-0", "vec-1", "vec-2"]);
    expect(world.index.upserts.map((u) => u.length)).toEqual([3]);
    expect(world.index.upserts[0]!.map((v) => v.namespace).sort()).toEqual(world.cubes.map((c) => c.cubeId).sort());
    for (const cube of world.cubes) {
      const [row] = await cube.rows();
      expect(row).toMatchObject({ pushed_at: world.now(), handed_at: null, mutation_id: "mutation-1", confirmed_at: null });
    }

    // The cubes check as if they had sent them: describe() says mutation-1 is applied, getByIds confirms, local copies go.
    world.index.flush();
    world.advance(CONFIRM_DELAY_MS);
    for (const cube of world.cubes) {
      const before = await cube.local();
      await runDurableObjectAlarm(cube.stub);
      expect(await cube.local()).toBe(before - 1);
      expect((await cube.rows())[0]!.confirmed_at).toBe(world.now());
    }
    expect(world.index.upserts).toHaveLength(1);
  }, 60_000);

  it("at least once: a failed upsert retries with backoff, a redelivery after success changes nothing, a stale report is ignored", async () => {
    const world = await cubes(2);
    for (const cube of world.cubes) await remember(world.key, cube.user, [{ content: "the tide tables for March" }]);
    world.advance(SEND_DELAY_MS);
    for (const cube of world.cubes) await runDurableObjectAlarm(cube.stub);

    world.index.failWith = new Error("VECTOR_UPSERT_ERROR: 429 Too Many Requests");
    const first = world.delivery(1);
    // The test's message batch records retries but not their delay: watched here.
    const delays = first.messages.map((message) => vi.spyOn(message, "retry"));
    const failed = await world.consume(first);
    expect(failed.report).toMatchObject({ vectors: 0, retried: 2 });
    expect(failed.result.retryMessages).toHaveLength(2);
    expect(delays.map((spy) => spy.mock.calls)).toEqual([[[{ delaySeconds: 30 }]], [[{ delaySeconds: 30 }]]]);
    expect([retryDelaySeconds(1), retryDelaySeconds(2), retryDelaySeconds(12)]).toEqual([30, 60, 1800]);
    for (const cube of world.cubes) expect((await cube.rows())[0]!.handed_at).not.toBeNull();

    world.index.failWith = null;
    expect((await world.consume(world.delivery(2))).report).toMatchObject({ vectors: 2, cubesTold: 2 });
    const after = await Promise.all(world.cubes.map((cube) => cube.rows()));
    // Delivered again (at least once): the same vectors upserted again, the cubes' records unchanged.
    world.advance(1_000);
    expect((await world.consume(world.delivery(3))).report).toMatchObject({ vectors: 2, cubesTold: 2, retried: 0 });
    expect(await Promise.all(world.cubes.map((cube) => cube.rows()))).toEqual(after);
    world.index.flush();
    expect(world.index.contents().length).toBe(2);
  }, 60_000);

  it("a message that never arrives costs only time: the cube takes its vectors back and upserts them itself", async () => {
    const world = await cubes(1);
    const [cube] = world.cubes;
    await remember(world.key, cube!.user, [{ content: "the ferry leaves at noon" }]);
    world.advance(SEND_DELAY_MS);
    await runDurableObjectAlarm(cube!.stub);
    expect(world.queue.batches).toHaveLength(1);
    const handedAt = world.now();
    // The message is lost (dead-lettered, say). Nothing is due before REPUSH_AFTER_MS.
    const alarm = await runInDurableObject(cube!.stub, (_i, state) => state.storage.getAlarm());
    expect(alarm).toBe(handedAt + REPUSH_AFTER_MS);
    world.advance(REPUSH_AFTER_MS);
    await runDurableObjectAlarm(cube!.stub);
    // Taken back and sent directly (under the cube's own backoff), not handed to the queue again.
    expect(world.queue.batches).toHaveLength(1);
    expect(world.index.upserts.map((u) => u.length)).toEqual([1]);
    expect((await cube!.rows())[0]).toMatchObject({ pushed_at: world.now(), handed_at: null, mutation_id: "mutation-1" });
    // The lost message turning up late changes nothing in the cube: its hand-off is no longer pending.
    const late = createMessageBatch<unknown>(VECTOR_QUEUE, [{ id: "late", timestamp: new Date(), attempts: 5, body: world.queue.batches[0]![0] }]);
    const before = await cube!.rows();
    world.advance(1_000);
    expect((await world.consume(late)).report).toMatchObject({ vectors: 1, cubesTold: 1 });
    expect(await cube!.rows()).toEqual(before);
  }, 60_000);

  it("a memory purged while its vector waited in the queue leaves no vector behind (the upsert came after the purge's delete)", async () => {
    const world = await cubes(1);
    const [cube] = world.cubes;
    const [kept, purged] = await remember(world.key, cube!.user, [{ content: "keep this note about sails" }, { content: "purge this note about anchors" }]);
    world.advance(SEND_DELAY_MS);
    await runDurableObjectAlarm(cube!.stub);
    expect(world.queue.batches.flat()[0]!.vectors).toHaveLength(2);
    expect((await call("DELETE", `/v1/memories/${purged.id}?hard=true`, { key: world.key })).status).toBe(200);
    const { report } = await world.consume(world.delivery());
    expect(report).toMatchObject({ vectors: 2, cubesTold: 1, orphansDeleted: 1 });
    world.index.flush();
    expect(world.index.contents().map((v) => v.id)).toEqual([`${cube!.cubeId}:${kept.id}`]);
  }, 60_000);

  it("drill: while the queue refuses sends the cube backs off like a failed upsert, and loses nothing", async () => {
    const world = await cubes(1);
    const [cube] = world.cubes;
    world.queue.failWith = new Error("Queue send failed: 503");
    expect((await call("POST", "/v1/memories", { key: world.key, body: { user_id: cube!.user, memories: [{ content: "storm warning for Friday" }] } })).status).toBe(201);
    world.advance(SEND_DELAY_MS);
    await runDurableObjectAlarm(cube!.stub);
    expect((await cube!.rows())[0]).toMatchObject({ pushed_at: 0, handed_at: null });
    const backoff = await runInDurableObject(cube!.stub, (_i, state) =>
      state.storage.sql.exec("SELECT failures, last_attempt_at FROM retry_backoff WHERE name = 'remote-vectors'").one(),
    );
    expect(backoff).toEqual({ failures: 1, last_attempt_at: world.now() });
    // Not before the backoff: an alarm now sends nothing.
    world.advance(FIRST_BACKOFF_MS - 1);
    world.queue.failWith = null;
    await runDurableObjectAlarm(cube!.stub);
    expect(world.queue.batches).toHaveLength(0);
    world.advance(1);
    await runDurableObjectAlarm(cube!.stub);
    expect(world.queue.batches).toHaveLength(1);
    expect((await cube!.rows())[0]).toMatchObject({ pushed_at: 0, handed_at: world.now() });
  }, 60_000);

  it("a cube with more than one sendBatch of vectors upserts them itself, as before", async () => {
    const world = await cubes(1);
    const [cube] = world.cubes;
    // 400 vectors of the local embedder's 128 floats (~740 bytes each in a message) take more than one sendBatch.
    for (let batch = 0; batch < 4; batch++) {
      await remember(world.key, cube!.user, Array.from({ length: 100 }, (_, i) => ({ content: `harbour note ${batch * 100 + i} about boats and nets` })));
    }
    world.advance(SEND_DELAY_MS);
    await runDurableObjectAlarm(cube!.stub);
    expect({ handed: world.queue.batches.map((b) => b.map((m) => m.vectors.length)), upserts: world.index.upserts.map((u) => u.length), rows: (await cube!.rows()).length }).toEqual({ handed: [], upserts: [400], rows: 400 });
  }, 60_000);

  it("drops what it can never write and acknowledges it; the Worker's queue handler dispatches the vectors queue", async () => {
    const world = await cubes(1);
    const batch = createMessageBatch<unknown>(VECTOR_QUEUE, [
      { id: "bad-1", timestamp: new Date(), attempts: 1, body: { tenant_id: "t" } },
      { id: "bad-2", timestamp: new Date(), attempts: 1, body: { tenant_id: "t", cube_id: "c", embedder: "e", handed_at: 1, vectors: [{ id: "m", v: "AAA" }] } },
    ]);
    const { report, result } = await world.consume(batch);
    expect(report).toMatchObject({ dropped: 2, vectors: 0 });
    expect(result.explicitAcks.sort()).toEqual(["bad-1", "bad-2"]);
    expect(world.index.upserts).toEqual([]);
    // Through the Worker (no shared index configured in tests): acknowledged, nothing written, no error.
    const viaWorker = createMessageBatch<unknown>(VECTOR_QUEUE, [{ id: "w", timestamp: new Date(), attempts: 1, body: { tenant_id: "t" } }]);
    const ctx = createExecutionContext();
    await worker.queue(viaWorker, env as unknown as Env);
    expect((await getQueueResult(viaWorker, ctx)).explicitAcks).toEqual(["w"]);
  }, 60_000);
});
