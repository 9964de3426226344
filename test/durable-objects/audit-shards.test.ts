/**
 * Time-sharded audit (issue 14, items 2 and 5; durable-objects/audit/periods.ts): the shard of an entry at the
 * split point and its threshold, the directory in the tenant's object and how rarely it is called, pages and cursors
 * across shards, erasure that visits only the shards naming a cube, and redelivery across shards.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuditDirectory, MAX_CUBES_PER_SHARD } from "../../durable-objects/audit/directory";
import { AuditLog, type AuditRecord, sha256Hex } from "../../durable-objects/audit/log";
import {
  DAY_MS, HOUR_MS, type ShardPeriod, auditShardName, dayStart, shardPeriodOf, splitPointAfter,
} from "../../durable-objects/audit/periods";
import { AuditShard } from "../../durable-objects/audit/shard";
import { createDeps } from "../../src/deps";
import worker from "../../src/index";
import { AUDIT_SHARDS_PER_PAGE } from "../../src/services/audit";
import { eraseAuditOfCubes } from "../../src/services/audit-log";
import { BOOKKEEPING_QUEUE, type BookkeepingMessage, consumeBookkeepingBatch, newAuditId } from "../../src/services/bookkeeping";
import { allPages, archivedEntries, rowsOf, shardNames, shardRows } from "../audit-helpers";
import { type ApiResponse, ROOT_KEY, call, newTenant } from "../helpers";

const bindings = env as unknown as Env;

afterEach(() => vi.restoreAllMocks());

function entry(tenantId: string, at: number, action: string, cubeId: string | null = null): BookkeepingMessage & { kind: "audit" } {
  return { kind: "audit", entry: { id: newAuditId(), tenantId, at, actor: "key_0123456789abcdef", action, cubeId, memoryIds: "[]", detail: "{}", status: 200 } };
}

const recordOf = (message: BookkeepingMessage & { kind: "audit" }): AuditRecord => ({
  ...message.entry, cubeId: message.entry.cubeId ?? null, memoryIds: "[]", requestId: null, status: 200, detail: "{}",
});

const batchOf = (messages: BookkeepingMessage[], attempts = 1) =>
  createMessageBatch<unknown>(BOOKKEEPING_QUEUE, messages.map((body, i) => ({ id: `msg-${i}`, timestamp: new Date(), attempts, body })));

async function deliver(messages: BookkeepingMessage[], attempts = 1) {
  const batch = batchOf(messages, attempts);
  const ctx = createExecutionContext();
  await worker.queue(batch, bindings);
  return getQueueResult(batch, ctx);
}

const range = (from: number, to: number) => `&from=${encodeURIComponent(new Date(from).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}`;
const actionsIn = async (objectName: string) => (await rowsOf(objectName)).map((r) => String(r.action)).sort();
const directoryRow = (tenantId: string, name: string) =>
  runInDurableObject(bindings.AUDIT.getByName(tenantId), (_o, state) => ({
    ...state.storage.sql.exec<{ entries: number; reports: number; cubes: number }>("SELECT entries, reports, cubes FROM audit_shards WHERE name = ?", name).one(),
    hashes: state.storage.sql.exec<{ h: string }>("SELECT cube_sha256 AS h FROM audit_shard_cubes WHERE shard = ?", name).toArray().map((r) => r.h).sort(),
  }));

describe("audit shard periods", () => {
  it("a day's entries go to the day's shard before its split point and to their hour's shard from it on", () => {
    const day = Date.UTC(2026, 11, 5);
    const split = day + 11 * HOUR_MS;
    expect(shardPeriodOf(day + 13 * HOUR_MS, null)).toEqual({ start: day, end: day + DAY_MS });
    expect(shardPeriodOf(split - 1, split)).toEqual({ start: day, end: day + DAY_MS });
    expect(shardPeriodOf(split, split)).toEqual({ start: split, end: split + HOUR_MS });
    expect(shardPeriodOf(day + DAY_MS - 1, split)).toEqual({ start: day + 23 * HOUR_MS, end: day + DAY_MS });
    expect(auditShardName("ten_0123456789abcdef", { start: day, end: day + DAY_MS })).toBe("ten_0123456789abcdef/2026-12-05");
    expect(auditShardName("ten_0123456789abcdef", { start: split, end: split + HOUR_MS })).toBe("ten_0123456789abcdef/2026-12-05T11");
    // The threshold itself keeps the day; one entry past it splits at the hour after the newest entry.
    expect(splitPointAfter(5, 5, day + 10 * HOUR_MS + 1)).toBeNull();
    expect(splitPointAfter(6, 5, day + 10 * HOUR_MS + 1)).toBe(day + 11 * HOUR_MS);
    expect(splitPointAfter(6, 5, day + 11 * HOUR_MS)).toBe(day + 12 * HOUR_MS);
  });
});

describe("audit shards", () => {
  it("a day's shard splits one entry past its threshold, not at it; later entries land in hourly shards, late ones in the day's, each once", async () => {
    const { tenantId, key } = await newTenant(["admin"]);
    const day = dayStart(Date.now()) - 3 * DAY_MS;
    const period: ShardPeriod = { start: day, end: day + DAY_MS };
    const dayShard = auditShardName(tenantId, period);
    // The shard's own logic on the shard's real storage, with a threshold of 5 entries.
    const appendWithThreshold = (records: AuditRecord[]) =>
      runInDurableObject(bindings.AUDIT.getByName(dayShard), (_o, state) =>
        new AuditShard(state.storage.sql, new AuditLog(state.storage.sql), 5).append(dayShard, period, records, (r) =>
          bindings.AUDIT.getByName(tenantId).report(tenantId, r),
        ),
      );
    const early = Array.from({ length: 5 }, (_, i) => entry(tenantId, day + 10 * HOUR_MS + i, `early.${i}`));
    expect(await appendWithThreshold(early.map(recordOf))).toEqual({ added: 5, splitAt: null, refused: [] });
    // A redelivery adds nothing and does not split either.
    expect(await appendWithThreshold(early.map(recordOf))).toEqual({ added: 0, splitAt: null, refused: [] });
    const sixth = entry(tenantId, day + 10 * HOUR_MS + 30 * 60_000, "sixth");
    expect(await appendWithThreshold([recordOf(sixth)])).toEqual({ added: 1, splitAt: day + 11 * HOUR_MS, refused: [] });

    // Through the consumer (it has not learnt the split: the day's shard refuses what is past it, then it routes).
    const late = entry(tenantId, day + 11 * HOUR_MS - 1, "late.before.split");
    const atSplit = entry(tenantId, day + 11 * HOUR_MS, "at.split");
    const later = entry(tenantId, day + 13 * HOUR_MS + 5, "later");
    expect((await deliver([late, atSplit, later])).ackAll).toBe(true);
    expect(await actionsIn(dayShard)).toEqual(["early.0", "early.1", "early.2", "early.3", "early.4", "late.before.split", "sixth"]);
    const hour = (h: number) => auditShardName(tenantId, { start: day + h * HOUR_MS, end: day + (h + 1) * HOUR_MS });
    expect(await actionsIn(hour(11))).toEqual(["at.split"]);
    expect(await actionsIn(hour(13))).toEqual(["later"]);
    expect(await shardNames(tenantId)).toEqual([dayShard, hour(11), hour(13)]);

    // Now the split is known: one call, straight to the hour's shard (no refused round trip through the day's);
    // redelivered entries stay single.
    const deps = createDeps(bindings);
    const objectOf = vi.spyOn(deps.auditLogs, "getByName");
    const noon = entry(tenantId, day + 12 * HOUR_MS, "noon");
    await consumeBookkeepingBatch(batchOf([noon, atSplit, later].filter((m) => m !== atSplit && m !== later)), deps);
    // (The second call is the new hour shard registering itself with the directory, once in its life; locally the
    // objects share the Worker's binding, so the spy sees it.)
    expect(objectOf.mock.calls.map(([name]) => name)).toEqual([hour(12), tenantId]);
    expect((await deliver([late, atSplit, later, noon], 2)).ackAll).toBe(true);
    expect((await shardRows(tenantId)).length).toBe(10);

    // GET /v1/audit across the day's shard and its hourly ones, newest first, every page size.
    const expected = ["later", "noon", "at.split", "late.before.split", "sixth", "early.4", "early.3", "early.2", "early.1", "early.0"];
    for (const limit of [1, 3, 100]) expect(await allPages(key, limit, range(day, day + DAY_MS))).toEqual(expected);
    expect(await allPages(key, 2, range(day + 11 * HOUR_MS, day + 13 * HOUR_MS))).toEqual(["noon", "at.split"]);
  });

  it("a shard tells the directory once when created and again only for a cube new to it; the directory lists its cubes by SHA-256", async () => {
    const { tenantId } = await newTenant();
    const at = dayStart(Date.now()) - 2 * DAY_MS + 1_000;
    const shard = auditShardName(tenantId, { start: dayStart(at), end: dayStart(at) + DAY_MS });
    expect((await deliver([entry(tenantId, at, "a", "cube_aaaaaaaaaaaaaaaa"), entry(tenantId, at + 1, "none")])).ackAll).toBe(true);
    expect(await directoryRow(tenantId, shard)).toEqual({ entries: 0, reports: 1, cubes: 1, hashes: [await sha256Hex("cube_aaaaaaaaaaaaaaaa")] });
    // Known cube only: no call to the directory (its row is untouched).
    expect((await deliver([entry(tenantId, at + 2, "a", "cube_aaaaaaaaaaaaaaaa"), entry(tenantId, at + 3, "none")])).ackAll).toBe(true);
    expect((await directoryRow(tenantId, shard)).reports).toBe(1);
    // A new cube: one report, which carries the shard's count so far (lazily: as of before this batch).
    expect((await deliver([entry(tenantId, at + 4, "b", "cube_bbbbbbbbbbbbbbbb")])).ackAll).toBe(true);
    expect(await directoryRow(tenantId, shard)).toEqual({
      entries: 4,
      reports: 2,
      cubes: 2,
      hashes: [await sha256Hex("cube_aaaaaaaaaaaaaaaa"), await sha256Hex("cube_bbbbbbbbbbbbbbbb")].sort(),
    });
  });

  it("an erasure visits only the shards that named the cube; late entries of it are dropped in any shard, a later cube of the same id is kept", async () => {
    const { tenantId } = await newTenant();
    const erased = "cube_eeeeeeeeeeeeeeee";
    const kept = "cube_kkkkkkkkkkkkkkkk";
    const dayA = dayStart(Date.now()) - 5 * DAY_MS;
    const dayB = dayA + DAY_MS;
    const shardA = auditShardName(tenantId, { start: dayA, end: dayA + DAY_MS });
    const shardB = auditShardName(tenantId, { start: dayB, end: dayB + DAY_MS });
    expect((await deliver([entry(tenantId, dayA + 1, "a.erased", erased), entry(tenantId, dayA + 2, "a.kept", kept), entry(tenantId, dayB + 1, "b.kept", kept)])).ackAll).toBe(true);

    const deps = createDeps(bindings);
    const objectOf = vi.spyOn(deps.auditLogs, "getByName");
    await eraseAuditOfCubes(deps, tenantId, [erased]);
    expect(objectOf.mock.calls.map(([name]) => name)).toEqual([tenantId, shardA]);
    expect(await actionsIn(shardA)).toEqual(["a.kept"]);
    expect(await actionsIn(shardB)).toEqual(["b.kept"]);

    // Still on the queue when the erasure ran: dropped in the shard that named the cube and in one that never did.
    const lateA = entry(tenantId, dayA + 3, "a.late", erased);
    const lateB = entry(tenantId, dayB + 3, "b.late", erased);
    const spanning = { ...entry(tenantId, dayB + 4, "b.spanning"), entry: { ...entry(tenantId, dayB + 4, "b.spanning").entry, detail: JSON.stringify({ cube_ids: [kept, erased] }) } } as BookkeepingMessage;
    // A cube created again under the same id after the erasure is audited as usual.
    const reborn = entry(tenantId, Date.now() + 60_000, "reborn", erased);
    expect((await deliver([lateA, lateB, spanning, reborn])).ackAll).toBe(true);
    expect(await actionsIn(shardA)).toEqual(["a.kept"]);
    expect(await actionsIn(shardB)).toEqual(["b.kept"]);
    expect((await shardRows(tenantId, "action = 'reborn'")).length).toBe(1);
  });

  it("a batch over several shards that fails after some took their entries lands exactly once in each when redelivered", async () => {
    const { tenantId } = await newTenant();
    const day = dayStart(Date.now()) - 4 * DAY_MS;
    const messages = [
      ...Array.from({ length: 4 }, (_, i) => entry(tenantId, day + i, `one.${i}`)),
      ...Array.from({ length: 4 }, (_, i) => entry(tenantId, day + DAY_MS + i, `two.${i}`)),
    ];
    const second = auditShardName(tenantId, { start: day + DAY_MS, end: day + 2 * DAY_MS });
    const deps = createDeps(bindings);
    const real = deps.auditLogs.getByName.bind(deps.auditLogs);
    vi.spyOn(deps.auditLogs, "getByName").mockImplementation((name) => {
      if (name === second) return { append: () => Promise.reject(new Error("object reset")) } as unknown as ReturnType<typeof real>;
      return real(name);
    });
    await expect(consumeBookkeepingBatch(batchOf(messages), deps)).rejects.toThrow("object reset");
    vi.restoreAllMocks();
    expect((await shardRows(tenantId)).length).toBe(4);
    expect((await deliver(messages, 2)).ackAll).toBe(true);
    expect((await deliver(messages, 3)).ackAll).toBe(true);
    const ids = (await shardRows(tenantId)).map((r) => r.id);
    expect(ids.sort()).toEqual(messages.map((m) => m.entry.id).sort());
  });

  it("a page reads at most AUDIT_SHARDS_PER_PAGE shards; past them it stops at the newest end left and its cursor resumes there", async () => {
    const { tenantId, key } = await newTenant(["admin"]);
    const days = AUDIT_SHARDS_PER_PAGE + 2;
    const first = dayStart(Date.now()) - (days + 5) * DAY_MS;
    const messages = Array.from({ length: days }, (_, i) => entry(tenantId, first + i * DAY_MS + 1_000, `day.${i}`));
    expect((await deliver(messages)).ackAll).toBe(true);
    expect(await shardNames(tenantId)).toHaveLength(days);
    const query = range(first, first + days * DAY_MS);
    const page: ApiResponse = await call("GET", `/v1/audit?limit=100${query}`, { key });
    expect(page.body.data).toHaveLength(AUDIT_SHARDS_PER_PAGE);
    expect(page.body.next_cursor).not.toBeNull();
    const expected = messages.map((m) => m.entry.action).reverse();
    expect(await allPages(key, 100, query)).toEqual(expected);
    expect(await allPages(key, 7, query)).toEqual(expected);
  });

  it("retention copies a split day's shard and its hourly shards into their R2 day (one object each, read as one day) and deletes them whole; newer shards stay", async () => {
    const { tenantId, key } = await newTenant(["admin"]);
    expect((await call("PATCH", `/v1/admin/tenants/${tenantId}`, { key: ROOT_KEY, body: { audit_retention_days: 30 } })).status).toBe(200);
    const day = dayStart(Date.now()) - 40 * DAY_MS;
    const period: ShardPeriod = { start: day, end: day + DAY_MS };
    const dayShard = auditShardName(tenantId, period);
    const early = Array.from({ length: 3 }, (_, i) => entry(tenantId, day + 9 * HOUR_MS + i, `early.${i}`));
    const split = await runInDurableObject(bindings.AUDIT.getByName(dayShard), (_o, state) =>
      new AuditShard(state.storage.sql, new AuditLog(state.storage.sql), 2).append(dayShard, period, early.map(recordOf), (r) =>
        bindings.AUDIT.getByName(tenantId).report(tenantId, r),
      ),
    );
    expect(split.splitAt).toBe(day + 10 * HOUR_MS);
    const hourly = [entry(tenantId, day + 10 * HOUR_MS, "ten"), entry(tenantId, day + 15 * HOUR_MS, "fifteen")];
    const recent = entry(tenantId, Date.now() - DAY_MS, "recent");
    expect((await deliver([...hourly, recent])).ackAll).toBe(true);
    const before = await shardNames(tenantId);
    expect(before).toHaveLength(4);

    expect(await runDurableObjectAlarm(bindings.AUDIT.getByName(tenantId))).toBe(true);
    const archived = await archivedEntries(tenantId, day);
    expect(archived.map((e) => e.action)).toEqual(["early.0", "early.1", "early.2", "ten", "fifteen"]);
    expect(await shardNames(tenantId)).toEqual([before.at(-1)]);
    expect((await shardRows(tenantId)).map((r) => r.action)).toEqual(["recent"]);
    for (const gone of before.slice(0, 3)) {
      const tables = await runInDurableObject(bindings.AUDIT.getByName(gone), (_o, state) =>
        state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'").toArray(),
      );
      expect(tables).toEqual([]);
    }
    expect(await allPages(key, 10, range(day, day + DAY_MS))).toEqual([]);
  });

  it("a shard naming more than MAX_CUBES_PER_SHARD cubes is listed as naming any: every erasure visits it and it learns every live tombstone", async () => {
    const { tenantId } = await newTenant();
    const result = await runInDurableObject(bindings.AUDIT.getByName(tenantId), async (_o, state) => {
      const directory = new AuditDirectory(state.storage.sql);
      const log = new AuditLog(state.storage.sql);
      await log.eraseCubes(["cube_gone0000000000000"], Date.now());
      const period = { start: 0, end: DAY_MS };
      const hashes = (from: number, n: number) => Array.from({ length: n }, (_, i) => `h${from + i}`);
      const atCap = directory.report({ name: `${tenantId}/cap`, period, entries: 0, minAt: null, maxAt: null, cubes: hashes(0, MAX_CUBES_PER_SHARD) });
      const past = directory.report({ name: `${tenantId}/past`, period, entries: 0, minAt: null, maxAt: null, cubes: hashes(0, MAX_CUBES_PER_SHARD + 1) });
      return {
        atCap: { anyCube: atCap.anyCube, tombstones: atCap.tombstones.length },
        past: { anyCube: past.anyCube, tombstones: past.tombstones.map((t) => t.cubeSha256) },
        naming: directory.shardsNaming(["h1"]).sort(),
        namingOther: directory.shardsNaming(["unseen"]),
        cubeRows: state.storage.sql.exec("SELECT count(*) AS n FROM audit_shard_cubes WHERE shard = ?", `${tenantId}/past`).one().n,
      };
    });
    expect(result.atCap).toEqual({ anyCube: false, tombstones: 0 });
    expect(result.past).toEqual({ anyCube: true, tombstones: [await sha256Hex("cube_gone0000000000000")] });
    expect(result.naming).toEqual([`${tenantId}/cap`, `${tenantId}/past`]);
    expect(result.namingOther).toEqual([`${tenantId}/past`]);
    expect(result.cubeRows).toBe(0);
  });
});
