/** The owners directory (D1): the tenant's users and agents with their memory counts and last activity. */
import { count, desc, eq } from "drizzle-orm";
import { owners } from "../db/schema";
import type { Deps } from "./context";

/** One owner of a tenant, as the directory knows it. */
export type OwnerEntry = typeof owners.$inferSelect;

/** One page of a tenant's owners, most recently active first (ties by owner), and how many there are in all. */
export async function listOwners(
  deps: Pick<Deps, "db">,
  tenantId: string,
  page: number,
  pageSize: number,
): Promise<{ owners: OwnerEntry[]; total: number }> {
  const mine = eq(owners.tenantId, tenantId);
  const [rows, counted] = await Promise.all([
    deps.db.select().from(owners).where(mine).orderBy(desc(owners.lastActiveAt), owners.owner).limit(pageSize).offset((page - 1) * pageSize).all(),
    deps.db.select({ n: count() }).from(owners).where(mine).get(),
  ]);
  return { owners: rows, total: counted?.n ?? 0 };
}
