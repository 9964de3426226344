/** Reading a tenant's audit shards (durable-objects/audit/periods.ts) straight from their objects, for tests. */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";

const bindings = env as unknown as Env;

/** The tenant's shards as its directory lists them, oldest first. */
export const shardNames = (tenantId: string) =>
  runInDurableObject(bindings.AUDIT.getByName(tenantId), (_o, state) =>
    state.storage.sql.exec<{ name: string }>("SELECT name FROM audit_shards ORDER BY start, end").toArray().map((r) => r.name),
  );

/** Rows of one object's `audit_log` matching `where`. */
export const rowsOf = (objectName: string, where = "1", ...params: (string | number)[]) =>
  runInDurableObject(bindings.AUDIT.getByName(objectName), (_o, state) =>
    state.storage.sql.exec(`SELECT * FROM audit_log WHERE ${where}`, ...params).toArray(),
  );

/** Rows of every shard of the tenant matching `where`. */
export async function shardRows(tenantId: string, where = "1", ...params: (string | number)[]): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const name of await shardNames(tenantId)) rows.push(...(await rowsOf(name, where, ...params)));
  return rows;
}
