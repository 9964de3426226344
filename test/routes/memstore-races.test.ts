/**
 * Unpublishing a listing while another request is half-way through it (real D1, Durable Objects and R2): a request
 * is held at a point inside a cube, the listing is unpublished, and then the held request goes on. Whatever the
 * order, nothing of the listing may outlive the unpublish — no version row, no snapshot cube holding the publisher's
 * memories, no snapshot file — and the held request answers with a clear 4xx or the documented failure.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CubeDurableObject } from "../../durable-objects/cube";
import { cubeObjectName } from "../../src/core/ids";
import { type ApiResponse, call, errorOf, newTenant, remember, uniqueUser } from "../helpers";
import { publish } from "../helpers/memstore";

/** A tenant with a cube of a few memories to publish. */
async function publisher() {
  const tenant = await newTenant(["read", "write", "admin"]);
  const [first] = await remember(tenant.key, uniqueUser(), [
    { content: "Rest bread dough for an hour before shaping" },
    { content: "Pizza ovens work best at 300 degrees" },
  ]);
  const cubeId: string = first.cube_id;
  return { ...tenant, cubeId, source: env.CUBE.getByName(cubeObjectName(tenant.tenantId, cubeId)) };
}

/**
 * Holds the next call of `part.method` inside a cube's live object for which `when(args)` holds, until `release()`;
 * `reached()` resolves once a call is held. Only flags cross between the test and the object, each side waiting on
 * its own timers: a promise resolved from the test would run the object's continuation in the test's I/O context.
 */
async function holdNext(stub: DurableObjectStub<CubeDurableObject>, part: string, method: string, when: (args: any[]) => boolean = () => true) {
  const flags = { held: false, released: false };
  await runInDurableObject(stub, (instance: CubeDurableObject) => {
    const target = (instance as any)[part];
    const original = target[method];
    target[method] = async function (this: unknown, ...args: any[]) {
      if (!when(args)) return original.apply(this, args);
      target[method] = original;
      flags.held = true;
      while (!flags.released) await new Promise((resolve) => setTimeout(resolve, 10));
      return original.apply(this, args);
    };
  });
  return {
    reached: () => until(async () => flags.held, `${part}.${method} is called`),
    release: () => {
      flags.released = true;
    },
  };
}

/** The snapshot target of the newest `snapshot` job of the source cube: the snapshot cube and its file. */
const newestSnapshot = (stub: DurableObjectStub<CubeDurableObject>) =>
  runInDurableObject(stub, (_instance, state) => {
    const row = state.storage.sql.exec("SELECT id, status, error, params FROM jobs WHERE type = 'snapshot' ORDER BY created_at DESC, rowid DESC LIMIT 1").one();
    const params = JSON.parse(String(row.params)) as { snapshot: { cubeId: string; key: string } };
    return { jobId: String(row.id), status: String(row.status), error: row.error, cubeId: params.snapshot.cubeId, key: params.snapshot.key };
  });

const memoriesIn = (stub: DurableObjectStub<CubeDurableObject>) =>
  runInDurableObject(stub, (_instance, state) => Number(state.storage.sql.exec("SELECT count(*) AS n FROM memories").one().n));

async function until(condition: () => Promise<boolean>, what: string) {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never: ${what}`);
}

/** After the unpublish: no version row, the snapshot file gone, and the snapshot cube empty even after its alarm. */
async function nothingLeftOf(tenantId: string, listingId: string, snapshot: { cubeId: string; key: string }) {
  const rows = await env.DB.prepare("SELECT count(*) AS n FROM memstore_versions WHERE listing_id = ?").bind(listingId).first<{ n: number }>();
  expect(rows?.n).toBe(0);
  await until(async () => (await env.ARCHIVE.head(snapshot.key)) === null, `the snapshot file ${snapshot.key} is deleted`);
  const cube = env.CUBE.getByName(cubeObjectName(tenantId, snapshot.cubeId));
  for (let i = 0; i < 3; i++) await runDurableObjectAlarm(cube);
  expect(await memoriesIn(cube)).toBe(0);
}

const expectError = (response: ApiResponse, status: number, code: string) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(errorOf(response).code).toBe(code);
};

describe("unpublishing while a snapshot is handed to its cube", { timeout: 120_000 }, () => {
  it("leaves no snapshot cube: the hand-off finds the file gone and the writing job fails", async () => {
    const pub = await publisher();
    // The first hand-off fails (as when the snapshot cube is briefly unreachable), so the job retries on the alarm.
    await runInDurableObject(pub.source, (instance: CubeDurableObject) => {
      const exporter = (instance as any).exporter;
      const original = exporter.handOff;
      exporter.handOff = async () => {
        exporter.handOff = original;
        throw new Error("the snapshot cube did not answer");
      };
    });
    const published = await call("POST", "/v1/memstore/listings", {
      key: pub.key,
      body: { cube_id: pub.cubeId, name: `held ${crypto.randomUUID()}`, description: "", tags: [], licence: "CC0-1.0" },
    });
    expect(published.status, JSON.stringify(published.body)).toBe(201);
    const snapshot = await newestSnapshot(pub.source);
    expect(snapshot.status).toBe("running");

    // The retry is held at its hand-off, after the file was completed in R2, while the listing is unpublished.
    const second = await holdNext(pub.source, "exporter", "handOff");
    await runInDurableObject(pub.source, (_instance, state) => state.storage.sql.exec("UPDATE jobs SET run_at = 0 WHERE id = ?", snapshot.jobId));
    const retry = runDurableObjectAlarm(pub.source);
    await second.reached();
    expect(await env.ARCHIVE.head(snapshot.key)).not.toBeNull();
    expect((await call("DELETE", `/v1/memstore/listings/${published.body.id}`, { key: pub.key })).status).toBe(200);
    await until(async () => (await env.ARCHIVE.head(snapshot.key)) === null, "the unpublish destroys the snapshot cube and its file");
    second.release();
    await retry;

    await nothingLeftOf(pub.tenantId, published.body.id, snapshot);
    expect((await newestSnapshot(pub.source)).status).toBe("failed");
  });
});

describe("unpublishing while a fork starts", { timeout: 120_000 }, () => {
  it("answers the fork 404 once the snapshot is gone, and the fork's cube gets nothing", async () => {
    const pub = await publisher();
    const listing = await publish(pub.key, pub.cubeId);
    const snapshot = await newestSnapshot(pub.source);
    const snapshotCube = env.CUBE.getByName(cubeObjectName(pub.tenantId, snapshot.cubeId));
    await until(async () => (await runDurableObjectAlarm(snapshotCube), (await memoriesIn(snapshotCube)) > 0), "the snapshot is loaded");
    await until(async () => (await call("GET", `/v1/memstore/listings/${listing.id}`, { key: pub.key })).body.versions[0].status === "ready", "ready");
    const created = await call("POST", "/v1/cubes", { key: pub.key, body: { user_id: uniqueUser(), name: "fork" } });
    const target = env.CUBE.getByName(cubeObjectName(pub.tenantId, created.body.id));
    // Held in the fork's cube, after the listing and its ready version were read, before the file is.
    const held = await holdNext(target, "importer", "readHeader");
    const forking = call("POST", `/v1/memstore/listings/${listing.id}/fork`, { key: pub.key, body: { cube_id: created.body.id } });
    await held.reached();
    expect((await call("DELETE", `/v1/memstore/listings/${listing.id}`, { key: pub.key })).status).toBe(200);
    await until(async () => (await env.ARCHIVE.head(snapshot.key)) === null, "the unpublish destroys the snapshot cube and its file");
    held.release();
    expectError(await forking, 404, "not_found");
    await nothingLeftOf(pub.tenantId, listing.id, snapshot);
    for (let i = 0; i < 3; i++) await runDurableObjectAlarm(target);
    expect(await memoriesIn(target)).toBe(0);
  });
});

describe("unpublishing while a new version is published", { timeout: 120_000 }, () => {
  it("leaves no version row and no snapshot cube of the new version; the publishing request answers 404", async () => {
    const pub = await publisher();
    const listing = await publish(pub.key, pub.cubeId);
    // Held in the source cube while it writes the new version's snapshot, after the listing was read.
    const held = await holdNext(pub.source, "steps", "run", ([job]) => job?.type === "snapshot");
    const publishing = call("POST", `/v1/memstore/listings/${listing.id}/versions`, { key: pub.key });
    await held.reached();
    expect((await call("DELETE", `/v1/memstore/listings/${listing.id}`, { key: pub.key })).status).toBe(200);
    held.release();
    expectError(await publishing, 404, "not_found");
    await nothingLeftOf(pub.tenantId, listing.id, await newestSnapshot(pub.source));
  });
});
