CREATE TABLE `lifecycle_hook_deliveries` (
	`tenant_id` text NOT NULL,
	`signature` text NOT NULL,
	`received_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `signature`)
);
--> statement-breakpoint
CREATE INDEX `lifecycle_hook_deliveries_received` ON `lifecycle_hook_deliveries` (`received_at`);--> statement-breakpoint
CREATE TABLE `lifecycle_hook_secrets` (
	`tenant_id` text PRIMARY KEY NOT NULL,
	`sealed_secret` text NOT NULL,
	`prefix` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
ALTER TABLE `cubes` ADD `last_swept_at` integer;--> statement-breakpoint
CREATE INDEX `cubes_sweep_pending` ON `cubes` (`last_active_at`) WHERE last_swept_at IS NULL OR last_active_at > last_swept_at;--> statement-breakpoint
CREATE INDEX `cubes_last_swept` ON `cubes` (`last_swept_at`);