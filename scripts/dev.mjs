#!/usr/bin/env node
// `npm start`: runs the API locally and offline on miniflare's D1, R2, Durable Objects and Queues.
// 1. makes sure .dev.vars holds a ROOT_KEY (generating a random one on the first run and printing it),
// 2. applies the D1 migrations to the local database (one summary line; wrangler's tables only on failure),
// 3. starts `wrangler dev --local` on http://127.0.0.1:8787 (PORT, or `npm start -- --port N`, overrides the port;
//    other arguments go to wrangler as they are) and, once it answers,
//    prints one banner: the API, console and docs URLs and where the root key is.
// Afterwards it prints what an operator needs: the Worker's own log lines (one JSON line per request) and errors.
// Wrangler's startup tables, its access lines (the Worker logs each request itself, with its request id) and the
// warnings that do not apply offline are left out; MEMOS_DEV_VERBOSE=1 shows wrangler's output as it is.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync, appendFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { devArgs } from "./dev-args.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = path.join(root, "node_modules", "wrangler", "bin", "wrangler.js");
const devVars = path.join(root, ".dev.vars");
let port, wranglerArgs;
try {
  ({ port, rest: wranglerArgs } = devArgs(process.argv.slice(2), process.env.PORT));
} catch (error) {
  console.error(String(error instanceof Error ? error.message : error));
  process.exit(2);
}
const verbose = process.env.MEMOS_DEV_VERBOSE === "1";
// Offline, miniflare's fetch of the `Request.cf` placeholder fails with a DNS stack trace on every (re)load.
const wranglerEnv = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };

if (Number(process.versions.node.split(".")[0]) < 22) {
  console.error(`wrangler needs Node.js 22; this is ${process.version}. Run it through \`npm start\`, which uses the project's Node 22.`);
  process.exit(1);
}

/** Makes sure .dev.vars has a ROOT_KEY; returns how the banner should describe it. */
function ensureRootKey() {
  const current = existsSync(devVars) ? readFileSync(devVars, "utf8") : "";
  const match = current.match(/^ROOT_KEY\s*=\s*"?([^"\n]+)"?\s*$/m);
  if (match) return `ROOT_KEY in .dev.vars (${match[1].slice(0, 10)}…)`;
  const key = `root_${randomBytes(24).toString("hex")}`;
  const separator = current && !current.endsWith("\n") ? "\n" : "";
  if (current) appendFileSync(devVars, `${separator}ROOT_KEY=${key}\n`);
  else writeFileSync(devVars, `ROOT_KEY=${key}\n`, { mode: 0o600 });
  return `ROOT_KEY=${key}  (new; saved in .dev.vars — keep it secret)`;
}

function applyMigrations() {
  const result = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "DB", "--local"], {
    cwd: root,
    encoding: "utf8",
    env: { ...wranglerEnv, CI: "true" },
  });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  if (result.status !== 0) {
    process.stderr.write(output);
    console.error("Applying the D1 migrations failed (above).");
    process.exit(result.status ?? 1);
  }
  if (verbose) process.stdout.write(output);
  const applied = new Set(output.match(/\d{4}_[\w-]+\.sql/g) ?? []).size;
  return /No migrations to apply/i.test(output) ? "up to date" : `${applied} migration(s) applied`;
}

/**
 * Which lines of wrangler's output a person running the API needs. Stateful: a table or a warning block is left
 * out up to the blank line that ends it.
 */
let ready = false;

function outputFilter() {
  let skippingBlock = false;
  return (line) => {
    const plain = line.replace(/\x1b\[[0-9;]*m/g, "");
    if (skippingBlock) {
      if (plain.trim() === "") skippingBlock = false;
      return false;
    }
    if (/^Your Worker has access to the following bindings:/.test(plain)) return (skippingBlock = true), false;
    // Warnings that are expected offline: AI and Vectorize are never called locally (the local adapters are), and cron is triggered by hand.
    if (/▲ \[WARNING\] (AI bindings|Vectorize Index bindings|Scheduled Workers)/.test(plain)) return (skippingBlock = true), false;
    if (/^\[wrangler:info\] (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /.test(plain)) return false;
    if (/^\[wrangler:info\] Ready on /.test(plain)) return false;
    if (/^\[custom build\]\s*(Running: .*)?$/.test(plain)) return false;
    if (/^⎔ |^ ⛅️ wrangler|^─+$|update available|^Use --remote|^Resource location|^Using secrets defined in/.test(plain)) return false;
    // The rest of the cron warning (the banner says how to trigger the cron).
    if (/^\s+(To manually trigger a scheduled event|curl ".*\/cdn-cgi\/local\/scheduled"|For more details, see)/.test(plain)) return false;
    // The banner's own readiness polls.
    if (!ready && plain.startsWith('{"type":"request"')) return false;
    if (/^\[wrangler:info\] Reloading local server/.test(plain)) return console.log("(source changed: reloading)"), false;
    return plain.trim() !== "";
  };
}

async function waitUntilServing(url, child) {
  for (let attempt = 0; attempt < 600; attempt++) {
    if (child.exitCode !== null) return false;
    try {
      if ((await fetch(`${url}/health`)).ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

const rootKey = ensureRootKey();
const migrations = applyMigrations();
console.log(`Starting MemOS Edge locally (D1: ${migrations})…`);

const dev = spawn(process.execPath, [wrangler, "dev", "--local", "--ip", "127.0.0.1", "--port", port, "--var", "ENVIRONMENT:local", ...wranglerArgs], {
  cwd: root,
  env: wranglerEnv,
  stdio: ["inherit", "pipe", "pipe"],
});
const keep = outputFilter();
for (const [stream, out] of [
  [dev.stdout, process.stdout],
  [dev.stderr, process.stderr],
]) {
  createInterface({ input: stream }).on("line", (line) => {
    if (verbose || keep(line)) out.write(`${line}\n`);
  });
}
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

const url = `http://127.0.0.1:${port}`;
if (await waitUntilServing(url, dev)) {
  ready = true;
  console.log(
    [
      "",
      "MemOS Edge is ready (offline: local embedder, vector index and rule reader).",
      `  API       ${url}          (GET / lists the entry points)`,
      `  Console   ${url}/console`,
      `  Docs      ${url}/docs`,
      `  Root key  ${rootKey}`,
      `  Cron      curl "${url}/cdn-cgi/local/scheduled"  (runs the scheduled handler once)`,
      "Requests are logged below as JSON lines. Ctrl-C stops.",
      "",
    ].join("\n"),
  );
}
