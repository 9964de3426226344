/**
 * Issue 16, item 3: one answer contract for writes. Work after the commit (arming the expiry and outbox alarms)
 * may fail; the write stands and the answer says so, never a 500 for a stored memory.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { Retrieval } from "../../src/adapters/factory";
import { VectorizeVectorIndex } from "../../src/adapters/vectorize-index";
import { cubeObjectName } from "../../src/core/ids";
import { VectorizeStandIn } from "../adapters/stand-ins";
import { call, newTenant, remember, uniqueUser } from "../helpers";

describe("after a committed write", () => {
  it("a failing alarm after the commit does not turn a stored write into an error", { timeout: 30_000 }, async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const [first] = await remember(key, user, [{ content: "opens the cube" }]);
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, first.cube_id));
    await runInDurableObject(stub, (_instance, state) => {
      vi.spyOn(state.storage, "getAlarm").mockResolvedValue(null);
      vi.spyOn(state.storage, "setAlarm").mockRejectedValue(new Error("storage unavailable"));
    });
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const written = await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "expires later", ttl: 3600 }] } });
    expect(written.status, JSON.stringify(written.body)).toBe(201);
    const read = await call("GET", `/v1/memories/${written.body.data[0].id}`, { key });
    expect(read.body.content).toBe("expires later");
    expect(errors.mock.calls.some(([message]) => String(message).includes("the write stands"))).toBe(true);
    errors.mockRestore();
  });
});

interface CubeInternals {
  retrieval: Retrieval;
  retrievalAdapters: Retrieval | null;
}

/**
 * A cube with a shared index (a Vectorize stand-in), so every write queues vectors after its commit, and whose alarm
 * storage then fails: arming the alarm that sends the queue is the work after the commit that fails.
 */
async function cubeWhoseAlarmFailsAfterPush() {
  const { key, tenantId } = await newTenant();
  const user = uniqueUser();
  const [first] = await remember(key, user, [{ content: "opens the cube" }]);
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, first.cube_id));
  const standIn = await runInDurableObject(stub, (instance, state) => {
    const cube = instance as unknown as CubeInternals;
    const vectorize = new VectorizeStandIn(cube.retrieval.embedder.dimensions);
    cube.retrievalAdapters = { ...cube.retrieval, remoteIndex: new VectorizeVectorIndex(vectorize) };
    vi.spyOn(state.storage, "getAlarm").mockRejectedValue(new Error("storage unavailable"));
    vi.spyOn(state.storage, "setAlarm").mockRejectedValue(new Error("storage unavailable"));
    return vectorize;
  });
  return { key, user, standIn, stub };
}

describe("after a committed write with a shared index", () => {
  it("a failing alarm after the vector push does not turn a stored write into an error", { timeout: 30_000 }, async () => {
    const { key, user, stub } = await cubeWhoseAlarmFailsAfterPush();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const written = await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "pushed after the commit" }] } });
    expect(written.status, JSON.stringify(written.body)).toBe(201);
    // The vector is queued for the shared index (cube/remote-vectors.ts sends the queue from the alarm).
    const queued = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec("SELECT count(*) AS n FROM remote_vectors WHERE id = ? AND pushed_at = 0", written.body.data[0].id).one().n,
    );
    expect(queued).toBe(1);
    expect((await call("GET", `/v1/memories/${written.body.data[0].id}`, { key })).body.content).toBe("pushed after the commit");

    const updated = await call("PATCH", `/v1/memories/${written.body.data[0].id}`, { key, body: { content: "changed after the commit" } });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(errors.mock.calls.some(([message]) => String(message).includes("queueing vectors for the shared index failed"))).toBe(true);
    errors.mockRestore();
  });

  it("a committed ingest step stays done when the push after it fails", { timeout: 30_000 }, async () => {
    const { key, user } = await cubeWhoseAlarmFailsAfterPush();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const messages = [
      { role: "user", content: "I moved to Porto in March." },
      { role: "assistant", content: "How do you like Porto?" },
    ];
    const ingested = await call("POST", "/v1/memories", { key, body: { user_id: user, messages, infer: false } });
    expect(ingested.status, JSON.stringify(ingested.body)).toBe(200);
    expect(ingested.body.job).toMatchObject({ type: "ingest", status: "done", progress: { done: 2, total: 2 } });
    expect(ingested.body.job.error ?? null).toBeNull();
    expect(ingested.body.data.map((m: { content: string }) => m.content)).toEqual(messages.map((m) => m.content));
    errors.mockRestore();
  });
});
