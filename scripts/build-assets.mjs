#!/usr/bin/env node
// Builds the Worker's static assets into build/assets (wrangler.toml [assets]), offline, from pinned packages:
// - build/assets/console: the web console (console/, Preact, bundled by Vite);
// - build/assets/docs: the API reference page (console/api-docs/) with Swagger UI's files from swagger-ui-dist.
// Run by wrangler's [build] before `wrangler dev` / `wrangler deploy`, and by test/vitest.config.ts before tests.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "build", "assets");

rmSync(out, { recursive: true, force: true });
await build({ configFile: path.join(root, "console", "vite.config.ts"), logLevel: "warn" });

const docs = path.join(out, "docs");
mkdirSync(docs, { recursive: true });
cpSync(path.join(root, "console", "api-docs"), docs, { recursive: true });
const swagger = path.join(root, "node_modules", "swagger-ui-dist");
for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"]) {
  cpSync(path.join(swagger, file), path.join(docs, file === "LICENSE" ? "swagger-ui.LICENSE.txt" : file));
}
console.log(`console and docs built into ${path.relative(root, out)}`);
