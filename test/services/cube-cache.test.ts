/**
 * The per-isolate cube cache (services/cubes.ts): another isolate's deletion never reaches this isolate's entry, so
 * an entry is believed for at most its TTL. Here the deletion happens behind the cache's back, straight in D1.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, newTenant, remember, uniqueUser } from "../helpers";

afterEach(() => vi.useRealTimers());

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
});
