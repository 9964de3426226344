/**
 * Contract suites: one per adapter interface, each a function run against every implementation (local and
 * Cloudflare), so a local adapter that behaves differently from the real one fails the same test.
 */
import { describe, expect, it } from "vitest";
import type { Embedder, Reranker, VectorIndex, VectorMatch } from "../../src/adapters/types";

// ── Embedder ────────────────────────────────────────────────────────────────────────────────────────────────

export interface EmbedderContractOptions {
  /** Assert that related texts land closer than unrelated ones (only for a real model, not a stand-in). */
  semantic: boolean;
}

const norm = (v: Float32Array) => Math.sqrt(v.reduce((acc, x) => acc + x * x, 0));
const dot = (a: Float32Array, b: Float32Array) => a.reduce((acc, x, i) => acc + x * (b[i] ?? 0), 0);
const bits = (v: Float32Array) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));

export function embedderContract(name: string, create: () => Embedder, options: EmbedderContractOptions): void {
  describe(`Embedder contract: ${name}`, () => {
    it("has an id and gives one unit vector of `dimensions` per text", async () => {
      const embedder = create();
      expect(embedder.id).toMatch(/^[a-z-]+:\S+$/);
      expect(embedder.confidentSimilarity).toBeGreaterThan(0);
      expect(embedder.confidentSimilarity).toBeLessThanOrEqual(1);
      const vectors = await embedder.embed(["I adopted a puppy", "the quarterly budget"], "document");
      expect(vectors).toHaveLength(2);
      for (const vector of vectors) {
        expect(vector).toBeInstanceOf(Float32Array);
        expect(vector).toHaveLength(embedder.dimensions);
        expect(vector.every(Number.isFinite)).toBe(true);
        expect(norm(vector)).toBeCloseTo(1, 5);
      }
    });

    it("is deterministic: the same text gives a bit-identical vector, across calls and instances", async () => {
      const texts = ["Melanie painted a sunrise over the lake", "Caroline's support group meets on Tuesdays"];
      const first = await create().embed(texts, "document");
      const again = await create().embed(texts, "document");
      expect(again.map(bits)).toEqual(first.map(bits));
    });

    it("keeps input order, and a text's vector does not depend on its batch", async () => {
      const embedder = create();
      const texts = ["apples and pears", "a trip to Paris", "learning the violin"];
      const together = await embedder.embed(texts, "document");
      const alone = await Promise.all(texts.map(async (text) => (await embedder.embed([text], "document"))[0]!));
      expect(together.map(bits)).toEqual(alone.map(bits));
      expect(new Set(together.map((v) => bits(v).join(","))).size).toBe(3);
    });

    it("embeds a batch of 300 texts", async () => {
      const embedder = create();
      const texts = Array.from({ length: 300 }, (_, i) => `memory number ${i}: the user mentioned topic ${i % 17}`);
      const vectors = await embedder.embed(texts, "document");
      expect(vectors).toHaveLength(300);
      for (const i of [0, 99, 100, 299]) {
        expect(bits(vectors[i]!)).toEqual(bits((await embedder.embed([texts[i]!], "document"))[0]!));
      }
    });

    it("handles empty and empty-ish texts with unit vectors", async () => {
      const embedder = create();
      expect(await embedder.embed([], "document")).toEqual([]);
      const vectors = await embedder.embed(["", "   ", "?!", "the", "\n\t"], "query");
      expect(vectors).toHaveLength(5);
      for (const vector of vectors) {
        expect(vector).toHaveLength(embedder.dimensions);
        expect(norm(vector)).toBeCloseTo(1, 5);
      }
    });

    if (options.semantic) {
      it("puts related texts closer than unrelated ones", async () => {
        const embedder = create();
        const [dog, puppy, stocks] = await embedder.embed(
          ["My dog loves running in the park", "I adopted a playful puppy last week", "The stock market fell sharply today"],
          "document",
        );
        expect(dot(dog!, puppy!)).toBeGreaterThan(dot(dog!, stocks!) + 0.05);
        const [query] = await embedder.embed(["what pet does she have?"], "query");
        const [pet, weather] = await embedder.embed(["She has a cat named Luna", "It rained all weekend in Boston"], "document");
        expect(dot(query!, pet!)).toBeGreaterThan(dot(query!, weather!));
      });
    }
  });
}

// ── VectorIndex ─────────────────────────────────────────────────────────────────────────────────────────────

export interface VectorIndexHarness {
  index: VectorIndex;
  /** Namespaces the implementation serves: two or more, or exactly one for an index bound to one cube. */
  namespaces: readonly [string, ...string[]];
  /** A namespace it must refuse, when it serves only one. */
  foreignNamespace?: string;
  dimensions: number;
  /** Makes earlier writes visible (eventually consistent implementations); absent when writes are immediate. */
  settle?: () => Promise<void>;
}

/** Quantised or approximate indexes may be off by this much from the exact cosine. */
const SCORE_TOLERANCE = 0.02;

/** A deterministic pseudo-random unit vector. */
export function unitVector(seed: number, dimensions: number): Float32Array {
  let state = (seed * 2654435761) >>> 0 || 1;
  const v = new Float32Array(dimensions);
  for (let i = 0; i < dimensions; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    v[i] = (state >>> 0) / 2 ** 32 - 0.5;
  }
  const n = norm(v);
  return v.map((x) => x / n);
}

/** Unit vector at `angle` radians from axis 0, towards axis `towards`: cos(angle) with axis 0. */
function atAngle(angle: number, towards: number, dimensions: number): Float32Array {
  const v = new Float32Array(dimensions);
  v[0] = Math.cos(angle);
  v[towards] = Math.sin(angle);
  return v;
}

const scoresDescending = (matches: readonly VectorMatch[]) =>
  matches.every((m, i) => i === 0 || matches[i - 1]!.score >= m.score);

export function vectorIndexContract(name: string, create: () => VectorIndexHarness): void {
  describe(`VectorIndex contract: ${name}`, () => {
    const settle = (h: VectorIndexHarness) => h.settle?.() ?? Promise.resolve();

    it("finds an upserted vector first, with its cosine score", async () => {
      const h = create();
      const [ns] = h.namespaces;
      const records = Array.from({ length: 20 }, (_, i) => ({ id: `mem_${i}`, vector: unitVector(i + 1, h.dimensions) }));
      await h.index.upsert(ns, records);
      await settle(h);
      const matches = await h.index.query(ns, records[7]!.vector, 5);
      expect(matches[0]).toMatchObject({ id: "mem_7" });
      expect(matches[0]!.score).toBeCloseTo(1, 1);
      expect(scoresDescending(matches)).toBe(true);
      for (const match of matches) {
        const stored = records.find((r) => r.id === match.id)!;
        expect(Math.abs(match.score - dot(stored.vector, records[7]!.vector))).toBeLessThan(SCORE_TOLERANCE);
      }
    });

    it("orders by cosine similarity and honours topK", async () => {
      const h = create();
      const [ns] = h.namespaces;
      // Cosines with the query fall from 1 by ≥ 0.01 per step: any correct index orders them exactly.
      const records = Array.from({ length: 10 }, (_, i) => ({ id: `mem_${9 - i}`, vector: atAngle(0.15 * (9 - i), 1 + i, h.dimensions) }));
      await h.index.upsert(ns, records);
      await settle(h);
      const query = atAngle(0, 1, h.dimensions);
      expect((await h.index.query(ns, query, 10)).map((m) => m.id)).toEqual(Array.from({ length: 10 }, (_, i) => `mem_${i}`));
      expect((await h.index.query(ns, query, 3)).map((m) => m.id)).toEqual(["mem_0", "mem_1", "mem_2"]);
      expect(await h.index.query(ns, query, 1)).toHaveLength(1);
      expect(await h.index.query(ns, query, 50)).toHaveLength(10);
    });

    it("replaces a vector upserted again under the same id", async () => {
      const h = create();
      const [ns] = h.namespaces;
      const [a, b, other] = [unitVector(101, h.dimensions), unitVector(202, h.dimensions), unitVector(303, h.dimensions)];
      await h.index.upsert(ns, [{ id: "mem_x", vector: a }, { id: "mem_other", vector: other }]);
      await settle(h);
      await h.index.upsert(ns, [{ id: "mem_x", vector: b }]);
      await settle(h);
      const byB = await h.index.query(ns, b, 10);
      expect(byB[0]).toMatchObject({ id: "mem_x" });
      expect(byB[0]!.score).toBeCloseTo(1, 1);
      const byA = await h.index.query(ns, a, 10);
      expect(byA.filter((m) => m.id === "mem_x")).toHaveLength(1);
      expect(Math.abs(byA.find((m) => m.id === "mem_x")!.score - dot(a, b))).toBeLessThan(SCORE_TOLERANCE);
    });

    it("deletes ids and ignores unknown ones", async () => {
      const h = create();
      const [ns] = h.namespaces;
      const records = Array.from({ length: 5 }, (_, i) => ({ id: `mem_${i}`, vector: unitVector(500 + i, h.dimensions) }));
      await h.index.upsert(ns, records);
      await settle(h);
      await h.index.delete(ns, ["mem_1", "mem_3", "mem_unknown"]);
      await h.index.delete(ns, []);
      await settle(h);
      const matches = await h.index.query(ns, records[1]!.vector, 10);
      expect(matches.map((m) => m.id).sort()).toEqual(["mem_0", "mem_2", "mem_4"]);
    });

    it("fetches the vectors it serves by id, in batches beyond 20, and nothing else", async () => {
      const h = create();
      const [ns] = h.namespaces;
      const records = Array.from({ length: 45 }, (_, i) => ({ id: `mem_${i}`, vector: unitVector(700 + i, h.dimensions) }));
      await h.index.upsert(ns, records);
      await settle(h);
      await h.index.delete(ns, ["mem_3"]);
      await settle(h);
      const fetched = await h.index.fetch(ns, [...records.map((r) => r.id), "mem_unknown"]);
      expect(fetched.map((r) => r.id).sort()).toEqual(records.map((r) => r.id).filter((id) => id !== "mem_3").sort());
      for (const { id, vector } of fetched) {
        expect(vector).toBeInstanceOf(Float32Array);
        // The stored vector, up to the index's own precision (the local store keeps int8).
        expect(dot(vector, records.find((r) => r.id === id)!.vector) / norm(vector)).toBeGreaterThan(0.99);
      }
      expect(await h.index.fetch(ns, [])).toEqual([]);
      const other = h.namespaces[1] ?? null;
      if (other !== null) expect(await h.index.fetch(other, ["mem_1"])).toEqual([]);
      else await expect(h.index.fetch(h.foreignNamespace!, ["mem_1"])).rejects.toThrow();
    });

    it("answers an empty namespace with no matches", async () => {
      const h = create();
      expect(await h.index.query(h.namespaces[0], unitVector(9, h.dimensions), 10)).toEqual([]);
    });

    it("keeps namespaces apart", async () => {
      const h = create();
      const [ns, other] = h.namespaces;
      const [a, b] = [unitVector(61, h.dimensions), unitVector(62, h.dimensions)];
      if (other === undefined) {
        // An index bound to one namespace must refuse every other rather than mix them.
        const foreign = h.foreignNamespace!;
        await expect(h.index.upsert(foreign, [{ id: "mem_shared", vector: a }])).rejects.toThrow();
        await expect(h.index.query(foreign, a, 5)).rejects.toThrow();
        await expect(h.index.delete(foreign, ["mem_shared"])).rejects.toThrow();
        await h.index.upsert(ns, [{ id: "mem_shared", vector: a }]);
        await settle(h);
        expect((await h.index.query(ns, a, 5)).map((m) => m.id)).toEqual(["mem_shared"]);
        return;
      }
      // The same id in two namespaces is two vectors: neither write, query nor delete crosses over.
      await h.index.upsert(ns, [{ id: "mem_shared", vector: a }]);
      await h.index.upsert(other, [{ id: "mem_shared", vector: b }, { id: "mem_only_b", vector: a }]);
      await settle(h);
      const inA = await h.index.query(ns, a, 5);
      expect(inA.map((m) => m.id)).toEqual(["mem_shared"]);
      expect(inA[0]!.score).toBeCloseTo(1, 1);
      const inB = await h.index.query(other, b, 5);
      expect(inB[0]).toMatchObject({ id: "mem_shared" });
      expect(inB[0]!.score).toBeCloseTo(1, 1);
      await h.index.delete(ns, ["mem_shared", "mem_only_b"]);
      await settle(h);
      expect(await h.index.query(ns, a, 5)).toEqual([]);
      expect((await h.index.query(other, b, 5)).map((m) => m.id).sort()).toEqual(["mem_only_b", "mem_shared"]);
    });
  });
}

// ── Reranker ────────────────────────────────────────────────────────────────────────────────────────────────

export function rerankerContract(name: string, create: () => Reranker): void {
  describe(`Reranker contract: ${name}`, () => {
    const query = "When did Caroline paint the sunrise over the lake?";
    const documents = [
      "The quarterly budget meeting moved to Tuesday.",
      "Caroline went swimming in the lake.",
      "Caroline painted the sunrise over the lake last summer.",
    ];

    it("gives one finite score per document, in order, most relevant highest", async () => {
      const reranker = create();
      expect(reranker.id).toMatch(/^[a-z-]+:\S+$/);
      const scores = await reranker.rerank(query, documents);
      expect(scores).toHaveLength(3);
      expect(scores.every(Number.isFinite)).toBe(true);
      expect(scores[2]!).toBeGreaterThan(scores[1]!);
      expect(scores[1]!).toBeGreaterThan(scores[0]!);
      // Scores follow the documents, not a sorted order.
      const reversed = await reranker.rerank(query, [...documents].reverse());
      expect(reversed).toEqual([...scores].reverse());
    });

    it("is deterministic and handles no documents and blank documents", async () => {
      const reranker = create();
      expect(await reranker.rerank(query, documents)).toEqual(await reranker.rerank(query, documents));
      expect(await reranker.rerank(query, [])).toEqual([]);
      const scores = await reranker.rerank(query, ["", documents[2]!, "   "]);
      expect(scores).toHaveLength(3);
      expect(scores.every(Number.isFinite)).toBe(true);
      expect(scores[1]!).toBeGreaterThan(scores[0]!);
      expect(scores[1]!).toBeGreaterThan(scores[2]!);
    });

    it("scores a long candidate list", async () => {
      const many = Array.from({ length: 150 }, (_, i) => (i === 120 ? documents[2]! : `unrelated note number ${i} about groceries`));
      const scores = await create().rerank(query, many);
      expect(scores).toHaveLength(150);
      expect(scores.indexOf(Math.max(...scores))).toBe(120);
    });
  });
}
