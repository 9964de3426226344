// Secrets that `wrangler types` cannot see in wrangler.toml.
interface Env {
  /** Operator key for admin routes (secret). `npm start` generates one into .dev.vars. */
  ROOT_KEY?: string;
  /** Key for the OpenAI-compatible endpoint when READER = "openai" (secret); see wrangler.toml. */
  LLM_API_KEY?: string;
  /** The console and API reference files (wrangler.toml [assets]); declared here until `npm run types` runs again. */
  ASSETS?: Fetcher;
}
