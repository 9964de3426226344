/**
 * The D1 client is built once per binding and only when a request uses D1: building one walks the whole schema
 * (drizzle's relational config), which a CPU profile put at 8% of a single-memory write (docs/hot-path.md).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { createDeps } from "../../src/deps";

describe("the D1 client", () => {
  it("is one client per binding", () => {
    expect(createDb(env.DB)).toBe(createDb(env.DB));
  });

  it("is built on first use of deps.db, and is the binding's one client", async () => {
    let reads = 0;
    const counted = new Proxy(env, {
      get(target, prop) {
        if (prop === "DB") reads++;
        return Reflect.get(target, prop) as unknown;
      },
    });
    const deps = createDeps(counted);
    const beforeUse = reads;
    expect(deps.db).toBe(createDb(env.DB));
    expect(reads).toBe(beforeUse + 1);
    expect(deps.db).toBe(deps.db);
    expect(reads).toBe(beforeUse + 1);
    expect(await deps.db.run("SELECT 1")).toBeDefined();
  });
});
