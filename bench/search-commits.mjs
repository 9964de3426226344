// Which commits of the cube landed on the latency bench's searches: counts from an strace of the bench's server, read
// against the bench's per-search records. Not a benchmark: strace slows every traced write, so take milliseconds from
// a run without it; the counts do not depend on load (docs/search.md, "Ninth pass").
//
//   strace -f --seccomp-bpf -e trace=fsync,fdatasync,pwrite64 -tt -y -o TRACE \
//     npm run -s bench -- latency --requests REQUESTS [--out FILE]
//   node bench/search-commits.mjs TRACE REQUESTS [--list]
//
// The cube's WAL writes between the first search's start and the last one's end are grouped into commits (writes at
// most GAP_MS apart); a search overlaps a commit when their spans meet. `--list` prints every commit (start ms from
// the first search, length, WAL pages). strace's -tt times are the machine's local time of day; run it under TZ=UTC
// or on a machine whose clock is UTC, as the requests' `at` are.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

/** WAL writes closer than this belong to one commit (a commit's pages are written back to back). */
const GAP_MS = 3;

const { values, positionals } = parseArgs({ allowPositionals: true, options: { list: { type: "boolean", default: false } } });
const [traceFile, requestsFile] = positionals;
if (!traceFile || !requestsFile) {
  console.error("usage: node bench/search-commits.mjs TRACE REQUESTS [--list]");
  process.exit(2);
}
/** @type {{ at: number, client_ms: number, server_total_ms: number | null }[]} */
const searches = JSON.parse(readFileSync(requestsFile, "utf8"));
const start = searches[0].at;
const end = searches.at(-1).at + searches.at(-1).client_ms + 5;
const midnight = new Date(start);
midnight.setUTCHours(0, 0, 0, 0);
/** @param {string} clock hh:mm:ss.micro */
const msOf = (clock) => {
  const [h, m, s] = clock.split(":");
  return midnight.getTime() + (Number(h) * 3600 + Number(m) * 60 + Number(s)) * 1000;
};

const cube = /CubeDurableObject\/[0-9a-f]{64}\.sqlite(-wal)?$/;
/** @type {number[]} */
const wal = [];
let fsyncs = 0;
let checkpointWrites = 0;
let tempWrites = 0;
for (const line of readFileSync(traceFile, "utf8").split("\n")) {
  const match = /^\d+\s+(\S+) (pwrite64|fsync|fdatasync)\(\d+<([^>]*)>/.exec(line);
  if (!match) continue;
  const t = msOf(match[1]);
  if (t < start || t > end) continue;
  const [, , call, file] = match;
  if (file.includes("/etilqs_")) tempWrites++;
  const own = cube.exec(file);
  if (!own) continue;
  if (call !== "pwrite64") fsyncs++;
  else if (own[1]) wal.push(t);
  else checkpointWrites++;
}
/** @type {{ from: number, to: number, pages: number }[]} */
const commits = [];
for (const t of wal.sort((a, b) => a - b)) {
  const last = commits.at(-1);
  if (last && t - last.to <= GAP_MS) {
    last.to = t;
    last.pages++;
  } else commits.push({ from: t, to: t, pages: 1 });
}
const slowest = searches.map((s, i) => ({ s, i })).sort((a, b) => b.s.client_ms - a.s.client_ms);
const rank = new Map(slowest.map(({ i }, r) => [i, r + 1]));
const overlapping = searches.flatMap((s, i) => (commits.some((c) => s.at - 1 <= c.to && c.from <= s.at + s.client_ms + 1) ? [i] : []));
console.log(
  JSON.stringify(
    {
      searches: searches.length,
      cube_commits: commits.length,
      commits_of_100_pages_or_more: commits.filter((c) => c.pages >= 100).length,
      cube_wal_page_writes: wal.length,
      cube_fsyncs: fsyncs,
      cube_checkpoint_page_writes: checkpointWrites,
      searches_overlapping_a_commit: overlapping.length,
      their_ranks_by_client_ms: overlapping.map((i) => rank.get(i)).sort((a, b) => Number(a) - Number(b)),
      temp_file_writes: tempWrites,
    },
    null,
    2,
  ),
);
if (values.list) for (const c of commits) console.log(`${(c.from - start).toFixed(1)} ms  ${(c.to - c.from).toFixed(1)} ms  ${c.pages} pages`);
