/**
 * Caps on the control plane's own tables (issue 14, item 5: every table has a retention or a cap). Keys and grants
 * are written by tenants, one row per call, so without a cap one tenant could grow D1 without end.
 *
 * Each cap is checked by the INSERT itself (`INSERT … SELECT … WHERE count < cap`): D1 runs one statement at a time,
 * so concurrent requests cannot both pass a check and overshoot the cap together.
 */
import { and, isNotNull, lt, or, sql } from "drizzle-orm";
import { apiKeys } from "../db/schema";
import { ApiError } from "../errors";
import type { Deps } from "./context";

/** Most usable keys of one tenant (neither revoked nor expired); one more is `409 conflict`. */
export const MAX_ACTIVE_KEYS_PER_TENANT = 10_000;
/** Days a revoked or expired key stays listed (`GET /v1/keys`) before the cron deletes its row. */
export const INACTIVE_KEY_RETENTION_DAYS = 30;
/** Most grants on one cube (one per grantee principal); replacing an existing grant is always allowed. */
export const MAX_GRANTS_PER_CUBE = 1_000;
/** Inactive keys deleted per cron run at most (the rest go on the next run). */
const KEY_PRUNE_PER_RUN = 1_000;
const DAY_MS = 86_400_000;

/** The refusal when a tenant holds {@link MAX_ACTIVE_KEYS_PER_TENANT} usable keys. */
export const tooManyKeys = () =>
  new ApiError(
    "conflict",
    `this tenant has ${MAX_ACTIVE_KEYS_PER_TENANT} active keys, the most it may hold; revoke keys it no longer uses first`,
    { limit: MAX_ACTIVE_KEYS_PER_TENANT },
  );

/** The refusal when a cube holds {@link MAX_GRANTS_PER_CUBE} grants. */
export const tooManyGrants = () =>
  new ApiError("conflict", `this cube has ${MAX_GRANTS_PER_CUBE} grants, the most it may hold; revoke grants first`, {
    limit: MAX_GRANTS_PER_CUBE,
  });

/** SQL true while `tenantId` holds fewer than the cap of keys usable at `now`. */
export function keyRoomLeft(tenantId: string, now: number) {
  return sql`(SELECT count(*) FROM api_keys WHERE tenant_id = ${tenantId} AND revoked_at IS NULL
    AND (expires_at IS NULL OR expires_at > ${now})) < ${MAX_ACTIVE_KEYS_PER_TENANT}`;
}

/** SQL true while `cubeId` holds fewer than the cap of grants, or already has a grant for `principal` (a replacement). */
export function grantRoomLeft(cubeId: string, principal: string) {
  return sql`(EXISTS (SELECT 1 FROM grants WHERE cube_id = ${cubeId} AND principal = ${principal})
    OR (SELECT count(*) FROM grants WHERE cube_id = ${cubeId}) < ${MAX_GRANTS_PER_CUBE})`;
}

/**
 * Deletes keys revoked or expired more than {@link INACTIVE_KEY_RETENTION_DAYS} ago, at most KEY_PRUNE_PER_RUN per
 * run (the cron). A deleted key is refused like an unknown one; the audit log keeps its id as the actor.
 */
export async function pruneInactiveKeys(deps: Deps): Promise<number> {
  const before = deps.clock() - INACTIVE_KEY_RETENTION_DAYS * DAY_MS;
  const stale = or(and(isNotNull(apiKeys.revokedAt), lt(apiKeys.revokedAt, before)), and(isNotNull(apiKeys.expiresAt), lt(apiKeys.expiresAt, before)));
  const doomed = deps.db.select({ id: apiKeys.id }).from(apiKeys).where(stale).limit(KEY_PRUNE_PER_RUN);
  const removed = await deps.db.delete(apiKeys).where(sql`${apiKeys.id} IN ${doomed}`).returning({ id: apiKeys.id });
  return removed.length;
}
