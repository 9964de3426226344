-- Audit at scale (issue 14, item 2): entries arrive through the bookkeeping queue, at least once, so each carries
-- the id its producer gave it and a redelivered one is ignored; each tenant keeps `audit_retention_days` of them
-- hot in D1 (older days move to R2 as NDJSON, services/audit-archive.ts).
ALTER TABLE `audit_log` ADD `id` text;--> statement-breakpoint
CREATE UNIQUE INDEX `audit_id` ON `audit_log` (`id`);--> statement-breakpoint
ALTER TABLE `tenants` ADD `audit_retention_days` integer DEFAULT 90 NOT NULL;
