/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";

// CONVENTIONS habit 15: core is pure memory logic. It imports no adapter, Durable Object, db module, binding or
// framework; an LLM reader that needs a model takes core's own interface (core/llm.ts).
const sources = import.meta.glob<string>("../../src/core/**/*.ts", { query: "?raw", import: "default", eager: true });
const FORBIDDEN = [/\/adapters\//, /durable-objects/, /\/db\//, /^cloudflare:/, /^hono/, /^drizzle-orm/];

describe("core stays pure", () => {
  it("reads every core module", () => {
    expect(Object.keys(sources).length).toBeGreaterThan(10);
    expect(Object.keys(sources)).toContain("../../src/core/reader/llm-reader.ts");
  });

  it.each(Object.entries(sources))("%s imports nothing outside core's layer", (_file, text) => {
    const imported = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]!);
    expect(imported.filter((spec) => FORBIDDEN.some((rule) => rule.test(spec)))).toEqual([]);
  });
});
