// CPU time of the processes `wrangler dev` started, split into wrangler's local proxy and the Worker's own workerd.
//
// On a shared machine wall-clock latency follows the load of everyone else; CPU seconds a process spends per
// request barely do. `wrangler dev --local` runs two workerd processes: a proxy on the public port (dev tooling,
// absent in production) that forwards every request to a second one running the Worker, its Durable Objects and
// the simulated D1, R2 and Queues. Reading both before and after a phase says which side a request's cost is on.
import { readFileSync } from "node:fs";
import { descendants } from "./server.mjs";

/** Linux's USER_HZ: /proc reports CPU time in these ticks, 100 a second on every common kernel. */
const TICKS_PER_S = 100;

/** @param {number} pid @returns {number | null} user + system CPU seconds of one process */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
  } catch {
    return null;
  }
}

/** @param {number} pid @returns {string[]} */
function argv(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return [];
  }
}

/**
 * A CPU reading of the wrangler process group: seconds per role ("proxy": the workerd listening on the public
 * port; "worker": the other workerd; "wrangler": the Node processes). Null without /proc or a managed server.
 * @param {{ pid?: number, url: string, managed?: boolean }} server
 * @returns {Record<string, number> | null}
 */
export function cpuReading(server) {
  if (!server.managed || server.pid === undefined) return null;
  const port = new URL(server.url).port;
  /** @type {Record<string, number>} */
  const seconds = { proxy: 0, worker: 0, wrangler: 0 };
  for (const pid of [server.pid, ...descendants(server.pid)]) {
    const args = argv(pid);
    const cpu = cpuSeconds(pid);
    if (cpu === null || args.length === 0) continue;
    if (args[0].endsWith("workerd")) {
      seconds[args.some((a) => a.endsWith(`entry=127.0.0.1:${port}`)) ? "proxy" : "worker"] += cpu;
    } else if (args[0].endsWith("node")) {
      seconds.wrangler += cpu;
    }
  }
  return seconds;
}

/**
 * CPU milliseconds per operation between two readings, by role (10 ms resolution per reading, so use hundreds of
 * operations).
 * @param {Record<string, number> | null} before @param {Record<string, number> | null} after @param {number} operations
 */
export function cpuPerOperation(before, after, operations) {
  if (!before || !after || operations <= 0) return null;
  /** @type {Record<string, number>} */
  const perOp = {};
  for (const role of Object.keys(after)) perOp[role] = Math.round(((after[role] - (before[role] ?? 0)) * 1000 * 100) / operations) / 100;
  return perOp;
}
