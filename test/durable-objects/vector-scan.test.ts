import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { dotProducts } from "../../durable-objects/cube/vector-scan";
import { VectorStore } from "../../durable-objects/cube/vector-store";

/**
 * The JavaScript scan the WebAssembly replaced (vector-store.ts before the sixth pass of docs/search.md), kept here as
 * the reference: four running sums over four-wide steps, the rest into the first, (a0 + a1) + (a2 + a3).
 */
function dotInt8(query: Float64Array, vectors: Int8Array, offset: number, d: number): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let j = 0;
  for (let k = offset; j + 3 < d; j += 4, k += 4) {
    a0 += query[j]! * vectors[k]!;
    a1 += query[j + 1]! * vectors[k + 1]!;
    a2 += query[j + 2]! * vectors[k + 2]!;
    a3 += query[j + 3]! * vectors[k + 3]!;
  }
  for (; j < d; j++) a0 += query[j]! * vectors[offset + j]!;
  return a0 + a1 + (a2 + a3);
}

/** Deterministic pseudo-random numbers (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A unit query of `d` doubles with irregular mantissas, so that any change in the order of the sums shows. */
function unitQuery(d: number, random: () => number): Float64Array {
  const raw = Float64Array.from({ length: d }, () => (random() - 0.5) * Math.exp(random() * 6 - 3));
  const norm = Math.sqrt(raw.reduce((acc, x) => acc + x * x, 0));
  return raw.map((x) => x / norm);
}

const int8s = (length: number, random: () => number) => Int8Array.from({ length }, () => Math.floor(random() * 256) - 128);

describe("the WebAssembly vector scan", () => {
  // Every remainder of d by 8 and by 4 (the eight-wide loop, the one four-wide step, the one-at-a-time rest), the
  // local embedder's 128 and bge-m3's 1,024.
  it.each([1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 100, 127, 128, 384, 1024])("gives the JavaScript scan's doubles bit for bit at %i-d", (d) => {
    const random = prng(d);
    const query = unitQuery(d, random);
    const count = 37;
    const vectors = int8s(count * d, random);
    const products = dotProducts(query)(vectors, count);
    const expected = Array.from({ length: count }, (_, i) => dotInt8(query, vectors, i * d, d));
    expect(Array.from(products)).toEqual(expected);
    // toEqual treats 0 and -0 alike; the bits must match too.
    const bits = (xs: ArrayLike<number>) => Array.from(new BigUint64Array(Float64Array.from(xs).buffer), String);
    expect(bits(products)).toEqual(bits(expected));
  });

  it("keeps the query across blocks and grows its memory for blocks larger than it holds", () => {
    const d = 1024;
    const random = prng(7);
    const query = unitQuery(d, random);
    const dots = dotProducts(query);
    // 100 × 1,024 bytes of vectors plus their products are more than the module's first 64 KiB page.
    for (const count of [3, 100, 1, 64]) {
      const vectors = int8s(count * d, random);
      const products = Array.from(dots(vectors, count));
      expect(products).toEqual(Array.from({ length: count }, (_, i) => dotInt8(query, vectors, i * d, d)));
    }
  });

  it("reads only the first `count` vectors of a longer block", () => {
    const d = 9;
    const random = prng(9);
    const query = unitQuery(d, random);
    const vectors = int8s(10 * d, random);
    expect(Array.from(dotProducts(query)(vectors, 4))).toEqual([0, 1, 2, 3].map((i) => dotInt8(query, vectors, i * d, d)));
  });

  it("ranks a vector store's matches with the JavaScript scan's scores (cosine = product × the stored inverse norm)", async () => {
    await runInDurableObject(env.CUBE.getByName(`vector-scan-${crypto.randomUUID()}`), (_instance, state) => {
      const store = new VectorStore(state.storage.sql);
      const d = 128;
      const random = prng(128);
      const records = Array.from({ length: 700 }, (_, i) => ({
        id: `mem_${String(i).padStart(3, "0")}`,
        vector: Float32Array.from({ length: d }, () => random() - 0.5),
      }));
      store.upsert("test:scan@1", records);
      store.delete(["mem_005", "mem_300"]);
      const query = Float32Array.from({ length: d }, () => random() - 0.5);
      const matches = store.query("test:scan@1", query, 50);

      // The same cosines computed from what the store keeps (its int8 values), by the reference scan.
      const rows = state.storage.sql.exec<{ ids: string; vectors: ArrayBuffer }>("SELECT ids, vectors FROM vector_blocks ORDER BY block").toArray();
      const norm = Math.sqrt(query.reduce((acc, x) => acc + x * x, 0));
      const unit = Float64Array.from(query, (x) => x / norm);
      const expected = rows.flatMap((row) => {
        const ids = JSON.parse(row.ids) as (string | null)[];
        const values = new Int8Array(row.vectors);
        return ids.flatMap((id, slot) => {
          if (id === null) return [];
          let sum = 0;
          for (let j = 0; j < d; j++) sum += values[slot * d + j]! * values[slot * d + j]!;
          const inverse = Math.fround(1 / Math.sqrt(sum));
          return [{ id, score: dotInt8(unit, values, slot * d, d) * inverse }];
        });
      });
      expected.sort((a, b) => b.score - a.score); // stable: equal scores stay in storage order, as the store orders them
      expect(matches).toEqual(expected.slice(0, 50));
    });
  });
});
