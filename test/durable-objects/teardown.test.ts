/**
 * Destroying a cube bigger than one invocation's budget of calls (issue 17, item 5): the storage goes at once and
 * the answer is the receipt; the shared index's vectors and the R2 objects go in bounded steps on the alarm, which
 * survive an eviction between steps and back off while a service fails. A small budget stands in for a large cube.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FIRST_BACKOFF_MS } from "../../durable-objects/cube/backoff";
import { cubePrefixes } from "../../durable-objects/cube/portability";
import type { CubeTeardown } from "../../durable-objects/cube/teardown";
import type { Retrieval } from "../../src/adapters/factory";
import type { VectorIndex } from "../../src/adapters/types";
import { cubeObjectName } from "../../src/core/ids";
import { call, newTenant, remember, uniqueUser } from "../helpers";

interface CubeInternals {
  retrieval: Retrieval;
  retrievalAdapters: Retrieval | null;
  teardown: CubeTeardown;
  clock: () => number;
}

/** A shared index that records deletes (and refuses past Vectorize's 100 ids), failing while `failing` is set. */
function recordingIndex() {
  const deletes: string[][] = [];
  const state = { failing: false };
  const index: VectorIndex = {
    upsert: async () => {},
    query: async () => [],
    fetch: async () => [],
    delete: async (_namespace, ids) => {
      if (state.failing) throw new Error("Vectorize unavailable");
      if (ids.length > 100) throw new Error("VECTOR_DELETE_ERROR (code = 40007): too many ids in payload; max id count is 100");
      deletes.push([...ids]);
    },
  };
  return { index, deletes, state };
}

/** An owner's cube with 250 memories and three R2 objects, a recording shared index and a budget of 3 calls a step. */
async function bigCube() {
  const { key, tenantId } = await newTenant(["read", "write", "admin"]);
  const user = uniqueUser();
  const ids: string[] = [];
  for (let batch = 0; batch < 5; batch++) {
    const written = await remember(key, user, Array.from({ length: 50 }, (_, i) => ({ content: `fact number ${batch * 50 + i} about the garden` })));
    ids.push(...written.map((m) => m.id as string));
  }
  const [first] = await remember(key, user, [{ content: "one more" }]);
  ids.push(first.id);
  const cubeId = first.cube_id as string;
  const ref = { tenantId, cubeId, owner: `user:${user}` };
  const [archive, episodes] = cubePrefixes(ref);
  for (const name of ["a", "b", "c"]) await env.ARCHIVE.put(`${archive}${name}.json`, "{}");
  await env.ARCHIVE.put(`${episodes}e.json`, "{}");
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
  const shared = recordingIndex();
  let now = Date.now();
  const configure = () =>
    runInDurableObject(stub, (instance) => {
      const cube = instance as unknown as CubeInternals;
      cube.retrievalAdapters = { ...cube.retrieval, remoteIndex: shared.index };
      cube.teardown.budget = 3;
      cube.clock = () => now;
    });
  await configure();
  const pending = () => runInDurableObject(stub, (_i, state) => Number(state.storage.sql.exec("SELECT count(*) AS n FROM teardown").one().n));
  const objects = async () => {
    let n = 0;
    for (const prefix of cubePrefixes(ref)) n += (await env.ARCHIVE.list({ prefix })).objects.length;
    return n;
  };
  return { key, user, ref, ids, stub, shared, configure, pending, objects, advance: (ms: number) => (now += ms) };
}

describe("destroying a cube bigger than one step", () => {
  it("answers with the receipt at once and finishes on the alarm, each step within its budget, across an eviction", async () => {
    const cube = await bigCube();
    const deleted = await call("DELETE", `/v1/owners/${encodeURIComponent(cube.ref.owner)}`, { key: cube.key });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ memories_deleted: 251, vectors_deleted: 251 });
    // The answer's step: the archive prefix listed and emptied (2 calls); nothing else fitted in 3.
    expect(deleted.body.r2_objects_deleted).toBe(3);
    expect(cube.shared.deletes).toEqual([]);
    // The cube's storage is gone already; what is left is the teardown plan and its alarm.
    const left = await runInDurableObject(cube.stub, async (_i, state) => ({
      memories: Number(state.storage.sql.exec("SELECT count(*) AS n FROM memories").one().n),
      alarm: await state.storage.getAlarm(),
    }));
    expect(left.memories).toBe(0);
    expect(left.alarm).not.toBeNull();
    expect(await cube.pending()).toBeGreaterThan(0);

    // One step: the episodes prefix (list + delete) — then the next prefix would not fit.
    expect(await runDurableObjectAlarm(cube.stub)).toBe(true);
    expect(await cube.objects()).toBe(0);
    // Evicted between steps: the next one starts from what SQL recorded.
    await evictDurableObject(cube.stub);
    await cube.configure();
    for (let step = 0; step < 10 && (await cube.pending()) > 0; step++) {
      const before = cube.shared.deletes.length;
      await runDurableObjectAlarm(cube.stub);
      expect(cube.shared.deletes.length - before).toBeLessThanOrEqual(3);
    }
    expect(await cube.pending()).toBe(0);
    expect(cube.shared.deletes.map((ids) => ids.length)).toEqual([100, 100, 51]);
    expect(cube.shared.deletes.flat().sort()).toEqual([...cube.ids].sort());
    expect(await runInDurableObject(cube.stub, (_i, state) => state.storage.getAlarm())).toBeNull();
  }, 120_000);

  it("backs off while the shared index fails, loses nothing, and spares what a cube made again under the same id writes", async () => {
    const cube = await bigCube();
    cube.shared.state.failing = true;
    expect((await call("DELETE", `/v1/owners/${encodeURIComponent(cube.ref.owner)}`, { key: cube.key })).status).toBe(200);
    // The owner writes again: the same default cube, a new memory and a new R2 object.
    const [fresh] = await remember(cube.key, cube.user, [{ content: "a new beginning" }]);
    expect(fresh.cube_id).toBe(cube.ref.cubeId);
    await cube.configure();
    const [, episodes] = cubePrefixes(cube.ref);
    await env.ARCHIVE.put(`${episodes}new.json`, "{}");

    for (let step = 0; step < 4; step++) await runDurableObjectAlarm(cube.stub);
    expect(cube.shared.deletes).toEqual([]);
    // The teardown waits for its backoff (the alarm may still wake earlier for the new memory's own work).
    const backoff = await runInDurableObject(cube.stub, (instance) => {
      const internals = instance as unknown as CubeInternals;
      return { notBefore: internals.teardown.backoff.notBefore(), due: internals.teardown.nextDue(internals.clock()) };
    });
    expect(backoff.notBefore).toBeGreaterThan(Date.now());
    expect(backoff.due).toBe(backoff.notBefore);

    cube.shared.state.failing = false;
    cube.advance(FIRST_BACKOFF_MS * 64);
    for (let step = 0; step < 10 && (await cube.pending()) > 0; step++) await runDurableObjectAlarm(cube.stub);
    expect(await cube.pending()).toBe(0);
    expect(cube.shared.deletes.flat().sort()).toEqual([...cube.ids].sort());
    expect((await env.ARCHIVE.list({ prefix: episodes })).objects.map((o) => o.key)).toEqual([`${episodes}new.json`]);
    const after = await call("GET", `/v1/memories?user_id=${cube.user}`, { key: cube.key });
    expect(after.body.data.map((m: { content: string }) => m.content)).toEqual(["a new beginning"]);
  }, 120_000);

  it("loses no plan if the invocation dies right after the storage is erased", async () => {
    const cube = await bigCube();
    // The crash: the first thing destroy() does in memory once the storage is gone throws (before, that was between
    // deleteAll() and writing the plan, and the plan — the only record of the cube's vector ids — was lost).
    await runInDurableObject(cube.stub, (instance) => {
      const internals = instance as unknown as { vectors: { reset: () => void } };
      internals.vectors.reset = () => {
        throw new Error("the invocation died here");
      };
    });
    const deleted = await call("DELETE", `/v1/owners/${encodeURIComponent(cube.ref.owner)}`, { key: cube.key });
    expect(deleted.status).toBe(500);
    await evictDurableObject(cube.stub);
    await cube.configure();
    expect(await runInDurableObject(cube.stub, (_i, state) => Number(state.storage.sql.exec("SELECT count(*) AS n FROM memories").one().n))).toBe(0);
    // The plan is there and the alarm resumes it.
    expect(await cube.pending()).toBeGreaterThan(0);
    for (let step = 0; step < 10 && (await cube.pending()) > 0; step++) expect(await runDurableObjectAlarm(cube.stub)).toBe(true);
    expect(await cube.pending()).toBe(0);
    expect(cube.shared.deletes.flat().sort()).toEqual([...cube.ids].sort());
    expect(await cube.objects()).toBe(0);
  }, 120_000);

  it("erases every table but the plan's and builds the schema again in the same transaction", async () => {
    const cube = await bigCube();
    const tables = () =>
      runInDurableObject(cube.stub, (_i, state) =>
        state.storage.sql
          .exec("SELECT name FROM sqlite_master WHERE type IN ('table', 'index', 'trigger') ORDER BY name")
          .toArray()
          .map((row) => String(row.name)),
      );
    const before = await tables();
    expect((await call("DELETE", `/v1/owners/${encodeURIComponent(cube.ref.owner)}`, { key: cube.key })).status).toBe(200);
    expect(await tables()).toEqual(before);
    const rows = await runInDurableObject(cube.stub, (_i, state) => {
      const counts: Record<string, number> = {};
      for (const name of ["memories", "memories_fts", "events", "remote_vectors", "retry_backoff"]) {
        counts[name] = Number(state.storage.sql.exec(`SELECT count(*) AS n FROM ${name}`).one().n);
      }
      return counts;
    });
    expect(rows).toEqual({ memories: 0, memories_fts: 0, events: 0, remote_vectors: 0, retry_backoff: 0 });
    // The search index works on the new, empty cube.
    const [fresh] = await remember(cube.key, cube.user, [{ content: "a lonely gardener" }]);
    expect(fresh.cube_id).toBe(cube.ref.cubeId);
    const found = await call("POST", "/v1/search", { key: cube.key, body: { query: "gardener", user_id: cube.user, channels: ["lexical"] } });
    expect(found.body.data.map((m: { content: string }) => m.content)).toEqual(["a lonely gardener"]);
  }, 120_000);
});
