import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CubeJobs, MAX_JOB_ATTEMPTS } from "../../durable-objects/cube/jobs";
import { QUIET_MS } from "../../durable-objects/cube/upkeep";
import { VectorStore } from "../../durable-objects/cube/vector-store";
import { LocalEmbedder } from "../../src/adapters/local-embedder";
import { cubeObjectName } from "../../src/core/ids";
import { call, newTenant, uniqueUser } from "../helpers";

const CURRENT = new LocalEmbedder().id;
const OLD = "old:retired-model@1";

/** A cube with `n` memories whose vectors all sit in a retired embedder's space, as after a model change. */
async function cubeOnOldEmbedder(n: number) {
  const { key, tenantId } = await newTenant();
  const user = uniqueUser();
  let cubeId = "";
  const ids: string[] = [];
  for (let i = 0; i < n; i += 100) {
    const memories = Array.from({ length: Math.min(100, n - i) }, (_, j) => ({ content: `the physician examined patient number ${i + j}` }));
    const response = await call("POST", "/v1/memories", { key, body: { user_id: user, memories } });
    cubeId = response.body.cube_id;
    ids.push(...response.body.data.map((m: any) => m.id));
  }
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
  await runInDurableObject(stub, (_instance, state) => {
    const vectors = new VectorStore(state.storage.sql);
    vectors.upsert(OLD, ids.map((id, i) => ({ id, vector: new Float32Array(7).fill(0).map((_, d) => (d === i % 7 ? 1 : 0)) })));
    expect(vectors.count(CURRENT)).toBe(0);
  });
  // The instance under test cached the vectors it wrote; start it afresh so it reads what is in SQL now.
  await evictDurableObject(stub);
  return { key, user, cubeId, stub, ids };
}

const semanticHits = async (key: string, user: string) =>
  (await call("POST", "/v1/search", { key, body: { user_id: user, query: "doctor", channels: ["vector"], top_k: 100 } })).body.data.length;

describe("reindex", () => {
  it("re-embeds into the current space in the background; search answers throughout", async () => {
    const { key, user, cubeId, stub } = await cubeOnOldEmbedder(3);
    // Spaces never mix: vectors of the retired model are not compared with the current model's query vector.
    expect(await semanticHits(key, user)).toBe(0);
    expect((await call("POST", "/v1/search", { key, body: { user_id: user, query: "physician" } })).body.data.length).toBe(3);

    const started = await call("POST", `/v1/cubes/${cubeId}/reindex`, { key });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ status: "queued", job: { type: "reindex", cube_id: cubeId, progress: { done: 0, total: 3 } } });
    const again = await call("POST", `/v1/cubes/${cubeId}/reindex`, { key });
    expect(again.body.job_id).toBe(started.body.job_id);

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const job = await call("GET", `/v1/jobs/${started.body.job_id}`, { key });
    expect(job.body).toMatchObject({ status: "done", progress: { done: 3, total: 3 }, attempts: 0, error: null });
    expect(await semanticHits(key, user)).toBe(3);
    await runInDurableObject(stub, (_instance, state) => {
      const vectors = new VectorStore(state.storage.sql);
      expect(vectors.count(CURRENT)).toBe(3);
      expect(vectors.count(OLD)).toBe(0);
    });
    // Nothing of the job is left: the alarm still armed, if any, is the cube's upkeep, once it has been quiet
    // (cube/upkeep.ts), not another reindex step.
    await runInDurableObject(stub, async (_i, state) => {
      const alarm = await state.storage.getAlarm();
      if (alarm !== null) expect(alarm).toBeGreaterThanOrEqual(Date.now() + QUIET_MS - 60_000);
      expect(state.storage.sql.exec("SELECT count(*) AS n FROM jobs WHERE status IN ('queued', 'running')").one().n).toBe(0);
    });
  });

  it("resumes where it was after the object is evicted mid-job", async () => {
    const { key, cubeId, stub } = await cubeOnOldEmbedder(250);
    const started = await call("POST", `/v1/cubes/${cubeId}/reindex`, { key });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const halfway = await call("GET", `/v1/jobs/${started.body.job_id}`, { key });
    expect(halfway.body).toMatchObject({ status: "running", progress: { done: 200, total: 250 } });
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const finished = await call("GET", `/v1/jobs/${started.body.job_id}`, { key });
    expect(finished.body).toMatchObject({ status: "done", progress: { done: 250, total: 250 } });
    await runInDurableObject(stub, (_instance, state) => {
      expect(new VectorStore(state.storage.sql).count(CURRENT)).toBe(250);
    });
  });

  it("a failing step backs off and fails for good after the last attempt, keeping the reason", async () => {
    const { stub } = await cubeOnOldEmbedder(1);
    await runInDurableObject(stub, (_instance, state) => {
      const jobs = new CubeJobs(state.storage.sql);
      const job = jobs.start({ tenantId: "t", cubeId: "cube_0123456789abcdef", owner: "user:x" }, "reindex", 1, 1_000);
      for (let attempt = 1; attempt < MAX_JOB_ATTEMPTS; attempt++) {
        jobs.retryOrFail(job.id, "model unavailable", 1_000);
        expect(jobs.get(job.id)).toMatchObject({ status: "running", attempts: attempt, error: "model unavailable" });
        expect(jobs.nextDue()).toBe(1_000 + 2 ** attempt * 1000);
      }
      jobs.retryOrFail(job.id, "model unavailable", 1_000);
      expect(jobs.get(job.id)).toMatchObject({ status: "failed", attempts: MAX_JOB_ATTEMPTS });
      expect(jobs.nextDue()).toBeNull();
    });
  });

  it("jobs and cubes of other tenants are not found", async () => {
    const { key, cubeId } = await cubeOnOldEmbedder(1);
    const other = await newTenant();
    const started = await call("POST", `/v1/cubes/${cubeId}/reindex`, { key });
    expect((await call("GET", `/v1/jobs/${started.body.job_id}`, { key: other.key })).status).toBe(404);
    expect((await call("POST", `/v1/cubes/${cubeId}/reindex`, { key: other.key })).status).toBe(404);
    expect((await call("GET", "/v1/jobs/job_nope", { key })).status).toBe(404);
    expect((await call("POST", "/v1/cubes/not-a-cube/reindex", { key })).status).toBe(404);
    const readOnly = await newTenant(["read"]);
    expect((await call("POST", `/v1/cubes/${cubeId}/reindex`, { key: readOnly.key })).status).toBe(403);
  });
});
