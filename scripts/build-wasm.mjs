// Assembles the WebAssembly the Worker ships from its text source (wabt): durable-objects/cube/vector-scan.wat →
// vector-scan.wasm, both committed (wrangler and vitest import the .wasm; no toolchain runs at deploy).
//
//   node scripts/build-wasm.mjs            writes the .wasm
//   node scripts/build-wasm.mjs --check    exits 1 when the committed .wasm is not what the .wat assembles to (npm test)
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import wabt from "wabt";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SOURCES = ["durable-objects/cube/vector-scan.wat"];

const check = process.argv.includes("--check");
const toolkit = await wabt();
let stale = 0;
for (const source of SOURCES) {
  const text = readFileSync(path.join(ROOT, source), "utf8");
  const parsed = toolkit.parseWat(source, text, { simd: true });
  parsed.validate();
  const { buffer } = parsed.toBinary({ write_debug_names: false });
  parsed.destroy();
  const target = path.join(ROOT, source.replace(/\.wat$/, ".wasm"));
  if (check) {
    let committed = Buffer.alloc(0);
    try {
      committed = readFileSync(target);
    } catch {}
    if (!committed.equals(Buffer.from(buffer))) {
      console.error(`${path.relative(ROOT, target)} is not what ${source} assembles to: run node scripts/build-wasm.mjs`);
      stale++;
    }
  } else {
    writeFileSync(target, buffer);
    console.log(`${path.relative(ROOT, target)}: ${buffer.length} bytes`);
  }
}
process.exit(stale === 0 ? 0 : 1);
