/**
 * Audit retention (services/audit-archive.ts): days older than the tenant's retention move to R2 as NDJSON and leave
 * D1; a run that dies between the two loses and doubles nothing; the retention is per tenant.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createDeps } from "../../src/deps";
import { archiveAudit } from "../../src/services/audit-archive";
import { archivedEntries } from "../audit-helpers";
import { call, newTenant } from "../helpers";

const DAY = 86_400_000;
const bindings = env as unknown as Env;

async function file(tenantId: string, at: number, action: string) {
  await env.DB.prepare("INSERT INTO audit_log (tenant_id, at, actor, action, memory_ids, detail) VALUES (?, ?, 'key_0123456789abcdef', ?, '[]', '{}')")
    .bind(tenantId, at, action)
    .run();
}

async function hotActions(tenantId: string): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT action FROM audit_log WHERE tenant_id = ? ORDER BY at, seq").bind(tenantId).all<{ action: string }>();
  return results.map((row) => row.action);
}

async function archivedActions(tenantId: string, at: number): Promise<string[]> {
  return (await archivedEntries(tenantId, at)).map((entry) => entry.action);
}

afterEach(() => vi.restoreAllMocks());

describe("audit archive", () => {
  it("moves days past the retention to R2 as NDJSON by day, keeps the rest hot and readable through GET /v1/audit", async () => {
    const { tenantId, key } = await newTenant(["admin"]);
    const now = Date.now();
    const dayA = now - 100 * DAY;
    const dayB = now - 95 * DAY;
    for (const [at, action] of [[dayA, "a1"], [dayA + 1, "a2"], [dayA + 2, "a3"], [dayB, "b1"], [dayB + 1, "b2"], [now - 10 * DAY, "recent"]] as const) {
      await file(tenantId, at, action);
    }
    const report = await archiveAudit(createDeps(bindings), env.ARCHIVE);
    expect(report.entries).toBe(5);
    expect(await archivedActions(tenantId, dayA)).toEqual(["a1", "a2", "a3"]);
    expect(await archivedActions(tenantId, dayB)).toEqual(["b1", "b2"]);
    expect(await hotActions(tenantId)).toEqual(["recent"]);
    const [first] = await archivedEntries(tenantId, dayA);
    expect(first).toMatchObject({ actor: "key_0123456789abcdef", action: "a1", memory_ids: [], detail: {}, at: new Date(dayA).toISOString() });

    const listed = await call("GET", "/v1/audit?action=recent", { key });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((entry: { action: string }) => entry.action)).toEqual(["recent"]);
  });

  it("a run that dies after writing R2 and before deleting from D1 doubles nothing when it runs again", async () => {
    const { tenantId } = await newTenant();
    const day = Date.now() - 200 * DAY;
    await file(tenantId, day, "first");
    await archiveAudit(createDeps(bindings), env.ARCHIVE);
    // Late entries for the archived day, then a run that dies between the object's write and the rows' deletion.
    await file(tenantId, day + 5, "late1");
    await file(tenantId, day + 6, "late2");
    const deps = createDeps(bindings);
    vi.spyOn(deps.db, "batch").mockRejectedValueOnce(new Error("D1 went away"));
    await expect(archiveAudit(deps, env.ARCHIVE)).rejects.toThrow("D1 went away");
    expect(await archivedActions(tenantId, day)).toEqual(["first", "late1", "late2"]);
    expect(await hotActions(tenantId)).toEqual(["late1", "late2"]);

    await archiveAudit(createDeps(bindings), env.ARCHIVE);
    expect(await archivedActions(tenantId, day)).toEqual(["first", "late1", "late2"]);
    expect(await hotActions(tenantId)).toEqual([]);
  });

  it("keeps each tenant's own retention", async () => {
    const short = await newTenant();
    const long = await newTenant();
    await env.DB.prepare("UPDATE tenants SET audit_retention_days = 5 WHERE id = ?").bind(short.tenantId).run();
    const at = Date.now() - 10 * DAY;
    await file(short.tenantId, at, "short");
    await file(long.tenantId, at, "long");
    await archiveAudit(createDeps(bindings), env.ARCHIVE);
    expect(await hotActions(short.tenantId)).toEqual([]);
    expect(await archivedActions(short.tenantId, at)).toEqual(["short"]);
    expect(await hotActions(long.tenantId)).toEqual(["long"]);
  });
});
