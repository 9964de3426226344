import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/core/hash";
import { isWellFormed, jsonBoundsProblem } from "../../src/core/json-bounds";

const nested = (levels: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = i % 2 ? [value] : { a: value };
  return value;
};
const bounds = { depth: 32, nodes: 2_000, bytes: 8 * 1024 };

describe("jsonBoundsProblem", () => {
  it("accepts a value at every bound and refuses one just past it", () => {
    expect(jsonBoundsProblem(nested(32), bounds)).toBeNull();
    expect(jsonBoundsProblem(nested(33), bounds)).toMatch(/deeper than 32/);
    // An array and 1,999 numbers: 2,000 values.
    expect(jsonBoundsProblem(Array.from({ length: 1_999 }, () => 1), bounds)).toBeNull();
    expect(jsonBoundsProblem(Array.from({ length: 2_000 }, () => 1), bounds)).toMatch(/more than 2000 values/);
    const atBytes = { k: "é".repeat((8 * 1024 - 8) / 2) };
    expect(new TextEncoder().encode(JSON.stringify(atBytes)).length).toBe(8 * 1024);
    expect(jsonBoundsProblem(atBytes, bounds)).toBeNull();
    expect(jsonBoundsProblem({ k: `${atBytes.k}x` }, bounds)).toMatch(/at most 8192 bytes/);
  });

  it("measures the bytes JSON.stringify writes, in UTF-8", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const exact = new TextEncoder().encode(JSON.stringify(value)).length;
        expect(jsonBoundsProblem(value, { depth: 100, nodes: 1e6, bytes: exact })).toBeNull();
        expect(jsonBoundsProblem(value, { depth: 100, nodes: 1e6, bytes: exact - 1 })).toMatch(/bytes/);
      }),
      { seed: 16, numRuns: 300 },
    );
  });

  it("walks a value nested 100,000 deep without recursion", () => {
    expect(jsonBoundsProblem(nested(100_000), { depth: 200_000, nodes: 1e6, bytes: 1e7 })).toBeNull();
    expect(jsonBoundsProblem(JSON.parse(`${"[".repeat(50_000)}${"]".repeat(50_000)}`), bounds)).toMatch(/deeper/);
  });

  it("refuses lone surrogates in keys and strings, not well-formed pairs", () => {
    expect(isWellFormed("emoji 😀")).toBe(true);
    expect(isWellFormed("eve\ud800")).toBe(false);
    expect(isWellFormed("\udc00eve")).toBe(false);
    expect(jsonBoundsProblem({ "k\ud800": 1 }, bounds)).toMatch(/key .*well-formed/);
    expect(jsonBoundsProblem({ k: ["\udc00"] }, bounds)).toMatch(/string .*well-formed/);
    expect(jsonBoundsProblem({ k: ["😀"] }, bounds)).toBeNull();
  });
});

/** What canonicalJson was before it became iterative: stored fingerprints and episode ids depend on equal output. */
const recursiveCanonical = (value: unknown) =>
  JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );

describe("canonicalJson", () => {
  it("writes exactly what the recursive version wrote", () => {
    const keys = fc.oneof(fc.string(), fc.constantFrom("0", "1", "10", "9", "01", "-1", "4294967295", "4294967294", "a", "B"));
    const values = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.string(),
        fc.double(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.constant(undefined),
        fc.date({ noInvalidDate: true }),
        fc.array(tie("value"), { maxLength: 5 }),
        fc.dictionary(keys, tie("value"), { maxKeys: 6 }),
      ),
    })).value;
    fc.assert(
      fc.property(values, (value) => {
        fc.pre(value !== undefined);
        expect(canonicalJson(value)).toBe(recursiveCanonical(value));
      }),
      { seed: 16, numRuns: 1_000 },
    );
  });

  it("serialises 100,000 levels of nesting (the recursive one overflowed near 3,000)", () => {
    const deep = canonicalJson(nested(100_000));
    expect(deep.length).toBeGreaterThan(300_000);
    expect(() => recursiveCanonical(nested(100_000))).toThrow(RangeError);
  });
});
