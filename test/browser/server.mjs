// The server the browser tests drive: `npm start`'s Worker (`wrangler dev --local`, the console built by wrangler's
// [build]) on a free port, with its own empty state folder and root key, so a run never sees another's data.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const wrangler = path.join(root, "node_modules", "wrangler", "bin", "wrangler.js");
const READY_MS = 120_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts the Worker; resolves with its origin, root key and a stop() once /health answers. */
export async function startServer() {
  const state = mkdtempSync(path.join(tmpdir(), "memos-browser-"));
  const port = await freePort();
  const rootKey = `root_${randomBytes(24).toString("hex")}`;
  const env = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" };
  const migrate = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", state], {
    cwd: root,
    env,
    encoding: "utf8",
  });
  if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);

  const log = [];
  const child = spawn(
    process.execPath,
    [wrangler, "dev", "--local", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, "--var", `ROOT_KEY:${rootKey}`,
      // Local mode like `npm start` (wrangler.toml ships production, which holds webhook URLs to public https hosts).
      "--var", "ENVIRONMENT:local", "--show-interactive-dev-session=false"],
    { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  for (const stream of [child.stdout, child.stderr]) stream.on("data", (chunk) => log.push(String(chunk)));
  const origin = `http://127.0.0.1:${port}`;
  const stop = () => {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      // Already gone.
    }
    rmSync(state, { recursive: true, force: true });
  };

  const deadline = Date.now() + READY_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(`${origin}/health`)).ok) return { origin, rootKey, stop };
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  stop();
  throw new Error(`the server did not come up (exit ${child.exitCode}):\n${log.join("").slice(-3000)}`);
}
