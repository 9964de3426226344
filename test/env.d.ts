// Bindings the test configuration adds on top of wrangler.toml (`env` from cloudflare:workers is Cloudflare.Env).
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    ROOT_KEY?: string;
  }
}

/** Vite's `?raw` imports: a file's text, for tests that read shipped configuration. */
declare module "*?raw" {
  const text: string;
  export default text;
}
