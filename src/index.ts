/** Worker entry: the HTTP API, the cron's lifecycle sweep, and the Durable Object classes the runtime needs to find here. */
import { createApp } from "./app";
import { createDeps } from "./deps";
import { pruneHookDeliveries } from "./services/lifecycle-hook";
import { sweepLifecycle } from "./services/lifecycle-sweep";

export { CubeDurableObject } from "../durable-objects/cube";

const app = createApp();

export default {
  fetch: app.fetch,

  /** The cron trigger (wrangler.toml `[triggers]`): one bounded lifecycle sweep, and stale hook delivery records pruned. */
  async scheduled(_controller, env) {
    const deps = createDeps(env);
    const report = await sweepLifecycle(deps);
    await pruneHookDeliveries(deps);
    console.log(JSON.stringify({ event: "lifecycle_sweep", swept: report.swept.length, failed: report.failed.length }));
  },
} satisfies ExportedHandler<Env>;
