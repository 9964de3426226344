// Starts (or connects to) the API for a benchmark.
//
// Without --url: a free port on 127.0.0.1, a fresh temp dir for all local state, D1 migrations applied into it,
// then `wrangler dev --local` with a random ROOT_KEY; a tenant and a read/write key are created through the admin
// API. The wrangler process group (wrangler and the workerd it starts) is killed at the end, on errors and on
// SIGINT/SIGTERM/SIGHUP; the temp dir is removed unless --keep-state.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ApiClient } from "./api.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const WRANGLER = path.join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const READY_TIMEOUT_MS = 90_000;

/**
 * Newest modification time (ms) of the files wrangler dev bundles and watches: wrangler reloads the Worker when
 * they change, so a benchmark reports when that happened during its run.
 * @returns {number}
 */
export function sourceStamp() {
  let newest = 0;
  /** @param {string} p */
  const walk = (p) => {
    let st;
    try {
      st = statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const entry of readdirSync(p)) walk(path.join(p, entry));
    } else if (!p.endsWith(".md") && st.mtimeMs > newest) newest = st.mtimeMs;
  };
  for (const p of ["src", "durable-objects", "migrations", "wrangler.toml", "package.json"]) walk(path.join(ROOT, p));
  return newest;
}

/** The checked-out commit and whether the tree differs from it, for the record. */
export function codeVersion() {
  const git = (/** @type {string[]} */ args) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" });
  const head = git(["rev-parse", "--short", "HEAD"]);
  if (head.status !== 0) return null;
  const dirty = git(["status", "--porcelain", "--", "src", "durable-objects", "migrations", "wrangler.toml"]);
  return { commit: head.stdout.trim(), dirty: dirty.status === 0 ? dirty.stdout.trim().length > 0 : null };
}

/** @param {...unknown} args */
export function log(...args) {
  console.error("[bench]", ...args);
}

/** @returns {Promise<number>} a port that was free a moment ago on 127.0.0.1 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Keeps the last lines of a child's output, to show when something fails. */
class Tail {
  /** @param {number} max @param {boolean} echo */
  constructor(max, echo) {
    this.max = max;
    this.echo = echo;
    /** @type {string[]} */
    this.lines = [];
    this.partial = "";
  }
  /** @param {Buffer | string} chunk */
  push(chunk) {
    const text = this.partial + chunk.toString();
    const parts = text.split("\n");
    this.partial = parts.pop() ?? "";
    for (const line of parts) {
      if (this.echo) process.stderr.write(`[wrangler] ${line}\n`);
      this.lines.push(line);
      if (this.lines.length > this.max) this.lines.shift();
    }
  }
  toString() {
    return [...this.lines, this.partial].join("\n");
  }
}

// ---------------------------------------------------------------------------------------------------------------
// /proc helpers: descendants of a pid, and their resident memory.

/** @returns {Map<number, { ppid: number, comm: string }>} */
function processTable() {
  /** @type {Map<number, { ppid: number, comm: string }>} */
  const table = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid ...; comm may contain spaces and parentheses, so split at the last ')'.
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" ");
      table.set(Number(entry), { ppid: Number(fields[1]), comm });
    } catch {
      // the process went away while we looked
    }
  }
  return table;
}

/**
 * @param {number} pid
 * @returns {number[]} pids of all descendants (not including pid)
 */
export function descendants(pid) {
  if (!existsSync("/proc")) return [];
  const table = processTable();
  /** @type {Map<number, number[]>} */
  const children = new Map();
  for (const [p, { ppid }] of table) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)?.push(p);
  }
  /** @type {number[]} */
  const out = [];
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length) {
    const p = /** @type {number} */ (stack.pop());
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * Sum of VmRSS (MB) of the workerd processes below `pid`.
 * @param {number} pid
 * @returns {{ rss_mb: number, pids: number[] } | null}
 */
export function workerdRss(pid) {
  if (!existsSync("/proc")) return null;
  const table = processTable();
  let kb = 0;
  /** @type {number[]} */
  const pids = [];
  for (const p of descendants(pid)) {
    const comm = table.get(p)?.comm ?? "";
    let isWorkerd = comm.includes("workerd");
    if (!isWorkerd) {
      try {
        isWorkerd = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0")[0].endsWith("workerd");
      } catch {
        continue;
      }
    }
    if (!isWorkerd) continue;
    try {
      const m = readFileSync(`/proc/${p}/status`, "utf8").match(/^VmRSS:\s+(\d+)\s+kB/m);
      if (m) {
        kb += Number(m[1]);
        pids.push(p);
      }
    } catch {
      // gone
    }
  }
  return pids.length ? { rss_mb: Math.round((kb / 1024) * 10) / 10, pids } : null;
}

// ---------------------------------------------------------------------------------------------------------------
// Process lifetime: one place that kills everything we started, whatever way the run ends.

/** @type {Set<() => void>} */
const syncCleanups = new Set();
let handlersInstalled = false;

function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const runAll = () => {
    for (const fn of [...syncCleanups]) {
      try {
        fn();
      } catch {
        // best effort
      }
    }
    syncCleanups.clear();
  };
  process.on("exit", runAll);
  for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM", "SIGHUP"])) {
    process.on(signal, () => {
      log(`${signal}: stopping the server`);
      runAll();
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
}

/**
 * Sends a signal to a process group and to every listed pid; ignores the ones already gone.
 * @param {number} pgid
 * @param {number[]} pids
 * @param {NodeJS.Signals} signal
 */
function signalAll(pgid, pids, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // group gone
  }
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      // gone
    }
  }
}

/** @param {number} pid */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A tiny detached watchdog: if this harness dies without cleaning up (SIGKILL, OOM, a crash of node itself), it
 * kills the wrangler process group and removes the state dir. It exits by itself once the group is gone.
 * @param {number} pgid
 * @param {string | null} dir
 */
function startReaper(pgid, dir) {
  const code = `
    const [parent, pgid, dir] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
    const alive = (p) => { try { process.kill(p, 0); return true; } catch { return false; } };
    setInterval(() => {
      if (!alive(-pgid)) process.exit(0);
      if (alive(parent)) return;
      try { process.kill(-pgid, "SIGKILL"); } catch {}
      if (dir) { try { require("node:fs").rmSync(dir, { recursive: true, force: true }); } catch {} }
      process.exit(0);
    }, 1000);`;
  const reaper = spawn(process.execPath, ["-e", code, String(process.pid), String(pgid), dir ?? ""], {
    detached: true,
    stdio: "ignore",
  });
  reaper.unref();
}

/**
 * @typedef {object} BenchServer
 * @property {string} url
 * @property {ApiClient} client  tenant-key client
 * @property {number | null} pid  wrangler's pid when we started it
 * @property {boolean} managed  true when we started the server
 * @property {boolean | null} [wranglerTraces]  whether wrangler's local trace collector ran (managed servers only)
 * @property {() => ({ rss_mb: number, pids: number[] } | null)} rss  workerd RSS (managed servers only)
 * @property {() => (boolean | null)} sourceChanged  whether the Worker's sources changed since start (wrangler
 *   dev then reloads the Worker mid-run); null for a server we did not start
 * @property {() => Promise<void>} stop
 */

/**
 * @param {Record<string, string | number | boolean | undefined>} opts parsed options (url, key, root-key, verbose, keep-state)
 * @returns {Promise<BenchServer>}
 */
export async function startServer(opts) {
  if (opts.url) {
    const url = String(opts.url).replace(/\/+$/, "");
    let key = opts.key ? String(opts.key) : null;
    if (!key) {
      if (!opts["root-key"]) throw new Error("--url needs --key KEY (a tenant key) or --root-key ROOT");
      key = await createTenantKey(url, String(opts["root-key"]));
    }
    return { url, client: new ApiClient(url, key), pid: null, managed: false, rss: () => null, sourceChanged: () => null, stop: async () => {} };
  }

  if (Number(process.versions.node.split(".")[0]) < 22) {
    throw new Error(`wrangler needs Node.js 22; this is ${process.version}. Run through \`npm run bench\`.`);
  }
  installHandlers();
  const verbose = Boolean(opts.verbose);
  // --state-dir puts the local state (D1, Durable Objects, R2: SQLite files and their WAL) under another directory,
  // e.g. a tmpfs such as /dev/shm to see how much of a write's time is this disk's fsync (docs/hot-path.md).
  const dir = mkdtempSync(path.join(opts["state-dir"] ? path.resolve(String(opts["state-dir"])) : os.tmpdir(), "memos-bench-"));
  const removeDir = () => {
    if (!opts["keep-state"]) rmSync(dir, { recursive: true, force: true });
  };
  syncCleanups.add(removeDir);
  // Wrangler's own telemetry and, unless --wrangler-traces, its local trace collector are off: the collector (on by
  // default since wrangler 4.15x) records every request, call and query on workerd's one thread, 10-15% of it
  // measured, and production has no such thing. It is dev tooling like the local proxy, not the API being measured.
  const env = {
    ...process.env,
    CI: "true",
    WRANGLER_SEND_METRICS: "false",
    X_LOCAL_OBSERVABILITY: opts["wrangler-traces"] ? "true" : "false",
    NO_COLOR: "1",
    FORCE_COLOR: "0",
  };

  log(`state dir ${dir}; applying D1 migrations`);
  const migrate = spawnSync(process.execPath, [WRANGLER, "d1", "migrations", "apply", "DB", "--local", "--persist-to", dir], {
    cwd: ROOT,
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 120_000,
  });
  if (migrate.status !== 0) {
    removeDir();
    throw new Error(`D1 migrations failed (exit ${migrate.status}):\n${migrate.stdout}\n${migrate.stderr}`);
  }
  if (verbose) process.stderr.write(migrate.stdout + migrate.stderr);

  const stampAtStart = sourceStamp();
  const port = await freePort();
  const inspectorPort = await freePort();
  const rootKey = randomBytes(24).toString("hex");
  const url = `http://127.0.0.1:${port}`;
  const args = [
    WRANGLER, "dev", "--local",
    "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(inspectorPort),
    "--persist-to", dir,
    "--var", `ROOT_KEY:${rootKey}`,
    "--var", "ENVIRONMENT:local",
    // The API's per-request JSON log line costs 2–4 ms a request under wrangler dev (relayed through wrangler's Node
    // process), not in production: off unless --request-log, like the trace collector (src/env.d.ts, REQUEST_LOG).
    ...(opts["request-log"] ? [] : ["--var", "REQUEST_LOG:off"]),
    // The scale bench's binding counters (src/scale-probe.ts); never set otherwise.
    ...(opts["scale-probe"] ? ["--var", "SCALE_PROBE:1"] : []),
    "--show-interactive-dev-session=false",
    "--log-level", verbose ? "info" : "warn",
  ];
  log(`starting wrangler dev on ${url}`);
  // detached: its own process group, so that wrangler and workerd can be killed together (and our terminal's
  // SIGINT goes only to us; we forward it by killing the group).
  const child = spawn(process.execPath, args, { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const pid = /** @type {number} */ (child.pid);
  log(`wrangler pid ${pid} (process group ${pid})`);
  startReaper(pid, opts["keep-state"] ? null : dir);
  const tail = new Tail(300, verbose);
  child.stdout?.on("data", (c) => tail.push(c));
  child.stderr?.on("data", (c) => tail.push(c));
  let exited = false;
  /** @type {number | null} */
  let exitCode = null;
  child.on("exit", (code, signal) => {
    exited = true;
    exitCode = code ?? (signal ? 128 : 0);
  });

  /** @type {number[]} */
  let known = [];
  const killNow = () => {
    known = [...new Set([...known, ...descendants(pid)])];
    signalAll(pid, known, "SIGKILL");
  };
  syncCleanups.add(killNow);

  const stop = async () => {
    if (!syncCleanups.has(killNow)) return;
    known = [...new Set([...known, ...descendants(pid)])];
    signalAll(pid, known, "SIGTERM");
    for (let i = 0; i < 50 && [pid, ...known].some(alive); i++) await sleep(100);
    killNow();
    for (let i = 0; i < 20 && [pid, ...known].some(alive); i++) await sleep(100);
    syncCleanups.delete(killNow);
    const left = [pid, ...known].filter(alive);
    if (left.length) log(`warning: processes still alive after SIGKILL: ${left.join(", ")}`);
    removeDir();
    syncCleanups.delete(removeDir);
    log("server stopped");
  };

  try {
    const started = Date.now();
    for (;;) {
      if (exited) throw new Error(`wrangler dev exited early (code ${exitCode}). Output:\n${tail}`);
      if (Date.now() - started > READY_TIMEOUT_MS) throw new Error(`the API did not answer /health within ${READY_TIMEOUT_MS / 1000}s. Output:\n${tail}`);
      try {
        const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      await sleep(250);
    }
    known = descendants(pid);
    log(`API ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    const key = await createTenantKey(url, rootKey);
    const server = {
      url,
      client: new ApiClient(url, key),
      pid,
      managed: true,
      wranglerTraces: Boolean(opts["wrangler-traces"]),
      /** --state-dir as given: the run's local state lived under it (a tmpfs takes the disk's fsync out) */
      stateUnder: opts["state-dir"] ? path.resolve(String(opts["state-dir"])) : null,
      /** wrangler's DevTools inspector port (bench/lib/profile.mjs) */
      inspectorPort,
      requestLog: Boolean(opts["request-log"]),
      rss: () => workerdRss(pid),
      sourceChanged: () => sourceStamp() !== stampAtStart,
      stop,
      /** the operator's key of this managed server (the scale bench makes a second tenant with it) */
      rootKey,
      /** the persisted local state (D1, Durable Objects, R2), for the scale bench's bytes-stored counts */
      stateDir: dir,
      /** recent wrangler output, for error reports */
      output: () => tail.toString(),
    };
    return server;
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Creates a tenant "bench" and a read/write key for it through the admin API.
 * @param {string} url
 * @param {string} rootKey
 * @returns {Promise<string>} the tenant key's secret
 */
export async function createTenantKey(url, rootKey) {
  const admin = new ApiClient(url, rootKey);
  const tenant = /** @type {{ id: string }} */ ((await admin.call("POST", "/v1/admin/tenants", { name: "bench" })).body);
  const created = /** @type {{ key: string }} */ (
    (await admin.call("POST", `/v1/admin/tenants/${encodeURIComponent(tenant.id)}/keys`, { scopes: ["read", "write"] })).body
  );
  if (!created?.key) throw new Error(`key creation returned no key: ${JSON.stringify(created)}`);
  log(`tenant ${tenant.id} with a read/write key`);
  return created.key;
}

/**
 * Runs `fn` with a server and always stops it afterwards.
 * @template T
 * @param {Record<string, string | number | boolean | undefined>} opts
 * @param {(server: BenchServer) => Promise<T>} fn
 * @returns {Promise<T>}
 */
export async function withServer(opts, fn) {
  const server = await startServer(opts);
  try {
    const result = await fn(server);
    if (server.sourceChanged()) log("warning: src/ or durable-objects/ changed during the run; wrangler dev reloaded the Worker mid-run");
    return result;
  } catch (error) {
    const out = /** @type {any} */ (server).output?.();
    if (out && !opts.verbose) log(`last wrangler output:\n${out.split("\n").slice(-40).join("\n")}`);
    throw error;
  } finally {
    await server.stop();
  }
}
