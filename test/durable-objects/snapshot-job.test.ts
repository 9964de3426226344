/**
 * A MemStore snapshot as a stepwise job (issue 17, item 5): a source cube whose snapshot needs more R2 calls than one
 * step allows is published in steps on its alarm, each within its budget and across an eviction, into the same file
 * one step writes; the version stays `preparing` (no file in R2, reads 409, no fork) until the file is whole and
 * the snapshot cube has loaded it.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CubeExportJob } from "../../durable-objects/cube/export-job";
import { cubeObjectName } from "../../src/core/ids";
import { call, errorOf, remember, uniqueUser } from "../helpers";
import { cubeWith } from "../helpers/cubes";
import { newMemory } from "../helpers/memories";
import { countingBucket, newR2Log, withoutHeaderFields } from "../helpers/r2";

const DAY = 86_400_000;

interface CubeInternals {
  exporter: Pick<CubeExportJob, "budget" | "memoriesPerStep"> & { bucket: R2Bucket };
  clock: () => number;
}

/** A cube of 60 memories, a third of them archived to R2 (an R2 read each when published), and one sensitive memory. */
async function archivedCube() {
  const { key, tenantId, user, cubeId, ref, stub } = await cubeWith([{ content: "seed memory about the orchard" }], ["read", "write", "admin"]);
  await runInDurableObject(stub, async (instance) => {
    const items = Array.from({ length: 60 }, (_, n) =>
      newMemory(`Orchard note ${n}: ${`apple${n % 7} pear${n % 5} prune `.repeat(40)}`, {
        tags: [`t${n % 3}`],
        metadata: { n },
        importance: n % 3 === 0 ? 0.1 : 0.9,
        sensitivity: n === 7 ? ["pii"] : [],
      }),
    );
    const outcome = await instance.remember(ref, items, { actor: "key_bulk", requestId: "req_bulk" });
    if (!outcome.ok) throw new Error(outcome.message);
  });
  const now = Date.now() + 31 * DAY;
  await runInDurableObject(stub, (instance) => {
    (instance as unknown as CubeInternals).clock = () => now;
  });
  const archiving = await runInDurableObject(stub, (instance) => instance.startJob(ref, "archive"));
  for (let i = 0; i < 50 && (await call("GET", `/v1/jobs/${archiving.id}`, { key })).body.status !== "done"; i++) await runDurableObjectAlarm(stub);
  expect((await call("GET", `/v1/cubes/${cubeId}/stats`, { key })).body.states.archived).toBe(20);

  const log = newR2Log();
  const configure = (budget: number, memoriesPerStep: number) =>
    runInDurableObject(stub, (instance) => {
      const cube = instance as unknown as CubeInternals;
      cube.exporter.bucket = countingBucket(env.ARCHIVE, log);
      cube.exporter.budget = budget;
      cube.exporter.memoriesPerStep = memoriesPerStep;
      cube.clock = () => now;
    });
  return { key, tenantId, cubeId, stub, log, configure };
}

async function versionRow(listingId: string) {
  const row = await env.DB.prepare("SELECT tenant_id, snapshot_cube_id, snapshot_key, job_id FROM memstore_versions WHERE listing_id = ? AND version = 1")
    .bind(listingId)
    .first<{ tenant_id: string; snapshot_cube_id: string; snapshot_key: string; job_id: string }>();
  if (!row) throw new Error(`no version of ${listingId}`);
  return row;
}

/** Runs the snapshot cube's alarm until GET shows the version ready. */
async function untilReady(key: string, listingId: string) {
  const row = await versionRow(listingId);
  const stub = env.CUBE.getByName(cubeObjectName(row.tenant_id, row.snapshot_cube_id));
  for (let i = 0; i < 20; i++) {
    const listing = (await call("GET", `/v1/memstore/listings/${listingId}`, { key })).body;
    if (listing.versions[0].status === "ready") return listing.versions[0];
    expect(listing.versions[0].status).toBe("preparing");
    await runDurableObjectAlarm(stub);
  }
  throw new Error(`${listingId} never became ready`);
}

const publish = async (key: string, cubeId: string) => {
  const response = await call("POST", "/v1/memstore/listings", { key, body: { cube_id: cubeId, name: `orchard ${crypto.randomUUID()}`, licence: "CC0-1.0" } });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
};

/** The file without what names the snapshot (its id, cube and time): what two snapshots of one cube share. */
const withoutIdentity = (text: string) => withoutHeaderFields(text, ["export_id", "exported_at", "cube_id"]);

describe("a snapshot bigger than one step", () => {
  it("is written within its budget a step, across an eviction, into the file one step writes, and read only once whole", async () => {
    const cube = await archivedCube();
    const { key } = cube;

    // Room for everything: written and handed to its snapshot cube within the request.
    await cube.configure(1000, 100_000);
    const whole = await publish(key, cube.cubeId);
    const wholeReady = await untilReady(key, whole.id);
    const reference = await (await env.ARCHIVE.get((await versionRow(whole.id)).snapshot_key))!.text();
    expect(wholeReady.memories).toBe(60);

    // Three R2 calls and five memory lines a step: 20 archived memories need many steps.
    await cube.configure(3, 5);
    cube.log.calls = 0;
    cube.log.maxPerStep = 0;
    const stepped = await publish(key, cube.cubeId);
    expect(stepped.versions).toEqual([expect.objectContaining({ version: 1, status: "preparing", memories: null, bytes: null })]);
    const row = await versionRow(stepped.id);
    const writing = () => runInDurableObject(cube.stub, (instance) => instance.job(row.job_id));
    expect((await writing())).toMatchObject({ type: "snapshot", status: "running" });

    // A reader subscribed to the listing (the publisher's own tenant reads it without subscribing).
    const forkTarget = (await call("POST", "/v1/cubes", { key, body: { user_id: uniqueUser(), name: "copy" } })).body.id as string;
    let steps = 0;
    let evicted = false;
    for (; steps < 200 && (await writing())?.status === "running"; steps++) {
      // Until the file is whole there is nothing to read: no object, reads 409, forks 409.
      expect(await env.ARCHIVE.head(row.snapshot_key)).toBeNull();
      const early = await call("POST", `/v1/memstore/listings/${stepped.id}/search`, { key, body: { query: "orchard" } });
      expect([early.status, errorOf(early).code]).toEqual([409, "conflict"]);
      if (steps === 2) {
        const fork = await call("POST", `/v1/memstore/listings/${stepped.id}/fork`, { key, body: { cube_id: forkTarget } });
        expect([fork.status, errorOf(fork).code]).toEqual([409, "conflict"]);
      }
      if (steps === 3) {
        // Evicted between steps, with lines in the buffer: the next step resumes from storage.
        const buffered = await runInDurableObject(cube.stub, (_i, state) => Number(state.storage.sql.exec("SELECT count(*) AS n FROM export_buffer").one().n));
        expect(buffered).toBeGreaterThan(0);
        await evictDurableObject(cube.stub);
        await cube.configure(3, 5);
        evicted = true;
      }
      cube.log.calls = 0;
      await runDurableObjectAlarm(cube.stub);
    }
    expect(await writing()).toMatchObject({ type: "snapshot", status: "done", error: null });
    expect(evicted).toBe(true);
    expect(steps).toBeGreaterThan(6);
    expect(cube.log.maxPerStep).toBeLessThanOrEqual(3);

    const ready = await untilReady(key, stepped.id);
    const file = await (await env.ARCHIVE.get(row.snapshot_key))!.text();
    expect(ready).toMatchObject({ status: "ready", memories: 60, bytes: new TextEncoder().encode(file).length });
    const [a, b] = [withoutIdentity(file), withoutIdentity(reference)];
    expect(a.header).toEqual(b.header);
    expect(a.rest === b.rest).toBe(true);
    expect(file).not.toContain("Orchard note 7:");

    const found = await call("POST", `/v1/memstore/listings/${stepped.id}/search`, { key, body: { query: "orchard note apple" } });
    expect(found.status).toBe(200);
    expect(found.body.data.length).toBeGreaterThan(0);
    const fork = await call("POST", `/v1/memstore/listings/${stepped.id}/fork`, { key, body: { cube_id: forkTarget } });
    expect(fork.status).toBe(202);
  }, 300_000);

  it("unpublished while being written: the job stops with the reason, its upload is aborted, and no file is ever handed on", async () => {
    const cube = await archivedCube();
    const { key } = cube;
    await cube.configure(3, 5);
    const listing = await publish(key, cube.cubeId);
    const row = await versionRow(listing.id);
    const writing = () => runInDurableObject(cube.stub, (instance) => instance.job(row.job_id));
    await runDurableObjectAlarm(cube.stub);
    expect(await writing()).toMatchObject({ type: "snapshot", status: "running" });

    expect((await call("DELETE", `/v1/memstore/listings/${listing.id}`, { key })).status).toBe(200);
    // The job is stopped after the answer, before its snapshot cube is destroyed.
    for (let i = 0; i < 100 && (await writing())?.status === "running"; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await writing()).toMatchObject({ status: "failed", error: "the listing was unpublished while its snapshot was being written" });
    const left = await runInDurableObject(cube.stub, (_i, state) => Number(state.storage.sql.exec("SELECT count(*) AS n FROM export_state").one().n));
    expect(left).toBe(0);
    // Its alarm finds nothing more to write; no file appears, and the snapshot cube never gets an import job.
    for (let i = 0; i < 5; i++) await runDurableObjectAlarm(cube.stub);
    expect(await env.ARCHIVE.head(row.snapshot_key)).toBeNull();
    const snapshotCube = env.CUBE.getByName(cubeObjectName(row.tenant_id, row.snapshot_cube_id));
    expect(await runInDurableObject(snapshotCube, (instance) => instance.job(row.job_id))).toBeNull();
  }, 300_000);
});
