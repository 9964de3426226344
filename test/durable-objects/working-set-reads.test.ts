/**
 * The working set is rebuilt every REFRESH_ACCESSES reads, inside whichever search comes then. It picks its recently
 * read candidates with the reads the timer has not written yet merged in (CubeStore.lastRead), instead of writing them
 * first: a write there made that search wait for a commit (docs/search.md, "Ninth pass"). The merged list must be the
 * one the stored index gives once the reads are written — ties, the limit's edge and the state filter included.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { REFRESH_ACCESSES, type WorkingMemoryItem } from "../../durable-objects/cube/scheduler";
import { cubeObjectName } from "../../src/core/ids";
import type { MemoryWire } from "../../src/schemas/memory";
import { call, newTenant, remember, uniqueUser } from "../helpers";

interface Internals {
  store: {
    accesses: number;
    recordAccess(memories: readonly MemoryWire[], now: number): MemoryWire[];
    writeAccesses(): void;
    lastRead(limit: number, where: string): string[];
    readonly unwrittenMemories: number;
  };
  scheduler: { workingMemory(ref: CubeRef, now: number, generation: number): WorkingMemoryItem[] };
  identity(): CubeRef | null;
  writeAccessesSoon(): void;
}

const HOT = `+state IN ('generated', 'activated')`;
/** The scheduler's query before this change, run after the reads are written: what the merge must reproduce. */
const STORED_LAST_READ = `SELECT id FROM memories INDEXED BY memories_accessed WHERE last_accessed_at IS NOT NULL AND ${HOT}
  ORDER BY last_accessed_at DESC LIMIT ?`;

async function cube(count: number) {
  const { key, tenantId } = await newTenant();
  const user = uniqueUser();
  const written: any[] = [];
  for (let i = 0; i < count; i += 50) {
    written.push(...(await remember(key, user, Array.from({ length: Math.min(50, count - i) }, (_, j) => ({ content: `note ${i + j} about the garden` })))));
  }
  return { key, user, written, stub: env.CUBE.getByName(cubeObjectName(tenantId, written[0].cube_id)) };
}

const asRead = (id: string) => ({ id, access_count: 0 }) as unknown as MemoryWire;

describe("working set rebuilt without writing the counted reads", () => {
  it("merges unwritten reads into the recently read list exactly as the stored index orders them once written", async () => {
    const { stub, written } = await cube(160);
    const ids: string[] = written.map((m) => m.id);
    const seen = await runInDurableObject(stub, async (instance, state) => {
      const cube = instance as unknown as Internals;
      const sql = state.storage.sql;
      const t = 1_700_000_000_000;
      // Stored reads: 120 memories over 12 timestamps (ties of ten, as one search's hits share its time).
      for (let i = 0; i < 120; i++) cube.store.recordAccess([asRead(ids[i]!)], t + Math.floor(i / 10));
      cube.store.writeAccesses();
      // Two memories leave the hot states: one read before (stored), one read now (unwritten).
      sql.exec(`UPDATE memories SET state = 'forgotten' WHERE id IN (?, ?)`, ids[115]!, ids[150]!);
      // Unwritten reads: some move stored ones up, some are first reads, several tie with stored times (t + 5 and
      // t + 11 split the limit's edge), one is older than everything stored.
      const unwritten: [number, number][] = [
        [3, t + 20], [40, t + 20], [130, t + 20], [150, t + 20],
        [131, t + 11], [5, t + 11], [132, t + 5], [64, t + 5],
        [133, t - 5], [119, t + 30], [134, t + 30],
      ];
      for (const [i, at] of unwritten) cube.store.recordAccess([asRead(ids[i]!)], at);
      const pending = cube.store.unwrittenMemories;
      const merged = [100, 40, 3].map((limit) => cube.store.lastRead(limit, HOT));
      const storedBefore = Number(sql.exec("SELECT count(*) AS n FROM memories WHERE last_accessed_at >= ?", t + 20).one().n);
      cube.store.writeAccesses();
      const written_ = [100, 40, 3].map((limit) => sql.exec(STORED_LAST_READ, limit).toArray().map((row) => String(row.id)));
      return { pending, merged, storedBefore, written: written_ };
    });
    expect(seen.pending).toBe(11);
    expect(seen.storedBefore).toBe(0);
    expect(seen.written[0]).toHaveLength(100);
    expect(seen.written[0]).not.toContain(ids[150]);
    expect(seen.merged).toEqual(seen.written);
  });

  it("a rebuild inside a search writes nothing, and gives the working set a rebuild after writing gives", async () => {
    const { key, user, stub, written } = await cube(60);
    const ids: string[] = written.map((m) => m.id);
    // Hold the timer's write off so that the check below sees only what the search itself wrote.
    await runInDurableObject(stub, async (instance) => {
      const cube = instance as unknown as Internals;
      cube.writeAccessesSoon = () => {};
      const now = Date.now();
      cube.store.recordAccess(ids.slice(0, 30).map(asRead), now - 60_000);
      cube.store.recordAccess([asRead(ids[2]!), asRead(ids[7]!)], now - 1_000);
      // Make the next search's working set due for its rebuild.
      cube.store.accesses += REFRESH_ACCESSES;
    });
    const found = await call("POST", "/v1/search", { key, body: { user_id: user, query: "garden note", top_k: 5 } });
    expect(found.status).toBe(200);
    const seen = await runInDurableObject(stub, async (instance, state) => {
      const cube = instance as unknown as Internals;
      const stored = Number(state.storage.sql.exec("SELECT coalesce(sum(access_count), 0) AS n FROM memories").one().n);
      const ref = cube.identity()!;
      const now = Date.now();
      const unwritten = cube.store.unwrittenMemories;
      const rebuilt = cube.scheduler.workingMemory(ref, now, -1);
      cube.store.writeAccesses();
      const afterWrite = cube.scheduler.workingMemory(ref, now, -2);
      return { stored, unwritten, rebuilt, afterWrite };
    });
    // Nothing was written: every read (the 32 above and the search's own hits) still waits for the timer.
    expect(seen.stored).toBe(0);
    expect(seen.unwritten).toBeGreaterThanOrEqual(30);
    expect(seen.rebuilt.map((item) => item.memory.id)).toContain(ids[7]);
    expect(seen.rebuilt).toEqual(seen.afterWrite);
  });
});

describe("the alarm and the working set", () => {
  it("an alarm that changes no memory leaves the next search's working set as it was", async () => {
    // The alarm writes counted reads, which every answer already included; it used to start a new generation anyway,
    // so the working set was rebuilt at whichever search followed it, and the same writes and searches ranked
    // differently depending on when the alarm fired (bench recall, issue 12).
    const { key, user, stub } = await cube(60);
    const channelsOf = async () => {
      const found = await call("POST", "/v1/search", { key, body: { user_id: user, query: "garden note", top_k: 5 } });
      expect(found.status).toBe(200);
      return Object.fromEntries(found.body.data.map((hit: any) => [hit.id, hit.channel_ranks.map((r: { channel: string }) => r.channel).sort()]));
    };
    // The first search builds the working set before its hits are read: nothing in it has been read yet.
    await channelsOf();
    const before = await channelsOf();
    expect(Object.values(before).flat()).not.toContain("working");
    await runInDurableObject(stub, async (instance) => {
      await (instance as unknown as { alarm(): Promise<void> }).alarm();
    });
    expect(await channelsOf()).toEqual(before);
  });
});
