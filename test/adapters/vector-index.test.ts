import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { VectorStore } from "../../durable-objects/cube/vector-store";
import { LocalVectorIndex } from "../../src/adapters/local-vector-index";
import type { VectorIndex } from "../../src/adapters/types";
import { VectorizeVectorIndex } from "../../src/adapters/vectorize-index";
import { type VectorIndexHarness, unitVector, vectorIndexContract } from "./contracts";
import { VectorizeStandIn } from "./stand-ins";

const DIMENSIONS = 32;
const CUBE = "cube_0123456789abcdef";
const EMBEDDER = "test:random-32d@1";

/**
 * The Durable Object's index, reached the way the Cube DO would: every call runs inside a fresh DO instance's
 * context. `cached` keeps one store per DO instance (the production shape); otherwise every call builds a new store
 * that reloads from SQL, which runs the same contract against the cold-load path.
 */
function durableObjectHarness(cached: boolean): VectorIndexHarness {
  const stub = env.CUBE.getByName(`vector-contract-${crypto.randomUUID()}`);
  const stores = new WeakMap<object, VectorStore>();
  const inObject = <T>(use: (index: LocalVectorIndex) => Promise<T>) =>
    runInDurableObject(stub, async (instance: object, state) => {
      let store = cached ? stores.get(instance) : undefined;
      if (!store) {
        store = new VectorStore(state.storage.sql);
        stores.set(instance, store);
      }
      return use(new LocalVectorIndex(store, EMBEDDER, CUBE));
    });
  const index: VectorIndex = {
    upsert: (namespace, records) => inObject((i) => i.upsert(namespace, records)),
    query: (namespace, vector, topK) => inObject((i) => i.query(namespace, vector, topK)),
    delete: (namespace, ids) => inObject((i) => i.delete(namespace, ids)),
    fetch: (namespace, ids) => inObject((i) => i.fetch(namespace, ids)),
  };
  return { index, namespaces: [CUBE], foreignNamespace: "cube_fedcba9876543210", dimensions: DIMENSIONS };
}

function vectorizeHarness(): VectorIndexHarness {
  const vectorize = new VectorizeStandIn(DIMENSIONS);
  return {
    index: new VectorizeVectorIndex(vectorize),
    namespaces: [CUBE, "cube_fedcba9876543210"],
    dimensions: DIMENSIONS,
    settle: async () => vectorize.flush(),
  };
}

vectorIndexContract("Durable Object vector store", () => durableObjectHarness(true));
vectorIndexContract("Durable Object vector store, reloaded from SQL on every call", () => durableObjectHarness(false));
vectorIndexContract("Vectorize (stand-in binding)", vectorizeHarness);

describe("Vectorize adapter requests", () => {
  const records = (n: number, prefix = "mem_") =>
    Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, vector: unitVector(i + 1, DIMENSIONS) }));

  it("upserts in batches of at most 1,000, namespaced, with cube-scoped ids", async () => {
    const vectorize = new VectorizeStandIn(DIMENSIONS);
    await new VectorizeVectorIndex(vectorize).upsert(CUBE, records(2_500));
    expect(vectorize.upserts.map((batch) => batch.length)).toEqual([1000, 1000, 500]);
    const first = vectorize.upserts[0]![0]!;
    expect(first).toMatchObject({ id: `${CUBE}:mem_0`, namespace: CUBE });
    expect(first.metadata).toBeUndefined();
  });

  it("upserts several namespaces' vectors together, 1,000 a call, each with its own namespace and scoped id (issue 17, item 8)", async () => {
    const vectorize = new VectorizeStandIn(DIMENSIONS);
    const index = new VectorizeVectorIndex(vectorize);
    const other = "cube_fedcba9876543210";
    const mixed = records(1_001).map((record, i) => ({ ...record, namespace: i % 2 === 0 ? CUBE : other }));
    const receipt = await index.upsertAcross(mixed);
    expect(vectorize.upserts.map((batch) => batch.length)).toEqual([1000, 1]);
    expect(receipt.mutationId).toBe("mutation-2");
    expect(vectorize.upserts[0]!.slice(0, 2)).toMatchObject([
      { id: `${CUBE}:mem_0`, namespace: CUBE },
      { id: `${other}:mem_1`, namespace: other },
    ]);
    vectorize.flush();
    expect((await index.query(other, unitVector(2, DIMENSIONS), 1)).map((m) => m.id)).toEqual(["mem_1"]);
    // One unusable id refuses the whole call before the index is asked.
    const calls = vectorize.upserts.length;
    await expect(index.upsertAcross([...mixed.slice(0, 3), { ...mixed[3]!, namespace: "a:b" }])).rejects.toThrow(/namespace/);
    expect(vectorize.upserts.length).toBe(calls);
  });

  it("fetches with getByIds in batches of at most 20 cube-scoped ids, and not before the index shows them", async () => {
    const vectorize = new VectorizeStandIn(DIMENSIONS);
    const index = new VectorizeVectorIndex(vectorize);
    await index.upsert(CUBE, records(45));
    expect(await index.fetch(CUBE, ["mem_0"])).toEqual([]);
    vectorize.flush();
    vectorize.gets.length = 0;
    const fetched = await index.fetch(CUBE, records(45).map((r) => r.id));
    expect(vectorize.gets.map((ids) => ids.length)).toEqual([20, 20, 5]);
    expect(vectorize.gets[0]![0]).toBe(`${CUBE}:mem_0`);
    expect(fetched.map((r) => r.id)).toEqual(records(45).map((r) => r.id));
  });

  it("queries its namespace without values or metadata, topK capped at 100", async () => {
    const vectorize = new VectorizeStandIn(DIMENSIONS);
    const index = new VectorizeVectorIndex(vectorize);
    await index.upsert(CUBE, records(150));
    vectorize.flush();
    const matches = await index.query(CUBE, unitVector(1, DIMENSIONS), 500);
    expect(vectorize.queries[0]!.options).toEqual({ topK: 100, namespace: CUBE, returnValues: false, returnMetadata: "none" });
    expect(matches).toHaveLength(100);
    expect(matches[0]).toMatchObject({ id: "mem_0" });
    expect(await index.query(CUBE, unitVector(1, DIMENSIONS), 0)).toEqual([]);
    expect(vectorize.queries).toHaveLength(1);
  });

  it("deletes in batches of at most 100 scoped ids (deleteByIds refuses 101), and every id is deleted", async () => {
    const vectorize = new VectorizeStandIn(DIMENSIONS);
    const index = new VectorizeVectorIndex(vectorize);
    await index.upsert(CUBE, records(250));
    vectorize.flush();
    await index.delete(CUBE, records(250).map((r) => r.id));
    expect(vectorize.deletes.map((batch) => batch.length)).toEqual([100, 100, 50]);
    expect(vectorize.deletes[1]![0]).toBe(`${CUBE}:mem_100`);
    vectorize.flush();
    expect(vectorize.contents()).toEqual([]);
    await expect(vectorize.deleteByIds(Array.from({ length: 101 }, (_, i) => `x${i}`))).rejects.toThrow(/max id count is 100/);
    await expect(vectorize.deleteByIds(Array.from({ length: 100 }, (_, i) => `x${i}`))).resolves.toBeDefined();
  });

  it("fits a real memory id in Vectorize's 64-byte ids, and refuses what does not fit", async () => {
    const vectorize = new VectorizeStandIn(DIMENSIONS);
    const index = new VectorizeVectorIndex(vectorize);
    const memoryId = `mem_${"0123456789abcdef"}${"ghjkmnpqrstvwxyz"}`;
    await index.upsert(CUBE, [{ id: memoryId, vector: unitVector(1, DIMENSIONS) }]);
    expect(new TextEncoder().encode(vectorize.upserts[0]![0]!.id).length).toBeLessThanOrEqual(64);
    await expect(index.upsert(CUBE, [{ id: "x".repeat(60), vector: unitVector(1, DIMENSIONS) }])).rejects.toThrow(/64-byte/);
    await expect(index.query("a:b", unitVector(1, DIMENSIONS), 5)).rejects.toThrow(/namespace/);
    await expect(index.delete("", ["mem_1"])).rejects.toThrow(/namespace/);
    expect(vectorize.upserts).toHaveLength(1);
  });

  it("shows a write only once Vectorize has processed it (why the Durable Object keeps recent vectors)", async () => {
    const vectorize = new VectorizeStandIn(DIMENSIONS);
    const index = new VectorizeVectorIndex(vectorize);
    await index.upsert(CUBE, records(3));
    expect(await index.query(CUBE, unitVector(1, DIMENSIONS), 5)).toEqual([]);
    vectorize.flush();
    expect(await index.query(CUBE, unitVector(1, DIMENSIONS), 5)).toHaveLength(3);
  });

  it("answers an upsert's last mutation id and reads describe()'s progress: none before the index applies it, then that id", async () => {
    const vectorize = new VectorizeStandIn(DIMENSIONS);
    const index = new VectorizeVectorIndex(vectorize);
    const receipt = await index.upsert(CUBE, records(1_001));
    expect(vectorize.upserts).toHaveLength(2);
    expect(receipt.mutationId).toBe("mutation-2");
    expect(await index.progress()).toEqual({ mutationId: null, processedAt: null });
    vectorize.clock = () => Date.parse("2026-12-05T03:00:00.000Z");
    vectorize.flush();
    expect(await index.progress()).toEqual({ mutationId: "mutation-2", processedAt: Date.parse("2026-12-05T03:00:00.000Z") });
    // workers-types declares both fields as numbers; a numeric answer is read too, anything else as unknown.
    const odd = new VectorizeVectorIndex(Object.assign(Object.create(vectorize) as VectorizeStandIn, { describe: async () => ({ processedUpToMutation: 7, processedUpToDatetime: "not a date" }) }));
    expect(await odd.progress()).toEqual({ mutationId: "7", processedAt: null });
  });

  it("the stand-in refuses what Vectorize refuses, at and past each documented limit", async () => {
    const vectorize = new VectorizeStandIn(DIMENSIONS, 2);
    const vector = (id: string, namespace = "a") => ({ id, namespace, values: Array.from(unitVector(1, DIMENSIONS)) });
    const many = (n: number) => Array.from({ length: n }, (_, i) => vector(`v${i}`));
    await expect(vectorize.upsert(many(1000))).resolves.toBeDefined();
    await expect(vectorize.upsert(many(1001))).rejects.toThrow(/max 1000/);
    await expect(vectorize.upsert([vector("x".repeat(64))])).resolves.toBeDefined();
    await expect(vectorize.upsert([vector("x".repeat(65))])).rejects.toThrow(/64 bytes/);
    await expect(vectorize.upsert([{ ...vector("v"), values: [1, 0] }])).rejects.toThrow(/dimension/);
    vectorize.flush();
    await expect(vectorize.upsert([vector("w", "b")])).resolves.toBeDefined();
    vectorize.flush();
    await expect(vectorize.upsert([vector("z", "c")])).rejects.toThrow(/namespaces/);
    const query = unitVector(1, DIMENSIONS);
    await expect(vectorize.query(query, { topK: 100 })).resolves.toBeDefined();
    await expect(vectorize.query(query, { topK: 101 })).rejects.toThrow(/topK/);
    await expect(vectorize.query(query, { topK: 20, returnMetadata: "all" })).resolves.toBeDefined();
    await expect(vectorize.query(query, { topK: 21, returnValues: true })).rejects.toThrow(/topK/);
    await expect(vectorize.getByIds(many(20).map((v) => v.id))).resolves.toHaveLength(20);
    await expect(vectorize.getByIds(many(21).map((v) => v.id))).rejects.toThrow(/max id count is 20/);
    expect(() => new VectorizeStandIn(1537)).toThrow(/1536/);
  });

  it("the adapter stays inside every limit at the edges: 1,000 upserts in one call, 100 deletes in one call, topK 100", async () => {
    const vectorize = new VectorizeStandIn(DIMENSIONS);
    const index = new VectorizeVectorIndex(vectorize);
    await index.upsert(CUBE, records(1000));
    expect(vectorize.upserts.map((b) => b.length)).toEqual([1000]);
    await index.upsert(CUBE, records(1001, "more_"));
    expect(vectorize.upserts.map((b) => b.length)).toEqual([1000, 1000, 1]);
    await index.delete(CUBE, records(100).map((r) => r.id));
    await index.delete(CUBE, records(101).map((r) => r.id));
    expect(vectorize.deletes.map((b) => b.length)).toEqual([100, 100, 1]);
    vectorize.flush();
    expect(await index.query(CUBE, unitVector(1, DIMENSIONS), 100)).toHaveLength(100);
  });

  it("passes a failing index's error to its caller (the cube decides how to degrade)", async () => {
    const vectorize = new VectorizeStandIn(DIMENSIONS);
    const index = new VectorizeVectorIndex(vectorize);
    vectorize.failWith = new Error("VECTOR_QUERY_ERROR (code = 429): too many requests");
    await expect(index.query(CUBE, unitVector(1, DIMENSIONS), 5)).rejects.toThrow(/429/);
    await expect(index.upsert(CUBE, records(1))).rejects.toThrow(/429/);
    vectorize.failWith = null;
    await expect(index.query(CUBE, unitVector(1, DIMENSIONS), 5)).resolves.toEqual([]);
  });
});
