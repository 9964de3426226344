// Small statistics helpers. Percentiles use the nearest-rank method on the sorted sample.

/**
 * @param {number[]} values
 * @param {number} p percentile, 0–100
 * @returns {number | null}
 */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/**
 * @param {number[]} values
 * @returns {number | null}
 */
export function mean(values) {
  if (values.length === 0) return null;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/**
 * Rounds to `digits` decimals; null stays null.
 * @param {number | null | undefined} value
 * @param {number} [digits]
 * @returns {number | null}
 */
export function round(value, digits = 4) {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * Summary of a latency sample in milliseconds.
 * @param {number[]} values
 * @param {number[]} [ps] percentiles to report
 * @param {{ mean?: boolean }} [opts]
 * @returns {Record<string, number | null>}
 */
export function summarize(values, ps = [50, 95], opts = {}) {
  /** @type {Record<string, number | null>} */
  const out = {};
  for (const p of ps) out[`p${p}`] = round(percentile(values, p), 2);
  if (opts.mean) out.mean = round(mean(values), 2);
  return out;
}

/**
 * Seeded PRNG (mulberry32): repeatable runs for the same seed.
 * @param {number} seed
 * @returns {() => number} uniform in [0, 1)
 */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
