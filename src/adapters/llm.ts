/**
 * Shared parts of the `Llm` implementations (Workers AI, OpenAI-compatible endpoints): defaults and helpers. The
 * interface and its error live in core (src/core/llm.ts), re-exported here for the adapters.
 */
export { type Llm, type LlmAdapterRef, LlmError, type LlmErrorCode, type LlmRequest } from "../core/llm";

/** Enough for 50 memories of ~60 tokens with JSON overhead; providers' own defaults (Workers AI: 256) cut that short. */
export const DEFAULT_MAX_TOKENS = 4096;

/**
 * Wall-clock budget of one completion. Generous: a 70B model writing 4,096 tokens takes a minute, and a local model
 * on a laptop longer. Waiting costs no CPU time in a Worker.
 */
export const DEFAULT_LLM_TIMEOUT_MS = 120_000;

/** Whether an error is the abort of an `AbortSignal.timeout` (TimeoutError) or of another abort (AbortError). */
export const isAbort = (error: unknown): boolean => {
  // Checked by name, not class: a DOMException is not an `Error` instance in every runtime.
  const name = typeof error === "object" && error !== null ? (error as { name?: unknown }).name : undefined;
  return name === "TimeoutError" || name === "AbortError";
};

/** Shortens provider text put into error messages: they end up in logs and job records, not in full. */
export const excerpt = (text: string, max = 300): string => (text.length > max ? `${text.slice(0, max)}…` : text);
