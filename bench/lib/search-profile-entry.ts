// Bundled by bench/search-profile.mjs (esbuild, for Node): the cube's own search code over a copy of a cube's
// SQLite file opened with node:sqlite, behind a SqlStorage shim that times every statement. Not part of the Worker.
import { DatabaseSync } from "node:sqlite";
import { CubeScheduler } from "../../durable-objects/cube/scheduler";
import { CubeSearch, type SemanticQuery } from "../../durable-objects/cube/search";
import { CubeStore } from "../../durable-objects/cube/store";
import { VectorStore } from "../../durable-objects/cube/vector-store";
import { LocalEmbedder } from "../../src/adapters/local-embedder";
import type { Channel } from "../../src/core/fusion";
import { toMemoryFilter } from "../../src/core/filters";
import { searchTerms } from "../../src/core/fts-query";

/** Time spent in each SQL statement (by its first 110 characters), while `recording`. */
export const statements = new Map<string, { calls: number; ms: number }>();
export const recording = { on: false };

/** DO storage's `SqlStorage` as far as the search reads it, over node:sqlite (BLOBs as ArrayBuffers, as in workerd). */
function sqlStorage(db: DatabaseSync): SqlStorage {
  const prepared = new Map<string, ReturnType<DatabaseSync["prepare"]>>();
  const exec = (query: string, ...params: unknown[]) => {
    const started = performance.now();
    let statement = prepared.get(query);
    if (!statement) prepared.set(query, (statement = db.prepare(query)));
    const bound = params.map((p) => (p instanceof ArrayBuffer ? new Uint8Array(p) : p)) as never[];
    const rows = statement.all(...bound).map((row) => {
      const out: Record<string, unknown> = { ...row };
      for (const [k, v] of Object.entries(out)) if (v instanceof Uint8Array) out[k] = v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength);
      return out;
    });
    if (recording.on) {
      const key = query.replace(/\s+/g, " ").trim().slice(0, 110);
      const entry = statements.get(key) ?? { calls: 0, ms: 0 };
      entry.calls++;
      entry.ms += performance.now() - started;
      statements.set(key, entry);
    }
    return {
      toArray: () => rows,
      one: () => {
        if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length}`);
        return rows[0];
      },
      [Symbol.iterator]: () => rows[Symbol.iterator](),
    };
  };
  return { exec } as unknown as SqlStorage;
}

/** The searcher over `file` (a copy: reads of recorded accesses are not written back), as the cube object builds it. */
export function openCube(file: string) {
  const sql = sqlStorage(new DatabaseSync(file));
  const store = new CubeStore(sql);
  const searcher = new CubeSearch(sql, store, new VectorStore(sql));
  const scheduler = new CubeScheduler(store);
  const embedder = new LocalEmbedder();
  const ref = JSON.parse(String(sql.exec("SELECT ref FROM cube_identity WHERE id = 1").one().ref));
  /** One search as the cube object runs it with the default request (top_k 10, every channel), minus settling. */
  const search = async (query: string, now: number, generation: number, channels: Channel[]) => {
    let semantic: SemanticQuery | null = null;
    if (channels.includes("vector")) {
      const [vector] = await embedder.embed([query], "query");
      semantic = { embedderId: embedder.id, vector: vector!, confidentSimilarity: embedder.confidentSimilarity, fusionWeight: embedder.fusionWeight, remote: [], shared: false };
    }
    const working = channels.includes("working") ? scheduler.workingMemory(ref, now, generation).map((item) => item.memory.id) : [];
    const request = {
      query,
      terms: searchTerms(query),
      filter: toMemoryFilter({}),
      where: null,
      referenceTime: now,
      topK: 10,
      threshold: null,
      mmrLambda: 1,
      channels,
      rerank: false,
    };
    return searcher.search(ref, request, semantic, generation, working).map((hit) => hit.memory.id);
  };
  return { search };
}
