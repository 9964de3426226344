/**
 * The safetensors format's header, parsed and checked before a single byte of an uploaded adapter is stored
 * (docs/parametric.md). A file is: 8 bytes little-endian u64 `N`, then `N` bytes of a UTF-8 JSON object (optionally
 * padded with spaces) mapping tensor names to `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the
 * end of the header) plus an optional `__metadata__` string map, then the tensors' bytes.
 *
 * Everything a hostile file can lie about is checked: a header length past the file or past HEADER_MAX_BYTES, JSON
 * that is not an object, unknown dtypes, shapes whose byte size disagrees with their offsets, offsets out of bounds,
 * overlapping or leaving gaps (the data must be exactly the tensors, in one contiguous run), and a file whose size is
 * not exactly header + data. Pure: the caller reads the prefix and knows the file's declared size.
 */

/** Bytes per element of every dtype the format defines. */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/**
 * Largest JSON header accepted. The reference implementation refuses headers over 100 MB; a LoRA adapter's header
 * (a few hundred tensors) is tens of kilobytes, so 1 MiB leaves room while keeping what a hostile file can make us
 * buffer and parse small.
 */
export const HEADER_MAX_BYTES = 1 << 20;
/** Tensors one header may describe: far above any LoRA adapter (2 per adapted module), bounds the parse. */
export const MAX_TENSORS = 10_000;
/** Dimensions one tensor may have. */
const MAX_DIMENSIONS = 8;

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** N: the JSON header's length in bytes. */
  headerBytes: number;
  /** Where the tensor data starts in the file: 8 + N. */
  dataStart: number;
  /** Bytes of tensor data; the file is dataStart + dataBytes bytes. */
  dataBytes: number;
  tensors: TensorInfo[];
  metadata: Record<string, string>;
}

export type HeaderResult = { ok: true; header: SafetensorsHeader } | { ok: false; problem: string };

/**
 * How many bytes of a file {@link parseHeader} needs: 8 to learn N, then 8 + N. Null (with a problem) when the
 * declared length is already unacceptable.
 */
export function headerLength(first8: Uint8Array, fileBytes: number): { ok: true; bytes: number } | { ok: false; problem: string } {
  if (first8.length < 8 || fileBytes < 8) return { ok: false, problem: "the file is shorter than the 8-byte header length" };
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n < 2n) return { ok: false, problem: "the header length is too small to hold a JSON object" };
  if (n > BigInt(HEADER_MAX_BYTES)) return { ok: false, problem: `the header length ${n} is over the ${HEADER_MAX_BYTES}-byte limit` };
  if (8n + n > BigInt(fileBytes)) return { ok: false, problem: `the header length ${n} runs past the end of the ${fileBytes}-byte file` };
  return { ok: true, bytes: 8 + Number(n) };
}

/**
 * Parses and checks the header of a file of `fileBytes` bytes from its first bytes (at least headerLength's
 * `bytes`; more is ignored).
 */
export function parseHeader(prefix: Uint8Array, fileBytes: number): HeaderResult {
  const length = headerLength(prefix, fileBytes);
  if (!length.ok) return length;
  if (prefix.length < length.bytes) return { ok: false, problem: "the file ends inside its header" };
  const headerBytes = length.bytes - 8;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(prefix.subarray(8, length.bytes));
  } catch {
    return { ok: false, problem: "the header is not UTF-8" };
  }
  if (!text.startsWith("{")) return { ok: false, problem: "the header is not a JSON object" };
  let json: unknown;
  try {
    // The format allows trailing spaces as padding (for alignment); JSON.parse accepts them.
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: "the header is not valid JSON" };
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) return { ok: false, problem: "the header is not a JSON object" };
  const entries = Object.entries(json as Record<string, unknown>);
  if (entries.length > MAX_TENSORS + 1) return { ok: false, problem: `the header lists more than ${MAX_TENSORS} tensors` };
  const tensors: TensorInfo[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (name === "__metadata__") {
      const checked = checkMetadata(value);
      if (typeof checked === "string") return { ok: false, problem: checked };
      metadata = checked;
      continue;
    }
    const tensor = checkTensor(name, value);
    if (typeof tensor === "string") return { ok: false, problem: tensor };
    tensors.push(tensor);
  }
  if (tensors.length === 0) return { ok: false, problem: "the header lists no tensors" };
  // Contiguous: sorted by offset, each tensor starts where the previous one ended, the first at 0. This also rules
  // out overlaps and gaps (hidden bytes).
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const tensor of sorted) {
    if (tensor.begin < at) return { ok: false, problem: `tensor ${JSON.stringify(tensor.name)} overlaps the tensor before it` };
    if (tensor.begin > at) return { ok: false, problem: `the data has a gap of ${tensor.begin - at} bytes before tensor ${JSON.stringify(tensor.name)}` };
    at = tensor.end;
  }
  const dataStart = 8 + headerBytes;
  if (dataStart + at !== fileBytes) {
    return {
      ok: false,
      problem:
        dataStart + at > fileBytes
          ? `the tensors need ${at} bytes of data but the file holds ${fileBytes - dataStart} (truncated, or offsets out of bounds)`
          : `the file has ${fileBytes - dataStart - at} bytes after the last tensor`,
    };
  }
  return { ok: true, header: { headerBytes, dataStart, dataBytes: at, tensors, metadata } };
}

function checkMetadata(value: unknown): Record<string, string> | string {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "__metadata__ must be an object of strings";
  for (const item of Object.values(value as Record<string, unknown>)) {
    if (typeof item !== "string") return "__metadata__ must be an object of strings";
  }
  return value as Record<string, string>;
}

function checkTensor(name: string, value: unknown): TensorInfo | string {
  const label = `tensor ${JSON.stringify(name.slice(0, 200))}`;
  if (name.length === 0) return "a tensor has an empty name";
  if (value === null || typeof value !== "object" || Array.isArray(value)) return `${label} is not an object`;
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) return `${label} has an unknown dtype ${JSON.stringify(dtype)}`;
  if (!Array.isArray(shape) || shape.length > MAX_DIMENSIONS || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    return `${label} has an invalid shape (up to ${MAX_DIMENSIONS} non-negative integers)`;
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
    return `${label} has invalid data_offsets (two non-negative integers)`;
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) return `${label} ends before it begins`;
  // BigInt: a product of large dimensions must not round into agreement with the offsets.
  const elements = (shape as number[]).reduce((product, d) => product * BigInt(d), 1n);
  if (elements * BigInt(DTYPE_BYTES[dtype]!) !== BigInt(end - begin)) {
    return `${label}: shape ${JSON.stringify(shape)} of ${dtype} needs ${elements * BigInt(DTYPE_BYTES[dtype]!)} bytes, its offsets span ${end - begin}`;
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/**
 * The LoRA rank the tensors were trained with, as PEFT names them: `…lora_A.weight` is [r, in] and `…lora_B.weight`
 * is [out, r]. Null when the file has no LoRA tensors; a problem when they disagree.
 */
export function loraRank(tensors: readonly TensorInfo[]): { rank: number | null } | { problem: string } {
  const ranks = new Set<number>();
  for (const tensor of tensors) {
    if (tensor.shape.length !== 2) continue;
    if (/lora_A(\.|$)/.test(tensor.name)) ranks.add(tensor.shape[0]!);
    if (/lora_B(\.|$)/.test(tensor.name)) ranks.add(tensor.shape[1]!);
  }
  if (ranks.size > 1) return { problem: `the LoRA tensors disagree on their rank (${[...ranks].join(", ")})` };
  return { rank: ranks.size === 0 ? null : [...ranks][0]! };
}

/** A safetensors file from tensors (tests and tools): header JSON padded to 8 bytes, then the data. */
export function buildSafetensors(tensors: { name: string; dtype: string; shape: number[] }[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let at = 0;
  for (const tensor of tensors) {
    const bytes = tensor.shape.reduce((p, d) => p * d, 1) * DTYPE_BYTES[tensor.dtype]!;
    header[tensor.name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [at, at + bytes] };
    at += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const encoded = new TextEncoder().encode(json);
  const file = new Uint8Array(8 + encoded.length + at);
  new DataView(file.buffer).setBigUint64(0, BigInt(encoded.length), true);
  file.set(encoded, 8);
  for (let i = 8 + encoded.length; i < file.length; i++) file[i] = i % 251;
  return file;
}
