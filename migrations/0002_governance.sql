CREATE TABLE `audit_log` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`at` integer NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`cube_id` text,
	`memory_ids` text DEFAULT '[]' NOT NULL,
	`request_id` text,
	`status` integer,
	`detail` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_tenant_at` ON `audit_log` (`tenant_id`,`at`);--> statement-breakpoint
CREATE INDEX `audit_tenant_cube_at` ON `audit_log` (`tenant_id`,`cube_id`,`at`);--> statement-breakpoint
CREATE INDEX `audit_tenant_actor_at` ON `audit_log` (`tenant_id`,`actor`,`at`);--> statement-breakpoint
CREATE INDEX `audit_tenant_action_at` ON `audit_log` (`tenant_id`,`action`,`at`);--> statement-breakpoint
CREATE TABLE `grants` (
	`cube_id` text NOT NULL,
	`tenant_id` text NOT NULL,
	`principal` text NOT NULL,
	`permission` text NOT NULL,
	`created_at` integer NOT NULL,
	`created_by_key_id` text,
	PRIMARY KEY(`cube_id`, `principal`),
	FOREIGN KEY (`cube_id`) REFERENCES `cubes`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `grants_tenant_principal` ON `grants` (`tenant_id`,`principal`);--> statement-breakpoint
ALTER TABLE `api_keys` ADD `allowed_owners` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `allowed_cubes` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `created_by_key_id` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `rate_limit_requests` integer;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `rate_limit_write_bytes` integer;