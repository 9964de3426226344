/**
 * Issue 14, item 2: a tenant's audit retention is set through the admin API within documented bounds, the cron's
 * archiving honours it, and the archived days stay exportable — listed and downloaded by an unrestricted admin key of
 * that tenant only.
 */
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { MAX_AUDIT_RETENTION_DAYS, MIN_AUDIT_RETENTION_DAYS } from "../../src/schemas/admin";
import { type ApiResponse, ROOT_KEY, call, errorOf, newTenant } from "../helpers";

const DAY = 86_400_000;

const expectError = (response: ApiResponse, status: number, code: string) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(errorOf(response).code).toBe(code);
};

async function file(tenantId: string, at: number, action: string) {
  await env.DB.prepare("INSERT INTO audit_log (tenant_id, at, actor, action, memory_ids, detail) VALUES (?, ?, 'root', ?, '[]', '{}')")
    .bind(tenantId, at, action)
    .run();
}

const hotActions = async (tenantId: string) =>
  (await env.DB.prepare("SELECT action FROM audit_log WHERE tenant_id = ? ORDER BY at").bind(tenantId).all<{ action: string }>()).results.map(
    (row) => row.action,
  );

const runCron = () => worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "*/15 * * * *" }), env);

const setRetention = (tenantId: string, days: unknown, key = ROOT_KEY) =>
  call("PATCH", `/v1/admin/tenants/${tenantId}`, { key, body: { audit_retention_days: days } });

describe("audit retention setting", { timeout: 60_000 }, () => {
  it("is settable by the root key within its bounds; anything else is refused and changes nothing", async () => {
    const { tenantId, key } = await newTenant(["read", "write", "admin"]);
    expect((await call("GET", `/v1/admin/tenants/${tenantId}`, { key: ROOT_KEY })).body.audit_retention_days).toBe(90);

    for (const bad of [MIN_AUDIT_RETENTION_DAYS - 1, MAX_AUDIT_RETENTION_DAYS + 1, 30.5, "30", null]) {
      expectError(await setRetention(tenantId, bad), 400, "invalid_request");
    }
    expectError(await call("PATCH", `/v1/admin/tenants/${tenantId}`, { key: ROOT_KEY, body: {} }), 400, "invalid_request");
    expectError(
      await call("PATCH", `/v1/admin/tenants/${tenantId}`, { key: ROOT_KEY, body: { audit_retention_days: 30, name: "x" } }),
      400,
      "invalid_request",
    );
    expect((await setRetention(tenantId, 30, key)).status).toBe(403);
    expectError(await setRetention("ten_doesnotexist0000", 30), 404, "not_found");
    expect((await call("GET", `/v1/admin/tenants/${tenantId}`, { key: ROOT_KEY })).body.audit_retention_days).toBe(90);

    for (const days of [MIN_AUDIT_RETENTION_DAYS, MAX_AUDIT_RETENTION_DAYS]) {
      const updated = await setRetention(tenantId, days);
      expect(updated.status, JSON.stringify(updated.body)).toBe(200);
      expect(updated.body).toMatchObject({ id: tenantId, audit_retention_days: days });
    }
  });

  it("the cron archives by the tenant's setting: past the minimum goes to R2, within it stays in D1", async () => {
    const { tenantId } = await newTenant();
    const now = Date.now();
    await file(tenantId, now - (MIN_AUDIT_RETENTION_DAYS + 1) * DAY, "older");
    await file(tenantId, now - (MIN_AUDIT_RETENTION_DAYS - 1) * DAY, "within");
    await runCron();
    expect(await hotActions(tenantId)).toEqual(["older", "within"]); // the default 90 days keeps both

    expect((await setRetention(tenantId, MIN_AUDIT_RETENTION_DAYS)).status).toBe(200);
    await runCron();
    expect(await hotActions(tenantId)).toEqual(["within"]);
  });
});

describe("archived audit days", { timeout: 60_000 }, () => {
  it("are listed oldest first in pages and downloaded as NDJSON, by the tenant's unrestricted admin keys only", async () => {
    const admin = await newTenant(["admin"]);
    const other = await newTenant(["admin"]);
    const now = Date.now();
    const days = [200, 150, 100].map((age) => now - age * DAY);
    for (const [i, at] of days.entries()) {
      await file(admin.tenantId, at, `old-${i}-a`);
      await file(admin.tenantId, at + 1, `old-${i}-b`);
    }
    await file(other.tenantId, days[0]!, "other-tenant");
    await runCron();

    const dayNames = days.map((at) => new Date(at).toISOString().slice(0, 10));
    const all = await call("GET", "/v1/audit/archive", { key: admin.key });
    expect(all.status, JSON.stringify(all.body)).toBe(200);
    expect(all.body.data.map((d: { day: string }) => d.day)).toEqual(dayNames);
    expect(all.body.next_cursor).toBeNull();
    expect(all.body.data[0]).toMatchObject({ bytes: expect.any(Number), archived_at: expect.any(String) });

    // One day a page.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: ApiResponse = await call("GET", `/v1/audit/archive?limit=1${cursor ? `&cursor=${cursor}` : ""}`, { key: admin.key });
      expect(page.status).toBe(200);
      seen.push(...page.body.data.map((d: { day: string }) => d.day));
      cursor = page.body.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual(dayNames);

    const download = await call("GET", `/v1/audit/archive/${dayNames[1]}`, { key: admin.key });
    expect(download.status).toBe(200);
    expect(download.headers.get("Content-Type")).toBe("application/x-ndjson");
    const lines = String(download.body)
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line));
    expect(lines.map((entry) => entry.action)).toEqual(["old-1-a", "old-1-b"]);
    expect(lines[0]).toMatchObject({ actor: "root", at: new Date(days[1]!).toISOString(), memory_ids: [], detail: {} });

    // Another tenant sees only its own day, and none of this tenant's.
    const theirs = await call("GET", "/v1/audit/archive", { key: other.key });
    expect(theirs.body.data.map((d: { day: string }) => d.day)).toEqual([dayNames[0]]);
    expectError(await call("GET", `/v1/audit/archive/${dayNames[1]}`, { key: other.key }), 404, "not_found");
    const theirDay = await call("GET", `/v1/audit/archive/${dayNames[0]}`, { key: other.key });
    // One line is valid JSON on its own, so the helper hands it back parsed.
    expect(theirDay.body).toMatchObject({ action: "other-tenant" });

    // Scope and restriction: a read/write key and an owner-confined admin key are refused.
    const readWrite = await call("POST", "/v1/keys", { key: admin.key, body: { scopes: ["read", "write"] } });
    const confined = await call("POST", "/v1/keys", { key: admin.key, body: { scopes: ["admin"], allowed_owners: ["user:eve"] } });
    for (const key of [readWrite.body.key, confined.body.key]) {
      expectError(await call("GET", "/v1/audit/archive", { key }), 403, "forbidden");
      expectError(await call("GET", `/v1/audit/archive/${dayNames[0]}`, { key }), 403, "forbidden");
    }
    expectError(await call("GET", "/v1/audit/archive", { key: null }), 401, "unauthorized");
  });

  it("refuses malformed days and cursors, and answers 404 for a day with nothing archived", async () => {
    const { key } = await newTenant(["admin"]);
    for (const bad of ["2026-13-01", "2026-1-01", "yesterday", "..%2F..%2Fother", "2026-01-01.ndjson"]) {
      expectError(await call("GET", `/v1/audit/archive/${bad}`, { key }), 400, "invalid_request");
    }
    for (const query of ["cursor=..%2Fx", "limit=0", "limit=101"]) {
      expectError(await call("GET", `/v1/audit/archive?${query}`, { key }), 400, "invalid_request");
    }
    expectError(await call("GET", "/v1/audit/archive/2001-01-01", { key }), 404, "not_found");
    const empty = await call("GET", "/v1/audit/archive", { key });
    expect(empty.body).toEqual({ data: [], next_cursor: null });
  });
});
