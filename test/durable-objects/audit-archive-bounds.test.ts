/**
 * The audit archive at its bounds (issue 14, item 2; durable-objects/audit/shard-archive.ts): a shard goes to R2 as
 * one multipart object in steps that each hold at most ARCHIVE_STEP_MAX_BYTES — exactly one part's worth makes one
 * part, one byte past it two — and a copy cut short between any two steps, or between its completion and the shard's
 * deletion, ends with every entry in R2 exactly once, oldest first. Real R2 and Durable Objects (miniflare).
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type AuditArchive, auditDayPrefix, toArchived } from "../../durable-objects/audit/archive";
import { AuditLog, type AuditLogRow, type AuditRecord } from "../../durable-objects/audit/log";
import { DAY_MS, type ShardPeriod, auditShardName, dayStart } from "../../durable-objects/audit/periods";
import { AuditShard } from "../../durable-objects/audit/shard";
import { ARCHIVE_STEP_MAX_BYTES, PART_BYTES, STEP_READ_BYTES, ShardArchiver, type ShardArchiveProgress } from "../../durable-objects/audit/shard-archive";
import { archivedEntries, shardNames, wrappedArchive } from "../audit-helpers";
import { ROOT_KEY, call, newTenant } from "../helpers";

const bindings = env as unknown as Env;
const PAD = 1_000;
const encoder = new TextEncoder();
const lineBytes = (row: AuditLogRow) => encoder.encode(`${JSON.stringify(toArchived(row))}\n`).length;

/**
 * Fills a shard with entries of ~1.1 KB until its NDJSON is exactly `bytes` long (the last entry padded to fit);
 * `register` lists it in the tenant's directory as a real append would.
 */
async function fillShard(tenantId: string, period: ShardPeriod, bytes: number, register = false): Promise<string[]> {
  const name = auditShardName(tenantId, period);
  return runInDurableObject(bindings.AUDIT.getByName(name), async (_o, state) => {
    const sql = state.storage.sql;
    const probe: AuditLogRow = { seq: 1, id: "aud_probe", at: period.start, actor: "key_0123456789abcdef", action: "fill.00000", cube_id: null, memory_ids: "[]", request_id: null, status: 200, detail: JSON.stringify({ pad: "x".repeat(PAD) }) };
    const count = Math.floor(bytes / (lineBytes(probe) + 80));
    // Out of time order on purpose: the object must come out oldest first whatever order the entries were stored in.
    const records: AuditRecord[] = Array.from({ length: count }, (_, i) => ({
      id: `aud_fill_${tenantId}_${i}`, at: period.start + 1_000 + ((i * 7919) % count) * 10, actor: "key_0123456789abcdef", action: `fill.${String(i).padStart(5, "0")}`,
      cubeId: null, memoryIds: "[]", requestId: null, status: 200, detail: JSON.stringify({ pad: "x".repeat(PAD) }),
    }));
    const shard = new AuditShard(sql, new AuditLog(sql));
    await shard.append(name, period, records, register ? (r) => bindings.AUDIT.getByName(tenantId).report(tenantId, r) : async () => ({ tombstones: [], anyCube: false }));
    const rows = sql.exec<AuditLogRow>("SELECT * FROM audit_log").toArray();
    const total = rows.reduce((n, row) => n + lineBytes(row), 0);
    const last = rows.at(-1)!;
    sql.exec("UPDATE audit_log SET detail = ? WHERE seq = ?", JSON.stringify({ pad: "x".repeat(PAD + bytes - total) }), last.seq);
    const check = sql.exec<AuditLogRow>("SELECT * FROM audit_log").toArray().reduce((n, row) => n + lineBytes(row), 0);
    expect(check).toBe(bytes);
    return sql.exec<{ id: string }>("SELECT id FROM audit_log ORDER BY at, seq").toArray().map((r) => r.id);
  });
}

/** Runs the shard's archiver on its own storage, with `archive` (the real bucket, or one that fails on cue). */
const archiveShard = (tenantId: string, period: ShardPeriod, archive: AuditArchive, steps = 1_000) =>
  runInDurableObject(bindings.AUDIT.getByName(auditShardName(tenantId, period)), (_o, state) =>
    new ShardArchiver(state.storage.sql, archive, tenantId, period.start).run(steps),
  );

/** The day folder's objects. */
const folder = async (tenantId: string, day: number) => (await env.ARCHIVE.list({ prefix: auditDayPrefix(tenantId, day) })).objects.map((o) => ({ key: o.key, size: o.size }));

/** The real bucket, failing once where told: the nth part upload, or just after the upload's completion. */
function failing(cue: { partUpload?: number; afterComplete?: boolean }): AuditArchive {
  let parts = 0;
  return wrappedArchive(env.ARCHIVE, {
    uploadPart: async (work) => {
      parts += 1;
      if (parts === cue.partUpload) throw new Error("R2 went away mid-part");
      return work();
    },
    complete: async (work) => {
      const object = await work();
      if (cue.afterComplete) throw new Error("the Worker died after the completion");
      return object;
    },
  });
}

const ids = (entries: { id: string | null }[]) => entries.map((e) => e.id);

describe("a shard's copy to R2", { timeout: 120_000 }, () => {
  it("exactly one part's worth of entries is one part; one byte more is two; no step holds more than ARCHIVE_STEP_MAX_BYTES", async () => {
    const { tenantId } = await newTenant();
    const results: Record<string, ShardArchiveProgress & { size: number }> = {};
    for (const [label, bytes, ago] of [["at", PART_BYTES, 50], ["past", PART_BYTES + 1, 49]] as const) {
      const day = dayStart(Date.now()) - ago * DAY_MS;
      const period = { start: day, end: day + DAY_MS };
      const expected = await fillShard(tenantId, period, bytes);
      const progress = await archiveShard(tenantId, period, env.ARCHIVE);
      const objects = await folder(tenantId, day);
      expect(objects).toHaveLength(1);
      expect(objects[0]!.key).toMatch(/\/shard-00-\d{15}[0-9a-f]{8}\.ndjson$/);
      expect(ids(await archivedEntries(tenantId, day))).toEqual(expected);
      results[label] = { ...progress, size: objects[0]!.size };
    }
    expect(results.at).toMatchObject({ done: true, parts: 1, size: PART_BYTES });
    expect(results.past).toMatchObject({ done: true, parts: 2, size: PART_BYTES + 1 });
    for (const r of Object.values(results)) {
      expect(r.heldBytes).toBeGreaterThanOrEqual(PART_BYTES);
      expect(r.heldBytes).toBeLessThanOrEqual(ARCHIVE_STEP_MAX_BYTES);
    }
  });

  it("an entry larger than a step's read (STEP_READ_BYTES) is a step of its own, still under ARCHIVE_STEP_MAX_BYTES", async () => {
    const { tenantId } = await newTenant();
    const day = dayStart(Date.now()) - 70 * DAY_MS;
    const period = { start: day, end: day + DAY_MS };
    const name = auditShardName(tenantId, period);
    const big = (i: number): AuditRecord => ({
      id: `aud_big_${tenantId}_${i}`, at: day + 1_000 + i, actor: "key_0123456789abcdef", action: `big.${i}`, cubeId: null,
      memoryIds: "[]", requestId: null, status: 200, detail: JSON.stringify({ pad: "y".repeat(STEP_READ_BYTES + 1_000) }),
    });
    await runInDurableObject(bindings.AUDIT.getByName(name), (_o, state) =>
      new AuditShard(state.storage.sql, new AuditLog(state.storage.sql)).append(name, period, [0, 1, 2, 3, 4, 5].map(big), async () => ({ tombstones: [], anyCube: false })),
    );
    const perStep: number[] = [];
    for (let i = 0; i < 6; i++) {
      const step = await archiveShard(tenantId, period, env.ARCHIVE, 1);
      perStep.push(step.entries);
      expect(step.heldBytes).toBeLessThanOrEqual(ARCHIVE_STEP_MAX_BYTES);
    }
    expect(perStep).toEqual([1, 1, 1, 1, 1, 1]);
    expect((await archiveShard(tenantId, period, env.ARCHIVE)).done).toBe(true);
    expect((await archivedEntries(tenantId, day)).map((e) => e.action)).toEqual(["big.0", "big.1", "big.2", "big.3", "big.4", "big.5"]);
  });

  it("cut short mid-upload, or after its completion and before the shard is deleted, it ends with every entry exactly once", async () => {
    const { tenantId } = await newTenant();
    for (const [cue, ago] of [[{ partUpload: 2 }, 60], [{ afterComplete: true }, 61]] as const) {
      const day = dayStart(Date.now()) - ago * DAY_MS;
      const period = { start: day, end: day + DAY_MS };
      const expected = await fillShard(tenantId, period, 2 * PART_BYTES + 12_345);
      await expect(archiveShard(tenantId, period, failing(cue))).rejects.toThrow();
      const progress = await archiveShard(tenantId, period, env.ARCHIVE);
      expect(progress.done).toBe(true);
      expect(await folder(tenantId, day)).toEqual([{ key: expect.stringMatching(/shard-00-/), size: 2 * PART_BYTES + 12_345 }]);
      expect(ids(await archivedEntries(tenantId, day))).toEqual(expected);
      // Done stays done: a run again writes nothing.
      expect(await archiveShard(tenantId, period, env.ARCHIVE)).toMatchObject({ done: true, entries: 0, parts: 0 });
    }
  });

  it("through the directory's alarm: a multipart shard is archived and deleted whole, and the day downloads complete and in order", async () => {
    const { tenantId, key } = await newTenant(["admin"]);
    expect((await call("PATCH", `/v1/admin/tenants/${tenantId}`, { key: ROOT_KEY, body: { audit_retention_days: 30 } })).status).toBe(200);
    const day = dayStart(Date.now()) - 45 * DAY_MS;
    const period = { start: day, end: day + DAY_MS };
    const expected = await fillShard(tenantId, period, PART_BYTES + 4_321, true);
    expect(await shardNames(tenantId)).toEqual([auditShardName(tenantId, period)]);
    expect(await runDurableObjectAlarm(bindings.AUDIT.getByName(tenantId))).toBe(true);
    expect(await shardNames(tenantId)).toEqual([]);
    const dayName = new Date(day).toISOString().slice(0, 10);
    const listed = await call("GET", "/v1/audit/archive", { key });
    expect(listed.body.data).toEqual([{ day: dayName, bytes: PART_BYTES + 4_321, archived_at: expect.any(String) }]);
    const download = await call("GET", `/v1/audit/archive/${dayName}`, { key });
    expect(download.status).toBe(200);
    const lines = String(download.body).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { id: string });
    expect(lines.map((l) => l.id)).toEqual(expected);
  });
});

describe("an archived day's reader", () => {
  it("merges a day archived before folders (one object) with the folder's objects, oldest first, each entry once", async () => {
    const { tenantId, key } = await newTenant(["admin"]);
    const day = dayStart(Date.now()) - 300 * DAY_MS;
    const line = (seq: number, offset: number, action: string, id: string | null) =>
      JSON.stringify({ seq, id, at: new Date(day + offset).toISOString(), actor: "root", action, cube_id: null, memory_ids: [], request_id: null, status: 200, detail: {} });
    await env.ARCHIVE.put(`audit/${tenantId}/${new Date(day).toISOString().slice(0, 10)}.ndjson`, `${line(1, 10, "old.a", "aud_a")}\n${line(2, 30, "old.c", "aud_c")}\n`);
    await env.ARCHIVE.put(`${auditDayPrefix(tenantId, day)}shard-00-000000000000001aaaaaaaa.ndjson`, `${line(1, 20, "shard.b", "aud_b")}\n${line(2, 30, "old.c", "aud_c")}\n${line(3, 40, "shard.d", "aud_d")}\n`);
    await env.ARCHIVE.put(`${auditDayPrefix(tenantId, day)}d1-000000000000005-000000000007.ndjson`, `${line(7, 5, "d1.first", null)}\n`);
    const download = await call("GET", `/v1/audit/archive/${new Date(day).toISOString().slice(0, 10)}`, { key });
    const actions = String(download.body).split("\n").filter((l) => l !== "").map((l) => (JSON.parse(l) as { action: string }).action);
    expect(actions).toEqual(["d1.first", "old.a", "shard.b", "old.c", "shard.d"]);
    const listed = await call("GET", "/v1/audit/archive", { key });
    expect(listed.body.data).toHaveLength(1);
  });
});
