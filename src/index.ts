/**
 * Worker entry: the HTTP API, the cron's lifecycle sweep, the webhook queue's consumer, and the Durable Object classes
 * the runtime needs to find here.
 */
import { createApp } from "./app";
import { createDeps, createWebhookDeps } from "./deps";
import { archiveAudit } from "./services/audit-archive";
import { BOOKKEEPING_QUEUE, consumeBookkeepingBatch } from "./services/bookkeeping";
import { pruneHookDeliveries } from "./services/lifecycle-hook";
import { sweepLifecycle } from "./services/lifecycle-sweep";
import { consumeWebhookBatch, sweepWebhookDeliveries } from "./services/webhook-delivery";

export { CubeDurableObject } from "../durable-objects/cube";
export { RateLimiterDurableObject } from "../durable-objects/rate-limiter";

const app = createApp();

export default {
  fetch: app.fetch,

  /**
   * The cron trigger (wrangler.toml `[triggers]`): one bounded lifecycle sweep, stale hook delivery records pruned,
   * webhook deliveries that lost their queue message re-sent and old ones pruned, audit days past their tenant's
   * retention moved to R2.
   */
  async scheduled(_controller, env) {
    const deps = createDeps(env);
    const report = await sweepLifecycle(deps);
    await pruneHookDeliveries(deps);
    console.log(JSON.stringify({ event: "lifecycle_sweep", swept: report.swept.length, failed: report.failed.length }));
    const webhooks = await sweepWebhookDeliveries(deps, createWebhookDeps(env));
    console.log(JSON.stringify({ event: "webhook_sweep", ...webhooks }));
    console.log(JSON.stringify({ event: "audit_archive", ...(await archiveAudit(deps, env.ARCHIVE)) }));
  },

  /**
   * The queues (wrangler.toml `[[queues.consumers]]`): bookkeeping batches go to D1 in one call each; the webhook
   * queue fans events out to webhooks and attempts deliveries.
   */
  async queue(batch, env) {
    if (batch.queue === BOOKKEEPING_QUEUE) return consumeBookkeepingBatch(batch, createDeps(env).db);
    await consumeWebhookBatch(batch, createDeps(env), createWebhookDeps(env));
  },
} satisfies ExportedHandler<Env>;
