/**
 * The per-key rate limiter: one object per API key (named by the key id), so every isolate that serves the key
 * counts against the same numbers. It counts requests and written bytes over a sliding minute made of sixty
 * one-second buckets, and keeps the buckets in its storage: an idle object is evicted after ~10 s, and counts kept
 * only in memory would then reset long before their minute was over.
 *
 * It is also where a key's revocation takes effect without D1 (docs/hot-path.md): every request of a key reaches its
 * limiter (waited for, or, within the headroom of services/rate-limit.ts, counted with the isolate's next waited-for
 * request of the key), so revoking tells the limiter first and from then on it answers `revoked` to every isolate.
 * For the same reason it holds the key's row, which the isolates' key caches refresh from instead of D1
 * (./rate-limiter/key-row.ts).
 */
import { DurableObject } from "cloudflare:workers";
import { type HeldKeyRow, KeyRowHold, d1KeyRow } from "./rate-limiter/key-row";
import { withScaleProbe } from "../src/scale-probe";

export type { HeldKeyRow };

/** The window is this many one-second buckets. */
export const WINDOW_SECONDS = 60;
const WINDOW_STORAGE_KEY = "window";
const REVOKED_STORAGE_KEY = "revoked";

/** Allowances per minute; 0 means no limit on that measure. */
export interface RateLimits {
  requests: number;
  writeBytes: number;
}

export type RateMeasure = "requests" | "write_bytes";

export type RateDecision =
  /** Admitted; what is left of each limit in the window after it (null = that measure is not limited). */
  | { allowed: true; remainingRequests: number | null; remainingBytes: number | null }
  /** Over the limit: `retryAfterSeconds` from now on, enough of the window has passed for this request to fit. */
  | { allowed: false; exceeded: RateMeasure; limit: number; retryAfterSeconds: number }
  /** One request that writes more than a whole minute's allowance: it can never fit. */
  | { allowed: false; exceeded: "write_bytes"; limit: number; retryAfterSeconds: null };

/** What the limiter answers a request: a rate decision, or that the key is revoked. */
export type AdmitDecision = RateDecision | { allowed: false; revoked: true };

/** One second of traffic: [unix second, requests, written bytes]. */
export type RateBucket = [second: number, requests: number, bytes: number];

/**
 * The sliding window itself, pure so it can be tested with any clock. A request at second `t` sees the buckets of
 * seconds `t-59 … t`; it is admitted only when both measures stay within their limits with it added, and only
 * admitted requests are counted (a refused one costs nothing).
 */
export class RateWindow {
  private buckets: RateBucket[];

  constructor(buckets: readonly RateBucket[] = []) {
    this.buckets = buckets.map(([second, requests, bytes]) => [second, requests, bytes]);
  }

  /** The buckets, oldest first (what the object stores). */
  get snapshot(): RateBucket[] {
    return this.buckets.map(([second, requests, bytes]) => [second, requests, bytes]);
  }

  admit(nowMs: number, writeBytes: number, limits: RateLimits): RateDecision {
    const now = Math.floor(nowMs / 1000);
    this.buckets = this.buckets.filter(([second]) => second > now - WINDOW_SECONDS);
    if (limits.writeBytes > 0 && writeBytes > limits.writeBytes) {
      return { allowed: false, exceeded: "write_bytes", limit: limits.writeBytes, retryAfterSeconds: null };
    }
    const exceeded = this.exceeded(now - WINDOW_SECONDS, writeBytes, limits);
    if (exceeded === null) {
      this.count(now, writeBytes);
      const used = this.buckets.reduce((sum, [, r, b]) => ({ requests: sum.requests + r, bytes: sum.bytes + b }), { requests: 0, bytes: 0 });
      return {
        allowed: true,
        remainingRequests: limits.requests > 0 ? limits.requests - used.requests : null,
        remainingBytes: limits.writeBytes > 0 ? limits.writeBytes - used.bytes : null,
      };
    }
    // Waiting k seconds drops the buckets of seconds ≤ now - 60 + k; k = 60 drops them all, and the request fits
    // an empty window (checked above), so the loop always answers.
    let wait = 1;
    while (wait < WINDOW_SECONDS && this.exceeded(now - WINDOW_SECONDS + wait, writeBytes, limits) !== null) wait++;
    const limit = exceeded === "requests" ? limits.requests : limits.writeBytes;
    return { allowed: false, exceeded, limit, retryAfterSeconds: wait };
  }

  /** Which limit the request would break counting only buckets after second `after`, or null when it fits. */
  private exceeded(after: number, writeBytes: number, limits: RateLimits): RateMeasure | null {
    let requests = 1;
    let bytes = writeBytes;
    for (const [second, r, b] of this.buckets) {
      if (second <= after) continue;
      requests += r;
      bytes += b;
    }
    if (limits.requests > 0 && requests > limits.requests) return "requests";
    if (limits.writeBytes > 0 && bytes > limits.writeBytes) return "write_bytes";
    return null;
  }

  /**
   * Counts requests that were already served (admitted from an isolate's headroom, services/rate-limit.ts), whatever
   * the window holds: they happened. Later requests are decided against them.
   */
  record(nowMs: number, requests: number, writeBytes: number): void {
    const now = Math.floor(nowMs / 1000);
    this.buckets = this.buckets.filter(([second]) => second > now - WINDOW_SECONDS);
    if (requests > 0 || writeBytes > 0) this.count(now, writeBytes, requests);
  }

  private count(now: number, writeBytes: number, requests = 1): void {
    const bucket = this.buckets.find(([second]) => second === now);
    if (bucket) {
      bucket[1] += requests;
      bucket[2] += writeBytes;
      return;
    }
    this.buckets.push([now, requests, writeBytes]);
    // A clock that stepped back leaves a later bucket last; keep them in order for readers of the snapshot.
    this.buckets.sort((a, b) => a[0] - b[0]);
  }
}

/** What the Worker sends with each request of a key. */
export interface AdmitRequest {
  keyId: string;
  /** Request body bytes of a POST, PATCH or PUT; 0 otherwise. */
  writeBytes: number;
  /** The configured defaults (wrangler vars), for measures the key has no value of its own for. */
  defaults: RateLimits;
  /** The key's own limits (`api_keys.rate_limit_*`, null = the default), from the Worker's copy of the key row. */
  own: KeyLimits;
  /**
   * Requests of the key this isolate served from its headroom since it last asked (and their bytes): counted before
   * this one is decided, unconditionally. Absent = none.
   */
  served?: { requests: number; writeBytes: number };
}

export interface KeyLimits {
  requests: number | null;
  writeBytes: number | null;
}

/** The rate limiter of one API key. */
export class RateLimiterDurableObject extends DurableObject<Env> {
  /** The object's time source: tests move it (runInDurableObject) to let a window pass without waiting. */
  clock: () => number = () => Date.now();
  private readonly window: RateWindow;
  private revoked: boolean;
  private readonly keyRows: KeyRowHold;

  constructor(ctx: DurableObjectState, env: Env) {
    // The scale bench (SCALE_PROBE=1) counts this object's D1 reads with the Worker's; otherwise env is untouched.
    super(ctx, withScaleProbe(env, "cube"));
    this.keyRows = new KeyRowHold((keyId) => d1KeyRow(this.env.DB, keyId), ctx.storage.kv, () => this.clock());
    this.window = new RateWindow(ctx.storage.kv.get<RateBucket[]>(WINDOW_STORAGE_KEY) ?? []);
    this.revoked = ctx.storage.kv.get<boolean>(REVOKED_STORAGE_KEY) === true;
  }

  /** Counts one request of the key, or refuses it with how long to wait, or because the key is revoked. */
  async admit(request: AdmitRequest): Promise<AdmitDecision> {
    if (this.revoked) return { allowed: false, revoked: true };
    const limits: RateLimits = {
      requests: request.own.requests ?? request.defaults.requests,
      writeBytes: request.own.writeBytes ?? request.defaults.writeBytes,
    };
    // Nothing below awaits: deciding and counting happen in one turn, so concurrent requests cannot both take the
    // last unit of the window.
    const now = this.clock();
    if (request.served) this.window.record(now, request.served.requests, request.served.writeBytes);
    const decision = this.window.admit(now, request.writeBytes, limits);
    if (decision.allowed || request.served) this.ctx.storage.kv.put(WINDOW_STORAGE_KEY, this.window.snapshot);
    return decision;
  }

  /** Marks the key revoked, for good: every later request of it, from any isolate, is answered `revoked`. */
  async revoke(): Promise<void> {
    this.revoked = true;
    this.ctx.storage.kv.put(REVOKED_STORAGE_KEY, true);
    this.keyRows.forget();
  }

  /** The key's row for the isolates' key caches: held here, read from D1 once per KEY_ROW_HELD_MS or change. */
  async keyRow(keyId: string): Promise<HeldKeyRow | null> {
    return this.keyRows.row(keyId);
  }

  /** The key's row changed in D1 through the API (services/tenants.ts `forgetKey`): the next ask reads it again. */
  async forgetKeyRow(): Promise<void> {
    this.keyRows.forget();
  }
}
