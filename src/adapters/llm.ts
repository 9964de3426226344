/**
 * The text-generation interface the model-backed MemReader reaches its model through. Two implementations: Workers AI
 * (binding `AI`, model from config) and any OpenAI-compatible `/chat/completions` endpoint given by URL and key (what
 * people run locally: Ollama, llama.cpp, vLLM, LM Studio — or a hosted API). Config picks one (`createLlm`).
 *
 * Deliberately small: one system prompt, one user prompt, text back. Retrying malformed output is the caller's job
 * (only it knows what "malformed" means); retrying unavailability is the job system's (it backs off between attempts),
 * so implementations make exactly one request and report failures as an LlmError. The interface itself is core's
 * port (core/llm.ts), re-exported here for the implementations.
 */

export { LlmError, type Llm, type LlmErrorCode, type LlmRequest } from "../core/llm";

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
