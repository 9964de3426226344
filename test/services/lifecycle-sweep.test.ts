/**
 * The cron's lifecycle repair: cubes schedule themselves (test/durable-objects/upkeep.test.ts), so the cron only
 * visits cubes written since its last visit and quiet for REPAIR_AFTER_MS, and re-arms those whose schedule was lost.
 */
import { createScheduledController, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cubeObjectName } from "../../src/core/ids";
import { createDeps } from "../../src/deps";
import worker from "../../src/index";
import { REPAIR_AFTER_MS, quietPendingCubes, repairLifecycle } from "../../src/services/lifecycle-sweep";
import { newTenant } from "../helpers";
import { newCube } from "../lifecycle-helpers";

// Every test here reads the whole (per-file) D1 directory, so they run in order and account for earlier cubes.

const depsAt = (now: number) => ({ ...createDeps(env), clock: () => now });
const visitedIds = (report: Awaited<ReturnType<typeof repairLifecycle>>) => report.visited.map((v) => v.cubeId).sort();
const stubOf = (tenantId: string, cubeId: string) => env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
const alarmOf = (tenantId: string, cubeId: string) =>
  runInDurableObject(stubOf(tenantId, cubeId), (_instance, state) => state.storage.getAlarm());
/** Loses a cube's schedule the way a bug or an operator mistake might: its alarm is gone. */
const loseAlarm = (tenantId: string, cubeId: string) =>
  runInDurableObject(stubOf(tenantId, cubeId), (_instance, state) => state.storage.deleteAlarm());
const sweptAt = async (cubeId: string) =>
  (await env.DB.prepare("SELECT last_swept_at FROM cubes WHERE id = ?").bind(cubeId).first<{ last_swept_at: number | null }>())!.last_swept_at;

const { key, tenantId } = await newTenant();

describe("the lifecycle repair", () => {
  it("leaves cubes alone until they have been quiet for REPAIR_AFTER_MS", async () => {
    await newCube(key);
    expect(visitedIds(await repairLifecycle(depsAt(Date.now())))).toEqual([]);
  });

  it("re-arms a cube whose schedule was lost, leaves a healthy one as it is, and visits each change once", async () => {
    const [lost, healthy] = [await newCube(key), await newCube(key)];
    await loseAlarm(tenantId, lost);
    expect(await alarmOf(tenantId, lost)).toBeNull();
    expect(await alarmOf(tenantId, healthy)).not.toBeNull();

    const later = Date.now() + REPAIR_AFTER_MS + 60_000;
    const report = await repairLifecycle(depsAt(later));
    expect(report.failed).toEqual([]);
    const byId = new Map(report.visited.map((v) => [v.cubeId, v.repaired]));
    expect(byId.get(lost)).toBe(true);
    expect(byId.get(healthy)).toBe(false);
    expect(await alarmOf(tenantId, lost)).not.toBeNull();
    expect(await sweptAt(lost)).toBe(later);

    // Nothing changed since: the next run visits nobody (idle cubes cost nothing).
    expect(visitedIds(await repairLifecycle(depsAt(later + 1)))).toEqual([]);
  });

  it("visits at most `limit` cubes per run, oldest activity first, and reports a failing cube without stopping", async () => {
    const [first, second, third] = [await newCube(key), await newCube(key), await newCube(key)];
    const later = Date.now() + REPAIR_AFTER_MS + 60_000;
    const deps = depsAt(later);
    const report = await repairLifecycle(deps, {
      limit: 2,
      ensure: async (ref) => {
        if (ref.cubeId === first) throw new Error("the cube is unreachable");
        return { due: null, repaired: false };
      },
    });
    expect(report.failed).toEqual([{ tenantId, cubeId: first, error: "the cube is unreachable" }]);
    expect(visitedIds(report)).toEqual([second]);
    // Marked too, so a broken cube cannot take a slot in every run; its next write makes it pending again.
    expect(await sweptAt(first)).toBe(later);
    expect(visitedIds(await repairLifecycle(depsAt(later + 1)))).toEqual([third]);
  });

  it("the cron trigger runs the repair through the Worker's scheduled handler", async () => {
    const cubeId = await newCube(key);
    await loseAlarm(tenantId, cubeId);
    // Quiet for long enough, as the directory sees it.
    await env.DB.prepare("UPDATE cubes SET last_active_at = ? WHERE id = ?").bind(Date.now() - REPAIR_AFTER_MS - 60_000, cubeId).run();
    const controller = createScheduledController({ scheduledTime: Date.now(), cron: "*/15 * * * *" });
    await worker.scheduled(controller, env);
    expect(await sweptAt(cubeId)).not.toBeNull();
    expect(await alarmOf(tenantId, cubeId)).not.toBeNull();
  });

  it("reads the pending-cubes index, never the whole directory", async () => {
    const query = quietPendingCubes(createDeps(env).db, Date.now(), 25).toSQL();
    const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${query.sql}`)
      .bind(...query.params)
      .all<{ detail: string }>();
    const details = plan.results.map((row) => row.detail).join("\n");
    expect(details).toContain("USING INDEX cubes_sweep_pending");
    expect(details).not.toMatch(/SCAN cubes(?! USING)/);
    expect(details).not.toContain("TEMP B-TREE");
  });
});
