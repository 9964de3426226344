import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ISOLATE_VECTOR_BUDGET, VectorStore, blockCapacity } from "../../durable-objects/cube/vector-store";
import { unitVector } from "../adapters/contracts";

const A = "test:space-a@1";
const B = "test:space-b@1";
const D = 100; // 256 vectors per block

const records = (from: number, to: number, d = D) =>
  Array.from({ length: to - from }, (_, i) => ({ id: `mem_${from + i}`, vector: unitVector(from + i + 1, d) }));

interface BlockRow {
  block: number;
  embedder: string;
  ids: (string | null)[];
  live: number;
}

function blockRows(sql: SqlStorage): BlockRow[] {
  return sql
    .exec<{ block: number; embedder: string; ids: string }>("SELECT block, embedder, ids FROM vector_blocks ORDER BY block")
    .toArray()
    .map((row) => {
      const ids = JSON.parse(row.ids) as (string | null)[];
      return { block: row.block, embedder: row.embedder, ids, live: ids.filter((id) => id !== null).length };
    });
}

/** A fresh Durable Object with its schema applied (the Cube DO's constructor runs the migrations). */
const freshObject = () => env.CUBE.getByName(`vector-store-${crypto.randomUUID()}`);

describe("vector store packing", () => {
  it("sizes blocks at ~32 KB of int8: 256 vectors at 100-d, 32 at 1,024-d", () => {
    expect([blockCapacity(100), blockCapacity(384), blockCapacity(768), blockCapacity(1024), blockCapacity(4096)]).toEqual([
      256, 85, 42, 32, 16,
    ]);
  });

  it("fills blocks to capacity before starting a new one", async () => {
    await runInDurableObject(freshObject(), (_instance, state) => {
      const store = new VectorStore(state.storage.sql);
      store.upsert(A, records(0, 256));
      expect(blockRows(state.storage.sql).map((b) => b.live)).toEqual([256]);
      store.upsert(A, records(256, 257));
      expect(blockRows(state.storage.sql).map((b) => b.live)).toEqual([256, 1]);
      store.upsert(A, records(257, 600));
      const rows = blockRows(state.storage.sql);
      // A block is stored up to its last used slot.
      expect(rows.map((b) => [b.live, b.ids.length])).toEqual([
        [256, 256],
        [256, 256],
        [88, 88],
      ]);
      expect(rows.flatMap((b) => b.ids).slice(0, 600)).toEqual(records(0, 600).map((r) => r.id));
      expect(store.count(A)).toBe(600);
      expect(store.stats()).toMatchObject({ vectors: 600, blocks: 3, vectorBytes: 3 * 256 * (D + 8) });
    });
  });

  it("stores a block up to its last used slot, and a reloaded store fills the rest of it", async () => {
    await runInDurableObject(freshObject(), (_instance, state) => {
      const store = new VectorStore(state.storage.sql);
      store.upsert(A, records(0, 3));
      const stored = () =>
        state.storage.sql
          .exec<{ ids: string; scales: ArrayBuffer; vectors: ArrayBuffer }>("SELECT ids, scales, vectors FROM vector_blocks")
          .toArray()
          .map((row) => [JSON.parse(row.ids).length, row.scales.byteLength, row.vectors.byteLength]);
      // A single-memory write rewrites the used part of its block, not all 256 slots.
      expect(stored()).toEqual([[3, 3 * 4, 3 * D]]);

      const reloaded = new VectorStore(state.storage.sql);
      expect(reloaded.get("mem_2")).not.toBeNull();
      reloaded.upsert(A, records(3, 256));
      expect(stored()).toEqual([[256, 256 * 4, 256 * D]]);
      reloaded.upsert(A, records(256, 257));
      expect(blockRows(state.storage.sql).map((b) => b.live)).toEqual([256, 1]);
      expect(reloaded.query(A, unitVector(3, D), 1)).toEqual([{ id: "mem_2", score: expect.closeTo(1, 2) }]);
      expect(new VectorStore(state.storage.sql).stats()).toMatchObject({ vectors: 257, blocks: 2, vectorBytes: 2 * 256 * (D + 8) });
    });
  });

  it("frees slots on delete, reuses them on insert, and drops a block once empty", async () => {
    await runInDurableObject(freshObject(), (_instance, state) => {
      const store = new VectorStore(state.storage.sql);
      store.upsert(A, records(0, 600));
      const deleted = ["mem_3", "mem_100", "mem_255", "mem_256", "mem_599", "mem_missing"];
      expect(store.delete(deleted)).toBe(5);
      expect(store.count(A)).toBe(595);
      let rows = blockRows(state.storage.sql);
      expect(rows.map((b) => b.live)).toEqual([253, 255, 87]);
      // Slot 255 was the first block's last: the stored block now ends before it.
      expect([rows[0]!.ids[3], rows[0]!.ids[100], rows[0]!.ids.length, rows[1]!.ids[0]]).toEqual([null, null, 255, null]);
      for (const id of deleted) expect(store.get(id)).toBeNull();
      expect(store.query(A, unitVector(4, D), 600).some((m) => deleted.includes(m.id))).toBe(false);

      // New vectors take the lowest free slots: first block first, no new block.
      store.upsert(A, records(1000, 1004));
      rows = blockRows(state.storage.sql);
      expect(rows.map((b) => b.live)).toEqual([256, 256, 87]);
      expect([rows[0]!.ids[3], rows[0]!.ids[100], rows[0]!.ids[255], rows[1]!.ids[0]]).toEqual([
        "mem_1000",
        "mem_1001",
        "mem_1002",
        "mem_1003",
      ]);

      store.delete(records(512, 600).map((r) => r.id));
      expect(blockRows(state.storage.sql).map((b) => b.live)).toEqual([256, 256]);
      expect(store.count(A)).toBe(512);
    });
  });

  it("replaces a vector in place on upsert, and moves it when its embedder changes", async () => {
    await runInDurableObject(freshObject(), (_instance, state) => {
      const store = new VectorStore(state.storage.sql);
      store.upsert(A, records(0, 300));
      const replacement = unitVector(9999, D);
      store.upsert(A, [{ id: "mem_7", vector: replacement }]);
      expect(store.count(A)).toBe(300);
      expect(blockRows(state.storage.sql)[0]!.ids[7]).toBe("mem_7");
      expect(store.query(A, replacement, 1)).toEqual([{ id: "mem_7", score: expect.closeTo(1, 3) }]);
      // Within one call the last record of an id wins.
      store.upsert(A, [
        { id: "mem_8", vector: unitVector(1, D) },
        { id: "mem_8", vector: replacement },
      ]);
      expect(store.query(A, replacement, 2).map((m) => m.id).sort()).toEqual(["mem_7", "mem_8"]);

      // Re-embedding: the id leaves space A for space B; the spaces never meet.
      const reembedded = unitVector(4242, 16);
      store.upsert(B, [{ id: "mem_7", vector: reembedded }]);
      expect([store.count(A), store.count(B), store.count()]).toEqual([299, 1, 300]);
      expect(store.embedderIds()).toEqual([A, B]);
      expect(store.embedderOf("mem_7")).toBe(B);
      expect(store.query(A, replacement, 300).map((m) => m.id)).not.toContain("mem_7");
      expect(store.query(B, reembedded, 10)).toEqual([{ id: "mem_7", score: expect.closeTo(1, 3) }]);
      expect(store.ids(B)).toEqual(["mem_7"]);
      expect(blockRows(state.storage.sql).map((b) => [b.embedder, b.live])).toEqual([
        [A, 255],
        [A, 44],
        [B, 1],
      ]);
      // A space nobody wrote is empty; a vector of the wrong size is an error, not a silent zero score.
      expect(store.query("test:unknown@1", replacement, 5)).toEqual([]);
      expect(() => store.query(B, replacement, 5)).toThrow(/16 dimensions/);
      expect(() => store.upsert(A, [{ id: "mem_x", vector: reembedded }])).toThrow(/100 dimensions/);
      store.delete(["mem_7"]);
      expect(store.embedderIds()).toEqual([A]);
    });
  });

  it("quantises to int8 with a per-vector scale: scores within 0.01 of exact cosine", async () => {
    await runInDurableObject(freshObject(), (_instance, state) => {
      const store = new VectorStore(state.storage.sql);
      const all = records(0, 200);
      store.upsert(A, all);
      const original = all[5]!.vector;
      const stored = store.get("mem_5")!;
      const maxError = Math.max(...Array.from(original, (x, i) => Math.abs(x - stored.vector[i]!)));
      const maxAbs = Math.max(...Array.from(original, Math.abs));
      expect(maxError).toBeLessThanOrEqual(maxAbs / 127 / 2 + 1e-6);
      const query = unitVector(777, D);
      for (const match of store.query(A, query, 20)) {
        const exact = all.find((r) => r.id === match.id)!.vector.reduce((acc, x, i) => acc + x * query[i]!, 0);
        expect(Math.abs(match.score - exact)).toBeLessThan(0.01);
      }
    });
  });

  it("the k best are a full ranking's first k, for every k: ties in storage order (not by id), free slots skipped", async () => {
    await runInDurableObject(freshObject(), (_instance, state) => {
      const store = new VectorStore(state.storage.sql);
      // Groups of five ids share one vector, so scores tie; deleted ids leave free slots in the blocks. Ids are
      // written in descending order, so storage order is the reverse of id order: ties by id would fail here.
      store.upsert(A, Array.from({ length: 600 }, (_, i) => ({ id: `mem_${String(599 - i).padStart(3, "0")}`, vector: unitVector(Math.floor(i / 5) + 1, D) })));
      store.delete(Array.from({ length: 60 }, (_, i) => `mem_${String(i * 10).padStart(3, "0")}`));
      const query = unitVector(4242, D);
      const full = store.query(A, query, 10_000);
      expect(full).toHaveLength(540);
      const ordered = [...full].sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : -1));
      expect(full).toEqual(ordered);
      expect(new Set(full.map((m) => m.score)).size).toBeLessThan(full.length);
      for (const k of [1, 2, 3, 4, 5, 7, 100, 101, 299, 300, 539, 540]) expect(store.query(A, query, k)).toEqual(full.slice(0, k));
    });
  });

  it("reloads identical results from SQL: in a new store and after the object is evicted", async () => {
    const stub = freshObject();
    const query = unitVector(31337, D);
    const before = await runInDurableObject(stub, (_instance, state) => {
      const store = new VectorStore(state.storage.sql);
      store.upsert(A, records(0, 700));
      store.delete(["mem_10", "mem_400"]);
      store.upsert(A, [{ id: "mem_20", vector: query }]);
      store.upsert(B, records(700, 710, 16));
      const results = { a: store.query(A, query, 25), b: store.query(B, unitVector(705, 16), 3), counts: [store.count(A), store.count(B)] };
      const reloaded = new VectorStore(state.storage.sql);
      expect({ a: reloaded.query(A, query, 25), b: reloaded.query(B, unitVector(705, 16), 3), counts: [reloaded.count(A), reloaded.count(B)] }).toEqual(results);
      return results;
    });
    await evictDurableObject(stub);
    const after = await runInDurableObject(stub, (_instance, state) => {
      const store = new VectorStore(state.storage.sql);
      return { a: store.query(A, query, 25), b: store.query(B, unitVector(705, 16), 3), counts: [store.count(A), store.count(B)] };
    });
    expect(after).toEqual(before);
    expect(after.a[0]).toEqual({ id: "mem_20", score: expect.closeTo(1, 3) });
  });

  it("rolls back with the surrounding transaction once reset() drops the in-memory copy", async () => {
    await runInDurableObject(freshObject(), (_instance, state) => {
      const store = new VectorStore(state.storage.sql);
      store.upsert(A, records(0, 10));
      expect(() =>
        state.storage.transactionSync(() => {
          store.upsert(A, records(10, 20));
          throw new Error("the memory write failed");
        }),
      ).toThrow("the memory write failed");
      expect(store.count(A)).toBe(20); // memory ran ahead of the rolled-back SQL…
      store.reset();
      expect(store.count(A)).toBe(10); // …until reset
      expect(store.query(A, unitVector(15, D), 20).map((m) => m.id)).not.toContain("mem_14");
    });
  });
});

describe("the isolate's budget for loaded vector copies (issue 17, item 9)", () => {
  it("drops the least recently used stores when another loads past the budget, and a dropped store still answers", async () => {
    const saved = ISOLATE_VECTOR_BUDGET.bytes;
    try {
      // Room for about two stores of 300 vectors at 100-d (3 × 2 blocks of 256 × 108 bytes + ids ≈ 95 KB each).
      ISOLATE_VECTOR_BUDGET.bytes = 200_000;
      const stores: { store: VectorStore; stub: DurableObjectStub }[] = [];
      for (let i = 0; i < 3; i++) {
        const stub = freshObject();
        await runInDurableObject(stub, (_instance, state) => {
          const store = new VectorStore(state.storage.sql);
          store.upsert(A, records(0, 300));
          stores.push({ store, stub });
        });
      }
      // Each store loaded (empty) before its upsert; the third pushed the total past the budget, so the oldest went.
      expect(stores.map(({ store }) => store.loaded)).toEqual([false, true, true]);
      expect(stores[0]!.store.heldBytes()).toBe(0);
      // Using the dropped store reloads it from SQL with the same answers, and drops the now least recently used one.
      // (Reads run inside the store's own object: its SQL is that object's I/O.)
      const [best, count] = await runInDurableObject(stores[0]!.stub, () => [stores[0]!.store.query(A, unitVector(42, D), 1)[0], stores[0]!.store.count(A)] as const);
      expect(best?.id).toBe("mem_41");
      expect(count).toBe(300);
      expect(stores.map(({ store }) => store.loaded)).toEqual([true, false, true]);
    } finally {
      ISOLATE_VECTOR_BUDGET.bytes = saved;
    }
  });

  it("keeps every store at exactly the budget and drops the oldest one byte past it", async () => {
    const saved = ISOLATE_VECTOR_BUDGET.bytes;
    try {
      ISOLATE_VECTOR_BUDGET.bytes = Number.MAX_SAFE_INTEGER;
      const loadTwo = async () => {
        const made: { store: VectorStore; stub: DurableObjectStub }[] = [];
        for (let i = 0; i < 2; i++) {
          const stub = freshObject();
          await runInDurableObject(stub, (_instance, state) => {
            const store = new VectorStore(state.storage.sql);
            store.upsert(A, records(0, 100));
            made.push({ store, stub });
          });
        }
        return made;
      };
      const [first, second] = await loadTwo();
      const both = first!.store.heldBytes() + second!.store.heldBytes();
      // At exactly the budget nothing is dropped: a write to the second store re-checks the budget.
      ISOLATE_VECTOR_BUDGET.bytes = both;
      await runInDurableObject(second!.stub, () => second!.store.upsert(A, records(0, 1)));
      expect([first!.store.loaded, second!.store.loaded]).toEqual([true, true]);
      // One byte less, and the least recently used store goes.
      ISOLATE_VECTOR_BUDGET.bytes = both - 1;
      await runInDurableObject(second!.stub, () => second!.store.upsert(A, records(0, 1)));
      expect([first!.store.loaded, second!.store.loaded]).toEqual([false, true]);
    } finally {
      ISOLATE_VECTOR_BUDGET.bytes = saved;
    }
  });
});
