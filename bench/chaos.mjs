// `npm run bench -- chaos`: kills the local server (wrangler and every workerd it started, SIGKILL) under write load
// and again while a MemReader job runs, restarts it on the same state, and checks that every acknowledged write is
// there exactly once and that the job finishes exactly as an undisturbed run of the same conversation does.
// Prints one JSON result on stdout and PASS/FAIL on stderr; exits 1 on FAIL. Issue 16, item 6.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ApiClient } from "./lib/api.mjs";
import { parseArgs } from "./lib/args.mjs";
import { ROOT, WRANGLER, createTenantKey, descendants, freePort, log } from "./lib/server.mjs";

export const USAGE = `chaos [--writers N] [--load-ms MS] [--turns N]
  Kills the local server under write load (N writers, default 8, for MS ms, default 3000) and during a MemReader job
  of N turns (default 300), restarts it on the same state and verifies every acknowledged write and the job.`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ENV = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", X_LOCAL_OBSERVABILITY: "false", NO_COLOR: "1" };

/** One wrangler dev on `dir`; `kill()` SIGKILLs its whole process tree at once, as a crash would. */
async function boot(dir, rootKey) {
  const port = await freePort();
  const args = [WRANGLER, "dev", "--local", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(await freePort()),
    "--persist-to", dir, "--var", `ROOT_KEY:${rootKey}`, "--show-interactive-dev-session=false", "--log-level", "warn"];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: ENV, detached: true, stdio: "ignore" });
  const pid = /** @type {number} */ (child.pid);
  const url = `http://127.0.0.1:${port}`;
  const kill = () => {
    const tree = [pid, ...descendants(pid)];
    try { process.kill(-pid, "SIGKILL"); } catch {}
    for (const p of tree) { try { process.kill(p, "SIGKILL"); } catch {} }
    return tree.length;
  };
  process.on("exit", kill);
  for (const started = Date.now(); ; ) {
    if (Date.now() - started > 90_000) { kill(); throw new Error("the server did not answer /health within 90 s"); }
    try { if ((await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })).ok) break; } catch {}
    await sleep(250);
  }
  return { url, kill };
}

/** POST with an Idempotency-Key; resolves to the status (0 when the connection died). */
async function write(url, key, idem, body) {
  try {
    const res = await fetch(`${url}/v1/memories`, {
      method: "POST",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json", "Idempotency-Key": idem },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch {
    return { status: 0, body: null };
  }
}

async function allContents(client, user) {
  const out = [];
  let cursor = null;
  do {
    const page = (await client.call("GET", `/v1/memories?user_id=${user}&limit=100${cursor ? `&cursor=${cursor}` : ""}`)).body;
    out.push(...page.data.map((m) => m.content));
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

const conversation = (turns) =>
  Array.from({ length: turns }, (_, i) => ({ role: "user", name: "Alice", content: `On day ${i + 1} I visited city number ${i + 1} and liked it.` }));

export async function main(argv) {
  const opts = parseArgs(argv, { writers: "number", "load-ms": "number", turns: "number" });
  const writers = Number(opts.writers ?? 8);
  const loadMs = Number(opts["load-ms"] ?? 3000);
  const turns = Number(opts.turns ?? 300);
  const dir = mkdtempSync(path.join(os.tmpdir(), "memos-chaos-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const rootKey = randomBytes(24).toString("hex");
  const migrate = spawnSync(process.execPath, [WRANGLER, "d1", "migrations", "apply", "DB", "--local", "--persist-to", dir], { cwd: ROOT, env: ENV, encoding: "utf8" });
  if (migrate.status !== 0) throw new Error(`D1 migrations failed: ${migrate.stderr}`);
  const checks = [];
  const check = (name, ok, detail) => { checks.push({ name, ok, ...detail }); log(`${ok ? "ok  " : "FAIL"} ${name} ${JSON.stringify(detail)}`); };

  // 1. Writes under load, killed mid-flight.
  let server = await boot(dir, rootKey);
  const key = await createTenantKey(server.url, rootKey);
  const user = `chaos-${randomBytes(4).toString("hex")}`;
  const acked = new Map();
  const unanswered = new Map();
  let stop = false;
  let seq = 0;
  const writer = async () => {
    while (!stop) {
      const n = seq++;
      const body = { user_id: user, memories: [{ content: `chaos write ${n} ${randomBytes(4).toString("hex")}` }] };
      const res = await write(server.url, key, `chaos-${n}`, body);
      // A 201 whose body was cut off by the kill told the caller nothing it can use: like no answer, it is retried
      // with its Idempotency-Key below and must then be stored exactly once.
      const id = res.status === 201 ? res.body?.data?.[0]?.id : undefined;
      if (id) acked.set(n, { body, id });
      else unanswered.set(n, body);
    }
  };
  const running = Array.from({ length: writers }, writer);
  await sleep(loadMs);
  const killed = server.kill();
  stop = true;
  await Promise.all(running);
  log(`killed ${killed} processes with ${acked.size} writes acknowledged, ${unanswered.size} unanswered`);
  server = await boot(dir, rootKey);
  let client = new ApiClient(server.url, key);
  let lost = 0;
  for (const [, { body, id }] of acked) {
    const got = await client.call("GET", `/v1/memories/${id}`).catch(() => null);
    if (got?.body?.content !== body.memories[0].content) lost += 1;
  }
  check("every acknowledged write survived the kill", lost === 0 && acked.size > 0, { acknowledged: acked.size, lost });
  // Retrying the unanswered ones with their keys: stored once, whether they had committed or not.
  for (const [n, body] of unanswered) {
    const res = await write(server.url, key, `chaos-${n}`, body);
    if (res.status !== 201) check(`retry of write ${n}`, false, { status: res.status });
  }
  const contents = await allContents(client, user);
  const expected = acked.size + unanswered.size;
  check("retried writes are stored exactly once", contents.length === expected && new Set(contents).size === contents.length, { stored: contents.length, expected });

  // 2. A MemReader job killed mid-way finishes exactly like an undisturbed one.
  const messages = conversation(turns);
  const reference = `chaos-ref-${randomBytes(4).toString("hex")}`;
  const subject = `chaos-job-${randomBytes(4).toString("hex")}`;
  const refJob = (await client.call("POST", "/v1/memories", { user_id: reference, messages })).body;
  const job = (await client.call("POST", "/v1/memories", { user_id: subject, messages })).body;
  // Killed as soon as the job is seen working (or at once if it is never seen so): the kill must land mid-job.
  let before = job;
  for (let i = 0; i < 600; i++) {
    before = (await client.call("GET", `/v1/jobs/${job.job_id}`)).body;
    if (before.status !== "queued" || before.progress?.done > 0) break;
    await sleep(20);
  }
  server.kill();
  check("the kill landed while the job was unfinished", before.status !== "done", { status: before.status, progress: before.progress });
  log(`killed the server with the job at ${before.progress?.done}/${before.progress?.total} (${before.status})`);
  server = await boot(dir, rootKey);
  client = new ApiClient(server.url, key);
  const finished = async (id) => {
    for (let i = 0; i < 1200; i++) {
      const state = (await client.call("GET", `/v1/jobs/${id}`)).body;
      if (state.status === "done" || state.status === "failed") return state;
      await sleep(250);
    }
    return (await client.call("GET", `/v1/jobs/${id}`)).body;
  };
  const [refDone, jobDone] = [await finished(refJob.job_id), await finished(job.job_id)];
  const [refMemories, jobMemories] = [(await allContents(client, reference)).sort(), (await allContents(client, subject)).sort()];
  check("the interrupted MemReader job finished", jobDone.status === "done" && refDone.status === "done", { status: jobDone.status, killed_at: before.progress });
  check("it wrote exactly what an undisturbed run writes", JSON.stringify(refMemories) === JSON.stringify(jobMemories), {
    memories: jobMemories.length,
    reference: refMemories.length,
    duplicates: jobMemories.length - new Set(jobMemories).size,
  });
  server.kill();

  const pass = checks.every((c) => c.ok);
  process.stdout.write(`${JSON.stringify({ benchmark: "chaos", pass, writers, load_ms: loadMs, turns, checks }, null, 2)}\n`);
  log(pass ? "PASS" : "FAIL");
  if (!pass) process.exit(1);
}
