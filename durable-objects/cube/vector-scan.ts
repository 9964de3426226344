/**
 * The vector store's scan in WebAssembly SIMD (vector-scan.wat): the dot products of one query with a block of int8
 * vectors. It gives the same doubles as the JavaScript loop it replaced, bit for bit (the .wat says why), so rankings
 * do not move; it was the largest single function of a 10,000-memory search (docs/search.md, "Sixth pass").
 *
 * The module is bundled as a compiled WebAssembly.Module (wrangler's and vitest's `*.wasm` rule): Workers refuse to
 * compile WebAssembly from bytes at run time. One instance per isolate, made on first use; its memory holds the
 * query, one block's vectors (copied in: ~32 KB, see blockCapacity) and the block's products.
 */
import scanModule from "./vector-scan.wasm";

interface ScanExports {
  memory: WebAssembly.Memory;
  dots(query: number, vectors: number, count: number, d: number, out: number): void;
}

const PAGE_BYTES = 65_536;
/** The .wat reads up to 4 bytes past the last vector (an 8-byte load for a four-wide step). */
const READ_PAST_END = 8;

let scan: ScanExports | null = null;

function instance(): ScanExports {
  scan ??= new WebAssembly.Instance(scanModule).exports as unknown as ScanExports;
  return scan;
}

/**
 * A scan of `query` (d doubles, already divided by its norm) over blocks of int8 vectors: `block(vectors, count)`
 * answers `query · vectors[i*d .. i*d + d)` for i < count, as a view valid until the next call.
 */
export function dotProducts(query: Float64Array): (vectors: Int8Array, count: number) => Float64Array {
  const exports = instance();
  const d = query.length;
  const queryBytes = d * 8;
  let heap = new Uint8Array(exports.memory.buffer);
  const fit = (bytes: number) => {
    if (bytes > exports.memory.buffer.byteLength) exports.memory.grow(Math.ceil((bytes - exports.memory.buffer.byteLength) / PAGE_BYTES));
    if (heap.buffer !== exports.memory.buffer) heap = new Uint8Array(exports.memory.buffer);
  };
  fit(queryBytes);
  new Float64Array(exports.memory.buffer, 0, d).set(query);
  return (vectors, count) => {
    const out = queryBytes;
    const at = out + count * 8;
    const bytes = count * d;
    fit(at + bytes + READ_PAST_END);
    heap.set(bytes === vectors.length ? vectors : vectors.subarray(0, bytes), at);
    exports.dots(0, at, count, d, out);
    return new Float64Array(exports.memory.buffer, out, count);
  };
}
