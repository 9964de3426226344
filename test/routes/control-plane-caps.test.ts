/**
 * Issue 14, item 5: every control-plane table a tenant writes is bounded. Usable keys per tenant and grants per cube
 * have a cap (exactly at it works, one past is 409 and stores nothing); revoked and expired keys are pruned by the cron.
 * The rows below the cap are seeded straight into D1 (one recursive INSERT), not made one request at a time.
 */
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import {
  INACTIVE_KEY_RETENTION_DAYS,
  MAX_ACTIVE_KEYS_PER_TENANT,
  MAX_GRANTS_PER_CUBE,
} from "../../src/services/control-plane-caps";
import { type ApiResponse, ROOT_KEY, call, errorOf, newTenant } from "../helpers";

const DAY_MS = 86_400_000;

const expectError = (response: ApiResponse, status: number, code: string) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(errorOf(response).code).toBe(code);
};

/** Seeds `count` keys of `tenantId` directly in D1; `state` picks their revocation/expiry (times in ms). */
async function seedKeys(tenantId: string, count: number, state: { revokedAt?: number; expiresAt?: number } = {}) {
  const tag = crypto.randomUUID().slice(0, 8);
  await env.DB.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
     INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes, created_at, expires_at, revoked_at)
     SELECT 'key_seed' || ? || '_' || i, ?, 'seeded', 'mos_seed', 'seed-' || ? || '-' || i, '["read"]', 1, ?, ? FROM n`,
  )
    .bind(count, tag, tenantId, tag, state.expiresAt ?? null, state.revokedAt ?? null)
    .run();
}

const countKeys = async (tenantId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM api_keys WHERE tenant_id = ?").bind(tenantId).first<{ n: number }>())!.n;

describe("keys per tenant", { timeout: 60_000 }, () => {
  it("the tenant's last usable key under the cap is created; one past it is 409 and stores nothing", async () => {
    const { tenantId } = await newTenant(["read", "write", "admin"]);
    // newTenant made one key; revoked and expired keys do not count against the cap.
    await seedKeys(tenantId, MAX_ACTIVE_KEYS_PER_TENANT - 2);
    await seedKeys(tenantId, 5, { revokedAt: Date.now() - 1000 });
    await seedKeys(tenantId, 5, { expiresAt: Date.now() - 1000 });

    const last = await call("POST", `/v1/admin/tenants/${tenantId}/keys`, { key: ROOT_KEY, body: { scopes: ["read", "write", "admin"] } });
    expect(last.status, JSON.stringify(last.body)).toBe(201);
    const before = await countKeys(tenantId);

    expectError(await call("POST", `/v1/admin/tenants/${tenantId}/keys`, { key: ROOT_KEY, body: { scopes: ["read"] } }), 409, "conflict");
    const own = await call("POST", "/v1/keys", { key: last.body.key, body: { scopes: ["read"] } });
    expectError(own, 409, "conflict");
    expect(own.body.error.details).toEqual({ limit: MAX_ACTIVE_KEYS_PER_TENANT });
    expect(await countKeys(tenantId)).toBe(before);

    // Revoking one makes room for one.
    expect((await call("DELETE", `/v1/keys/${last.body.id}`, { key: last.body.key })).status).toBe(200);
    expect((await call("POST", `/v1/admin/tenants/${tenantId}/keys`, { key: ROOT_KEY, body: { scopes: ["read"] } })).status).toBe(201);
  });

  it("the cron deletes keys revoked or expired longer ago than the retention, and keeps recent ones", async () => {
    const { tenantId } = await newTenant();
    const old = Date.now() - (INACTIVE_KEY_RETENTION_DAYS + 1) * DAY_MS;
    const recent = Date.now() - (INACTIVE_KEY_RETENTION_DAYS - 1) * DAY_MS;
    await seedKeys(tenantId, 3, { revokedAt: old });
    await seedKeys(tenantId, 2, { expiresAt: old });
    await seedKeys(tenantId, 4, { revokedAt: recent });
    await seedKeys(tenantId, 1, { expiresAt: recent });
    expect(await countKeys(tenantId)).toBe(11);

    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "*/15 * * * *" }), env);

    // The tenant's own usable key and the five recently inactive ones stay.
    expect(await countKeys(tenantId)).toBe(6);
  });
});

describe("grants per cube", { timeout: 60_000 }, () => {
  it("the cube's last grant under the cap is created, replacing one still works, a new one past it is 409", async () => {
    const { key } = await newTenant();
    const cube = await call("POST", "/v1/cubes", { key, body: { user_id: "alice", name: "shared" } });
    expect(cube.status).toBe(201);
    const cubeId = cube.body.id as string;
    const { tenant_id } = (await env.DB.prepare("SELECT tenant_id FROM cubes WHERE id = ?").bind(cubeId).first<{ tenant_id: string }>())!;
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
       INSERT INTO grants (cube_id, tenant_id, principal, permission, created_at) SELECT ?, ?, 'user:seed-' || i, 'read', 1 FROM n`,
    )
      .bind(MAX_GRANTS_PER_CUBE - 1, cubeId, tenant_id)
      .run();
    const grant = (principal: string, permission = "read") =>
      call("POST", `/v1/cubes/${cubeId}/grants`, { key, body: { principal, permission } });
    const countGrants = async () =>
      (await env.DB.prepare("SELECT count(*) AS n FROM grants WHERE cube_id = ?").bind(cubeId).first<{ n: number }>())!.n;

    expect((await grant("user:last")).status).toBe(201);
    expect(await countGrants()).toBe(MAX_GRANTS_PER_CUBE);

    const past = await grant("user:one-too-many");
    expectError(past, 409, "conflict");
    expect(past.body.error.details).toEqual({ limit: MAX_GRANTS_PER_CUBE });
    expect(await countGrants()).toBe(MAX_GRANTS_PER_CUBE);

    // At the cap an existing grant can still be replaced, and revoking one makes room.
    const upgraded = await grant("user:last", "write");
    expect(upgraded.status).toBe(200);
    expect(upgraded.body.permission).toBe("write");
    expect((await call("DELETE", `/v1/cubes/${cubeId}/grants/user:seed-1`, { key })).status).toBe(200);
    expect((await grant("user:one-too-many")).status).toBe(201);
  });
});
