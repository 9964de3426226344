/**
 * Key rows refresh from the key's rate limiter, not D1 (issue 14, item 1; docs/hot-path.md "Caches and their bounds"):
 * every isolate re-reads the keys it serves every KEY_REFRESH_MS; the limiter holds the row and reads D1 once per
 * KEY_ROW_HELD_MS or change through the API, however many isolates ask. Reads of `api_keys` are counted at the D1
 * binding (every query drizzle or a prepared statement runs is a `prepare` on D1Database); the clock is moved, no sleeps.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RateLimiterDurableObject } from "../../durable-objects/rate-limiter";
import { KEY_ROW_HELD_MS } from "../../durable-objects/rate-limiter/key-row";
import { createDeps } from "../../src/deps";
import { KEY_REFRESH_MS, KEY_ROW_CHANGE_BOUND_MS } from "../../src/services/auth";
import { cubeOwners } from "../../src/services/tenant-directory";
import { ROOT_KEY, call, newTenant, remember, uniqueUser } from "../helpers";

/** Counts reads of `api_keys` from now on (every D1Database of this isolate shares the prototype). */
function countKeyReads() {
  const prepare = vi.spyOn(Object.getPrototypeOf(env.DB) as D1Database, "prepare");
  return () => prepare.mock.calls.filter(([query]) => /^\s*select\b[\s\S]*\bfrom\s+"?api_keys"?/i.test(query)).length;
}

/** Lets background work of earlier requests (waitUntil) finish before counting. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("key refreshes", () => {
  it("an isolate's refreshes of a key in use ask its rate limiter, which reads D1 once for every isolate", async () => {
    const { key, keyId, tenantId } = await newTenant();
    const user = uniqueUser();
    const [memory] = await remember(key, user, [{ content: "Alice grows tomatoes" }]);
    expect((await call("GET", `/v1/memories/${memory.id}`, { key })).status).toBe(200);
    // The tenant's object holds the cube from here on, so the cube's own refreshes below read nothing either.
    await cubeOwners(createDeps(env), tenantId, [memory.cube_id]);
    await settle();

    const keyReads = countKeyReads();
    const asked = vi.spyOn(RateLimiterDurableObject.prototype, "keyRow");
    // Other isolates' refreshes: the first reads D1 and the limiter holds the row; the rest read nothing.
    for (let i = 0; i < 3; i++) expect((await env.RATE_LIMITER.getByName(keyId).keyRow(keyId))?.id).toBe(keyId);
    expect(keyReads()).toBe(1);

    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    for (let round = 1; round <= 3; round++) {
      // Past the refresh age each round, well inside the limiter's hold: this isolate refreshes the row after answering.
      vi.setSystemTime(start + round * (KEY_REFRESH_MS + 1));
      expect(round * (KEY_REFRESH_MS + 1)).toBeLessThan(KEY_ROW_HELD_MS);
      expect((await call("GET", `/v1/memories/${memory.id}`, { key })).status).toBe(200);
      await settle();
    }
    expect(asked.mock.calls.length).toBe(3 + 3);
    expect(keyReads()).toBe(1);
  });

  it("the limiter serves its copy until told of a change (revocation re-reads D1); an operator's D1 edit is enforced everywhere within the bound", async () => {
    const { key, keyId } = await newTenant(["read", "write", "admin"]);
    const row = await env.RATE_LIMITER.getByName(keyId).keyRow(keyId);
    expect(row?.rateLimitRequests).toBeNull();

    // An operator's edit straight in D1: the limiter keeps serving its copy until its hold is over.
    await env.DB.prepare("UPDATE api_keys SET rate_limit_requests = 1 WHERE id = ?").bind(keyId).run();
    expect((await env.RATE_LIMITER.getByName(keyId).keyRow(keyId))?.rateLimitRequests).toBeNull();
    await env.RATE_LIMITER.getByName(keyId).forgetKeyRow();
    expect((await env.RATE_LIMITER.getByName(keyId).keyRow(keyId))?.rateLimitRequests).toBe(1);

    // Past KEY_ROW_CHANGE_BOUND_MS every isolate enforces the edited limit: one request a minute.
    expect(KEY_ROW_CHANGE_BOUND_MS).toBeLessThanOrEqual(15 * 60_000);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + KEY_ROW_CHANGE_BOUND_MS + 1);
    expect((await call("GET", "/v1/memories?user_id=a", { key })).status).toBe(200);
    expect((await call("GET", "/v1/memories?user_id=a", { key })).status).toBe(429);
    // The root key is not limited: revoke, and the limiter answers with the revoked row at its next ask.
    expect((await call("DELETE", `/v1/admin/tenants/${(await env.RATE_LIMITER.getByName(keyId).keyRow(keyId))!.tenantId}/keys/${keyId}`, { key: ROOT_KEY })).status).toBe(200);
    expect((await env.RATE_LIMITER.getByName(keyId).keyRow(keyId))?.revokedAt).not.toBeNull();
  });

  it("a key narrowed by a cube's deletion: its limiter drops the row it holds, so other isolates' next refresh gets the narrowed one", async () => {
    const { key } = await newTenant(["read", "write", "admin"]);
    const alice = uniqueUser();
    const [kept] = await remember(key, alice, [{ content: "Alice keeps this." }]);
    const named = (await call("POST", "/v1/cubes", { key, body: { user_id: alice, name: "drafts" } })).body.id as string;
    const minted = (await call("POST", "/v1/keys", { key, body: { allowed_cubes: [named, kept.cube_id] } })).body as { id: string };
    const limiter = env.RATE_LIMITER.getByName(minted.id);
    expect(JSON.parse((await limiter.keyRow(minted.id))!.allowedCubes!)).toEqual([named, kept.cube_id]);

    expect((await call("DELETE", `/v1/cubes/${named}`, { key })).status).toBe(200);
    await settle();
    expect(JSON.parse((await limiter.keyRow(minted.id))!.allowedCubes!)).toEqual([kept.cube_id]);
  });
});
