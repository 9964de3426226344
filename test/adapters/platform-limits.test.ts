/**
 * The local platform must refuse what production refuses, or the tests of code that respects a limit prove nothing.
 * D1 and Durable Object SQLite bind at most 100 parameters per statement (docs/platform-limits.md); local workerd
 * enforces the same number, so no test-side guard is needed — this test fails if a future workerd stops enforcing it.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ID_LIST_CHUNK, MAX_BOUND_PARAMETERS, rowsPerInsert } from "../../src/core/sql-limits";

const selectOf = (n: number) => `SELECT ${Array.from({ length: n }, () => "?").join(", ")}`;
const values = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("bound parameters per statement", () => {
  it("local D1 binds 100 and refuses 101, as production D1 does", async () => {
    await expect(env.DB.prepare(selectOf(MAX_BOUND_PARAMETERS)).bind(...values(MAX_BOUND_PARAMETERS)).all()).resolves.toBeDefined();
    await expect(env.DB.prepare(selectOf(MAX_BOUND_PARAMETERS + 1)).bind(...values(MAX_BOUND_PARAMETERS + 1)).all()).rejects.toThrow(/too many SQL variables/);
  });

  it("local Durable Object SQLite binds 100 and refuses 101, as production does", async () => {
    const outcome = await runInDurableObject(env.CUBE.getByName(`bound-parameters-${crypto.randomUUID()}`), (_instance, state) => {
      const run = (n: number) => {
        try {
          state.storage.sql.exec(selectOf(n), ...values(n)).toArray();
          return "ok";
        } catch (error) {
          return String(error);
        }
      };
      return [run(MAX_BOUND_PARAMETERS), run(MAX_BOUND_PARAMETERS + 1)];
    });
    expect(outcome[0]).toBe("ok");
    expect(outcome[1]).toMatch(/too many SQL variables/);
  });

  it("the chunk sizes leave room under the limit", () => {
    expect(ID_LIST_CHUNK).toBeLessThan(MAX_BOUND_PARAMETERS);
    expect(rowsPerInsert(15)).toBe(6);
    expect(rowsPerInsert(11) * 11).toBeLessThanOrEqual(MAX_BOUND_PARAMETERS);
    expect(() => rowsPerInsert(101)).toThrow();
  });
});
