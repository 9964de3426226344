/**
 * The per-key rate limiter: one object per API key (named by the key id), so every isolate that serves the key
 * counts against the same numbers. It counts requests and written bytes over a sliding minute made of sixty
 * one-second buckets, and keeps the buckets in its storage: an idle object is evicted after ~10 s, and counts kept
 * only in memory would then reset long before their minute was over.
 */
import { DurableObject } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { createDb } from "../src/db/client";
import { apiKeys } from "../src/db/schema";

/** The window is this many one-second buckets. */
export const WINDOW_SECONDS = 60;
/** How long a key's own limits (read from D1) are trusted before they are read again. */
const KEY_LIMITS_TTL_MS = 60_000;
const WINDOW_STORAGE_KEY = "window";

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

  private count(now: number, writeBytes: number): void {
    const bucket = this.buckets.find(([second]) => second === now);
    if (bucket) {
      bucket[1] += 1;
      bucket[2] += writeBytes;
      return;
    }
    this.buckets.push([now, 1, writeBytes]);
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
}

interface KeyLimits {
  requests: number | null;
  writeBytes: number | null;
}

/** The rate limiter of one API key. */
export class RateLimiterDurableObject extends DurableObject<Env> {
  /** The object's time source: tests move it (runInDurableObject) to let a window pass without waiting. */
  clock: () => number = () => Date.now();
  private readonly window: RateWindow;
  private keyLimits: { readAt: number; value: KeyLimits } | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.window = new RateWindow(ctx.storage.kv.get<RateBucket[]>(WINDOW_STORAGE_KEY) ?? []);
  }

  /** Counts one request of the key, or refuses it with how long to wait. */
  async admit(request: AdmitRequest): Promise<RateDecision> {
    const own = await this.limitsOf(request.keyId);
    const limits: RateLimits = {
      requests: own.requests ?? request.defaults.requests,
      writeBytes: own.writeBytes ?? request.defaults.writeBytes,
    };
    // Nothing below awaits: deciding and counting happen in one turn, so concurrent requests cannot both take the
    // last unit of the window.
    const decision = this.window.admit(this.clock(), request.writeBytes, limits);
    if (decision.allowed) this.ctx.storage.kv.put(WINDOW_STORAGE_KEY, this.window.snapshot);
    return decision;
  }

  /**
   * The key's own limits (`api_keys.rate_limit_*`, null = the default), read from D1 at most once a minute per
   * object. A failed read falls back to the defaults for this request and is tried again on the next.
   */
  private async limitsOf(keyId: string): Promise<KeyLimits> {
    const now = this.clock();
    if (this.keyLimits && now - this.keyLimits.readAt < KEY_LIMITS_TTL_MS) return this.keyLimits.value;
    try {
      const row = await createDb(this.env.DB)
        .select({ requests: apiKeys.rateLimitRequests, writeBytes: apiKeys.rateLimitWriteBytes })
        .from(apiKeys)
        .where(eq(apiKeys.id, keyId))
        .get();
      const value = { requests: validLimit(row?.requests, keyId), writeBytes: validLimit(row?.writeBytes, keyId) };
      this.keyLimits = { readAt: now, value };
      return value;
    } catch (error) {
      console.error(`rate limiter: reading the limits of ${keyId} failed; using the defaults`, error);
      return { requests: null, writeBytes: null };
    }
  }
}

/** A per-key value as stored: a non-negative integer, or null. Anything else is an operator's typo: logged, ignored. */
function validLimit(value: number | null | undefined, keyId: string): number | null {
  if (value === null || value === undefined) return null;
  if (Number.isSafeInteger(value) && value >= 0) return value;
  console.error(`rate limiter: key ${keyId} has an invalid limit ${value}; using the default`);
  return null;
}
