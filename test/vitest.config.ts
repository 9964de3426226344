import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const root = path.resolve(import.meta.dirname, "..");

export default defineConfig(async () => {
  // wrangler.toml's [assets] directory must exist before the Worker starts: build the console once if it is missing
  // (`npm test` rebuilds it every time through its pretest script).
  if (!existsSync(path.join(root, "build", "assets", "console", "index.html"))) {
    execFileSync(process.execPath, [path.join(root, "scripts", "build-assets.mjs")], { cwd: root, stdio: "inherit" });
  }
  // The same migrations folder wrangler applies for `npm start` and for production.
  const migrations = await readD1Migrations(path.join(root, "migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: path.join(root, "wrangler.toml") },
        // Everything runs on miniflare's local bindings; no Cloudflare account is involved.
        remoteBindings: false,
        miniflare: {
          // wrangler.toml ships ENVIRONMENT=production for deploys; tests run in local mode like `npm start`.
          bindings: { TEST_MIGRATIONS: migrations, ROOT_KEY: "test-root-key-0123456789abcdef", ENVIRONMENT: "local" },
        },
      }),
    ],
    test: {
      root,
      include: ["test/**/*.test.ts"],
      setupFiles: ["test/setup.ts"],
      // Behaviour tests, never timing ones (performance lives in bench/): on a loaded 2-core machine a test of many
      // round trips through workerd can pass 5 s without anything being wrong.
      testTimeout: 30_000,
    },
  };
});
