/**
 * Bounds on free JSON (metadata, filters, tool arguments): depth, value count and serialised bytes, measured by one
 * iterative walk, so that hostile nesting is refused before anything recursive (JSON.stringify, canonicalJson, a
 * filter translator, SQLite's JSON functions) ever sees it (issue 16, D2 and item 2).
 */

export interface JsonBounds {
  /** Most containers (objects, arrays) nested inside one another; `{}` is 1, `{"a": []}` 2. */
  depth: number;
  /** Most values in all, containers and scalars alike (object keys are not counted). */
  nodes: number;
  /** Most UTF-8 bytes of the value serialised with JSON.stringify. */
  bytes: number;
}

// In a `u` regular expression a lone surrogate is a code point of category Cs; a well-formed pair is not.
const LONE_SURROGATE = /\p{Cs}/u;

/** Whether `text` is well-formed Unicode (no lone surrogate), so that it has exactly one UTF-8 spelling. */
export const isWellFormed = (text: string) => !LONE_SURROGATE.test(text);

const utf8 = new TextEncoder();
const stringBytes = (text: string) => utf8.encode(JSON.stringify(text)).length;

/**
 * What is wrong with `value` against `bounds` (the first problem met), or null when it is within them. Every
 * request body passes through here (routes/json-guard.ts), so the walk allocates little: two parallel stacks, no
 * entry arrays, and no byte counting when `bounds.bytes` is unbounded.
 */
export function jsonBoundsProblem(value: unknown, bounds: JsonBounds): string | null {
  const countBytes = bounds.bytes !== Infinity;
  const values: unknown[] = [value];
  const depths: number[] = [0];
  let nodes = 0;
  let bytes = 0;
  while (values.length > 0) {
    const node = values.pop();
    const depth = depths.pop()!;
    if (++nodes > bounds.nodes) return `holds more than ${bounds.nodes} values`;
    if (node !== null && typeof node === "object") {
      if (depth + 1 > bounds.depth) return `nests deeper than ${bounds.depth} levels`;
      if (Array.isArray(node)) {
        // Brackets and commas.
        if (countBytes) bytes += 2 + Math.max(0, node.length - 1);
        for (const child of node) {
          values.push(child);
          depths.push(depth + 1);
        }
      } else {
        const keys = Object.keys(node);
        if (countBytes) bytes += 2 + Math.max(0, keys.length - 1);
        for (const key of keys) {
          if (!isWellFormed(key)) return "has a key that is not well-formed Unicode (a lone surrogate)";
          // The key with its quotes and colon.
          if (countBytes) bytes += stringBytes(key) + 1;
          values.push((node as Record<string, unknown>)[key]);
          depths.push(depth + 1);
        }
      }
    } else if (typeof node === "string") {
      if (!isWellFormed(node)) return "has a string that is not well-formed Unicode (a lone surrogate)";
      if (countBytes) bytes += stringBytes(node);
    } else if (countBytes) {
      bytes += (JSON.stringify(node) ?? "null").length;
    }
    if (bytes > bounds.bytes) return `must serialise to at most ${bounds.bytes} bytes`;
  }
  return null;
}
