/**
 * The per-isolate cube cache (services/cubes.ts): another isolate's deletion never reaches this isolate's entry, so
 * an entry is believed for at most its TTL. Here the deletion happens behind the cache's back, straight in D1.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TenantDirectoryDurableObject } from "../../durable-objects/tenant";
import { createDeps } from "../../src/deps";
import { CUBE_DELETION_BOUND_MS, CUBE_REFRESH_BATCH_MS } from "../../src/services/cubes";
import { cubeOwners } from "../../src/services/tenant-directory";
import { call, newTenant, remember, uniqueUser } from "../helpers";

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** Lets background work of earlier requests (waitUntil) finish before counting. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe("cube cache", () => {
  it("stops believing a cube deleted by another isolate within a minute", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const [memory] = await remember(key, user, [{ content: "Cached cube, deleted elsewhere." }]);
    expect((await call("GET", `/v1/memories?user_id=${user}`, { key })).body.data).toHaveLength(1);

    await env.DB.prepare("DELETE FROM cubes WHERE tenant_id = ? AND id = ?").bind(tenantId, memory.cube_id).run();
    // Still cached here: the entry is younger than its TTL.
    expect((await call("GET", `/v1/memories/${memory.id}`, { key })).status).toBe(200);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    expect((await call("GET", `/v1/memories/${memory.id}`, { key })).status).toBe(404);
    expect((await call("GET", `/v1/memories?user_id=${user}`, { key })).body.data).toEqual([]);
  });

  it("an isolate's cubes of one tenant due for a refresh go to the tenant's object in one call", async () => {
    const { key, tenantId } = await newTenant();
    const memories = [];
    for (let i = 0; i < 5; i++) memories.push((await remember(key, uniqueUser(), [{ content: `Cube ${i} in use` }]))[0]);
    for (const memory of memories) expect((await call("GET", `/v1/memories/${memory.id}`, { key })).status).toBe(200);
    const cubeIds = memories.map((memory) => memory.cube_id as string);
    // The object holds them (another isolate asked), so what follows counts calls, not loads.
    await cubeOwners(createDeps(env), tenantId, cubeIds);
    await settle();
    const calls = vi.spyOn(TenantDirectoryDurableObject.prototype, "cubeOwners");

    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    // Past the refresh age (half the deletion bound), each cube's next request finds it due.
    vi.setSystemTime(start + CUBE_DELETION_BOUND_MS / 2 + 1);
    for (const memory of memories) expect((await call("GET", `/v1/memories/${memory.id}`, { key })).status).toBe(200);
    await settle();
    expect(calls).not.toHaveBeenCalled();
    // The tenant's first request once the window is over takes the batch: one call for the five cubes.
    vi.setSystemTime(start + CUBE_DELETION_BOUND_MS / 2 + 1 + CUBE_REFRESH_BATCH_MS);
    expect((await call("GET", `/v1/memories/${memories[0].id}`, { key })).status).toBe(200);
    await settle();
    expect(calls).toHaveBeenCalledTimes(1);
    expect(new Set(calls.mock.calls[0]?.[1])).toEqual(new Set(cubeIds));
  });
});
