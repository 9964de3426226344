// Tiny command-line parser shared by the benchmarks: `--name value`, `--name=value` and bare `--flag`.

/**
 * @param {string[]} argv arguments after the benchmark name
 * @param {Record<string, "string" | "number" | "boolean">} spec known options and their types
 * @returns {Record<string, string | number | boolean | undefined>}
 */
export function parseArgs(argv, spec) {
  /** @type {Record<string, string | number | boolean | undefined>} */
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument: ${arg}`);
    let name = arg.slice(2);
    /** @type {string | undefined} */
    let value;
    const eq = name.indexOf("=");
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const type = spec[name];
    if (!type) throw new UsageError(`unknown option --${name}`);
    if (type === "boolean") {
      out[name] = value === undefined ? true : !["false", "0", "no"].includes(value);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
    }
    if (type === "number") {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${value}`);
      out[name] = n;
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** Options every benchmark understands (server selection and logging). */
export const SERVER_OPTIONS = /** @type {const} */ ({
  url: "string",
  key: "string",
  "root-key": "string",
  verbose: "boolean",
  "keep-state": "boolean",
  "wrangler-traces": "boolean",
  "request-log": "boolean",
  "state-dir": "string",
  help: "boolean",
});

export class UsageError extends Error {}

/**
 * Parses "0-4", "0,2,3" or "1-2,4" into a sorted list of distinct integers.
 * @param {string} text
 * @returns {number[]}
 */
export function parseRanges(text) {
  /** @type {Set<number>} */
  const set = new Set();
  for (const part of String(text).split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = part.match(/^(\d+)(?:-(\d+))?$/);
    if (!m) throw new UsageError(`bad range "${part}" (use e.g. 0-4 or 0,2,3)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new UsageError(`bad range "${part}"`);
    for (let i = a; i <= b; i++) set.add(i);
  }
  return [...set].sort((x, y) => x - y);
}
