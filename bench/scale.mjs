// The scale model (issue 14, item 6): counts what each request type costs the platform, then projects ceilings
// from Cloudflare's published limits.
//
//   npm run bench -- scale [--requests 100] [--load 1000] [--mix write=0.3,search=0.5,get=0.1,context=0.1]
//                          [--settle-ms 1500] [--out FILE]
//
// Starts its own `wrangler dev --local` with SCALE_PROBE=1 (src/scale-probe.ts wraps the Worker's and the Cube
// objects' bindings in counting proxies), runs `--requests` requests of each type one at a time against one cube,
// waits `--settle-ms` for background work (audit writes after the response, the outbox alarm, the webhook queue),
// and reads the counters: D1 statements (reads, writes, batches) and rows written, Durable Object RPC calls and
// their wall time, R2, Queue and Vectorize operations, and the growth of the bytes SQLite holds in use in D1 and in
// each Durable Object class (WAL replayed, free pages left out: ./scale-storage.mjs) and of R2's blobs. Then it projects, for the request mix and load given, D1 utilisation, the D1-bound ceiling of requests/s
// (global and per tenant: one D1 serves every tenant), the queues' ceilings from the messages each request sends
// (./scale-queues.mjs), the global ceiling as the least of them, single-memory writes/s per cube and storage growth per day.
// Every limit used is in LIMITS below with its source; docs/scale.md explains the model. Re-run it after any change
// to the request path: it is the one command that produces the numbers.
import { SERVER_OPTIONS, UsageError, parseArgs } from "./lib/args.mjs";
import { emitResult, runInfo } from "./lib/report.mjs";
import { ApiClient } from "./lib/api.mjs";
import { log, withServer } from "./lib/server.mjs";
import { round, summarize } from "./lib/stats.mjs";
import { storedBytesInUse } from "./scale-storage.mjs";
import { queueProjection, readBookkeepingShards, readOtherQueueShards } from "./scale-queues.mjs";

export const USAGE = `npm run bench -- scale [--requests 100] [--load 1000] [--mix write=0.3,search=0.5,get=0.1,context=0.1]
    [--settle-ms 1500] [--out FILE] [--verbose] [--keep-state] [--wrangler-traces]`;

const SPEC = { ...SERVER_OPTIONS, requests: "number", load: "number", mix: "string", "settle-ms": "number", out: "string" };

/** Cloudflare's published limits the projection divides by (docs/scale.md cites each page). */
/** Entries a day's audit shard takes before its day goes hourly (DEFAULT_SPLIT_ENTRIES, durable-objects/audit/periods.ts). */
const AUDIT_SPLIT_ENTRIES = 3_600_000;
/** Cube hashes the directory keeps per shard (MAX_CUBES_PER_SHARD, durable-objects/audit/directory.ts); ~100 bytes each in use. */
const AUDIT_DIRECTORY_CUBES_PER_SHARD = 10_000;
const AUDIT_DIRECTORY_BYTES_PER_CUBE = 100;
/** Cube hashes the directory keeps in all (MAX_DIRECTORY_CUBE_ROWS): past it the oldest shards name "any cube". */
const AUDIT_DIRECTORY_CUBE_ROWS = 1_000_000;
/** The directory's cube rows for `days` of hourly shards, each naming its cap, under the directory-wide cap. */
const auditDirectoryBytes = (days) => Math.min(days * 24 * AUDIT_DIRECTORY_CUBES_PER_SHARD, AUDIT_DIRECTORY_CUBE_ROWS) * AUDIT_DIRECTORY_BYTES_PER_CUBE;

/**
 * The audit rows of the projection for one tenant carrying `load` requests/s at `bytesPerEntry` in use per entry:
 * the largest shard (the day's until it splits, holding its split threshold plus the hour it split in; then each
 * hour's), the tenant rate at which an hour's shard reaches an object's 10 GB, and the directory's bound.
 */
function auditShardProjection(bytesPerEntry, load) {
  if (!(bytesPerEntry > 0)) return { days_until_one_tenant_audit_object_full: "no growth measured" };
  const perDay = load * 86_400;
  const splits = perDay > AUDIT_SPLIT_ENTRIES;
  const dayShardEntries = splits ? AUDIT_SPLIT_ENTRIES + load * 3_600 : perDay;
  const hourShardBytes = splits ? load * 3_600 * bytesPerEntry : 0;
  const largest = Math.max(dayShardEntries * bytesPerEntry, hourShardBytes);
  const ceiling = LIMITS.doBytes / (3_600 * bytesPerEntry);
  return {
    audit_bytes_per_entry: Math.round(bytesPerEntry),
    audit_day_shard_splits_at_load: splits,
    audit_largest_shard_bytes_at_load: Math.round(largest),
    // Never while the largest shard stays under 10 GB: shards roll over (a day, or an hour) and retention drops whole ones.
    days_until_one_tenant_audit_object_full: largest <= LIMITS.doBytes ? "never (shards roll over)" : round(LIMITS.doBytes / hourShardBytes / 24, 3),
    audit_ceiling_requests_per_second_per_tenant_hour_shard_full: Math.floor(ceiling),
    audit_directory_bytes_bound_90_days_hourly: auditDirectoryBytes(90),
    audit_directory_bytes_bound_365_days_hourly: auditDirectoryBytes(365),
  };
}

/**
 * The D1 reads a tenant still pays per interval whatever its rate, from the code (not sampled): the key's rate limiter
 * re-reads the row it holds for the isolates' key caches every KEY_ROW_HELD_MS (durable-objects/rate-limiter/key-row.ts,
 * 5 min) — per key, however many isolates serve it (before: per isolate, every 60 s). Webhook subscribers, grants and
 * cube lookups no longer appear: the tenant directory object answers their refreshes (durable-objects/tenant.ts) and
 * reads D1 only for what it does not hold. A short run samples these reads only when a refresh falls inside a phase,
 * so the projection charges the larger of the sampled rate and this floor, for a tenant with one key in use.
 */
const REMAINING_REFRESH_READS_PER_SECOND_PER_TENANT = 1 / 300;

export const LIMITS = {
  /** D1 runs one query at a time; at ~1 ms a query that is ~1,000 queries/s (D1 limits page, FAQ "How much work can a D1 database do?"). */
  d1QueriesPerSecond: 1000,
  /** The share of D1 the projection may use (issue 14 target: ≤ 20%). */
  d1Budget: 0.2,
  /** D1 maximum database size, Workers Paid (D1 limits page). */
  d1Bytes: 10e9,
  /** A single Durable Object is single-threaded; Cloudflare's soft guidance is ~1,000 requests/s per object (DO FAQ/limits). */
  doRequestsPerSecond: 1000,
  /** Storage per Durable Object (SQLite-backed; DO limits page). */
  doBytes: 10e9,
  /** Per-queue message throughput (Queues limits page). */
  queueMessagesPerSecond: 5000,
  /** Messages per bookkeeping consumer batch at full load (wrangler.toml `max_batch_size`, the Queues maximum). */
  queueBatchMessages: 100,
};

const TYPES = ["write", "search", "get", "context"];
/**
 * Measured but outside the default mix: `shared_get`, a key confined to `user:bob` reading alice's memory through a
 * read grant (a second tenant), so the grants path's cost shows (its refreshes go to the tenant directory object).
 */
const PHASES = [...TYPES, "shared_get"];

/** @param {string} text */
function parseMix(text) {
  /** @type {Record<string, number>} */
  const mix = {};
  for (const part of text.split(",")) {
    const [name, share] = part.split("=");
    if (!TYPES.includes(String(name)) || !(Number(share) >= 0)) throw new UsageError(`--mix: "${part}" is not <type>=<share> with type in ${TYPES.join(", ")}`);
    mix[String(name)] = Number(share);
  }
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new UsageError("--mix shares must add up to more than 0");
  for (const name of Object.keys(mix)) mix[name] = /** @type {number} */ (mix[name]) / total;
  return mix;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {string} url @param {string} method */
async function probe(url, method) {
  const res = await fetch(`${url}/__scale`, { method });
  if (!res.ok) throw new Error(`/__scale answered ${res.status}: is SCALE_PROBE=1 set?`);
  return /** @type {{ ops: Record<string, number>, d1RowsWritten: number, r2BytesPut: number, rpcMs: Record<string, number[]>, d1Sql: Record<string, number> }} */ (await res.json());
}

/** Per-request costs from a phase's totals. */
function perRequest(totals, n, bytes) {
  const ops = totals.ops;
  const sum = (prefix) => Object.entries(ops).filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
  const d1Statements = (ops["d1.read"] ?? 0) + (ops["d1.write"] ?? 0) + (ops["d1.batch_statements"] ?? 0);
  const batches = ops["d1.batch"] ?? 0;
  // The bench sends one request at a time, so each bookkeeping batch holds only the requests of ~1 s; under load a
  // batch holds queueBatchMessages. Same statements per batch (one per kind, whatever its rows), spread over more.
  const batchStatementsAtFullBatches = batches > 0 ? (ops["d1.batch_statements"] ?? 0) / batches / LIMITS.queueBatchMessages : 0;
  return {
    d1_queries: round(d1Statements / n, 3),
    // Statements a request pays for at full batches: its share of a batch's, plus any write it makes alone. Reads made
    // alone are not here: every one the code makes today is a cache's refresh (keys, webhook subscribers), paid once
    // per interval per tenant or key whatever the pace — `d1_interval_reads` below, projected per active tenant.
    d1_queries_full_batches: round((ops["d1.write"] ?? 0) / n + (batches > 0 ? batchStatementsAtFullBatches : 0), 4),
    d1_interval_reads: ops["d1.read"] ?? 0,
    d1_read_statements: round((ops["d1.read"] ?? 0) / n, 3),
    d1_write_statements: round((ops["d1.write"] ?? 0) / n, 3),
    d1_batches: round((ops["d1.batch"] ?? 0) / n, 3),
    d1_rows_written: round(totals.d1RowsWritten / n, 3),
    cube_rpc_calls: round(sum("cube.") / n, 3),
    cube_rpc_by_method: Object.fromEntries(Object.entries(ops).filter(([k]) => k.startsWith("cube.")).map(([k, v]) => [k.slice(5), round(v / n, 3)])),
    rate_limiter_calls: round(sum("rate_limiter.") / n, 3),
    audit_object_calls: round(sum("audit.") / n, 3),
    // The tenant's directory object (durable-objects/tenant.ts): what the isolates' subscriber and grant caches ask
    // instead of D1, per tenant and interval; its own D1 reads (a load after a change) are in the d1 counts above.
    tenant_object_calls: round(sum("tenant.") / n, 3),
    tenant_object_interval_calls: sum("tenant."),
    r2_ops: round(sum("r2.") / n, 3),
    r2_bytes_put: round(totals.r2BytesPut / n, 1),
    queue_calls: round(sum("queue.") / n, 3),
    // Messages, not calls: a queue's limit is 5,000 messages/s (a sendBatch carries up to 100). By producer binding;
    // the bookkeeping shards (BOOKKEEPING, BOOKKEEPING_1, …) summed as `bookkeeping_messages`.
    queue_messages_by_binding: Object.fromEntries(Object.entries(ops).filter(([k]) => k.startsWith("queue_messages.")).map(([k, v]) => [k.slice(15), round(v / n, 4)])),
    bookkeeping_messages: round(sum("queue_messages.BOOKKEEPING") / n, 4),
    vectorize_ops: round(sum("vectorize.") / n, 3),
    bytes_stored: {
      d1: round(bytes.d1 / n, 1),
      do: round(bytes.do / n, 1),
      r2: round(bytes.r2 / n, 1),
      do_by_class: Object.fromEntries(Object.entries(bytes.do_by_class).map(([k, v]) => [k, round(v / n, 1)])),
    },
    // Which statements D1 saw in the phase (whole counts, not per request): a cache's refresh shows once per
    // interval whatever the pace, a request's statement once per request or batch.
    d1_statements_by_sql: totals.d1Sql ?? {},
    rpc_ms: Object.fromEntries(Object.entries(totals.rpcMs).map(([method, values]) => [method, summarize(values, [50, 95])])),
  };
}

/** @param {string[]} argv */
export async function main(argv) {
  const opts = parseArgs(argv, SPEC);
  const n = Number(opts.requests ?? 100);
  const load = Number(opts.load ?? 1000);
  const settle = Number(opts["settle-ms"] ?? 1500);
  const mix = parseMix(String(opts.mix ?? "write=0.3,search=0.5,get=0.1,context=0.1"));
  if (opts.url) throw new UsageError("scale starts its own server (it needs SCALE_PROBE=1 and its state dir); --url is not supported");

  const result = await withServer({ ...opts, "scale-probe": true }, async (server) => {
    const { client, url } = server;
    const stateDir = /** @type {any} */ (server).stateDir;
    const user = `scale-${Date.now()}`;
    // Warm-up: the cube exists, caches are warm, one memory to read back.
    const seeded = await client.call("POST", "/v1/memories", { user_id: user, memories: [{ content: "Alice keeps her bike in the blue shed." }] });
    const memoryId = seeded.body.data?.[0]?.id ?? seeded.body.memories?.[0]?.id ?? seeded.body[0]?.id;
    for (let i = 0; i < 5; i += 1) await client.call("POST", "/v1/search", { user_id: user, query: "bike", top_k: 10 });
    await sleep(settle);

    /** @type {Record<string, () => Promise<unknown>>} */
    const requests = {
      write: () => client.call("POST", "/v1/memories", { user_id: user, memories: [{ content: `Note ${Math.random().toString(36).slice(2)}: Alice met Bob at the market and talked about bikes.` }] }),
      search: () => client.call("POST", "/v1/search", { user_id: user, query: "where does Alice keep her bike", top_k: 10 }),
      get: () => client.call("GET", `/v1/memories/${memoryId}`),
      context: () => client.call("POST", "/v1/context", { user_id: user, query: "Alice's bike", budget_tokens: 500 }),
      shared_get: () => /** @type {ApiClient} */ (bob).call("GET", `/v1/memories/${sharedMemory.id}`),
    };
    // The grants path: a second tenant where bob's key reads alice's memory through a read grant. Set up and warmed
    // right before its phase, as the first tenant is before its own: an object idle through the other phases would be
    // evicted locally (~10 s) and its first read after that is a restart's, not a refresh's.
    /** @type {{ id: string, cube_id: string }} */
    let sharedMemory = { id: "", cube_id: "" };
    /** @type {ApiClient | null} */
    let bob = null;
    const prepareShared = async () => {
      const root = new ApiClient(url, /** @type {any} */ (server).rootKey);
      const sharing = /** @type {{ id: string }} */ ((await root.call("POST", "/v1/admin/tenants", { name: "bench-sharing" })).body);
      const adminKey = (await root.call("POST", `/v1/admin/tenants/${encodeURIComponent(sharing.id)}/keys`, { scopes: ["read", "write", "admin"] })).body.key;
      const owner = new ApiClient(url, adminKey);
      const shared = await owner.call("POST", "/v1/memories", { user_id: "alice", memories: [{ content: "Alice shares her bike route with Bob." }] });
      sharedMemory = shared.body.data?.[0] ?? shared.body.memories?.[0] ?? shared.body[0];
      const granted = await owner.call("POST", `/v1/cubes/${sharedMemory.cube_id}/grants`, { principal: "user:bob", permission: "read" });
      if (granted.status !== 201) throw new Error(`grant failed: ${granted.status} ${JSON.stringify(granted.body)}`);
      bob = new ApiClient(url, (await owner.call("POST", "/v1/keys", { scopes: ["read"], allowed_owners: ["user:bob"] })).body.key);
      for (let i = 0; i < 5; i += 1) if ((await bob.call("GET", `/v1/memories/${sharedMemory.id}`)).status !== 200) throw new Error("bob cannot read the shared memory");
      await sleep(settle);
    };

    /** @type {Record<string, ReturnType<typeof perRequest>>} */
    const costs = {};
    for (const type of PHASES) {
      if (type === "shared_get") await prepareShared();
      await probe(url, "DELETE");
      const before = await storedBytesInUse(stateDir);
      const started = performance.now();
      for (let i = 0; i < n; i += 1) await /** @type {any} */ (requests)[type](i);
      const seconds = (performance.now() - started) / 1000;
      await sleep(settle);
      const totals = await probe(url, "GET");
      const after = await storedBytesInUse(stateDir);
      const doByClass = Object.fromEntries(Object.keys(after.do_by_class).map((k) => [k, (after.do_by_class[k] ?? 0) - (before.do_by_class[k] ?? 0)]));
      const growth = { d1: after.d1 - before.d1, do: after.do - before.do, r2: after.r2 - before.r2, do_by_class: doByClass };
      costs[type] = { ...perRequest(totals, n, growth), client_requests_per_second: round(n / seconds, 1), phase_seconds: round(seconds + settle / 1000, 2) };
      log(`${type}: ${JSON.stringify(costs[type])}`);
    }
    return { costs, run: runInfo(server) };
  });

  const { costs } = result;
  const mixed = (field) => TYPES.reduce((a, t) => a + (mix[t] ?? 0) * /** @type {any} */ (costs[t])[field], 0);
  const d1PerRequest = mixed("d1_queries");
  const d1FullBatches = mixed("d1_queries_full_batches");
  // The one tenant's cache refreshes per second of the run (all phases): what each tenant that keeps sending
  // requests costs D1 besides its requests' statements, independent of its request rate.
  const runSeconds = TYPES.reduce((a, t) => a + costs[t].phase_seconds, 0);
  // Conservatively, every active tenant is charged both tenants' rates: the mix's (first tenant) and the grants
  // path's (the second tenant's shared_get phase), as if each tenant also read through grants all the time.
  const sharedPhase = costs.shared_get;
  const intervalReadsPerTenant =
    TYPES.reduce((a, t) => a + costs[t].d1_interval_reads, 0) / runSeconds + sharedPhase.d1_interval_reads / sharedPhase.phase_seconds;
  const tenantObjectCallsPerTenant =
    TYPES.reduce((a, t) => a + costs[t].tenant_object_interval_calls, 0) / runSeconds + sharedPhase.tenant_object_interval_calls / sharedPhase.phase_seconds;
  const d1Budget = LIMITS.d1QueriesPerSecond * LIMITS.d1Budget;
  const chargedReadsPerTenant = Math.max(intervalReadsPerTenant, REMAINING_REFRESH_READS_PER_SECOND_PER_TENANT);
  /** Requests/s at full batches with D1 at its budget, when `tenants` tenants are active (their refreshes come first). */
  const ceilingWithTenants = (tenants) => {
    const left = d1Budget - tenants * chargedReadsPerTenant;
    if (left <= 0) return 0;
    return d1FullBatches > 0 ? Math.floor(left / d1FullBatches) : "unbounded by D1";
  };
  const d1Ceiling = d1PerRequest > 0 ? (LIMITS.d1QueriesPerSecond * LIMITS.d1Budget) / d1PerRequest : Infinity;
  const queuePerRequest = mixed("queue_calls");
  const queues = queueProjection({
    costs,
    mix,
    types: TYPES,
    limits: LIMITS,
    bookkeepingShards: readBookkeepingShards(),
    otherShards: readOtherQueueShards(),
    d1CeilingsByActiveTenants: Object.fromEntries([0, 10, 100, 1000].map((tenants) => [tenants, ceilingWithTenants(tenants)])),
  });
  const writeMs = costs.write.rpc_ms["cube.remember"]?.p50 ?? null;
  const bytesPerRequest = TYPES.reduce(
    (a, t) => ({
      d1: a.d1 + (mix[t] ?? 0) * costs[t].bytes_stored.d1,
      do: a.do + (mix[t] ?? 0) * costs[t].bytes_stored.do,
      r2: a.r2 + (mix[t] ?? 0) * costs[t].bytes_stored.r2,
    }),
    { d1: 0, do: 0, r2: 0 },
  );
  /** @type {Record<string, number>} */
  const doBytesPerRequestByClass = {};
  for (const t of TYPES) {
    for (const [kind, bytes] of Object.entries(costs[t].bytes_stored.do_by_class)) {
      doBytesPerRequestByClass[kind] = (doBytesPerRequestByClass[kind] ?? 0) + (mix[t] ?? 0) * bytes;
    }
  }
  const perDay = (bytes) => bytes * load * 86_400;
  const auditClass = Object.keys(doBytesPerRequestByClass).find((k) => /Audit/.test(k));
  const auditPerDay = auditClass ? perDay(/** @type {number} */ (doBytesPerRequestByClass[auditClass])) : 0;
  const projection = {
    mix,
    load_requests_per_second: load,
    d1_queries_per_request: round(d1PerRequest, 3),
    d1_utilisation_at_load: round((d1PerRequest * load) / LIMITS.d1QueriesPerSecond, 3),
    requests_per_second_ceiling_d1_at_budget: d1Ceiling === Infinity ? "unbounded by D1 (no D1 query per request)" : Math.floor(d1Ceiling),
    requests_per_second_ceiling_per_tenant: d1Ceiling === Infinity ? "unbounded by D1; per key ≤ the rate limiter object's ~1,000 req/s" : Math.floor(Math.min(d1Ceiling, LIMITS.doRequestsPerSecond)),
    target_50k_requests_per_second_d1_utilisation: round((d1PerRequest * 50_000) / LIMITS.d1QueriesPerSecond, 3),
    d1_queries_per_request_full_batches: round(d1FullBatches, 4),
    requests_per_second_ceiling_d1_at_budget_full_batches: ceilingWithTenants(0),
    d1_interval_reads_per_second_per_active_tenant: round(intervalReadsPerTenant, 4),
    d1_refresh_reads_per_second_per_active_tenant_from_the_code: round(REMAINING_REFRESH_READS_PER_SECOND_PER_TENANT, 4),
    d1_reads_per_second_charged_per_active_tenant: round(chargedReadsPerTenant, 4),
    // Which statements the interval reads were (all phases), so the model shows what a tenant still costs D1.
    d1_interval_reads_by_sql: PHASES.reduce((a, t) => {
      for (const [query, count] of Object.entries(costs[t].d1_statements_by_sql)) if (/^select/i.test(query)) a[query] = (a[query] ?? 0) + count;
      return a;
    }, /** @type {Record<string, number>} */ ({})),
    tenant_object_calls_per_second_per_active_tenant: round(tenantObjectCallsPerTenant, 4),
    requests_per_second_ceiling_d1_at_budget_full_batches_by_active_tenants: Object.fromEntries(
      [10, 100, 1000].map((tenants) => [tenants, ceilingWithTenants(tenants)]),
    ),
    // One append per tenant per consumer batch: a tenant's audit object sees ≤ 1 call per queueBatchMessages requests.
    audit_object_ceiling_requests_per_second_per_tenant: LIMITS.doRequestsPerSecond * LIMITS.queueBatchMessages,
    single_memory_writes_per_second_per_cube: writeMs ? Math.floor(Math.min(LIMITS.doRequestsPerSecond, 1000 / Math.max(writeMs, 0.001))) : null,
    single_memory_write_rpc_p50_ms: writeMs,
    queue_calls_per_second_at_load: round(queuePerRequest * load, 1),
    // The queues' ceilings (./scale-queues.mjs): each queue takes LIMITS.queueMessagesPerSecond, whoever sends.
    ...queues,
    // Bytes SQLite holds in use (WAL replayed, free pages left out) and R2 blob bytes, per day at --load.
    storage_growth_per_day_bytes: {
      d1: Math.round(perDay(bytesPerRequest.d1)),
      do: Math.round(perDay(bytesPerRequest.do)),
      r2: Math.round(perDay(bytesPerRequest.r2)),
      do_by_class: Object.fromEntries(Object.entries(doBytesPerRequestByClass).map(([k, v]) => [k, Math.round(perDay(v))])),
    },
    days_until_d1_full: bytesPerRequest.d1 > 0 ? round(LIMITS.d1Bytes / perDay(bytesPerRequest.d1), 1) : "no growth measured",
    // If one tenant carried the whole load: its audit is time-sharded (durable-objects/audit/periods.ts) — a day's
    // shard until it holds AUDIT_SPLIT_ENTRIES entries, then one shard per hour — so no object fills while the
    // tenant stays under the rate at which one hour's entries reach an object's 10 GB.
    ...auditShardProjection(auditPerDay / 86_400 / load, load),
    limits: LIMITS,
  };
  emitResult({ benchmark: "scale", requests_per_type: n, ...result, projection }, opts.out ? String(opts.out) : undefined, log);
}
