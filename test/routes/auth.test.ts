import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { RateLimiterDurableObject } from "../../durable-objects/rate-limiter";
import { KEY_REVOCATION_BOUND_MS } from "../../src/services/auth";
import { ROOT_KEY, call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

describe("auth", () => {
  it.each([
    ["no header", undefined],
    ["not bearer", "Basic abc"],
    ["empty bearer", "Bearer "],
    ["unknown key", "Bearer mos_doesnotexist000000000000000000000000"],
  ])("%s → 401", async (_name, header) => {
    const response = await call("GET", "/v1/memories?user_id=a", { headers: header ? { Authorization: header } : {} });
    expect(response.status).toBe(401);
    expect(errorOf(response).code).toBe("unauthorized");
  });

  it("a revoked key is refused from the next request on", async () => {
    const { tenantId, key, keyId } = await newTenant();
    expect((await call("GET", "/v1/memories?user_id=a", { key })).status).toBe(200);
    const revoked = await call("DELETE", `/v1/admin/tenants/${tenantId}/keys/${keyId}`, { key: ROOT_KEY });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    const after = await call("GET", "/v1/memories?user_id=a", { key });
    expect(after.status).toBe(401);
  });

  it("a key revoked by another isolate (its limiter told and D1 written, this isolate's cache untouched) is refused within the bound", async () => {
    expect(KEY_REVOCATION_BOUND_MS).toBeLessThanOrEqual(5_000);
    const { key, keyId } = await newTenant();
    // Warm: the key row is cached and the limiter has granted headroom, so the next requests ask no one first.
    for (let i = 0; i < 3; i++) expect((await call("GET", "/v1/memories?user_id=a", { key })).status).toBe(200);
    // What revokeKey does in the other isolate: the limiter first, then the row.
    await env.RATE_LIMITER.getByName(keyId).revoke();
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?").bind(Date.now(), keyId).run();
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + KEY_REVOCATION_BOUND_MS);
      expect((await call("GET", "/v1/memories?user_id=a", { key })).status).toBe(401);
      expect((await call("GET", "/v1/memories?user_id=a", { key })).status).toBe(401);
    } finally {
      vi.useRealTimers();
    }
  });

  it("within the limiter's headroom a revoked key is refused as soon as the limiter's answer comes back", async () => {
    const { key, keyId } = await newTenant();
    for (let i = 0; i < 3; i++) expect((await call("GET", "/v1/memories?user_id=a", { key })).status).toBe(200);
    await env.RATE_LIMITER.getByName(keyId).revoke();
    // Admitted from headroom at most, counted after the response; the answer `revoked` is remembered by the isolate.
    const statuses: number[] = [];
    for (let i = 0; i < 30 && statuses.at(-1) !== 401; i++) {
      statuses.push((await call("GET", "/v1/memories?user_id=a", { key })).status);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(statuses.at(-1)).toBe(401);
    expect(statuses.filter((status) => status === 200).length).toBeLessThanOrEqual(20);
  });

  it("with its limiter unreachable, a key is checked against D1 and a revoked one refused", async () => {
    const { key, keyId } = await newTenant();
    expect((await call("GET", "/v1/memories?user_id=a", { key })).status).toBe(200);
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?").bind(Date.now(), keyId).run();
    const down = vi.spyOn(RateLimiterDurableObject.prototype, "admit").mockRejectedValue(new Error("limiter down"));
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      // Past the headroom, so the request waits for its limiter, which fails.
      vi.setSystemTime(Date.now() + KEY_REVOCATION_BOUND_MS);
      expect((await call("GET", "/v1/memories?user_id=a", { key })).status).toBe(401);
    } finally {
      vi.useRealTimers();
      down.mockRestore();
    }
  });

  it("an expired key is refused", async () => {
    const { tenantId } = await newTenant();
    const soon = new Date(Date.now() + 1500).toISOString();
    const created = await call("POST", `/v1/admin/tenants/${tenantId}/keys`, { key: ROOT_KEY, body: { expires_at: soon } });
    expect(created.status).toBe(201);
    expect((await call("GET", "/v1/memories?user_id=a", { key: created.body.key })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect((await call("GET", "/v1/memories?user_id=a", { key: created.body.key })).status).toBe(401);
  });

  it("a key without the needed scope gets 403 and changes nothing", async () => {
    const reader = await newTenant(["read"]);
    const user = uniqueUser();
    const write = await call("POST", "/v1/memories", { key: reader.key, body: { user_id: user, memories: [{ content: "x" }] } });
    expect(write.status).toBe(403);
    expect(errorOf(write).code).toBe("forbidden");
    expect((await call("GET", `/v1/memories?user_id=${user}`, { key: reader.key })).body.data).toEqual([]);

    const writer = await newTenant(["write"]);
    expect((await call("POST", "/v1/search", { key: writer.key, body: { user_id: user, query: "x" } })).status).toBe(403);
  });

  it("tenant keys cannot call admin routes and the root key cannot touch memories", async () => {
    const { key } = await newTenant(["read", "write", "admin"]);
    expect((await call("POST", "/v1/admin/tenants", { key, body: { name: "x" } })).status).toBe(403);
    const asRoot = await call("GET", "/v1/memories?user_id=a", { key: ROOT_KEY });
    expect(asRoot.status).toBe(403);
  });

  it("keys store only a hash: listing shows prefixes, never secrets", async () => {
    const { tenantId, key } = await newTenant();
    const list = await call("GET", `/v1/admin/tenants/${tenantId}/keys`, { key: ROOT_KEY });
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    const [listed] = list.body.data;
    expect(key.startsWith(listed.prefix)).toBe(true);
    expect(JSON.stringify(list.body)).not.toContain(key);
    expect(listed.scopes).toEqual(["read", "write"]);
  });

  it("records last use of a key", async () => {
    const { tenantId, key } = await newTenant();
    await call("GET", "/v1/memories?user_id=a", { key });
    // The refresh goes through the bookkeeping queue (a batch at least every second); poll briefly for it.
    let lastUsed: string | null = null;
    for (let i = 0; i < 100 && !lastUsed; i++) {
      const list = await call("GET", `/v1/admin/tenants/${tenantId}/keys`, { key: ROOT_KEY });
      lastUsed = list.body.data[0].last_used_at;
      if (!lastUsed) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(lastUsed).not.toBeNull();
  });

  it("a tenant admin key manages its own tenant's keys only", async () => {
    const admin = await newTenant(["admin"]);
    const other = await newTenant();
    const minted = await call("POST", "/v1/keys", { key: admin.key, body: { scopes: ["read"], name: "device" } });
    expect(minted.status).toBe(201);
    expect(minted.body.tenant_id).toBe(admin.tenantId);
    const listed = await call("GET", "/v1/keys", { key: admin.key });
    expect(listed.body.data.map((k: any) => k.id)).toContain(minted.body.id);
    // Another tenant's key id is "not found", not "forbidden".
    const cross = await call("DELETE", `/v1/keys/${other.keyId}`, { key: admin.key });
    expect(cross.status).toBe(404);
    expect((await call("GET", "/v1/memories?user_id=a", { key: other.key })).status).toBe(200);
    // A read/write key cannot manage keys.
    expect((await call("GET", "/v1/keys", { key: other.key })).status).toBe(403);
  });

  it("admin routes 404 on unknown tenants", async () => {
    const response = await call("POST", "/v1/admin/tenants/ten_nope/keys", { key: ROOT_KEY, body: {} });
    expect(response.status).toBe(404);
    expect(errorOf(response).code).toBe("not_found");
  });

  it("a memory written with an admin key works (admin implies read and write)", async () => {
    const { key } = await newTenant(["admin"]);
    const [memory] = await remember(key, uniqueUser(), [{ content: "admin wrote this" }]);
    expect((await call("GET", `/v1/memories/${memory.id}`, { key })).status).toBe(200);
  });
});
