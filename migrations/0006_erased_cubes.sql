-- Cubes erased by owner or cube deletion, as SHA-256 of the cube id only: the webhook fan-out drops events of an erased
-- cube created before its erasure (a queue message already in flight when the deletion committed), so no delivery
-- row naming the owner is written after the deletion. Rows older than 7 days are pruned by the cron.
CREATE TABLE `erased_cubes` (
	`tenant_id` text NOT NULL,
	`cube_sha256` text NOT NULL,
	`erased_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `cube_sha256`)
);
--> statement-breakpoint
CREATE INDEX `erased_cubes_erased_at` ON `erased_cubes` (`erased_at`);
