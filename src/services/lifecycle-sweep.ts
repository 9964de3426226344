/**
 * The cron's lifecycle sweep: starts `archive` and `consolidate` jobs on a bounded number of cubes per run, across
 * all tenants, chosen from the D1 cubes directory. Cubes written since their last sweep come first (oldest activity
 * first); idle cubes are swept again once a day, since archiving depends on time passing as well as on writes.
 * Expiry needs no sweep: every cube's alarm applies its own TTLs.
 */
import { asc, inArray, lt } from "drizzle-orm";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { cubeSweepPending, cubes } from "../db/schema";
import type { JobType, JobWire } from "../schemas/jobs";
import type { Db } from "../db/client";
import type { Deps } from "./context";
import { cubeStub } from "./cubes";

/** Cubes one run starts jobs on: each costs two Durable Object calls, so a run stays well inside a cron's limits. */
export const SWEEP_CUBES_PER_RUN = 25;
/** An idle cube (no writes since its last sweep) is swept again after this long. */
export const IDLE_RESWEEP_MS = 24 * 3600 * 1000;
/** What a sweep starts on each cube. */
export const SWEEP_JOB_TYPES = ["archive", "consolidate"] as const satisfies readonly JobType[];
/** Cubes swept at the same time. */
const CONCURRENCY = 5;

export interface SweepOptions {
  /** Cubes this run may visit; defaults to {@link SWEEP_CUBES_PER_RUN}. */
  limit?: number;
  /** How a job is started; defaults to the cube's Durable Object. */
  startJob?: (ref: CubeRef, type: JobType) => Promise<JobWire>;
}

export interface SweepReport {
  swept: { tenantId: string; cubeId: string; jobs: JobWire[] }[];
  failed: { tenantId: string; cubeId: string; error: string }[];
}

/**
 * One sweep run. A cube that fails is logged and reported, and the run goes on. Every visited cube gets
 * `last_swept_at` = the run's start, failed ones included, so a broken cube cannot take a slot in every run;
 * the daily idle re-sweep retries it. A write during the run leaves its cube pending for the next run.
 */
export async function sweepLifecycle(deps: Deps, options: SweepOptions = {}): Promise<SweepReport> {
  const limit = options.limit ?? SWEEP_CUBES_PER_RUN;
  const start = options.startJob ?? ((ref: CubeRef, type: JobType) => cubeStub(deps, ref).startJob(ref, type));
  const { db } = deps;
  const now = deps.clock();

  const chosen: CubeRef[] = await pendingCubes(db, limit);
  if (chosen.length < limit) {
    const seen = new Set(chosen.map((ref) => ref.cubeId));
    const idle = await idleCubes(db, now - IDLE_RESWEEP_MS, limit - chosen.length);
    chosen.push(...idle.filter((ref) => !seen.has(ref.cubeId)));
  }

  const report: SweepReport = { swept: [], failed: [] };
  for (let i = 0; i < chosen.length; i += CONCURRENCY) {
    await Promise.all(
      chosen.slice(i, i + CONCURRENCY).map(async (ref) => {
        try {
          const jobs: JobWire[] = [];
          for (const type of SWEEP_JOB_TYPES) jobs.push(await start(ref, type));
          report.swept.push({ tenantId: ref.tenantId, cubeId: ref.cubeId, jobs });
        } catch (error) {
          console.error(`lifecycle sweep: cube ${ref.cubeId} of ${ref.tenantId} failed`, error);
          report.failed.push({ tenantId: ref.tenantId, cubeId: ref.cubeId, error: error instanceof Error ? error.message : String(error) });
        }
      }),
    );
  }
  // D1 binds at most 100 parameters per statement.
  for (let i = 0; i < chosen.length; i += 90) {
    await db.update(cubes).set({ lastSweptAt: now }).where(inArray(cubes.id, chosen.slice(i, i + 90).map((ref) => ref.cubeId)));
  }
  return report;
}

const columns = { cubeId: cubes.id, tenantId: cubes.tenantId, owner: cubes.owner };

/** Cubes written since their last sweep, oldest activity first (reads the partial index cubes_sweep_pending). */
export const pendingCubes = (db: Db, limit: number) =>
  db.select(columns).from(cubes).where(cubeSweepPending).orderBy(asc(cubes.lastActiveAt)).limit(limit);

/** Cubes last swept before `sweptBefore`, longest ago first (reads cubes_last_swept). */
export const idleCubes = (db: Db, sweptBefore: number, limit: number) =>
  db.select(columns).from(cubes).where(lt(cubes.lastSweptAt, sweptBefore)).orderBy(asc(cubes.lastSweptAt)).limit(limit);
