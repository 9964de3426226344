-- MemStore (docs/memstore.md): published listings, their versions (each a read-only snapshot cube loaded from a
-- snapshot file in R2) and the tenants subscribed to them. Caps: 50 listings per tenant, 100 versions per listing,
-- 500 subscriptions per tenant (src/services/memstore.ts). Retention: rows live until the listing is unpublished;
-- its versions, subscriptions and search row go in the same batch, its snapshot cubes right before.
CREATE TABLE `memstore_listings` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`source_cube_id` text NOT NULL,
	`source_owner` text NOT NULL,
	`name` text NOT NULL,
	`description` text NOT NULL,
	`tags` text NOT NULL,
	`licence` text NOT NULL,
	`visibility` text NOT NULL,
	`latest_version` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`created_by_key_id` text,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `memstore_listings_tenant_name` ON `memstore_listings` (`tenant_id`,`name`);
--> statement-breakpoint
CREATE INDEX `memstore_listings_tenant_updated` ON `memstore_listings` (`tenant_id`,`updated_at`);
--> statement-breakpoint
CREATE INDEX `memstore_listings_public_updated` ON `memstore_listings` (`updated_at`) WHERE visibility = 'public';
--> statement-breakpoint
CREATE TABLE `memstore_versions` (
	`listing_id` text NOT NULL,
	`version` integer NOT NULL,
	`tenant_id` text NOT NULL,
	`snapshot_cube_id` text NOT NULL,
	`snapshot_key` text NOT NULL,
	`job_id` text NOT NULL,
	`status` text NOT NULL,
	`memories` integer NOT NULL,
	`bytes` integer NOT NULL,
	`created_at` integer NOT NULL,
	`ready_at` integer,
	PRIMARY KEY(`listing_id`, `version`)
);
--> statement-breakpoint
CREATE TABLE `memstore_subscriptions` (
	`listing_id` text NOT NULL,
	`tenant_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`created_by_key_id` text,
	PRIMARY KEY(`listing_id`, `tenant_id`)
);
--> statement-breakpoint
CREATE INDEX `memstore_subscriptions_tenant` ON `memstore_subscriptions` (`tenant_id`,`created_at`);
--> statement-breakpoint
-- The catalog's text search: name, description and tags of every listing (FTS5, queries built by core/fts-query.ts).
CREATE VIRTUAL TABLE `memstore_listings_fts` USING fts5(listing_id UNINDEXED, body, tokenize = 'porter unicode61');
