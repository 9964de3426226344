/**
 * The one error shape of the API and its fixed code → status table.
 * Throw an {@link ApiError} anywhere; `app.onError` and the validator hook render it.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  memory_frozen: 409,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  rate_limited: 429,
  internal_error: 500,
  chat_model_failed: 502,
  chat_model_not_configured: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

/**
 * A failure that is the caller's to see: its code picks the HTTP status, its message is safe to show. `headers` go
 * on the error response (e.g. `Retry-After` of a 429).
 */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = "ApiError";
  }

  get status(): ErrorStatus {
    return ERROR_STATUS[this.code];
  }
}

/** The deployment's configuration is wrong: an operator problem, reported as such instead of as a bug. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** What a Durable Object returns instead of throwing: RPC loses error classes, so failures travel as data. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; message: string };

export const ok = <T>(value: T): Outcome<T> => ({ ok: true, value });
export const fail = (code: ErrorCode, message: string): Outcome<never> => ({ ok: false, code, message });

/** Turns a Durable Object outcome back into a value or a thrown {@link ApiError}. */
export function unwrap<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw new ApiError(outcome.code, outcome.message);
  return outcome.value;
}
