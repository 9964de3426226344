/**
 * Startup time: Workers must parse and run their global scope within 1 s (developers.cloudflare.com/workers/platform/limits/,
 * "Worker startup time"). The only large thing in the bundle is the local embedder's word table (~9.5 MB of source,
 * ~6.6 MB decoded); parsing its string literals is cheap, decoding it is not, so it is decoded on first use
 * (`loadTable` in src/adapters/local-embedder.ts), never at module load. This test re-evaluates the Worker's whole
 * module graph and fails if anything decodes the table while the modules load.
 */
import { afterEach, describe, expect, it, vi } from "vitest";

/** How many times the table's base64 (megabytes) was decoded: no other `atob` in the code sees more than a cursor. */
const tableDecodes = (spy: { mock: { calls: unknown[][] } }) => spy.mock.calls.filter(([text]) => typeof text === "string" && text.length > 1_000_000).length;

describe("the Worker's global scope", () => {
  afterEach(() => vi.restoreAllMocks());

  it("decodes no table while its modules load; the first embedding does", async () => {
    vi.resetModules();
    const atob = vi.spyOn(globalThis, "atob");
    const worker = await import("../../src/index");
    expect(typeof worker.default.fetch).toBe("function");
    expect(tableDecodes(atob)).toBe(0);
    // The same fresh module graph: the spy does see a decode when one happens.
    const { LocalEmbedder } = await import("../../src/adapters/local-embedder");
    const [vector] = await new LocalEmbedder().embed(["startup time"], "query");
    expect(vector!.length).toBeGreaterThan(0);
    expect(tableDecodes(atob)).toBe(1);
    // Re-transforming the module graph (the table's 9.5 MB module among it) takes seconds, more on a loaded machine.
  }, 180_000);
});
