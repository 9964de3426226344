/** What the client throws: the API's error shape as {@link MemosApiError}, and no answer at all as {@link MemosNetworkError}. */
import type { components } from "./schema.js";

/** The API's one error body: `{ "error": { "code", "message", "details"?, "request_id" } }`. */
export type ErrorBody = components["schemas"]["Error"];

/**
 * The API answered with an error status. `code` is the API's error code (`invalid_request`, `unauthorized`,
 * `forbidden`, `not_found`, `memory_frozen`, `conflict`, `idempotency_key_reused`, `rate_limited`, …; see the README's
 * "Errors"), or `http_<status>` when the body is not the API's error shape (a proxy's page, say).
 */
export class MemosApiError extends Error {
  override readonly name = "MemosApiError";
  /** The HTTP status. */
  readonly status: number;
  /** The API's error code. */
  readonly code: string;
  /** The request id to quote when reporting a problem (the body's `request_id`, else the `X-Request-Id` header). */
  readonly requestId: string | undefined;
  /** Per-problem details, e.g. the list of invalid fields of a 400. */
  readonly details: unknown;
  /** What `Retry-After` asked for, in milliseconds, when the answer carried it (429, 503). */
  readonly retryAfterMs: number | undefined;
  /** The Idempotency-Key the write was sent with: retry the same call with it and the API will not write twice. */
  readonly idempotencyKey: string | undefined;
  /** How many times the request was sent. */
  readonly attempts: number;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    requestId?: string | undefined;
    details?: unknown;
    retryAfterMs?: number | undefined;
    idempotencyKey?: string | undefined;
    attempts?: number;
  }) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.details = init.details;
    this.retryAfterMs = init.retryAfterMs;
    this.idempotencyKey = init.idempotencyKey;
    this.attempts = init.attempts ?? 1;
  }

  /** Reads an error response: `body` is what openapi-fetch parsed from it (JSON when it was JSON, else text). */
  static fromResponse(
    response: Response,
    body: unknown,
    sent: { attempts: number; idempotencyKey: string | undefined },
  ): MemosApiError {
    const shaped = isErrorBody(body) ? body.error : undefined;
    const text = typeof body === "string" ? body.trim().slice(0, 200) : "";
    return new MemosApiError({
      status: response.status,
      code: shaped?.code ?? `http_${response.status}`,
      message: shaped?.message ?? (text || `HTTP ${response.status} ${response.statusText}`.trim()),
      requestId: shaped?.request_id || response.headers.get("X-Request-Id") || undefined,
      details: shaped?.details,
      retryAfterMs: retryAfterMs(response.headers.get("Retry-After")),
      idempotencyKey: sent.idempotencyKey,
      attempts: sent.attempts,
    });
  }
}

/** No answer: the connection failed, or every attempt timed out. */
export class MemosNetworkError extends Error {
  override readonly name = "MemosNetworkError";
  /** True when the last attempt was cut off by the client's timeout. */
  readonly timedOut: boolean;
  /** How many times the request was sent. */
  readonly attempts: number;
  /** The Idempotency-Key the write was sent with: retry the same call with it and the API will not write twice. */
  readonly idempotencyKey: string | undefined;

  constructor(message: string, init: { cause: unknown; timedOut: boolean; attempts: number; idempotencyKey?: string | undefined }) {
    super(message, { cause: init.cause });
    this.timedOut = init.timedOut;
    this.attempts = init.attempts;
    this.idempotencyKey = init.idempotencyKey;
  }
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== "object" || body === null || !("error" in body)) return false;
  const error: unknown = body.error;
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" && "message" in error && typeof error.message === "string";
}

/** `Retry-After` as milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
