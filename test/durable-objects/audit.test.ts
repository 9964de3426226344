/**
 * The tenant's audit object (durable-objects/audit.ts, issue 14 item 1): entries appended through the bookkeeping
 * consumer are what GET /v1/audit pages through — merged with D1's older rows —, a redelivered batch adds nothing,
 * entries of an erased cube that arrive late are dropped, and the object's own alarm moves days past the tenant's
 * retention to R2.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { allPages, archivedEntries } from "../audit-helpers";
import { BOOKKEEPING_QUEUE, type BookkeepingMessage, newAuditId } from "../../src/services/bookkeeping";
import { type ApiResponse, ROOT_KEY, call, newTenant, remember, uniqueUser } from "../helpers";

const bindings = env as unknown as Env;
const DAY = 86_400_000;

function entry(tenantId: string, at: number, action: string, cubeId: string | null = null): BookkeepingMessage {
  return { kind: "audit", entry: { id: newAuditId(), tenantId, at, actor: "key_0123456789abcdef", action, cubeId, memoryIds: "[]", detail: "{}", status: 200 } };
}

async function deliver(messages: BookkeepingMessage[], attempts = 1) {
  const batch = createMessageBatch<unknown>(
    BOOKKEEPING_QUEUE,
    messages.map((body, i) => ({ id: `msg-${i}`, timestamp: new Date(), attempts, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, bindings);
  return getQueueResult(batch, ctx);
}

/** The tenant's shards, as its directory lists them, oldest first. */
const shardNames = (tenantId: string) =>
  runInDurableObject(bindings.AUDIT.getByName(tenantId), (_o, state) =>
    state.storage.sql.exec<{ name: string }>("SELECT name FROM audit_shards ORDER BY start, end").toArray().map((r) => r.name),
  );

/** Every entry held in the tenant's shards, oldest first. */
async function objectRows(tenantId: string): Promise<{ action: string; at: number; cube_id: string | null }[]> {
  const rows: { action: string; at: number; cube_id: string | null }[] = [];
  for (const name of await shardNames(tenantId)) {
    rows.push(
      ...(await runInDurableObject(bindings.AUDIT.getByName(name), (_o, state) =>
        state.storage.sql.exec<{ action: string; at: number; cube_id: string | null }>("SELECT action, at, cube_id FROM audit_log").toArray(),
      )),
    );
  }
  return rows.sort((a, b) => a.at - b.at);
}

describe("the audit object", () => {
  it("pages newest first across its shards, its legacy entries and D1's older rows, same-millisecond ties included, with nothing lost or repeated", async () => {
    const { tenantId, key } = await newTenant(["admin"]);
    const base = Math.floor(Date.now() / DAY) * DAY - 10 * DAY + 1_000;
    // D1 rows from before the object existed, one sharing a millisecond with an object entry.
    for (const [at, action] of [[base, "d1.first"], [base + 2, "d1.tie"], [base + 4, "d1.last"]] as const) {
      await env.DB.prepare("INSERT INTO audit_log (tenant_id, at, actor, action, memory_ids, detail) VALUES (?, ?, 'root', ?, '[]', '{}')").bind(tenantId, at, action).run();
    }
    // Entries the tenant's own object held before sharding: read as a legacy shard.
    await runInDurableObject(bindings.AUDIT.getByName(tenantId), (_o, state) => {
      for (const [at, action] of [[base + 2, "legacy.tie"], [base + 5 - DAY, "legacy.day.before"]] as const) {
        state.storage.sql.exec("INSERT INTO audit_log (id, at, actor, action) VALUES (?, ?, 'root', ?)", newAuditId(), at, action);
      }
    });
    const result = await deliver([
      entry(tenantId, base + 1, "do.first"), entry(tenantId, base + 2, "do.tie"), entry(tenantId, base + 3, "do.a"), entry(tenantId, base + 3, "do.b"),
      // Two more days' shards: the day before and the day after.
      entry(tenantId, base - DAY, "do.day.before"), entry(tenantId, base + DAY, "do.day.after"),
    ]);
    expect(result.ackAll).toBe(true);
    expect(await shardNames(tenantId)).toHaveLength(3);
    const expected = ["d1.last", "do.b", "do.a", "do.tie", "legacy.tie", "d1.tie", "do.first", "d1.first", "legacy.day.before", "do.day.before"];
    const to = `&to=${encodeURIComponent(new Date(base + 5).toISOString())}`;
    for (const limit of [1, 2, 3, 100]) expect(await allPages(key, limit, to)).toEqual(expected);
    expect(await allPages(key, 4, `&to=${encodeURIComponent(new Date(base + 2 * DAY).toISOString())}`)).toEqual(["do.day.after", ...expected]);
    // Filters apply to every store; a time range leaves other days' shards out.
    expect(await allPages(key, 2, `${to}&action=d1.tie`)).toEqual(["d1.tie"]);
    expect(await allPages(key, 2, `${to}&action=do.tie`)).toEqual(["do.tie"]);
    expect(await allPages(key, 2, `${to}&action=legacy.tie`)).toEqual(["legacy.tie"]);
    const from = `&from=${encodeURIComponent(new Date(base).toISOString())}`;
    expect(await allPages(key, 1, `${to}${from}`)).toEqual(expected.slice(0, 8));
  });

  it("a redelivered batch adds nothing; an entry of a cube erased after it happened is dropped when it arrives late", async () => {
    const { tenantId, key } = await newTenant(["read", "write", "admin"]);
    const user = uniqueUser();
    const [memory] = await remember(key, user, [{ content: "to be forgotten" }]);
    const named = await call("POST", "/v1/cubes", { key, body: { user_id: user, name: "scratch" } });
    expect(named.status).toBe(201);
    const cubeId = named.body.id as string;
    const before = entry(tenantId, Date.now() - 1_000, "memory.read", cubeId);
    const unrelated = entry(tenantId, Date.now() - 1_000, "memory.read", memory.cube_id as string);
    expect((await deliver([before, unrelated])).ackAll).toBe(true);
    expect((await deliver([before, unrelated], 2)).ackAll).toBe(true);
    const count = async (action: string, cube: string) => (await objectRows(tenantId)).filter((r) => r.action === action && r.cube_id === cube).length;
    expect(await count("memory.read", cubeId)).toBe(1);

    expect((await call("DELETE", `/v1/cubes/${cubeId}`, { key })).status).toBe(200);
    expect(await count("memory.read", cubeId)).toBe(0);
    // Still on the queue when the erasure ran: dropped. A redelivery of the earlier batch too.
    const late = entry(tenantId, Date.now() - 500, "memory.read", cubeId);
    expect((await deliver([late, before], 3)).ackAll).toBe(true);
    expect(await count("memory.read", cubeId)).toBe(0);
    expect(await count("memory.read", memory.cube_id as string)).toBe(1);
  });

  it("its alarm moves whole shards past the tenant's retention to R2 and deletes them, merged by id when a day is written again, and keeps the rest", async () => {
    const { tenantId, key } = await newTenant(["admin"]);
    expect((await call("PATCH", `/v1/admin/tenants/${tenantId}`, { key: ROOT_KEY, body: { audit_retention_days: 30 } })).status).toBe(200);
    const now = Date.now();
    const oldDay = Math.floor((now - 40 * DAY) / DAY) * DAY;
    const old = [entry(tenantId, oldDay + 1_000, "old.one"), entry(tenantId, oldDay + 2_000, "old.two")];
    const recent = entry(tenantId, now - DAY, "recent");
    expect((await deliver([...old, recent])).ackAll).toBe(true);
    const stub = bindings.AUDIT.getByName(tenantId);
    expect(await runInDurableObject(stub, (_o, state) => state.storage.getAlarm())).not.toBeNull();

    const oldShard = (await shardNames(tenantId))[0]!;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await objectRows(tenantId)).map((r) => r.action)).toEqual(["recent"]);
    expect(await shardNames(tenantId)).not.toContain(oldShard);
    // Deleted whole: no row deletes left behind, the object holds nothing at all.
    expect(await runInDurableObject(bindings.AUDIT.getByName(oldShard), (_o, state) => state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'").toArray())).toEqual([]);
    expect((await archivedEntries(tenantId, oldDay)).map((e) => e.action)).toEqual(["old.one", "old.two"]);
    // The alarm is armed again for tomorrow's run.
    expect(await runInDurableObject(stub, (_o, state) => state.storage.getAlarm())).toBeGreaterThan(now);

    // A late entry of the archived day (a redelivery included) is archived next time, merged, never doubled.
    const late = entry(tenantId, oldDay + 3_000, "old.late");
    expect((await deliver([late, old[0]!])).ackAll).toBe(true);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const merged = await archivedEntries(tenantId, oldDay);
    expect(merged.map((e) => e.action)).toEqual(["old.one", "old.two", "old.late"]);
    expect(new Set(merged.map((e) => e.id)).size).toBe(3);
    // GET /v1/audit shows the hot entry only; the archive lists the day.
    expect(await allPages(key, 10)).toContain("recent");
    expect(await allPages(key, 10)).not.toContain("old.one");
    expect((await call("GET", "/v1/audit/archive", { key })).body.data.map((d: { day: string }) => d.day)).toContain(new Date(oldDay).toISOString().slice(0, 10));
  });
});
