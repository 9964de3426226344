/**
 * The cron's lifecycle repair. Cubes schedule their own consolidation, archiving and pruning from their alarm
 * (durable-objects/cube/upkeep.ts), so the cron starts no jobs: it only visits cubes written since its last visit
 * whose activity is older than REPAIR_AFTER_MS — by then a healthy cube has run its upkeep — and asks each to re-arm
 * its alarm if its schedule was lost. Work per run is bounded and proportional to cubes that changed, never to all
 * cubes: an idle cube is never visited.
 */
import { and, asc, inArray, lt, sql } from "drizzle-orm";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { cubeSweepPending, cubes } from "../db/schema";
import type { Db } from "../db/client";
import type { Deps } from "./context";
import { cubeStub } from "./cubes";

/** Cubes one run visits: one cheap Durable Object call each, so a run stays well inside a cron's limits. */
export const REPAIR_CUBES_PER_RUN = 200;
/**
 * How long after its last write a cube is checked: upkeep runs at most QUIET_MS + QUIET_JITTER_MS (30 min) after a
 * cube goes quiet, so a cube still owing upkeep two hours later has lost its schedule.
 */
export const REPAIR_AFTER_MS = 2 * 3600_000;
/** Cubes checked at the same time. */
const CONCURRENCY = 10;

export interface RepairOptions {
  /** Cubes this run may visit; defaults to {@link REPAIR_CUBES_PER_RUN}. */
  limit?: number;
  /** How a cube is checked; defaults to its Durable Object. */
  ensure?: (ref: CubeRef) => Promise<{ due: number | null; repaired: boolean }>;
}

export interface RepairReport {
  visited: { tenantId: string; cubeId: string; repaired: boolean }[];
  failed: { tenantId: string; cubeId: string; error: string }[];
}

/**
 * One repair run. A cube that fails is logged and reported, and the run goes on. Every visited cube gets
 * `last_swept_at` = the run's start, failed ones included, so a broken cube cannot take a slot in every run; its
 * next write makes it pending again. A write during the run leaves its cube pending for a later run.
 */
export async function repairLifecycle(deps: Deps, options: RepairOptions = {}): Promise<RepairReport> {
  const limit = options.limit ?? REPAIR_CUBES_PER_RUN;
  const ensure = options.ensure ?? ((ref: CubeRef) => cubeStub(deps, ref).ensureLifecycle(ref));
  const { db } = deps;
  const now = deps.clock();
  const chosen = await quietPendingCubes(db, now - REPAIR_AFTER_MS, limit);

  const report: RepairReport = { visited: [], failed: [] };
  for (let i = 0; i < chosen.length; i += CONCURRENCY) {
    await Promise.all(
      chosen.slice(i, i + CONCURRENCY).map(async (ref) => {
        try {
          const { repaired } = await ensure(ref);
          if (repaired) console.warn(JSON.stringify({ event: "lifecycle_schedule_repaired", tenant_id: ref.tenantId, cube_id: ref.cubeId }));
          report.visited.push({ tenantId: ref.tenantId, cubeId: ref.cubeId, repaired });
        } catch (error) {
          console.error(`lifecycle repair: cube ${ref.cubeId} of ${ref.tenantId} failed`, error);
          report.failed.push({ tenantId: ref.tenantId, cubeId: ref.cubeId, error: error instanceof Error ? error.message : String(error) });
        }
      }),
    );
  }
  // D1 binds at most 100 parameters per statement.
  const updates = [];
  for (let i = 0; i < chosen.length; i += 90) {
    updates.push(db.update(cubes).set({ lastSweptAt: now }).where(inArray(cubes.id, chosen.slice(i, i + 90).map((ref) => ref.cubeId))));
  }
  if (updates.length > 0) await db.batch(updates as [(typeof updates)[number], ...(typeof updates)[number][]]);
  return report;
}

const columns = { cubeId: cubes.id, tenantId: cubes.tenantId, owner: cubes.owner };

/**
 * Cubes written since the cron last visited them and quiet since `activeBefore`, oldest activity first (reads the
 * partial index cubes_sweep_pending, whose WHERE the query repeats).
 */
export const quietPendingCubes = (db: Db, activeBefore: number, limit: number) =>
  db
    .select(columns)
    .from(cubes)
    // Parenthesised: drizzle's and() does not wrap a raw OR, which would bind tighter to the AND than meant.
    .where(and(sql`(${cubeSweepPending})`, lt(cubes.lastActiveAt, activeBefore)))
    .orderBy(asc(cubes.lastActiveAt))
    .limit(limit);
