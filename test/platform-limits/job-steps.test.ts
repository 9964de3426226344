/**
 * CPU time per invocation (30 s by default, developers.cloudflare.com/workers/platform/limits/#cpu-time): no alarm
 * may do work that grows with the cube. Background jobs therefore run one bounded step per alarm. Timing steps would
 * prove nothing on a shared machine, so these tests count the work items of one step instead, at exactly a step's
 * batch and one past: a cube of batch + 1 memories takes two alarms, the first doing exactly the batch.
 * (Export and teardown count their R2 and Vectorize calls per step in export-job.test.ts and teardown.test.ts.)
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CONSOLIDATE_BATCH } from "../../durable-objects/cube/consolidate";
import { IMPORT_BATCH } from "../../durable-objects/cube/import";
import { EXPIRE_BATCH } from "../../durable-objects/cube/lifecycle";
import { RemoteVectors, SEND_BATCH } from "../../durable-objects/cube/remote-vectors";
import { REINDEX_BATCH } from "../../durable-objects/cube/jobs";
import { VectorStore } from "../../durable-objects/cube/vector-store";
import { VectorizeVectorIndex } from "../../src/adapters/vectorize-index";
import { cubeObjectName } from "../../src/core/ids";
import { VectorizeStandIn } from "../adapters/stand-ins";
import { call, newTenant, uniqueUser } from "../helpers";

/** A cube of `n` distinct memories, written through the API 100 at a time. */
async function cubeOf(n: number) {
  const { key, tenantId } = await newTenant();
  const user = uniqueUser();
  let cubeId = "";
  const ids: string[] = [];
  for (let i = 0; i < n; i += 100) {
    const memories = Array.from({ length: Math.min(100, n - i) }, (_, j) => ({ content: `ledger entry ${i + j}: shelf ${(i + j) % 17}, box ${i + j}` }));
    const response = await call("POST", "/v1/memories", { key, body: { user_id: user, memories } });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    cubeId = response.body.cube_id;
    ids.push(...response.body.data.map((m: { id: string }) => m.id));
  }
  const stubOf = (id: string) => env.CUBE.getByName(cubeObjectName(tenantId, id));
  return { key, user, cubeId, ids, stub: stubOf(cubeId), stubOf };
}

/** The job's `progress.done` after each alarm, until it ends. */
async function doneAfterEachAlarm(key: string, stub: DurableObjectStub, jobId: string): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < 10; i++) {
    await runDurableObjectAlarm(stub);
    const job = (await call("GET", `/v1/jobs/${jobId}`, { key })).body;
    seen.push(job.progress.done);
    if (job.status === "done" || job.status === "failed") {
      expect(job.status, JSON.stringify(job)).toBe("done");
      return seen;
    }
  }
  throw new Error(`job ${jobId} did not finish in 10 alarms`);
}

describe("each alarm does one bounded step of a job: exactly its batch, the rest on the next alarm", () => {
  it(`reindex re-embeds ${REINDEX_BATCH} memories per alarm`, async () => {
    const n = REINDEX_BATCH + 1;
    const { key, cubeId, ids, stub } = await cubeOf(n);
    // Every vector in a retired space, as after a model change: all n need re-embedding.
    await runInDurableObject(stub, (_instance, state) => {
      const vectors = new VectorStore(state.storage.sql);
      vectors.upsert("old:retired-model@1", ids.map((id) => ({ id, vector: Float32Array.of(1, 0, 0) })));
    });
    await evictDurableObject(stub);
    const started = await call("POST", `/v1/cubes/${cubeId}/reindex`, { key });
    expect(started.body.job.progress).toEqual({ done: 0, total: n });
    expect(await doneAfterEachAlarm(key, stub, started.body.job_id)).toEqual([REINDEX_BATCH, n]);
  }, 120_000);

  it(`consolidation examines ${CONSOLIDATE_BATCH} memories per alarm`, async () => {
    const n = 2 * CONSOLIDATE_BATCH + 1;
    const { key, cubeId, stub } = await cubeOf(n);
    const started = await call("POST", "/v1/jobs", { key, body: { type: "consolidate", cube_id: cubeId } });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(await doneAfterEachAlarm(key, stub, started.body.job_id)).toEqual([CONSOLIDATE_BATCH, 2 * CONSOLIDATE_BATCH, n]);
  }, 120_000);

  it(`import loads ${IMPORT_BATCH} memories per alarm`, async () => {
    const n = IMPORT_BATCH + 1;
    const { key, cubeId, stubOf } = await cubeOf(n);
    const exported = await call("POST", `/v1/cubes/${cubeId}/export`, { key });
    expect(exported.status, JSON.stringify(exported.body)).toBe(202);
    expect(exported.body.status).toBe("done");
    const created = await call("POST", "/v1/cubes", { key, body: { user_id: uniqueUser(), name: "imported" } });
    const target = created.body.id as string;
    const started = await call("POST", `/v1/cubes/${target}/import`, { key, body: { export_id: exported.body.export_id } });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(await doneAfterEachAlarm(key, stubOf(target), started.body.job.id)).toEqual([IMPORT_BATCH, n]);
  }, 120_000);

  it(`a send to the shared index takes the oldest ${SEND_BATCH} queued vectors, in upserts of 1,000`, async () => {
    const stub = env.CUBE.getByName(`standins-send-batch-${crypto.randomUUID()}`);
    const upserts = await runInDurableObject(stub, async (_instance, state) => {
      const vectors = new VectorStore(state.storage.sql);
      const ids = Array.from({ length: SEND_BATCH + 1 }, (_, i) => `m${i}`);
      vectors.upsert("test-space", ids.map((id, i) => ({ id, vector: Float32Array.of(1, i % 7, 0, 1) })));
      const remote = new RemoteVectors(state.storage.sql, vectors);
      remote.queue(ids, "test-space", 1);
      const standIn = new VectorizeStandIn(4);
      const index = new VectorizeVectorIndex(standIn);
      const sent = [await remote.send(index, "ns", 2), await remote.send(index, "ns", 3), await remote.send(index, "ns", 4)];
      return { sent, calls: standIn.upserts.map((batch) => batch.length) };
    });
    expect(upserts).toEqual({ sent: [SEND_BATCH, 1, 0], calls: [1000, 1000, 1000, 1000, 1000, 1] });
  }, 120_000);

  it(`the alarm expires at most ${EXPIRE_BATCH} memories whose time has come, the rest on the next`, async () => {
    const n = EXPIRE_BATCH + 1;
    const { stub } = await cubeOf(n);
    const expired = () => runInDurableObject(stub, (_instance, state) => Number(state.storage.sql.exec("SELECT count(*) AS n FROM memories WHERE state = 'expired'").one().n));
    // All overdue at once, as after an outage of the alarm.
    await runInDurableObject(stub, (_instance, state) => state.storage.sql.exec("UPDATE memories SET expires_at = 1"));
    const seen: number[] = [];
    for (let i = 0; i < 2; i++) {
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      seen.push(await expired());
    }
    expect(seen).toEqual([EXPIRE_BATCH, n]);
  }, 120_000);
});
