#!/usr/bin/env node
// `npm start`: runs the API locally and offline on miniflare's D1, R2 and Durable Objects.
// 1. makes sure .dev.vars holds a ROOT_KEY (generating a random one on the first run and printing it),
// 2. applies the D1 migrations to the local database,
// 3. starts `wrangler dev --local` on http://127.0.0.1:8787 (PORT overrides the port).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync, appendFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = path.join(root, "node_modules", "wrangler", "bin", "wrangler.js");
const devVars = path.join(root, ".dev.vars");
const port = process.env.PORT ?? "8787";

if (Number(process.versions.node.split(".")[0]) < 22) {
  console.error(`wrangler needs Node.js 22; this is ${process.version}. Run it through \`npm start\`, which uses the project's Node 22.`);
  process.exit(1);
}

function ensureRootKey() {
  const current = existsSync(devVars) ? readFileSync(devVars, "utf8") : "";
  const match = current.match(/^ROOT_KEY\s*=\s*"?([^"\n]+)"?\s*$/m);
  if (match) {
    console.log(`Root key: in .dev.vars (ROOT_KEY=${match[1].slice(0, 10)}…)`);
    return;
  }
  const key = `root_${randomBytes(24).toString("hex")}`;
  const separator = current && !current.endsWith("\n") ? "\n" : "";
  if (current) appendFileSync(devVars, `${separator}ROOT_KEY=${key}\n`);
  else writeFileSync(devVars, `ROOT_KEY=${key}\n`, { mode: 0o600 });
  console.log(`Generated a root key into .dev.vars (keep it secret):\n\n  ROOT_KEY=${key}\n`);
}

function wranglerSync(args) {
  const result = spawnSync(process.execPath, [wrangler, ...args], { cwd: root, stdio: "inherit", env: { ...process.env, CI: "true" } });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

ensureRootKey();
wranglerSync(["d1", "migrations", "apply", "DB", "--local"]);

const dev = spawn(process.execPath, [wrangler, "dev", "--local", "--ip", "127.0.0.1", "--port", port, "--var", "ENVIRONMENT:local", ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
