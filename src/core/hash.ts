/** Hashing helpers on WebCrypto (present in workerd and Node alike). */

const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** Lower-case hex of the bytes. */
export function hex(buffer: ArrayBuffer): string {
  let out = "";
  for (const b of new Uint8Array(buffer)) out += HEX_BYTES[b];
  return out;
}

const utf8 = new TextEncoder();

/** The SHA-256 digest of the text's UTF-8 bytes. */
export function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", utf8.encode(text));
}

export async function sha256Hex(text: string): Promise<string> {
  return hex(await sha256(text));
}

/** Literal text in {@link canonicalJson}'s work stack, as opposed to a value still to write. */
class Emit {
  constructor(readonly text: string) {}
}

// Keys JavaScript enumerates first, in numeric order, whatever the insertion order (array indices).
const INDEX_KEY = /^(0|[1-9]\d{0,9})$/;
const isIndexKey = (key: string) => INDEX_KEY.test(key) && Number(key) < 2 ** 32 - 1;
const skipped = (v: unknown) => v === undefined || typeof v === "function" || typeof v === "symbol";

/**
 * JSON with object keys sorted at every depth, so equal values always serialise to equal strings. Iterative (an
 * explicit stack), so no nesting can overflow the call stack (issue 16, D2). The output is exactly what the earlier
 * `JSON.stringify` with a sorting replacer gave — index-like keys first in numeric order, as JavaScript enumerates
 * them, then the rest by code unit — because stored idempotency fingerprints and episode ids are built from it.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  const work: unknown[] = [value];
  while (work.length > 0) {
    let item = work.pop();
    if (item instanceof Emit) {
      out.push(item.text);
      continue;
    }
    if (item !== null && typeof item === "object" && typeof (item as { toJSON?: unknown }).toJSON === "function") {
      item = (item as { toJSON: () => unknown }).toJSON();
    }
    const parts: unknown[] = [];
    if (Array.isArray(item)) {
      parts.push(new Emit("["));
      item.forEach((child, i) => parts.push(...(i > 0 ? [new Emit(",")] : []), skipped(child) ? null : child));
      parts.push(new Emit("]"));
    } else if (item !== null && typeof item === "object") {
      const keys = Object.keys(item)
        .filter((key) => !skipped((item as Record<string, unknown>)[key]))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const ordered = [...keys.filter(isIndexKey).sort((a, b) => Number(a) - Number(b)), ...keys.filter((key) => !isIndexKey(key))];
      parts.push(new Emit("{"));
      ordered.forEach((key, i) => parts.push(new Emit(`${i > 0 ? "," : ""}${JSON.stringify(key)}:`), (item as Record<string, unknown>)[key]));
      parts.push(new Emit("}"));
    } else {
      out.push(JSON.stringify(item) ?? "null");
      continue;
    }
    for (let i = parts.length - 1; i >= 0; i--) work.push(parts[i]);
  }
  return out.join("");
}
