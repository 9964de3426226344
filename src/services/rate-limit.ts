/**
 * Per-key rate limits: requests and written bytes per sliding minute, counted by the key's own
 * {@link RateLimiterDurableObject} so every isolate serving the key shares one count. Defaults come from wrangler
 * vars; a key's `rate_limit_requests` / `rate_limit_write_bytes` columns in D1 override them (0 = no limit).
 */
import type { RateDecision, RateLimiterDurableObject, RateLimits } from "../../durable-objects/rate-limiter";
import { ApiError } from "../errors";
import type { Principal } from "./context";

export type { RateLimits };

/** What the limiter needs from the environment, built by `createRateLimitDeps` in deps.ts. */
export interface RateLimitDeps {
  limiters: DurableObjectNamespace<RateLimiterDurableObject>;
  defaults: RateLimits;
}

const LIMIT_NAMES = { requests: "requests", write_bytes: "written bytes" } as const;

/**
 * Counts one request of `principal` and throws `rate_limited` (429, with Retry-After) when its key is over a limit.
 * The root key is not limited. A limiter that cannot be reached lets the request through: an outage of the
 * counter should not become an outage of the API, and erring there only favours the caller.
 */
export async function enforceRateLimit(deps: RateLimitDeps, principal: Principal, writeBytes: number): Promise<void> {
  if (principal.kind !== "tenant") return;
  let decision: RateDecision;
  try {
    decision = await deps.limiters.getByName(principal.keyId).admit({ keyId: principal.keyId, writeBytes, defaults: deps.defaults });
  } catch (error) {
    console.error(`rate limiter of ${principal.keyId} unreachable; request let through`, error);
    return;
  }
  if (decision.allowed) return;
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
export async function limitRequest(deps: RateLimitDeps, principal: Principal, request: IncomingRequest): Promise<void> {
  if (principal.kind !== "tenant") return;
  await enforceRateLimit(deps, principal, await writtenBytes(request));
}

/** Parses a per-minute limit var: a non-negative integer (0 = off), or null when it is not one. */
export function parseLimit(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) return null;
  return Number(value.trim());
}
