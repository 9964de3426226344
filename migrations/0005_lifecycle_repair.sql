-- Cubes schedule their own lifecycle (durable-objects/cube/upkeep.ts); the cron no longer re-sweeps idle cubes by
-- `last_swept_at`, so that index only cost a write per visit. `cubes_sweep_pending` still serves the repair.
DROP INDEX IF EXISTS `cubes_last_swept`;
