/**
 * The owners directory (D1): the tenant's users and agents with their memory counts and last activity. Both are
 * rolled up from the owner's cubes when listed, not stored: a batch of writes then costs D1 one statement (the cubes'
 * counts, services/bookkeeping.ts) rather than a second one keeping every owner's sum in step (issue 14, item 1).
 */
import { and, count, desc, eq, sql } from "drizzle-orm";
import { cubes, owners } from "../db/schema";
import type { Deps } from "./context";

/** One owner of a tenant, as the directory knows it. */
export type OwnerEntry = typeof owners.$inferSelect & {
  /** Live memories across the owner's cubes, each as its cube last reported (docs/scale.md, "Directory counts"). */
  memoryCount: number;
};

/**
 * One page of a tenant's owners, most recently active first (ties by owner), and how many there are in all. An
 * owner's last activity is the newest of its cubes' and its own row's (the owner's creation; an owner whose cubes
 * were all deleted keeps it). Cost: the tenant's cubes rows, read through the (tenant, owner, name) index — the
 * order is by an aggregate, as it was by an unindexed column before — an admin read, never on the hot path.
 */
export async function listOwners(
  deps: Pick<Deps, "db">,
  tenantId: string,
  page: number,
  pageSize: number,
): Promise<{ owners: OwnerEntry[]; total: number }> {
  const [rows, counted] = await Promise.all([
    ownersPageQuery(deps.db, tenantId, page, pageSize).all(),
    deps.db.select({ n: count() }).from(owners).where(eq(owners.tenantId, tenantId)).get(),
  ]);
  return { owners: rows.map((row) => ({ ...row, lastActiveAt: Number(row.lastActiveAt) })), total: counted?.n ?? 0 };
}

/** The page query of {@link listOwners}, exported so a test can check its plan (no scan of other tenants' cubes). */
export function ownersPageQuery(db: Deps["db"], tenantId: string, page: number, pageSize: number) {
  const lastActiveAt = sql<number>`max(${owners.lastActiveAt}, coalesce(max(${cubes.lastActiveAt}), 0))`.as("rolled_last_active_at");
  return db
    .select({
      tenantId: owners.tenantId,
      owner: owners.owner,
      kind: owners.kind,
      externalId: owners.externalId,
      createdAt: owners.createdAt,
      lastActiveAt,
      memoryCount: sql<number>`coalesce(sum(${cubes.memoryCount}), 0)`.mapWith(Number),
    })
    .from(owners)
    .leftJoin(cubes, and(eq(cubes.tenantId, owners.tenantId), eq(cubes.owner, owners.owner)))
    .where(eq(owners.tenantId, tenantId))
    .groupBy(owners.tenantId, owners.owner)
    .orderBy(desc(lastActiveAt), owners.owner)
    .limit(pageSize)
    .offset((page - 1) * pageSize);
}
