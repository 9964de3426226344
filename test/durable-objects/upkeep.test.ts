/**
 * A cube schedules its own lifecycle from its alarm (issue 14, items 4–5): consolidation once it goes quiet, an
 * archive check when a memory turns cold, bounded pruning of its event log and finished jobs. The cube's clock is
 * moved inside the object; alarms fire through runDurableObjectAlarm.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CubeDurableObject } from "../../durable-objects/cube";
import {
  EVENT_RETENTION_MS,
  JOB_RETENTION_MS,
  MAX_DEFER_MS,
  PRUNE_AGAIN_MS,
  PRUNE_BATCH,
  QUIET_JITTER_MS,
  QUIET_MS,
} from "../../durable-objects/cube/upkeep";
import { cubeObjectName } from "../../src/core/ids";
import { call, newTenant, remember, uniqueUser } from "../helpers";

const DAY = 86_400_000;
const HOUR = 3_600_000;

async function cube(memories: object[] = [{ content: "Alice likes green tea.", importance: 0.9 }]) {
  const { key, tenantId } = await newTenant();
  const user = uniqueUser();
  const written = await remember(key, user, memories);
  const cubeId = written[0].cube_id as string;
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
  const setClock = (at: number) =>
    runInDurableObject(stub, (instance: CubeDurableObject) => {
      instance.clock = () => at;
    });
  const sql = <T extends Record<string, SqlStorageValue>>(query: string, ...params: SqlStorageValue[]) =>
    runInDurableObject(stub, (_instance, state) => state.storage.sql.exec<T>(query, ...params).toArray());
  const alarmAt = () => runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
  const jobTypes = async () => (await sql<{ type: string }>("SELECT type FROM jobs ORDER BY created_at")).map((row) => row.type);
  const schedule = async () => (await sql("SELECT * FROM lifecycle_schedule WHERE id = 1"))[0];
  /** Runs every alarm due by the cube's clock (the outbox's, then upkeep's), the way the runtime would. */
  const runAlarmsUntil = async (at: number) => {
    await setClock(at);
    for (let i = 0; i < 10; i += 1) {
      const armed = await alarmAt();
      if (armed === null || armed > at) return;
      await runDurableObjectAlarm(stub);
    }
  };
  const write = (content: string, extra: object = {}) =>
    call("POST", "/v1/memories", { key, body: { cube_id: cubeId, memories: [{ content, importance: 0.9, ...extra }] } });
  return { key, tenantId, cubeId, stub, setClock, sql, alarmAt, jobTypes, schedule, runAlarmsUntil, write };
}

describe("a cube schedules its own lifecycle", () => {
  it("consolidates a busy cube only once it has gone quiet, within an hour of its last write", { timeout: 60_000 }, async () => {
    const c = await cube();
    const t0 = Date.now();
    // A burst: a write every 10 minutes for an hour. Upkeep never runs mid-burst.
    for (let minute = 0; minute <= 60; minute += 10) {
      await c.setClock(t0 + minute * 60_000);
      expect((await c.write(`Alice's note at minute ${minute}.`)).status).toBe(201);
      await c.runAlarmsUntil(t0 + minute * 60_000 + 1000);
      expect(await c.jobTypes()).not.toContain("consolidate");
    }
    const lastWrite = t0 + 60 * 60_000;
    // The alarm now waits for upkeep: quiet period plus this burst's jitter, never more than an hour.
    const armed = (await c.alarmAt())!;
    expect(armed).toBeGreaterThanOrEqual(lastWrite + QUIET_MS);
    expect(armed).toBeLessThanOrEqual(lastWrite + QUIET_MS + QUIET_JITTER_MS);
    expect(armed - lastWrite).toBeLessThan(HOUR);

    await c.runAlarmsUntil(armed - 1);
    expect(await c.jobTypes()).not.toContain("consolidate");
    await c.runAlarmsUntil(armed);
    expect(await c.jobTypes()).toContain("consolidate");
    expect((await c.schedule())!.dirty_since).toBeNull();
    // Nothing can turn cold (importance 0.9) and nothing changed: the cube has no alarm left at all.
    await c.runAlarmsUntil(armed + HOUR);
    expect(await c.alarmAt()).toBeNull();
  });

  it("a cube written without pause is still consolidated MAX_DEFER_MS after its first change", { timeout: 60_000 }, async () => {
    const c = await cube();
    const t0 = Date.now() + DAY;
    // The creation write's upkeep runs first; the burst below starts clean.
    await c.runAlarmsUntil(t0 - 1);
    await c.sql("DELETE FROM jobs");
    const step = QUIET_MS - 60_000;
    let consolidatedAt: number | null = null;
    for (let at = t0; at <= t0 + MAX_DEFER_MS + 2 * step && consolidatedAt === null; at += step) {
      await c.setClock(at);
      expect((await c.write(`Tick ${at}.`)).status).toBe(201);
      await c.runAlarmsUntil(at + 1000);
      if ((await c.jobTypes()).includes("consolidate")) consolidatedAt = at;
    }
    expect(consolidatedAt).not.toBeNull();
    expect(consolidatedAt!).toBeGreaterThanOrEqual(t0 + MAX_DEFER_MS - step);
    expect(consolidatedAt!).toBeLessThanOrEqual(t0 + MAX_DEFER_MS + step);
  });

  it("arms an archive check for when its oldest memory turns cold, and archives it then", async () => {
    const c = await cube([{ content: "Bob once mentioned a blue bicycle.", importance: 0.1 }]);
    const created = Date.now();
    const due = (await c.alarmAt())!;
    await c.runAlarmsUntil(created + QUIET_MS + QUIET_JITTER_MS + 1000);
    // Upkeep ran (consolidate), and the only alarm left is the day the memory turns cold (ARCHIVE_AFTER_DAYS = 30).
    expect(due).toBeLessThan(created + HOUR);
    const check = (await c.alarmAt())!;
    expect(check).toBeGreaterThan(created + 29 * DAY);
    expect(check).toBeLessThan(created + 31 * DAY);
    expect(await c.jobTypes()).not.toContain("archive");
    await c.runAlarmsUntil(check);
    expect(await c.jobTypes()).toContain("archive");
    const [row] = await c.sql<{ state: string }>("SELECT state FROM memories");
    expect(row!.state).toBe("archived");
  });
});

describe("a cube keeps its tables bounded", () => {
  it("prunes old sent events and finished jobs, and keeps history, unsent events and ingest jobs", async () => {
    const c = await cube();
    const now = Date.now() + 400 * DAY;
    const old = now - EVENT_RETENTION_MS - DAY;
    const [memory] = await c.sql<{ id: string }>("SELECT id FROM memories");
    const live = memory!.id;
    const insertEvent = (at: number, type: string, memoryId: string | null) =>
      c.sql("INSERT INTO events (at, type, memory_id, version, actor, data) VALUES (?, ?, ?, 1, 'system', '{}') RETURNING seq", at, type, memoryId);
    const seqOf = async (at: number, type: string, memoryId: string | null) => Number((await insertEvent(at, type, memoryId))[0]!.seq);
    const kept = [
      await seqOf(old, "memory.updated", live), // history of a memory the cube holds: its provenance
      await seqOf(now - DAY, "job.completed", null), // within retention
    ];
    const pruned = [
      await seqOf(old, "job.completed", null),
      await seqOf(old, "memory.pinned", live), // not history: repeats as often as a caller toggles
      await seqOf(old, "memory.created", "mem_purged_long_ago"), // its memory is gone
    ];
    // Handed to the outbox up to here; the next event was not sent yet and must stay whatever its age.
    await c.sql("UPDATE webhook_outbox SET last_seq = (SELECT max(seq) FROM events)");
    const unsent = await seqOf(old, "job.failed", null);

    const insertJob = (id: string, type: string, status: string, updatedAt: number) =>
      c.sql(
        "INSERT INTO jobs (id, type, status, ref, run_at, created_at, updated_at) VALUES (?, ?, ?, '{}', ?, ?, ?)",
        id,
        type,
        status,
        updatedAt,
        updatedAt,
        updatedAt,
      );
    const jobOld = now - JOB_RETENTION_MS - DAY;
    await insertJob("job_old_done", "archive", "done", jobOld);
    await insertJob("job_old_failed", "consolidate", "failed", jobOld);
    await insertJob("job_old_ingest", "ingest", "done", jobOld);
    await insertJob("job_recent", "archive", "done", now - DAY);

    // A write makes upkeep due; run it at `now`.
    await c.setClock(now);
    expect((await c.write("Alice switched to oolong.")).status).toBe(201);
    await c.runAlarmsUntil(now + QUIET_MS + QUIET_JITTER_MS);

    const seqs = new Set((await c.sql<{ seq: number }>("SELECT seq FROM events")).map((row) => Number(row.seq)));
    for (const seq of [...kept, unsent]) expect(seqs.has(seq)).toBe(true);
    for (const seq of pruned) expect(seqs.has(seq)).toBe(false);
    const jobs = new Set((await c.sql<{ id: string }>("SELECT id FROM jobs")).map((row) => row.id));
    expect(jobs.has("job_old_done")).toBe(false);
    expect(jobs.has("job_old_failed")).toBe(false);
    expect(jobs.has("job_old_ingest")).toBe(true);
    expect(jobs.has("job_recent")).toBe(true);
    // Provenance still shows the memory's history.
    const provenance = await call("GET", `/v1/memories/${live}/provenance`, { key: c.key });
    expect(provenance.status).toBe(200);
  });

  it("prunes in bounded batches, coming back soon while rows are left", async () => {
    const c = await cube();
    const now = Date.now() + 400 * DAY;
    const old = now - EVENT_RETENTION_MS - DAY;
    const total = PRUNE_BATCH * 2 + 100;
    await c.sql(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
       INSERT INTO events (at, type, memory_id, version, actor, data) SELECT ?, 'job.completed', NULL, NULL, 'system', '{}' FROM n`,
      total,
      old,
    );
    await c.sql("UPDATE webhook_outbox SET last_seq = (SELECT max(seq) FROM events)");
    const count = async () => Number((await c.sql<{ n: number }>("SELECT count(*) AS n FROM events WHERE type = 'job.completed' AND at = ?", old))[0]!.n);

    await c.setClock(now);
    await c.write("Alice switched to oolong.");
    // The cube's first change was long before `now`, so upkeep is overdue: it runs on the next alarm.
    const first = now;
    await c.runAlarmsUntil(first);
    // One batch looks at PRUNE_BATCH events (the cube's own creation events among them, which it keeps).
    const afterFirst = await count();
    expect(afterFirst).toBeGreaterThanOrEqual(total - PRUNE_BATCH);
    expect(afterFirst).toBeLessThan(total - PRUNE_BATCH + 10);
    // The next batch is due a minute later, not at the next write.
    expect(await c.alarmAt()).toBe(first + PRUNE_AGAIN_MS);
    await c.runAlarmsUntil(first + PRUNE_AGAIN_MS);
    expect(await count()).toBeLessThanOrEqual(afterFirst - PRUNE_BATCH + 10);
    for (let round = 2; round <= 3; round += 1) await c.runAlarmsUntil(first + round * PRUNE_AGAIN_MS);
    expect(await count()).toBe(0);
    // Done: no alarm left for pruning.
    expect(await c.alarmAt()).not.toBe(first + 4 * PRUNE_AGAIN_MS);
  });
});
