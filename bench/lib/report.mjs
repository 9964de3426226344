// What every benchmark result says about where and on what it ran, and how it is written out.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { codeVersion } from "./server.mjs";

/**
 * @param {{ managed: boolean, url: string, sourceChanged: () => boolean | null, wranglerTraces?: boolean | null, requestLog?: boolean, stateUnder?: string | null }} server
 */
export function runInfo(server) {
  const cpus = os.cpus();
  return {
    server: server.managed
      ? `wrangler dev --local (started by the harness; local trace collector ${server.wranglerTraces ? "on" : "off"}, request log ${server.requestLog ? "on" : "off"}${server.stateUnder ? `, local state under ${server.stateUnder}` : ""})`
      : server.url,
    code: codeVersion(),
    source_changed_during_run: server.sourceChanged(),
    date: new Date().toISOString(),
    machine: `${cpus[0]?.model ?? "unknown"} (${cpus.length} cores)`,
  };
}

/**
 * Prints the result as one JSON object on stdout and, with `out`, writes it to that file too.
 * @param {unknown} result
 * @param {unknown} out
 * @param {(message: string) => void} log
 */
export function emitResult(result, out, log) {
  const json = JSON.stringify(result, null, 2);
  if (out) {
    const file = path.resolve(String(out));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${json}\n`);
    log(`written to ${file}`);
  }
  process.stdout.write(`${json}\n`);
}
