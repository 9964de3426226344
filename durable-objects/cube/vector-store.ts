/**
 * The cube's own vector index, inside its Durable Object: int8 vectors packed into blocks in SQLite, scanned by brute
 * force from an in-memory copy. It makes semantic search work offline (the only vector index in local mode) and
 * gives read-your-writes in production, where Vectorize takes seconds to show a write.
 *
 * Layout. A `vector_blocks` row (cube migration 3, cube/schema.ts) holds up to `blockCapacity(d)` vectors of ONE
 * embedding space: the ids as a JSON array (null = free slot), a Float32 scale per slot and one Int8 BLOB of
 * slots × d (stored up to the last used slot). Packing is what makes cold loads cheap (TOOLCHAIN: 256 per row reads ~3× faster than a row per vector),
 * and a block caps at ~32 KB of vector data, so rewriting one after a small upsert stays cheap. Quantisation: per
 * vector, scale = max|x| / 127. Free slots are reused lowest first; a block left empty is deleted.
 *
 * Spaces never mix: every block records its embedder id, a query names the embedder id it was embedded with, and
 * only that space is scanned. An id has at most one vector: upserting it under another embedder moves it (re-embed).
 *
 * Memory. Everything is loaded on first use and kept: per vector d + 8 bytes of typed arrays (int8 values, scale,
 * inverse norm) plus ~105 bytes of JS heap (id string, slot entry, map entry). Measured: 100,000 vectors at 100-d
 * (local GloVe) take 21 MB of the isolate's 128 MB, and a top-10 query scans them in ~15–25 ms. At 1,024-d (bge-m3)
 * 100,000 vectors would take ~114 MB, which does NOT fit. So in production the store holds only vectors Vectorize
 * has not confirmed yet: cube/remote-vectors.ts `delete`s each once Vectorize serves it (seconds later).
 *
 * Cap and eviction (issue 17, item 9). Durable Objects of one class may share an isolate, and so its 128 MB: the
 * copies every loaded store keeps count against one budget per isolate, {@link ISOLATE_VECTOR_BUDGET}. When a store
 * loads or grows, the least recently used other stores are dropped (reset) until the total fits; a dropped store reloads from
 * SQL on its next use (a cold load: ~10 ms per 10,000 vectors). A store bigger than the budget alone still loads —
 * a search must answer — but then holds the isolate by itself.
 *
 * Synchronous like CubeStore. The in-memory copy follows SQL only after SQL writes succeed; if a surrounding
 * `transactionSync` rolls back later, call `reset()` so the next use reloads from SQL.
 */
import type { VectorMatch, VectorRecord } from "../../src/adapters/types";
import { kthLargest } from "../../src/core/quickselect";
import { dotProducts } from "./vector-scan";

/** Vectors per block for `dimensions`-d vectors: ~32 KB of int8 per block, at least 16 and at most 256. */
export function blockCapacity(dimensions: number): number {
  return Math.max(16, Math.min(256, Math.floor(32_768 / dimensions)));
}

interface Block {
  readonly no: number;
  readonly space: Space;
  /** One entry per slot; null marks a free slot. */
  readonly ids: (string | null)[];
  readonly scales: Float32Array;
  /** 1 / |int8 vector| per slot, 0 for free slots and zero vectors; memory only, derived on load. */
  readonly inverseNorms: Float32Array;
  readonly vectors: Int8Array;
  live: number;
}

interface Space {
  readonly embedder: string;
  readonly dimensions: number;
  readonly capacity: number;
  /** Ascending by block number; a block with no live vector is deleted, never kept. */
  blocks: Block[];
}

interface Quantised {
  scale: number;
  inverseNorm: number;
  values: Int8Array;
}

/** Where an id lives: block number × SLOT_RADIX + slot (a small integer, cheap as a Map value). */
const SLOT_RADIX = 512;

/** What `stats()` reports. */
export interface VectorStoreStats {
  vectors: number;
  blocks: number;
  /** Bytes of the typed arrays held in memory (ids and maps come on top: about 100 bytes per vector). */
  vectorBytes: number;
}

/**
 * Bytes of in-memory vector copies one isolate keeps across all its cubes' stores: 48 MB, well under half of the
 * isolate's 128 MB, leaving the rest to the Worker, the cubes' other caches and a request's own work. With the local
 * 128-d embedder that is ~200,000 vectors (at ~240 bytes each, typed arrays and heap); in production a store holds
 * only vectors Vectorize does not serve yet, so it rarely comes near. Mutable so tests can make it small.
 */
export const ISOLATE_VECTOR_BUDGET = { bytes: 48 * 1024 * 1024 };

/** JS heap per vector besides its typed arrays (id string, slot entry, map entry), as measured (file comment). */
const HEAP_BYTES_PER_VECTOR = 105;

/** The stores loaded in this isolate, least recently used first (a Map keeps insertion order). */
const loadedStores = new Map<VectorStore, true>();

/** Marks `store` as just used. */
function touch(store: VectorStore): void {
  loadedStores.delete(store);
  loadedStores.set(store, true);
}

/** Drops the least recently used stores other than `keep` until the loaded copies fit the budget. */
function evictBeyondBudget(keep: VectorStore): void {
  let total = 0;
  for (const store of loadedStores.keys()) total += store.heldBytes();
  for (const store of loadedStores.keys()) {
    if (total <= ISOLATE_VECTOR_BUDGET.bytes) break;
    if (store === keep) continue;
    total -= store.heldBytes();
    store.reset();
  }
}

/** See the file comment. */
export class VectorStore {
  private spaces: Map<string, Space> | null = null;
  private blocks = new Map<number, Block>();
  private locations = new Map<string, number>();
  private nextBlock = 1;

  constructor(private readonly sql: SqlStorage) {}

  /** Forgets the in-memory copy; the next call reloads from SQL. */
  reset(): void {
    this.spaces = null;
    this.blocks = new Map();
    this.locations = new Map();
    loadedStores.delete(this);
  }

  /** Whether the in-memory copy is loaded (false after an eviction or reset, until the next use). */
  get loaded(): boolean {
    return this.spaces !== null;
  }

  /** Bytes this store's in-memory copy holds: its typed arrays plus the heap its ids take (0 when not loaded). */
  heldBytes(): number {
    if (!this.spaces) return 0;
    let bytes = 0;
    for (const block of this.blocks.values()) bytes += block.vectors.byteLength + block.scales.byteLength + block.inverseNorms.byteLength;
    return bytes + this.locations.size * HEAP_BYTES_PER_VECTOR;
  }

  /** Embedder ids with at least one vector, sorted. */
  embedderIds(): string[] {
    return [...this.load().keys()].sort();
  }

  /** Vectors stored, in one space or in all. */
  count(embedder?: string): number {
    const spaces = this.load();
    const of = (space: Space) => space.blocks.reduce((n, block) => n + block.live, 0);
    if (embedder !== undefined) {
      const space = spaces.get(embedder);
      return space ? of(space) : 0;
    }
    return [...spaces.values()].reduce((n, space) => n + of(space), 0);
  }

  /** Ids of one space (what a re-embed still has to move), in storage order. */
  ids(embedder: string): string[] {
    const space = this.load().get(embedder);
    return space ? space.blocks.flatMap((block) => block.ids.filter((id): id is string => id !== null)) : [];
  }

  /** The embedder id whose space holds `id`, or null. */
  embedderOf(id: string): string | null {
    this.load();
    const location = this.locations.get(id);
    return location === undefined ? null : this.resolve(location).block.space.embedder;
  }

  /** The stored (dequantised) vector of `id` and its space, or null. */
  get(id: string): { embedder: string; vector: Float32Array } | null {
    this.load();
    const location = this.locations.get(id);
    if (location === undefined) return null;
    const { block, slot } = this.resolve(location);
    const d = block.space.dimensions;
    const scale = block.scales[slot] ?? 0;
    const vector = Float32Array.from(block.vectors.subarray(slot * d, (slot + 1) * d), (q) => q * scale);
    return { embedder: block.space.embedder, vector };
  }

  stats(): VectorStoreStats {
    this.load();
    let vectorBytes = 0;
    for (const block of this.blocks.values()) {
      vectorBytes += block.vectors.byteLength + block.scales.byteLength + block.inverseNorms.byteLength;
    }
    return { vectors: this.locations.size, blocks: this.blocks.size, vectorBytes };
  }

  /**
   * Stores vectors of `embedder`'s space, replacing any earlier vector of the same id (in any space).
   * All vectors must have the space's dimensions. Within one call, the last record of an id wins.
   */
  upsert(embedder: string, records: readonly VectorRecord[]): void {
    if (records.length === 0) return;
    const spaces = this.load();
    const dimensions = this.check(embedder, records);
    const latest = new Map(records.map((record) => [record.id, record.vector] as const));
    const edit = new Edit(() => this.nextBlock++);
    const space = spaces.get(embedder) ?? { embedder, dimensions, capacity: blockCapacity(dimensions), blocks: [] };
    for (const [id, vector] of latest) {
      const quantised = quantise(vector);
      const location = this.locations.get(id);
      if (location !== undefined) {
        const { block, slot } = this.resolve(location);
        if (block.space === space) {
          edit.write(block, slot, id, quantised);
          continue;
        }
        edit.free(block, slot);
      }
      const [block, slot] = edit.allocate(space);
      edit.write(block, slot, id, quantised);
    }
    this.apply(edit, space);
    evictBeyondBudget(this);
  }

  /** Throws what {@link upsert} would refuse these records for, writing nothing; answers the space's dimensions. */
  check(embedder: string, records: readonly VectorRecord[]): number {
    if (embedder === "") throw new Error("an embedder id is required");
    const dimensions = this.load().get(embedder)?.dimensions ?? records[0]?.vector.length ?? 0;
    if (records.length > 0 && dimensions === 0) throw new Error("vectors must have at least one dimension");
    for (const record of records) {
      if (record.id === "") throw new Error("vector ids must not be empty");
      if (record.vector.length !== dimensions) {
        throw new Error(`${embedder} vectors have ${dimensions} dimensions, got ${record.vector.length}`);
      }
    }
    return dimensions;
  }

  /**
   * Removes these ids from whatever space holds them; returns how many were stored. This is also how production
   * drops vectors once Vectorize has confirmed them.
   */
  delete(ids: readonly string[]): number {
    this.load();
    const edit = new Edit(() => this.nextBlock++);
    let removed = 0;
    for (const id of new Set(ids)) {
      const location = this.locations.get(id);
      if (location === undefined) continue;
      const { block, slot } = this.resolve(location);
      edit.free(block, slot);
      removed++;
    }
    this.apply(edit, null);
    return removed;
  }

  /**
   * The `topK` stored vectors of `embedder`'s space most cosine-similar to `vector`, best first (equal scores in storage order).
   * Empty when the space holds nothing; an error when `vector` has the wrong dimensions.
   */
  query(embedder: string, vector: Float32Array, topK: number): VectorMatch[] {
    const space = this.load().get(embedder);
    const k = Math.floor(topK);
    if (!space || k < 1) return [];
    const d = space.dimensions;
    if (vector.length !== d) throw new Error(`${embedder} vectors have ${d} dimensions, got ${vector.length}`);
    const queryNorm = Math.sqrt(vector.reduce((acc, x) => acc + x * x, 0));
    if (queryNorm === 0) return [];

    // Every score first, then the k best by a threshold: linear in the space, where keeping a sorted top k while
    // scanning cost O(k) per better candidate (k reaches 3,000 when a filter widens the vector channel). Scores go
    // into one typed array and ids are looked up only for the k best: the scan is most of the vector channel's time.
    // Where each score came from, as the block's index in `space.blocks` × SLOT_RADIX + slot: typed, not an array
    // of block references grown one element at a time.
    const { blocks } = space;
    let slots = 0;
    for (const block of blocks) slots += block.ids.length;
    const scores = new Float64Array(slots);
    const found = new Int32Array(slots);
    const dots = dotProducts(Float64Array.from(vector, (x) => x / queryNorm));
    let count = 0;
    for (let b = 0; b < blocks.length; b++) {
      const { ids, vectors, inverseNorms } = blocks[b]!;
      const products = dots(vectors, ids.length);
      for (let slot = 0; slot < ids.length; slot++) {
        if (ids[slot] == null) continue;
        scores[count] = products[slot]! * inverseNorms[slot]!;
        found[count++] = b * SLOT_RADIX + slot;
      }
    }
    if (count === 0) return [];
    // Everything at or above the k-th best score, ties included, then ordered: the k best by score, equal scores in
    // storage order (block, then slot; a stable sort of the scan's order). Not by id: ids are random, and ties by id
    // ranked the same writes differently from one cube to the next (identical short turns; bench recall, issue 12).
    const threshold = kthLargest(scores.slice(0, count), Math.min(k, count));
    const best: VectorMatch[] = [];
    for (let i = 0; i < count; i++) {
      if (scores[i]! < threshold) continue;
      const at = found[i]!;
      best.push({ id: blocks[Math.floor(at / SLOT_RADIX)]!.ids[at % SLOT_RADIX]!, score: scores[i]! });
    }
    return best.sort((a, b) => b.score - a.score).slice(0, k);
  }

  /**
   * The mean of the first `limit` unit vectors of `embedder`'s space (storage order), or null when it holds none.
   * cube/centroid.ts uses it to take the cube's common direction out of queries.
   */
  centroid(embedder: string, limit: number): { mean: Float32Array; count: number } | null {
    const space = this.load().get(embedder);
    if (!space) return null;
    const d = space.dimensions;
    const sum = new Float64Array(d);
    let n = 0;
    for (const block of space.blocks) {
      for (let slot = 0; slot < block.ids.length && n < limit; slot++) {
        const scale = block.inverseNorms[slot] as number;
        if (block.ids[slot] == null || scale === 0) continue;
        const base = slot * d;
        for (let j = 0; j < d; j++) sum[j] = (sum[j] as number) + (block.vectors[base + j] as number) * scale;
        n++;
      }
      if (n >= limit) break;
    }
    return n === 0 ? null : { mean: Float32Array.from(sum, (x) => x / n), count: n };
  }

  private resolve(location: number): { block: Block; slot: number } {
    const block = this.blocks.get(Math.floor(location / SLOT_RADIX));
    if (!block) throw new Error("vector store index is inconsistent");
    return { block, slot: location % SLOT_RADIX };
  }

  /**
   * Writes an edit's blocks to SQL, then swaps them into memory, so a failed write leaves memory as it was. Several
   * blocks are several statements: callers wrap the call in `transactionSync` (the Cube DO's writes all are).
   */
  private apply(edit: Edit, newSpace: Space | null): void {
    const { changed, originals } = edit;
    if (changed.length === 0) return;
    for (const block of changed) {
      if (block.live === 0) {
        this.sql.exec("DELETE FROM vector_blocks WHERE block = ?", block.no);
        continue;
      }
      // Only the slots up to the last used one are stored (load() pads the rest back): SQLite rewrites a row whole,
      // and a block fills from its first slot, so a single-memory write into a block being filled rewrites half a
      // block on average instead of all of it — the vector block was a third of a single write's WAL bytes
      // (docs/hot-path.md).
      const used = usedSlots(block);
      this.sql.exec(
        `INSERT INTO vector_blocks (block, embedder, dimensions, ids, scales, vectors) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (block) DO UPDATE SET ids = excluded.ids, scales = excluded.scales, vectors = excluded.vectors`,
        block.no,
        block.space.embedder,
        block.space.dimensions,
        JSON.stringify(used === block.ids.length ? block.ids : block.ids.slice(0, used)),
        bytesOf(block.scales.subarray(0, used)),
        bytesOf(block.vectors.subarray(0, used * block.space.dimensions)),
      );
    }
    const spaces = this.load();
    if (newSpace && !spaces.has(newSpace.embedder)) spaces.set(newSpace.embedder, newSpace);
    // Unmap every id the old blocks held before mapping the new ones: an id may move between two changed blocks.
    for (const original of originals) {
      for (const id of original.ids) if (id !== null) this.locations.delete(id);
    }
    const touched = new Set<Space>();
    for (const block of changed) {
      block.ids.forEach((id, slot) => {
        if (id !== null) this.locations.set(id, block.no * SLOT_RADIX + slot);
      });
      if (block.live === 0) this.blocks.delete(block.no);
      else this.blocks.set(block.no, block);
      touched.add(block.space);
    }
    for (const space of touched) {
      space.blocks = [...this.blocks.values()].filter((b) => b.space === space).sort((a, b) => a.no - b.no);
      if (space.blocks.length === 0) spaces.delete(space.embedder);
    }
  }

  private load(): Map<string, Space> {
    if (this.spaces) {
      touch(this);
      return this.spaces;
    }
    const spaces = new Map<string, Space>();
    const rows = this.sql.exec<{
      block: number;
      embedder: string;
      dimensions: number;
      ids: string;
      scales: ArrayBuffer;
      vectors: ArrayBuffer;
    }>("SELECT block, embedder, dimensions, ids, scales, vectors FROM vector_blocks ORDER BY block");
    let maxBlock = 0;
    for (const row of rows) {
      const dimensions = Number(row.dimensions);
      let space = spaces.get(row.embedder);
      if (!space) {
        space = { embedder: row.embedder, dimensions, capacity: blockCapacity(dimensions), blocks: [] };
        spaces.set(row.embedder, space);
      }
      // A stored block may end at its last used slot (apply()); in memory it has all its slots again.
      const ids = JSON.parse(row.ids) as (string | null)[];
      const slots = Math.max(ids.length, space.capacity);
      while (ids.length < slots) ids.push(null);
      const vectors = new Int8Array(slots * dimensions);
      vectors.set(new Int8Array(row.vectors));
      const scales = new Float32Array(slots);
      scales.set(new Float32Array(row.scales));
      const inverseNorms = new Float32Array(slots);
      let live = 0;
      ids.forEach((id, slot) => {
        if (id === null) return;
        live++;
        inverseNorms[slot] = inverseNorm(vectors.subarray(slot * dimensions, (slot + 1) * dimensions));
        this.locations.set(id, Number(row.block) * SLOT_RADIX + slot);
      });
      const block: Block = { no: Number(row.block), space, ids, scales, inverseNorms, vectors, live };
      space.blocks.push(block);
      this.blocks.set(block.no, block);
      maxBlock = Math.max(maxBlock, block.no);
    }
    this.nextBlock = maxBlock + 1;
    this.spaces = spaces;
    touch(this);
    evictBeyondBudget(this);
    return spaces;
  }
}

/** One upsert or delete: copy-on-write blocks, so memory only changes after SQL accepted every write. */
class Edit {
  private readonly drafts = new Map<number, Block>();
  private readonly previous = new Map<number, Block>();
  private readonly recent = new Map<Space, Block>();

  constructor(private readonly newBlockNumber: () => number) {}

  /** The edited copies, to write and swap in. */
  get changed(): Block[] {
    return [...this.drafts.values()];
  }

  /** The blocks as they were before this edit. */
  get originals(): Block[] {
    return [...this.previous.values()];
  }

  write(block: Block, slot: number, id: string, quantised: Quantised): void {
    const draft = this.draft(block);
    const d = draft.space.dimensions;
    if (draft.ids[slot] === null) draft.live++;
    draft.ids[slot] = id;
    draft.scales[slot] = quantised.scale;
    draft.inverseNorms[slot] = quantised.inverseNorm;
    draft.vectors.set(quantised.values, slot * d);
  }

  free(block: Block, slot: number): void {
    const draft = this.draft(block);
    if (draft.ids[slot] === null) return;
    const d = draft.space.dimensions;
    draft.ids[slot] = null;
    draft.scales[slot] = 0;
    draft.inverseNorms[slot] = 0;
    draft.vectors.fill(0, slot * d, (slot + 1) * d);
    draft.live--;
  }

  /** The first free slot of `space`, lowest block first, in a new block when all are full. */
  allocate(space: Space): [Block, number] {
    // Fast path for bulk writes: keep filling the block the previous record went to.
    const recent = this.recent.get(space);
    if (recent && recent.live < space.capacity) {
      const slot = recent.ids.indexOf(null);
      if (slot >= 0) return [recent, slot];
    }
    for (const original of space.blocks) {
      const block = this.drafts.get(original.no) ?? original;
      if (block.live >= space.capacity) continue;
      const slot = block.ids.indexOf(null);
      if (slot >= 0) return this.remember(space, this.draft(block), slot);
    }
    for (const block of this.drafts.values()) {
      if (block.space !== space || this.previous.has(block.no) || block.live >= space.capacity) continue;
      const slot = block.ids.indexOf(null);
      if (slot >= 0) return this.remember(space, block, slot);
    }
    const no = this.newBlockNumber();
    const block: Block = {
      no,
      space,
      ids: new Array<string | null>(space.capacity).fill(null),
      scales: new Float32Array(space.capacity),
      inverseNorms: new Float32Array(space.capacity),
      vectors: new Int8Array(space.capacity * space.dimensions),
      live: 0,
    };
    this.drafts.set(no, block);
    return this.remember(space, block, 0);
  }

  private remember(space: Space, block: Block, slot: number): [Block, number] {
    this.recent.set(space, block);
    return [block, slot];
  }

  private draft(block: Block): Block {
    const existing = this.drafts.get(block.no);
    if (existing) return existing;
    const copy: Block = {
      ...block,
      ids: [...block.ids],
      scales: block.scales.slice(),
      inverseNorms: block.inverseNorms.slice(),
      vectors: block.vectors.slice(),
    };
    this.previous.set(block.no, block);
    this.drafts.set(block.no, copy);
    return copy;
  }
}

function quantise(vector: Float32Array): Quantised {
  let maxAbs = 0;
  for (const x of vector) {
    if (!Number.isFinite(x)) throw new Error("vectors must be finite");
    maxAbs = Math.max(maxAbs, Math.abs(x));
  }
  const values = new Int8Array(vector.length);
  if (maxAbs === 0) return { scale: 0, inverseNorm: 0, values };
  const scale = Math.fround(maxAbs / 127);
  // Clamped: an Int8Array stores 128 as -128, and float rounding could land a hair past 127.
  for (let j = 0; j < vector.length; j++) values[j] = Math.max(-127, Math.min(127, Math.round((vector[j] as number) / scale)));
  return { scale, inverseNorm: inverseNorm(values), values };
}

function inverseNorm(values: Int8Array): number {
  let sum = 0;
  for (const q of values) sum += q * q;
  return sum === 0 ? 0 : 1 / Math.sqrt(sum);
}

/** Slots up to and including a block's last used one. */
function usedSlots(block: Block): number {
  let used = block.ids.length;
  while (used > 0 && block.ids[used - 1] === null) used--;
  return used;
}

/** A typed array's bytes as their own ArrayBuffer (SQLite stores ArrayBuffers as BLOBs; the platform is little-endian). */
const bytesOf = (array: Float32Array | Int8Array): ArrayBuffer =>
  array.buffer.slice(array.byteOffset, array.byteOffset + array.byteLength) as ArrayBuffer;
