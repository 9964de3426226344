/**
 * The scale model's instrumentation (issue 14, item 6; `npm run bench -- scale`): when the var SCALE_PROBE is "1",
 * the Worker's and the Cube objects' bindings are wrapped in counting proxies — D1 statements (and the rows they
 * wrote), Durable Object RPC calls and their wall time, R2, Queue and Vectorize operations — and `GET /__scale`
 * answers the totals (`DELETE /__scale` resets them). Without the var nothing is wrapped: the normal path pays one
 * property read per request. Locally the Worker and its Durable Objects share one isolate, so one module-level
 * tally sees both; in production the var is never set.
 */

/** Totals since the last reset. Keys are `<binding>.<operation>`. */
interface Tally {
  ops: Record<string, number>;
  /** D1 rows written (from each result's meta), R2 bytes put. */
  d1RowsWritten: number;
  r2BytesPut: number;
  /** Wall time of Durable Object RPC calls by `<object>.<method>`, ms (locally: the object's own work plus a same-process hop). */
  rpcMs: Record<string, number[]>;
  /**
   * D1 statements by the start of their SQL (whitespace collapsed, {@link SQL_KEY_CHARS} characters), so the model can
   * tell a statement a request pays for from one a cache pays once per interval.
   */
  d1Sql: Record<string, number>;
  /**
   * Cube group commits (durable-objects/cube/group-commit.ts): commits, the writes they carried, each group's pass
   * (its writes and its commit) and of it the commit alone, wall ms.
   */
  groupCommits: { groups: number; writes: number; passMs: number[]; commitMs: number[] };
}

const fresh = (): Tally => ({ ops: {}, d1RowsWritten: 0, r2BytesPut: 0, rpcMs: {}, d1Sql: {}, groupCommits: { groups: 0, writes: 0, passMs: [], commitMs: [] } });

const SQL_KEY_CHARS = 80;
const sqlKey = (query: string) => query.replace(/\s+/g, " ").trim().slice(0, SQL_KEY_CHARS);
const countSql = (query: string) => {
  const key = sqlKey(query);
  tally.d1Sql[key] = (tally.d1Sql[key] ?? 0) + 1;
};
let tally = fresh();

const count = (key: string, by = 1) => {
  tally.ops[key] = (tally.ops[key] ?? 0) + by;
};

/** Tallies one group commit of a cube: how many writes shared it, how long its pass took and of it the commit. */
export function noteGroupCommit(size: number, passMs: number, commitMs: number): void {
  tally.groupCommits.groups += 1;
  tally.groupCommits.writes += size;
  tally.groupCommits.passMs.push(passMs);
  tally.groupCommits.commitMs.push(commitMs);
}

export function isProbeOn(env: unknown): boolean {
  return (env as { SCALE_PROBE?: string }).SCALE_PROBE === "1";
}

/** Answers `/__scale` when the probe is on; null for every other request. */
export function probeResponse(request: Request, env: unknown): Response | null {
  if (!isProbeOn(env) || new URL(request.url).pathname !== "/__scale") return null;
  if (request.method === "DELETE") tally = fresh();
  return Response.json(tally);
}

const WRITE_SQL = /^\s*(insert|update|delete|replace|create|drop|alter)\b/i;

function probeD1(db: D1Database): D1Database {
  const real = new WeakMap<object, D1PreparedStatement>();
  const queries = new WeakMap<object, string>();
  const wrapStatement = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
    const kind = WRITE_SQL.test(query) ? "write" : "read";
    const settle = async <T>(result: Promise<T>): Promise<T> => {
      const value = await result;
      const meta = (value as { meta?: { rows_written?: number } } | null)?.meta;
      if (meta?.rows_written) tally.d1RowsWritten += meta.rows_written;
      return value;
    };
    const wrapped = new Proxy(statement, {
      get(target, prop) {
        if (prop === "bind") return (...values: unknown[]) => wrapStatement(target.bind(...values), query);
        if (prop === "run" || prop === "all" || prop === "first" || prop === "raw") {
          return (...args: unknown[]) => {
            count(`d1.${kind}`);
            countSql(query);
            return settle(Reflect.apply(target[prop] as (...a: unknown[]) => Promise<unknown>, target, args) as Promise<unknown>);
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === "function" ? (...args: unknown[]) => Reflect.apply(value as (...a: unknown[]) => unknown, target, args) : value;
      },
    });
    real.set(wrapped, statement);
    queries.set(wrapped, query);
    return wrapped;
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (query: string) => wrapStatement(target.prepare(query), query);
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          count("d1.batch");
          const results = await target.batch(statements.map((s) => real.get(s) ?? s));
          for (const result of results) tally.d1RowsWritten += result.meta?.rows_written ?? 0;
          count("d1.batch_statements", statements.length);
          for (const statement of statements) countSql(queries.get(statement) ?? "(unwrapped)");
          return results;
        };
      }
      const value = Reflect.get(target, prop) as unknown;
        return typeof value === "function" ? (...args: unknown[]) => Reflect.apply(value as (...a: unknown[]) => unknown, target, args) : value;
    },
  });
}

/** Counts every method call on `target` as `<name>.<method>`; `onCall` may add more. */
function probeCalls<T extends object>(target: T, name: string, onCall?: (method: string, args: unknown[]) => void): T {
  return new Proxy(target, {
    get(object, prop) {
      const value = Reflect.get(object, prop) as unknown;
      if (typeof value !== "function" || typeof prop !== "string") return value;
      return (...args: unknown[]) => {
        count(`${name}.${prop}`);
        onCall?.(prop, args);
        // Reflect.apply, not value.apply: on an RPC stub, `.apply` would be a remote property.
        return Reflect.apply(value as (...a: unknown[]) => unknown, object, args);
      };
    },
  });
}

function probeObjects(namespace: DurableObjectNamespace, name: string): DurableObjectNamespace {
  const wrapStub = (stub: DurableObjectStub) =>
    new Proxy(stub, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (typeof value !== "function" || typeof prop !== "string" || prop === "fetch") return value;
        return async (...args: unknown[]) => {
          count(`${name}.${prop}`);
          const started = Date.now();
          try {
            return await (Reflect.apply(value as (...a: unknown[]) => Promise<unknown>, target, args) as Promise<unknown>);
          } finally {
            (tally.rpcMs[`${name}.${prop}`] ??= []).push(Date.now() - started);
          }
        };
      },
    });
  return new Proxy(namespace, {
    get(target, prop) {
      if (prop === "getByName") return (name: string) => wrapStub(target.getByName(name));
      if (prop === "get") return (id: DurableObjectId) => wrapStub(target.get(id));
      const value = Reflect.get(target, prop) as unknown;
        return typeof value === "function" ? (...args: unknown[]) => Reflect.apply(value as (...a: unknown[]) => unknown, target, args) : value;
    },
  });
}

const bytesOf = (value: unknown): number => {
  if (typeof value === "string") return new TextEncoder().encode(value).byteLength;
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (ArrayBuffer.isView(value)) return value.byteLength;
  return 0;
};

/** Each queue producer's counting proxy, made once: see withScaleProbe. */
const queueProxies = new WeakMap<object, object>();

/**
 * The bindings with counting proxies when SCALE_PROBE is "1" (`where` = "worker" or "cube": the Worker wraps the
 * cube namespace, the object does not call itself), else `env` itself.
 */
export function withScaleProbe<E extends object>(env: E, where: "worker" | "cube"): E {
  if (!isProbeOn(env)) return env;
  const bindings = env as Record<string, unknown>;
  const wrapped: Record<string, unknown> = { ...bindings };
  if (bindings.DB) wrapped.DB = probeD1(bindings.DB as D1Database);
  if (bindings.CUBE && where === "worker") wrapped.CUBE = probeObjects(bindings.CUBE as DurableObjectNamespace, "cube");
  if (bindings.RATE_LIMITER && where === "worker") wrapped.RATE_LIMITER = probeObjects(bindings.RATE_LIMITER as DurableObjectNamespace, "rate_limiter");
  if (bindings.AUDIT && where === "worker") wrapped.AUDIT = probeObjects(bindings.AUDIT as DurableObjectNamespace, "audit");
  if (bindings.TENANT && where === "worker") wrapped.TENANT = probeObjects(bindings.TENANT as DurableObjectNamespace, "tenant");
  if (bindings.ARCHIVE) {
    wrapped.ARCHIVE = probeCalls(bindings.ARCHIVE as object, "r2", (method, args) => {
      if (method === "put") tally.r2BytesPut += bytesOf(args[1]);
    });
  }
  // Queues by shape (a producer has send and sendBatch), so a queue added later is counted too; bindings that
  // answer any property (RPC stubs) are skipped by name.
  const notQueues = new Set(["DB", "CUBE", "RATE_LIMITER", "AUDIT", "TENANT", "ARCHIVE", "AI", "VECTORIZE", "ASSETS"]);
  for (const name of Object.keys(bindings).filter((n) => /^[A-Z][A-Z0-9_]*$/.test(n) && !notQueues.has(n))) {
    const value = bindings[name] as { send?: unknown; sendBatch?: unknown } | null;
    if (value && typeof value === "object" && typeof value.send === "function" && typeof value.sendBatch === "function") {
      // One proxy per producer for the isolate's life, so anything keyed by the binding object sees the same object on
      // every request, as it does unprobed.
      let proxy = queueProxies.get(value);
      // Messages as well as calls: a queue's limit is in messages/s (`sendBatch` carries up to 100). Every producer
      // here hands sendBatch an array (adapters/queue-producer.ts); an iterable is not walked, it would be consumed.
      const messages = (method: string, args: unknown[]) =>
        count(`queue_messages.${name}`, method === "send" ? 1 : method === "sendBatch" && Array.isArray(args[0]) ? args[0].length : 0);
      if (!proxy) queueProxies.set(value, (proxy = probeCalls(value, `queue.${name}`, messages)));
      wrapped[name] = proxy;
    }
  }
  if (bindings.VECTORIZE) wrapped.VECTORIZE = probeCalls(bindings.VECTORIZE as object, "vectorize");
  return wrapped as E;
}
