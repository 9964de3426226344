import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { createDeps } from "../../src/deps";
import worker from "../../src/index";
import { cubeStub } from "../../src/services/cubes";
import { IDLE_RESWEEP_MS, idleCubes, pendingCubes, sweepLifecycle } from "../../src/services/lifecycle-sweep";
import { call, newTenant, remember } from "../helpers";
import { jobsIn, newCube } from "../lifecycle-helpers";

// Every test here sweeps the whole (per-file) D1 directory, so they run in order and account for earlier cubes.

const depsAt = (now: number) => ({ ...createDeps(env), clock: () => now });

async function sweptAt(cubeId: string) {
  const row = await env.DB.prepare("SELECT last_swept_at, last_active_at FROM cubes WHERE id = ?").bind(cubeId).first<{ last_swept_at: number | null; last_active_at: number }>();
  return row!;
}

const sweptIds = (report: Awaited<ReturnType<typeof sweepLifecycle>>) => report.swept.map((s) => s.cubeId).sort();

const { key, tenantId } = await newTenant();
const [a, b, c] = [await newCube(key), await newCube(key), await newCube(key)];
const start = Date.now();

describe("the lifecycle sweep", () => {
  it("visits a bounded number of cubes, written-since-last-sweep first, and starts archive + consolidate on each", async () => {
    const first = await sweepLifecycle(depsAt(start), { limit: 2 });
    // Oldest activity first: a and b were created (written) before c.
    expect(sweptIds(first)).toEqual([a, b].sort());
    expect(first.failed).toEqual([]);
    for (const { cubeId, jobs } of first.swept) {
      expect(jobs.map((job) => job.type)).toEqual(["archive", "consolidate"]);
      for (const job of jobs) {
        const polled = await call("GET", `/v1/jobs/${job.id}`, { key });
        expect(polled.status).toBe(200);
        expect(polled.body).toMatchObject({ id: job.id, cube_id: cubeId, status: "queued" });
      }
      expect((await jobsIn(tenantId, cubeId)).map((job) => job.type)).toEqual(["archive", "consolidate"]);
      expect((await sweptAt(cubeId)).last_swept_at).toBe(start);
    }
    expect((await sweptAt(c)).last_swept_at).toBeNull();
    expect(await jobsIn(tenantId, c)).toEqual([]);

    // The next run takes the cube left over; swept idle cubes wait for their re-sweep.
    expect(sweptIds(await sweepLifecycle(depsAt(start + 1), { limit: 2 }))).toEqual([c]);
    expect(sweptIds(await sweepLifecycle(depsAt(start + 2), { limit: 2 }))).toEqual([]);
  });

  it("a write after a sweep makes the cube pending again", async () => {
    const before = await sweptAt(a);
    const written = await call("POST", "/v1/memories", { key, body: { cube_id: a, memories: [{ content: "Alice moved to Lyon." }] } });
    expect(written.status).toBe(201);
    // The directory's activity time is written in the background after the response.
    await vi.waitFor(async () => expect((await sweptAt(a)).last_active_at).toBeGreaterThan(before.last_swept_at!), { timeout: 5000 });
    const later = Date.now();
    expect(sweptIds(await sweepLifecycle(depsAt(later), { limit: 2 }))).toEqual([a]);
    expect((await sweptAt(a)).last_swept_at).toBe(later);
  });

  it("idle cubes are swept again after a day, longest-unswept first", async () => {
    const tomorrow = Date.now() + IDLE_RESWEEP_MS + 60_000;
    // b was swept longest ago (with a, before c; a was swept again since).
    expect(sweptIds(await sweepLifecycle(depsAt(tomorrow), { limit: 1 }))).toEqual([b]);
    expect(sweptIds(await sweepLifecycle(depsAt(tomorrow), { limit: 10 }))).toEqual([a, c].sort());
    expect(sweptIds(await sweepLifecycle(depsAt(tomorrow), { limit: 10 }))).toEqual([]);
  });

  it("an error on one cube is reported and the run goes on", async () => {
    const broken = await newCube(key);
    const fine = await newCube(key);
    const deps = depsAt(Date.now());
    const report = await sweepLifecycle(deps, {
      startJob: async (ref, type) => {
        if (ref.cubeId === broken) throw new Error("the cube is unreachable");
        return cubeStub(deps, ref).startJob(ref, type);
      },
    });
    expect(report.failed).toEqual([{ tenantId, cubeId: broken, error: "the cube is unreachable" }]);
    expect(sweptIds(report)).toEqual([fine]);
    expect((await jobsIn(tenantId, fine)).map((job) => job.type)).toEqual(["archive", "consolidate"]);
    expect(await jobsIn(tenantId, broken)).toEqual([]);
    // Marked too, so a broken cube cannot take a slot in every run; the daily re-sweep retries it.
    expect((await sweptAt(broken)).last_swept_at).toBe(deps.clock());
  });

  it("the cron trigger runs a sweep through the Worker's scheduled handler", async () => {
    const other = await newTenant();
    const [memory] = await remember(other.key, "carol", [{ content: "Carol prefers aisle seats." }]);
    const cubeId = memory.cube_id as string;
    expect((await sweptAt(cubeId)).last_swept_at).toBeNull();

    const controller = createScheduledController({ scheduledTime: Date.now(), cron: "*/15 * * * *" });
    // The handler awaits its whole run (nothing is left to waitUntil), so awaiting it is awaiting the sweep.
    await worker.scheduled(controller, env);

    expect((await sweptAt(cubeId)).last_swept_at).not.toBeNull();
    expect((await jobsIn(other.tenantId, cubeId)).map((job) => [job.type, job.status])).toEqual([
      ["archive", "queued"],
      ["consolidate", "queued"],
    ]);
  });

  it("both sweep queries read an index, never the whole directory", async () => {
    const deps = createDeps(env);
    for (const [query, index] of [
      [pendingCubes(deps.db, 25).toSQL(), "cubes_sweep_pending"],
      [idleCubes(deps.db, Date.now(), 25).toSQL(), "cubes_last_swept"],
    ] as const) {
      const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${query.sql}`)
        .bind(...query.params)
        .all<{ detail: string }>();
      const details = plan.results.map((row) => row.detail).join("\n");
      expect(details).toContain(`USING INDEX ${index}`);
      expect(details).not.toMatch(/SCAN cubes(?! USING)/);
      expect(details).not.toContain("TEMP B-TREE");
    }
  });
});
