/**
 * Per-key rate limits: requests and written bytes per sliding minute, counted by the key's own
 * {@link RateLimiterDurableObject} so every isolate serving the key shares one count. Defaults come from wrangler
 * vars; a key's `rate_limit_requests` / `rate_limit_write_bytes` columns in D1 override them (0 = no limit).
 */
import type { AdmitDecision, KeyLimits, RateLimiterDurableObject, RateLimits } from "../../durable-objects/rate-limiter";
import { ApiError } from "../errors";
import { UNAUTHORIZED_KEY_MESSAGE, markKeyRevoked } from "./auth";
import type { Principal } from "./context";

export type { RateLimits };

/** What the limiter needs from the environment, built by `createRateLimitDeps` in deps.ts. */
export interface RateLimitDeps {
  limiters: DurableObjectNamespace<RateLimiterDurableObject>;
  defaults: RateLimits;
  /**
   * Asks D1 whether the key still stands (throws `unauthorized` when not): used only when the limiter, where a
   * revocation takes effect, cannot be reached, so the revocation bound holds through a limiter outage too.
   */
  confirmKey?: (keyId: string) => Promise<void>;
}

const NO_OWN_LIMITS: KeyLimits = { requests: null, writeBytes: null };

const LIMIT_NAMES = { requests: "requests", write_bytes: "written bytes" } as const;

/**
 * Counts one request of `principal` and throws `rate_limited` (429, with Retry-After) when its key is over a limit,
 * `unauthorized` when its limiter says the key was revoked. The root key is not limited. A limiter that cannot be
 * reached lets the request through once D1 confirms the key: an outage of the counter should not become an outage
 * of the API, and erring there only favours the caller.
 */
export async function enforceRateLimit(
  deps: RateLimitDeps,
  principal: Principal,
  writeBytes: number,
  background?: (work: Promise<unknown>) => void,
): Promise<void> {
  if (principal.kind !== "tenant") return;
  const { keyId } = principal;
  const own = principal.rateLimits ?? NO_OWN_LIMITS;
  const admit = async (): Promise<AdmitDecision | null> => {
    const served = unreported.get(keyId);
    unreported.delete(keyId);
    let decision: AdmitDecision;
    try {
      decision = await deps.limiters.getByName(keyId).admit({ keyId, writeBytes, defaults: deps.defaults, own, ...(served ? { served } : {}) });
    } catch (error) {
      if (served) addUnreported(keyId, served.requests, served.writeBytes);
      console.error(`rate limiter of ${keyId} unreachable; request let through if D1 confirms the key`, error);
      await deps.confirmKey?.(keyId);
      return null;
    }
    remember(keyId, decision);
    // The isolate's next requests of the key are refused without asking anyone.
    if ("revoked" in decision) markKeyRevoked(keyId);
    return decision;
  };
  // Far from its limits, a key's request is served at once and counted with the next request that waits for the
  // limiter (see HEADROOM_SHARE): one limiter call per up to FAST_MAX requests instead of one per request.
  if (background && spendHeadroom(keyId, writeBytes)) {
    addUnreported(keyId, 1, writeBytes);
    return;
  }
  const decision = await admit();
  if (decision === null || decision.allowed) return;
  if ("revoked" in decision) throw new ApiError("unauthorized", UNAUTHORIZED_KEY_MESSAGE);
  if (decision.retryAfterSeconds === null) {
    throw new ApiError(
      "payload_too_large",
      `this key may write at most ${decision.limit} bytes a minute and the body has ${writeBytes}`,
    );
  }
  const { exceeded, limit, retryAfterSeconds } = decision;
  throw new ApiError(
    "rate_limited",
    `this key is over its limit of ${limit} ${LIMIT_NAMES[exceeded]} a minute; retry in ${retryAfterSeconds} s`,
    { limit: exceeded, per_minute: limit, retry_after_seconds: retryAfterSeconds },
    { "Retry-After": String(retryAfterSeconds) },
  );
}

/**
 * Headroom this isolate may spend without waiting for the limiter: after an answer that leaves a key R requests
 * (and B bytes) in its window, the next min(FAST_MAX, R × HEADROOM_SHARE) requests within FAST_MS are admitted at
 * once and counted with the next request that waits for the limiter. A key near its limit (R < 1 / HEADROOM_SHARE) always waits for the exact
 * answer, so small limits stay exact; a busy key may overshoot by at most FAST_MAX requests per isolate. It saves
 * every other request the limiter's round trip.
 */
const HEADROOM_SHARE = 0.1;
const FAST_MAX = 20;
const FAST_MS = 1_000;
const headroom = new Map<string, { until: number; requests: number; bytes: number | null }>();

/**
 * Requests served from headroom and not yet told to the limiter, by key: they travel with the key's next waited-for
 * admit (`served`), at most FAST_MS or FAST_MAX requests later. A key that goes quiet in this isolate leaves at most
 * FAST_MAX requests uncounted until it comes back: the same slack as the overshoot above, the other way. A CPU profile of single-memory writes had the
 * limiter's call after every response at 5% of the CPU (issue 14, item 7).
 */
const unreported = new Map<string, { requests: number; writeBytes: number }>();

function addUnreported(keyId: string, requests: number, writeBytes: number): void {
  const tally = unreported.get(keyId);
  if (tally) {
    tally.requests += requests;
    tally.writeBytes += writeBytes;
    return;
  }
  if (unreported.size > 10_000) unreported.clear();
  unreported.set(keyId, { requests, writeBytes });
}

function remember(keyId: string, decision: AdmitDecision): void {
  if (!decision.allowed) {
    headroom.delete(keyId);
    return;
  }
  const share = (n: number | null) => (n === null ? null : Math.floor(n * HEADROOM_SHARE));
  const requests = Math.min(FAST_MAX, share(decision.remainingRequests) ?? FAST_MAX);
  if (headroom.size > 10_000) headroom.clear();
  headroom.set(keyId, { until: Date.now() + FAST_MS, requests, bytes: share(decision.remainingBytes) });
}

function spendHeadroom(keyId: string, writeBytes: number): boolean {
  const left = headroom.get(keyId);
  if (!left || left.until <= Date.now() || left.requests < 1 || (left.bytes !== null && left.bytes < writeBytes)) return false;
  left.requests -= 1;
  if (left.bytes !== null) left.bytes -= writeBytes;
  return true;
}

/** The parts of an incoming request the byte count needs (Hono's `c.req` fits). */
export interface IncomingRequest {
  method: string;
  header(name: string): string | undefined;
  raw: Request;
}

const WRITE_METHODS = new Set(["POST", "PATCH", "PUT"]);

/**
 * Body bytes of a POST, PATCH or PUT (0 for other methods): Content-Length when sent (the body-size guard already
 * holds the body to it), else a count of a copy of the body, so the handler can still read the original.
 */
export async function writtenBytes(request: IncomingRequest): Promise<number> {
  if (!WRITE_METHODS.has(request.method)) return 0;
  const declared = request.header("Content-Length");
  if (declared !== undefined && /^\d{1,15}$/.test(declared)) return Number(declared);
  if (request.raw.body === null) return 0;
  return (await request.raw.clone().arrayBuffer()).byteLength;
}

/** {@link enforceRateLimit} for an incoming request: the one call a route group that authenticates on its own needs. */
export async function limitRequest(
  deps: RateLimitDeps,
  principal: Principal,
  request: IncomingRequest,
  background?: (work: Promise<unknown>) => void,
): Promise<void> {
  if (principal.kind !== "tenant") return;
  await enforceRateLimit(deps, principal, await writtenBytes(request), background);
}

/** Parses a per-minute limit var: a non-negative integer (0 = off), or null when it is not one. */
export function parseLimit(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) return null;
  return Number(value.trim());
}
