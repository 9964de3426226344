-- Issue 14, item 1: an owner's memory count is rolled up from its cubes' counts when the directory is listed
-- (services/owners.ts), so the bookkeeping consumer writes one statement per batch of writes (the cubes'), not two.
-- The stored sum goes; `owners.last_active_at` stays as the owner's creation time, the floor of its rolled-up activity.
ALTER TABLE `owners` DROP COLUMN `memory_count`;
