// Secrets that `wrangler types` cannot see in wrangler.toml.
interface Env {
  /** Operator key for admin routes (secret). `npm start` generates one into .dev.vars. */
  ROOT_KEY?: string;
  /** Key for the OpenAI-compatible endpoint when READER = "openai" (secret); see wrangler.toml. */
  LLM_API_KEY?: string;
  /**
   * The chat endpoint's model (docs/chat.md): "off" (unset: the endpoint answers 503), "workers-ai" or "openai";
   * CHAT_MODEL names the model. Not in wrangler.toml's [vars] so that `npm start` stays offline by default.
   */
  CHAT?: string;
  CHAT_MODEL?: string;
  /** The OpenAI-compatible server of READER = "openai" and CHAT = "openai" (also a wrangler.toml var when set there). */
  LLM_BASE_URL?: string;
  /** The console and API reference files (wrangler.toml [assets]); declared here until `npm run types` runs again. */
  ASSETS?: Fetcher;
  /**
   * "off" stops the one JSON log line per request. Only the benchmark harness sets it: under `wrangler dev` every log
   * line is relayed through wrangler's own Node process, which on a 2-core machine costs each request 2–4 ms that
   * production (Workers Logs) does not pay. Unset everywhere else.
   */
  REQUEST_LOG?: string;
}
