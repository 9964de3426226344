// Bindings the test configuration adds on top of wrangler.toml.
interface Env {
  TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
}
