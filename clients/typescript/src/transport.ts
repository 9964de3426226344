/**
 * Sends one call: an Idempotency-Key on writes, a timeout per attempt, and retries with exponential backoff and full
 * jitter on 429 (honouring Retry-After), on 5xx and on network failures where repeating the request is safe.
 */
import { MemosNetworkError, retryAfterMs } from "./errors.js";

/** A fetch the client can be given: the platform's, a mock, or a Worker's own `fetch` in tests. */
export type FetchLike = (request: Request) => Promise<Response>;

/** What the client reports before each retry (for logs and metrics). */
export interface RetryEvent {
  /** The attempt that just failed, from 1. */
  attempt: number;
  /** How long the client waits before the next one. */
  delayMs: number;
  method: string;
  url: string;
  /** The status that caused the retry, when there was an answer. */
  status?: number;
  /** The failure that caused the retry, when there was none. */
  error?: unknown;
}

export interface RetryOptions {
  /** Attempts in all, the first one included (default 3; 1 turns retries off). */
  maxAttempts?: number;
  /** Backoff base (default 250 ms): before attempt n+1 the client waits a random time up to baseDelayMs·2^(n-1). */
  baseDelayMs?: number;
  /**
   * Longest single wait (default 20 s). A Retry-After asking for more is not waited for: the 429 or 503 is thrown,
   * carrying `retryAfterMs`.
   */
  maxDelayMs?: number;
  /** Called before each retry. */
  onRetry?: (event: RetryEvent) => void;
}

/** What a call needs from the transport besides the request. */
export interface SendPolicy {
  /**
   * Whether sending the request again is harmless: reads, and writes the API deduplicates by Idempotency-Key. Only
   * such calls are retried after a 5xx or a failure without answer (the first attempt may have done its work);
   * a 429 is always retried, since the API refuses those before doing anything.
   */
  repeatable: boolean;
  /** The Idempotency-Key for a write that has no such header yet (default: a fresh UUID). */
  idempotencyKey?: string | undefined;
  /** Filled in while sending, for the error the client may throw. */
  sent: { attempts: number; idempotencyKey: string | undefined };
}

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

const sleep = (ms: number, signal: AbortSignal | null) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", aborted);
      resolve();
    }
    function aborted() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", aborted, { once: true });
  });

class AttemptTimeout extends Error {
  override name = "TimeoutError";
}

export class Transport {
  readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly fetch: FetchLike,
    private readonly timeoutMs: number,
    private readonly retry: RetryOptions = {},
  ) {
    this.maxAttempts = Math.max(1, Math.floor(retry.maxAttempts ?? 3));
    this.baseDelayMs = Math.max(0, retry.baseDelayMs ?? 250);
    this.maxDelayMs = Math.max(0, retry.maxDelayMs ?? 20_000);
  }

  async send(request: Request, policy: SendPolicy): Promise<Response> {
    const headers = new Headers(request.headers);
    // One key per call, generated before the first attempt, so every retry of a write carries the same key.
    if (WRITES.has(request.method) && !headers.has("Idempotency-Key")) {
      headers.set("Idempotency-Key", policy.idempotencyKey ?? crypto.randomUUID());
    }
    policy.sent.idempotencyKey = headers.get("Idempotency-Key") ?? undefined;
    // The body is read once and sent again from memory: a Request's stream can be consumed only once.
    const body = request.body === null ? undefined : await request.arrayBuffer();
    const caller = request.signal;

    for (let attempt = 1; ; attempt++) {
      policy.sent.attempts = attempt;
      const last = attempt >= this.maxAttempts;
      let response: Response;
      try {
        response = await this.attempt((signal) => new Request(request.url, { method: request.method, headers, body, signal }), caller);
      } catch (error) {
        if (caller?.aborted) throw caller.reason;
        const timedOut = error instanceof AttemptTimeout;
        if (last || !policy.repeatable) {
          const why = timedOut ? `no answer within ${this.timeoutMs} ms` : String(error instanceof Error ? error.message : error);
          throw new MemosNetworkError(`${request.method} ${request.url} failed after ${attempt} attempt(s): ${why}`, {
            cause: error,
            timedOut,
            attempts: attempt,
            idempotencyKey: policy.sent.idempotencyKey,
          });
        }
        await this.wait({ attempt, delayMs: this.backoff(attempt), method: request.method, url: request.url, error }, caller);
        continue;
      }

      const retryable = response.status === 429 || (response.status >= 500 && policy.repeatable);
      if (last || !retryable) return response;
      const asked = retryAfterMs(response.headers.get("Retry-After"));
      if (asked !== undefined && asked > this.maxDelayMs) return response;
      await response.body?.cancel();
      const delayMs = asked ?? this.backoff(attempt);
      await this.wait({ attempt, delayMs, method: request.method, url: request.url, status: response.status }, caller);
    }
  }

  /** "Full jitter": a random wait up to the exponential step, so clients that failed together do not retry together. */
  private backoff(attempt: number): number {
    return Math.random() * Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
  }

  private async wait(event: RetryEvent, caller: AbortSignal | null) {
    this.retry.onRetry?.(event);
    await sleep(event.delayMs, caller);
  }

  /** One attempt, cut off after timeoutMs (until the response headers) or when the caller aborts. */
  private async attempt(build: (signal: AbortSignal) => Request, caller: AbortSignal | null): Promise<Response> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(caller?.reason);
    caller?.addEventListener("abort", onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cutOff = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const reason = new AttemptTimeout(`no answer within ${this.timeoutMs} ms`);
        controller.abort(reason);
        reject(reason);
      }, this.timeoutMs);
      controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
    });
    try {
      // Raced as well as signalled: a fetch implementation that ignores the signal still cannot hang the call.
      return await Promise.race([this.fetch(build(controller.signal)), cutOff]);
    } finally {
      clearTimeout(timer);
      caller?.removeEventListener("abort", onAbort);
    }
  }
}
