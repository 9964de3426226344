/**
 * The audit directory's size bound (durable-objects/audit/directory.ts, MAX_DIRECTORY_CUBE_ROWS): at the cap every
 * shard keeps its exact cube set; one row past it the shard that ends first names "any cube" instead — erasure visits
 * it for every cube (more shards, never fewer) and it learns every live tombstone. Tested with a cap of 5 rows on the
 * directory's real storage.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AuditDirectory } from "../../durable-objects/audit/directory";
import { AuditLog, sha256Hex } from "../../durable-objects/audit/log";
import { DAY_MS } from "../../durable-objects/audit/periods";
import { newTenant } from "../helpers";

const bindings = env as unknown as Env;

describe("the audit directory's cube rows", () => {
  it("stay exact up to the cap; past it the oldest shards name any cube until the total is back under it", async () => {
    const { tenantId } = await newTenant();
    const gone = await sha256Hex("cube_gone0000000000000");
    const result = await runInDurableObject(bindings.AUDIT.getByName(tenantId), async (_o, state) => {
      const sql = state.storage.sql;
      const directory = new AuditDirectory(sql, 5);
      await new AuditLog(sql).eraseCubes(["cube_gone0000000000000"], Date.now());
      const report = (name: string, day: number, cubes: string[]) =>
        directory.report({ name: `${tenantId}/${name}`, period: { start: day * DAY_MS, end: (day + 1) * DAY_MS }, entries: 0, minAt: null, maxAt: null, cubes });
      const rows = () => Number(sql.exec<{ n: number }>("SELECT count(*) AS n FROM audit_shard_cubes").one().n);
      const first = report("first", 1, ["a1", "a2", "a3"]);
      const second = report("second", 2, ["b1", "b2"]);
      const atCap = { rows: rows(), naming: directory.shardsNaming(["b1"]) };
      const third = report("third", 3, ["c1"]);
      const pastCap = { rows: rows(), naming: directory.shardsNaming(["b1"]).sort(), namingC: directory.shardsNaming(["c1"]).sort() };
      // The shard that collapsed reports again (it did not know): it is told it names any cube, with every tombstone.
      const firstAgain = report("first", 1, ["a4"]);
      // A shard that ends first and pushes past the cap collapses itself.
      const older = report("older", 0, ["o1", "o2", "o3"]);
      return { first, second, atCap, third, pastCap, firstAgain, older, rowsEnd: rows() };
    });
    expect(result.first.anyCube).toBe(false);
    expect(result.second.anyCube).toBe(false);
    expect(result.atCap).toEqual({ rows: 5, naming: [`${tenantId}/second`] });
    expect(result.third.anyCube).toBe(false);
    expect(result.pastCap).toEqual({ rows: 3, naming: [`${tenantId}/first`, `${tenantId}/second`], namingC: [`${tenantId}/first`, `${tenantId}/third`] });
    expect(result.firstAgain).toEqual({ anyCube: true, tombstones: [{ cubeSha256: gone, erasedAt: expect.any(Number) }] });
    expect(result.older.anyCube).toBe(true);
    expect(result.rowsEnd).toBeLessThanOrEqual(5);
  });

});
