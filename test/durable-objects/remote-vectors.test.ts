/**
 * With a shared index (Vectorize in production, a stand-in with its request shapes and delayed visibility here),
 * the cube keeps a vector in its own store only until the index serves it: writes are found at once, the alarm
 * confirms them against the index and prunes the local copy, and a changed or lost vector is never pruned early.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CONFIRM_DELAY_MS, REPUSH_AFTER_MS } from "../../durable-objects/cube/remote-vectors";
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
  const vectorize = await runInDurableObject(stub, (instance) => {
    const cube = instance as unknown as CubeInternals;
    const standIn = new VectorizeStandIn(cube.retrieval.embedder.dimensions);
    const flaky = Object.assign(Object.create(standIn) as VectorizeStandIn, {
      upsert: (vectors: VectorizeVector[]) => (failUpserts ? Promise.reject(new Error("Vectorize unavailable")) : standIn.upsert(vectors)),
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
    failUpserts: (fail: boolean) => (failUpserts = fail),
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

    // Checked too early, or before the index shows them: nothing is pruned.
    cube.advance(CONFIRM_DELAY_MS);
    expect(await runDurableObjectAlarm(cube.stub)).toBe(true);
    expect(await cube.local()).toEqual([cube.first.id, ...ids].sort());
    expect(cube.vectorize.gets.flat()).toEqual(expect.arrayContaining(ids.map((id) => `${written[0].cube_id}:${id}`)));

    cube.vectorize.flush();
    cube.advance(1_000);
    expect(await runDurableObjectAlarm(cube.stub)).toBe(true);
    expect(await cube.local()).toEqual([cube.first.id]);
    expect((await cube.rows()).filter((r) => r.confirmed_at !== null).map((r) => r.id).sort()).toEqual([...ids].sort());
    const stats = await call("GET", `/v1/cubes/${written[0].cube_id}/stats`, { key: cube.key });
    expect(stats.body.vectors).toBe(3);

    const late = await vectorSearch(cube.key, cube.user, "kitten adopted by Maria");
    expect(late.body.data[0]).toMatchObject({ id: ids[0], channels: ["vector"] });
  });

  it("never prunes a vector the index still serves in an older version", async () => {
    const cube = await cubeWithSharedIndex();
    const [memory] = await remember(cube.key, cube.user, [{ content: "The team offsite is in Porto." }]);
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
    cube.advance(1_000);
    await runDurableObjectAlarm(cube.stub);
    expect(await cube.local()).toEqual([cube.first.id]);
  });

  it("sends a vector again when the send failed or the index lost it, and forgets the record of a purged memory", async () => {
    const cube = await cubeWithSharedIndex();
    cube.failUpserts(true);
    const [memory] = await remember(cube.key, cube.user, [{ content: "Sam's flight lands at 6 pm." }]);
    expect((await cube.rows()).find((r) => r.id === memory.id)).toMatchObject({ pushed_at: 0, confirmed_at: null });

    cube.failUpserts(false);
    const upsertsBefore = cube.vectorize.upserts.length;
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
});
