/**
 * The tenant directory's D1 reads (./directory.ts): the tenant's webhooks, and the grants on some of its cubes.
 * Plain prepared statements on the DB binding, as the audit object's retention read; the tables are src/db/schema.ts's.
 */
import type { CubeGrants, Permission, Subscriber, TenantRows } from "./directory";

/** Cube ids per grants statement: with the tenant id, under D1's 100 bound parameters. */
const CUBES_PER_STATEMENT = 90;

export function d1TenantRows(db: D1Database, tenantId: string): TenantRows {
  return {
    async webhooks(): Promise<Subscriber[]> {
      const { results } = await db
        .prepare("SELECT id, events, created_at FROM webhooks WHERE tenant_id = ?")
        .bind(tenantId)
        .all<{ id: string; events: string; created_at: number }>();
      return results.map((row) => ({ id: row.id, events: JSON.parse(row.events) as string[], createdAt: row.created_at }));
    },

    async grants(cubeIds: readonly string[]): Promise<Map<string, CubeGrants>> {
      const byCube = new Map<string, CubeGrants>();
      for (let i = 0; i < cubeIds.length; i += CUBES_PER_STATEMENT) {
        const part = cubeIds.slice(i, i + CUBES_PER_STATEMENT);
        const { results } = await db
          .prepare(`SELECT cube_id, principal, permission FROM grants WHERE tenant_id = ? AND cube_id IN (${part.map(() => "?").join(", ")})`)
          .bind(tenantId, ...part)
          .all<{ cube_id: string; principal: string; permission: Permission }>();
        for (const row of results) {
          let grants = byCube.get(row.cube_id);
          if (!grants) byCube.set(row.cube_id, (grants = new Map()));
          grants.set(row.principal, row.permission);
        }
      }
      return byCube;
    },

    async cubeOwners(cubeIds: readonly string[]): Promise<Map<string, string>> {
      const owners = new Map<string, string>();
      for (let i = 0; i < cubeIds.length; i += CUBES_PER_STATEMENT) {
        const part = cubeIds.slice(i, i + CUBES_PER_STATEMENT);
        const { results } = await db
          .prepare(`SELECT id, owner FROM cubes WHERE tenant_id = ? AND id IN (${part.map(() => "?").join(", ")})`)
          .bind(tenantId, ...part)
          .all<{ id: string; owner: string }>();
        for (const row of results) owners.set(row.id, row.owner);
      }
      return owners;
    },
  };
}
