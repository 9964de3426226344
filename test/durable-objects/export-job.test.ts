/**
 * Export as a stepwise job (issue 17, item 5): a cube bigger than one step's budget of R2 calls is written in steps
 * on the alarm, each within its budget, across an eviction and a step cut short after its part was uploaded — and
 * the file is byte for byte the one a single step writes. A job that fails for good aborts its multipart upload;
 * downloads and imports of an unfinished export are refused clearly.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CubeExportJob } from "../../durable-objects/cube/export-job";
import { MAX_EXPORT_PARTS, MAX_RUNNING_EXPORTS } from "../../durable-objects/cube/export-job";
import { PART_BYTES } from "../../durable-objects/cube/portability";
import { cubeObjectName } from "../../src/core/ids";
import { call, errorOf, newTenant, remember, uniqueUser } from "../helpers";
import { cubeWith } from "../helpers/cubes";
import { newMemory } from "../helpers/memories";
import { countingBucket, newR2Log, withoutHeaderFields } from "../helpers/r2";

const DAY = 86_400_000;

interface CubeInternals {
  exporter: Pick<CubeExportJob, "budget" | "memoriesPerStep" | "maxParts"> & { bucket: R2Bucket };
  clock: () => number;
}

/** What the exporter asked of R2: calls of the current step, the most one step made, aborts; and faults to inject. */
/**
 * A cube of ~13 MB (three multipart parts): 400 memories of ~15 KB, a tenth of them archived to R2, and two
 * episodes — with the exporter's bucket counted and its clock in the test's hands.
 */
async function bigCube() {
  const { key, user, cubeId, ref, stub } = await cubeWith([{ content: "seed memory" }], ["read", "write", "admin"]);
  await runInDurableObject(stub, async (instance) => {
    const items = Array.from({ length: 400 }, (_, n) =>
      newMemory(`Note ${n} about the garden: ${`leaf${n % 7} stone${n % 11} water `.repeat(700)}`.slice(0, 15_000), {
        tags: [`t${n % 5}`],
        metadata: { n },
        importance: n % 10 === 0 ? 0.1 : 0.9,
      }),
    );
    for (let i = 0; i < items.length; i += 100) {
      const outcome = await instance.remember(ref, items.slice(i, i + 100), { actor: "key_bulk", requestId: `req_${i}` });
      if (!outcome.ok) throw new Error(outcome.message);
    }
  });
  for (const [content, at] of [["I live in Paris.", "2024-01-01T10:00:00Z"], ["I moved to Berlin.", "2024-06-01T10:00:00Z"]] as const) {
    const said = await call("POST", "/v1/memories", { key, body: { user_id: user, sync: true, messages: [{ role: "user", name: "Alice", content, created_at: at }] } });
    expect(said.status).toBe(200);
  }
  // The unimportant tenth turns cold and moves to R2: each costs an R2 read when exported.
  await runInDurableObject(stub, (instance) => {
    (instance as unknown as CubeInternals).clock = () => Date.now() + 31 * DAY;
  });
  const archiving = await runInDurableObject(stub, (instance) => instance.startJob(ref, "archive"));
  for (let i = 0; i < 50 && (await call("GET", `/v1/jobs/${archiving.id}`, { key })).body.status !== "done"; i++) await runDurableObjectAlarm(stub);
  const stats = (await call("GET", `/v1/cubes/${cubeId}/stats`, { key })).body;
  expect(stats.states.archived).toBe(40);

  const log = newR2Log();
  let now = Date.now() + 31 * DAY;
  const configure = (budget: number, memoriesPerStep: number, maxParts = MAX_EXPORT_PARTS) =>
    runInDurableObject(stub, (instance) => {
      const cube = instance as unknown as CubeInternals;
      cube.exporter.bucket = countingBucket(env.ARCHIVE, log);
      cube.exporter.budget = budget;
      cube.exporter.memoriesPerStep = memoriesPerStep;
      cube.exporter.maxParts = maxParts;
      cube.clock = () => now;
    });
  const stored = () =>
    runInDurableObject(stub, (_i, state) => ({
      states: Number(state.storage.sql.exec("SELECT count(*) AS n FROM export_state").one().n),
      buffers: Number(state.storage.sql.exec("SELECT count(*) AS n FROM export_buffer").one().n),
    }));
  /** Runs the alarm once, counting this step's calls. */
  const alarm = async () => {
    log.calls = 0;
    return runDurableObjectAlarm(stub);
  };
  return { key, ref, stub, log, configure, stored, alarm, advance: (ms: number) => (now += ms) };
}

const job = async (key: string, id: string) => (await call("GET", `/v1/jobs/${id}`, { key })).body;

/** The file with the header fields that name the export (its id and time) left out: what must be identical. */
const withoutIdentity = (text: string) => withoutHeaderFields(text, ["export_id", "exported_at"]);

describe("an export bigger than one step", () => {
  it("writes, within its budget a step and across an eviction and a step cut short, the bytes one step writes", async () => {
    const cube = await bigCube();
    const { key } = cube;

    // One step with room for everything: done within the request.
    await cube.configure(1000, 100_000);
    const whole = await call("POST", `/v1/cubes/${cube.ref.cubeId}/export?include_vectors=true`, { key });
    expect([whole.status, whole.body.status]).toEqual([202, "done"]);
    expect(whole.body.job.result.export.parts).toBe(3);
    const reference = (await call("GET", whole.body.download_url, { key })).body as string;
    expect(new TextEncoder().encode(reference).length).toBe(whole.body.job.result.export.bytes);
    expect(reference.length).toBeGreaterThan(2 * PART_BYTES);

    // Three R2 calls and 40 memory lines a step.
    await cube.configure(3, 40);
    cube.log.calls = 0;
    cube.log.maxPerStep = 0;
    const started = await call("POST", `/v1/cubes/${cube.ref.cubeId}/export?include_vectors=true`, { key });
    expect([started.status, started.body.status]).toEqual([202, "running"]);
    const early = await call("GET", started.body.download_url, { key });
    expect([early.status, errorOf(early).code, errorOf(early).details]).toMatchObject([409, "conflict", { job_id: started.body.job_id }]);

    let alarms = 0;
    let evicted = false;
    let cut = false;
    let retried = false;
    for (; alarms < 500; alarms++) {
      const state = await job(key, started.body.job_id);
      if (state.status === "done" || state.status === "failed") break;
      if (!evicted && state.result.export.parts === 1) {
        // Evicted between steps with a part uploaded and bytes in the buffer: the next step resumes from storage.
        expect((await cube.stored()).buffers).toBeGreaterThan(0);
        await evictDurableObject(cube.stub);
        await cube.configure(3, 40);
        evicted = true;
      } else if (evicted && !cut && state.result.export.parts === 2) {
        // The next step uploads part 3 and is cut short before its commit: retried after its backoff, from the commit.
        cube.log.cutAfterPart = true;
        cut = true;
      }
      await cube.alarm();
      if (cut && !cube.log.cutAfterPart && (await job(key, started.body.job_id)).attempts > 0) {
        retried = true;
        cube.advance(5_000);
      }
    }
    const done = await job(key, started.body.job_id);
    expect(done).toMatchObject({ status: "done", error: null, attempts: 0 });
    expect([evicted, cut, retried]).toEqual([true, true, true]);
    expect(cube.log.maxPerStep).toBeLessThanOrEqual(3);
    expect(alarms).toBeGreaterThan(10);
    expect(await cube.stored()).toEqual({ states: 0, buffers: 0 });

    const stepped = (await call("GET", started.body.download_url, { key })).body as string;
    expect(done.result.export).toMatchObject({ ...whole.body.job.result.export, export_id: started.body.export_id, key: expect.any(String) });
    const [a, b] = [withoutIdentity(stepped), withoutIdentity(reference)];
    expect(a.header).toEqual(b.header);
    expect(a.rest.length).toBe(b.rest.length);
    expect(a.rest === b.rest).toBe(true);

    // The stepped file loads like any other.
    const target = (await call("POST", "/v1/cubes", { key, body: { user_id: uniqueUser(), name: "copy" } })).body.id as string;
    const imported = await call("POST", `/v1/cubes/${target}/import`, { key, body: { export_id: started.body.export_id } });
    expect(imported.status).toBe(202);
  }, 300_000);

  it("aborts its multipart upload when it fails for good, and refuses downloads and imports of it with the reason", async () => {
    const cube = await bigCube();
    const { key } = cube;
    await cube.configure(3, 40);
    cube.log.partsFail = true;
    const started = await call("POST", `/v1/cubes/${cube.ref.cubeId}/export`, { key });
    expect(started.status).toBe(202);
    // Importing it while it is being written: 409, not "not found".
    const target = (await call("POST", "/v1/cubes", { key, body: { user_id: uniqueUser(), name: "copy" } })).body.id as string;
    const tooEarly = await call("POST", `/v1/cubes/${target}/import`, { key, body: { export_id: started.body.export_id } });
    expect([tooEarly.status, errorOf(tooEarly).message]).toEqual([409, `the export ${started.body.export_id} is still being written; poll /v1/jobs/${started.body.job_id} until it is done`]);

    for (let i = 0; i < 200 && (await job(key, started.body.job_id)).status !== "failed"; i++) {
      cube.advance(60_000);
      await cube.alarm();
    }
    expect(await job(key, started.body.job_id)).toMatchObject({ status: "failed", error: "R2 unavailable", attempts: 5 });
    expect(cube.log.aborts).toBe(1);
    expect(await cube.stored()).toEqual({ states: 0, buffers: 0 });
    const failed = await call("GET", started.body.download_url, { key });
    expect([failed.status, errorOf(failed).message]).toEqual([409, `the export ${started.body.export_id} failed: R2 unavailable; start another export`]);
    const refused = await call("POST", `/v1/cubes/${target}/import`, { key, body: { export_id: started.body.export_id } });
    expect(refused.status).toBe(409);
  }, 300_000);

  it("writes a file of exactly its cap of parts, and fails one part past it with the reason, its upload aborted", async () => {
    const cube = await bigCube();
    const { key } = cube;
    // The cube's file is three parts (the first test): a cap of three takes it, in steps of three R2 calls.
    await cube.configure(3, 40, 3);
    const atCap = await call("POST", `/v1/cubes/${cube.ref.cubeId}/export`, { key });
    for (let i = 0; i < 500 && (await job(key, atCap.body.job_id)).status === "running"; i++) await cube.alarm();
    const done = await job(key, atCap.body.job_id);
    expect(done).toMatchObject({ status: "done", error: null, result: { export: { parts: 3 } } });
    expect((await call("GET", atCap.body.download_url, { key })).status).toBe(200);

    // A cap of two: the third part is one past it — the job fails for good at once, and its upload is aborted.
    await cube.configure(3, 40, 2);
    const past = await call("POST", `/v1/cubes/${cube.ref.cubeId}/export`, { key });
    for (let i = 0; i < 500 && (await job(key, past.body.job_id)).status === "running"; i++) await cube.alarm();
    const failed = await job(key, past.body.job_id);
    expect(failed).toMatchObject({ status: "failed", error: `the file is larger than 2 parts of ${PART_BYTES} bytes (R2 takes at most ${MAX_EXPORT_PARTS} per upload)` });
    expect(failed.result.export.parts).toBe(2);
    expect(cube.log.aborts).toBe(1);
    expect(await cube.stored()).toEqual({ states: 0, buffers: 0 });
    const refused = await call("GET", past.body.download_url, { key });
    expect(refused.status).toBe(409);
  }, 300_000);

  it(`runs at most ${MAX_RUNNING_EXPORTS} exports of a cube at once (409), and then one more`, async () => {
    const { key, tenantId } = await newTenant();
    const [memory] = await remember(key, uniqueUser(), [{ content: "one memory" }, { content: "another memory" }, { content: "a third" }]);
    const cubeId = memory.cube_id as string;
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
    // One memory line a step: no export finishes within its request.
    await runInDurableObject(stub, (instance) => {
      (instance as unknown as CubeInternals).exporter.memoriesPerStep = 1;
    });
    const started = [];
    for (let i = 0; i < MAX_RUNNING_EXPORTS; i++) started.push(await call("POST", `/v1/cubes/${cubeId}/export`, { key }));
    expect(started.map((r) => [r.status, r.body.status])).toEqual(Array.from({ length: MAX_RUNNING_EXPORTS }, () => [202, "running"]));
    // An export's job is named after it, so a download finds it without a scan.
    for (const r of started) expect(r.body.job_id).toBe(`job_${r.body.export_id.slice("exp_".length)}`);
    const refused = await call("POST", `/v1/cubes/${cubeId}/export`, { key });
    expect([refused.status, errorOf(refused).code]).toEqual([409, "conflict"]);
    for (let i = 0; i < 20 && (await job(key, started[0]!.body.job_id)).status !== "done"; i++) await runDurableObjectAlarm(stub);
    const files = await Promise.all(started.map(async (r) => (await call("GET", r.body.download_url, { key })).body as string));
    expect(new Set(files.map((text) => withoutIdentity(text).rest)).size).toBe(1);
    expect((await call("POST", `/v1/cubes/${cubeId}/export`, { key })).status).toBe(202);
  });
});
