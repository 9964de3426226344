/// <reference types="vite/client" />
/**
 * The layers of shared/CONVENTIONS.md habits 13–16, read from the import lines: core imports no adapter, Durable
 * Object, db, wire-schema or platform module; routes (and the MCP tools and mem0 layer they call) reach D1 and the
 * bindings only through services; adapters and wire schemas import no Durable Object or db module.
 */
import { describe, expect, it } from "vitest";

const sources = import.meta.glob<string>(["../../src/**/*.ts"], { query: "?raw", import: "default", eager: true });

/** Every module a file imports (static `import … from`, `export … from`, and `import("…")`), as written. */
function importsOf(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']/g)) found.push(match[1]!);
  for (const match of text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) found.push(match[1]!);
  return found;
}

/** Files under `folder` (relative to src/) that import a module matching `forbidden`, with the offending imports. */
function violations(folder: string, forbidden: RegExp): string[] {
  const prefix = `../../src/${folder}/`;
  return Object.entries(sources)
    .filter(([file]) => file.startsWith(prefix))
    .flatMap(([file, text]) => importsOf(text).filter((spec) => forbidden.test(spec)).map((spec) => `${file.slice(6)} → ${spec}`));
}

describe("the layers hold in both directions", () => {
  it("sees the source tree", () => {
    expect(Object.keys(sources).length).toBeGreaterThan(50);
    expect(importsOf('import { a } from "./x";\nimport type {\n  B,\n} from "../y";\nexport { c } from "./z";')).toEqual(["./x", "../y", "./z"]);
  });

  it("core imports no adapter, Durable Object, db, wire schema, service or platform module", () => {
    expect(violations("core", /\/(adapters|db|schemas|services|routes|mcp|mem0)\/|durable-objects|^hono|^drizzle|^cloudflare:|\/deps$/)).toEqual([]);
  });

  it("routes, MCP tools and the mem0 layer reach D1 and the bindings only through services", () => {
    const reachesDb = /\/db\/|^drizzle|\/deps$|durable-objects|\/adapters\//;
    expect([...violations("routes", reachesDb), ...violations("mcp", reachesDb), ...violations("mem0", reachesDb)]).toEqual([]);
  });

  it("adapters and wire schemas import no Durable Object, db or service module", () => {
    const inward = /durable-objects|\/db\/|\/services\/|\/routes\/|\/deps$/;
    expect([...violations("adapters", inward), ...violations("schemas", inward)]).toEqual([]);
  });
});
