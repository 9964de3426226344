/**
 * Counted reads are written in bursts (durable-objects/cube.ts, writeAccessesSoon): once ACCESS_WRITE_DELAY_MS pass
 * without another answer that counted reads, ACCESS_WRITE_MAX_WAIT_MS after the first at the latest, or at the next
 * turn once ACCESS_WRITE_MEMORIES memories have reads waiting. The limit is what keeps the waiting map (and the one
 * UPDATE that writes it) bounded; these tests hold it at and just past its edge.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  ACCESS_WRITE_DELAY_MS,
  ACCESS_WRITE_MAX_WAIT_MS,
  ACCESS_WRITE_MEMORIES,
  accessWriteDelay,
} from "../../durable-objects/cube";
import { cubeObjectName } from "../../src/core/ids";
import type { MemoryWire } from "../../src/schemas/memory";
import { newTenant, remember, uniqueUser } from "../helpers";

interface Internals {
  store: { recordAccess(memories: readonly MemoryWire[], now: number): MemoryWire[]; readonly unwrittenMemories: number };
  writeAccessesSoon(): void;
  accessWrite: unknown;
}

/** Reads of `count` memories (ids only: the write is an UPDATE by id, so memories that are not stored change nothing). */
const reads = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ id: `mem_probe_${from + i}`, access_count: 0 }) as unknown as MemoryWire);

const turn = () => new Promise((resolve) => setTimeout(resolve, 20));

async function cube() {
  const { key, tenantId } = await newTenant();
  const [first] = await remember(key, uniqueUser(), [{ content: "opens the cube" }]);
  return env.CUBE.getByName(cubeObjectName(tenantId, first.cube_id));
}

describe("counted reads written in bursts", () => {
  it("one memory short of the limit waits for the delay; the read that reaches it is written at the next turn", async () => {
    const stub = await cube();
    const seen = await runInDurableObject(stub, async (instance) => {
      const cube = instance as unknown as Internals;
      cube.store.recordAccess(reads(0, ACCESS_WRITE_MEMORIES - 1), Date.now());
      cube.writeAccessesSoon();
      await turn();
      const below = cube.store.unwrittenMemories;
      // The 1,000th memory's read: the pending delayed write is replaced by one at the next turn.
      cube.store.recordAccess(reads(ACCESS_WRITE_MEMORIES - 1, 1), Date.now());
      cube.writeAccessesSoon();
      await turn();
      return { below, atLimit: cube.store.unwrittenMemories, timerLeft: cube.accessWrite !== null };
    });
    expect(ACCESS_WRITE_DELAY_MS).toBeGreaterThan(100);
    expect(seen.below).toBe(ACCESS_WRITE_MEMORIES - 1);
    expect(seen.atLimit).toBe(0);
    expect(seen.timerLeft).toBe(false);
  });

  it("just past the limit with no write pending: written at the next turn, not after the delay", async () => {
    const stub = await cube();
    const seen = await runInDurableObject(stub, async (instance) => {
      const cube = instance as unknown as Internals;
      cube.store.recordAccess(reads(0, ACCESS_WRITE_MEMORIES + 1), Date.now());
      cube.writeAccessesSoon();
      const waiting = cube.store.unwrittenMemories;
      await turn();
      return { waiting, after: cube.store.unwrittenMemories };
    });
    expect(seen).toEqual({ waiting: ACCESS_WRITE_MEMORIES + 1, after: 0 });
  });

  it("a read below the limit reaches the stored count once the delay has passed", async () => {
    const stub = await cube();
    const seen = await runInDurableObject(stub, async (instance, state) => {
      const cube = instance as unknown as Internals;
      const id = String(state.storage.sql.exec("SELECT id FROM memories LIMIT 1").one().id);
      const stored = () => Number(state.storage.sql.exec("SELECT access_count FROM memories WHERE id = ?", id).one().access_count);
      cube.store.recordAccess([{ id, access_count: 0 } as unknown as MemoryWire], Date.now());
      cube.writeAccessesSoon();
      await turn();
      const before = stored();
      await new Promise((resolve) => setTimeout(resolve, ACCESS_WRITE_DELAY_MS + 50));
      return { before, after: stored() };
    });
    expect(seen).toEqual({ before: 0, after: 1 });
  });

  it("answers that keep counting reads move the write back, up to the longest wait", () => {
    expect(accessWriteDelay(1, 0)).toBe(ACCESS_WRITE_DELAY_MS);
    expect(accessWriteDelay(ACCESS_WRITE_MEMORIES - 1, ACCESS_WRITE_MAX_WAIT_MS - ACCESS_WRITE_DELAY_MS)).toBe(ACCESS_WRITE_DELAY_MS);
    expect(accessWriteDelay(10, ACCESS_WRITE_MAX_WAIT_MS - 300)).toBe(300);
    expect(accessWriteDelay(10, ACCESS_WRITE_MAX_WAIT_MS - 1)).toBe(1);
    expect(accessWriteDelay(10, ACCESS_WRITE_MAX_WAIT_MS)).toBe(0);
    expect(accessWriteDelay(10, ACCESS_WRITE_MAX_WAIT_MS + 5)).toBe(0);
    expect(accessWriteDelay(ACCESS_WRITE_MEMORIES, 0)).toBe(0);
    expect(ACCESS_WRITE_MAX_WAIT_MS).toBeGreaterThan(ACCESS_WRITE_DELAY_MS);
  });

  it("reads counted closer together than the delay are written together once they stop, not a delay after the first", async () => {
    const stub = await cube();
    const seen = await runInDurableObject(stub, async (instance) => {
      const cube = instance as unknown as Internals;
      const gap = () => new Promise((resolve) => setTimeout(resolve, ACCESS_WRITE_DELAY_MS * 0.6));
      cube.store.recordAccess(reads(0, 1), Date.now());
      cube.writeAccessesSoon();
      await gap();
      cube.store.recordAccess(reads(1, 1), Date.now());
      cube.writeAccessesSoon();
      await gap();
      // 1.2 delays after the first read, 0.6 after the second: the write still waits. (The timer, not the count of
      // unwritten reads, is what is checked: the cube's alarm may run a sweep, which writes them, at any time.)
      const waiting = cube.accessWrite !== null;
      await new Promise((resolve) => setTimeout(resolve, ACCESS_WRITE_DELAY_MS * 0.4 + 100));
      return { waiting, written: cube.accessWrite === null && cube.store.unwrittenMemories === 0 };
    });
    expect(seen).toEqual({ waiting: true, written: true });
  });
});
