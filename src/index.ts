/**
 * Worker entry: the HTTP API, the cron's lifecycle sweep, the webhook queue's consumer, and the Durable Object classes
 * the runtime needs to find here.
 */
import { createApp } from "./app";
import { createDeps, createWebhookDeps } from "./deps";
import { pruneHookDeliveries } from "./services/lifecycle-hook";
import { sweepLifecycle } from "./services/lifecycle-sweep";
import { WEBHOOK_DEAD_LETTER_QUEUE, drainWebhookDeadLetters } from "./services/webhook-dead-letters";
import { consumeWebhookBatch, sweepWebhookDeliveries } from "./services/webhook-delivery";

export { CubeDurableObject } from "../durable-objects/cube";
export { RateLimiterDurableObject } from "../durable-objects/rate-limiter";

const app = createApp();

export default {
  fetch: app.fetch,

  /**
   * The cron trigger (wrangler.toml `[triggers]`): one bounded lifecycle sweep, stale hook delivery records pruned,
   * webhook deliveries that lost their queue message re-sent and old ones pruned.
   */
  async scheduled(_controller, env) {
    const deps = createDeps(env);
    const report = await sweepLifecycle(deps);
    await pruneHookDeliveries(deps);
    console.log(JSON.stringify({ event: "lifecycle_sweep", swept: report.swept.length, failed: report.failed.length }));
    const webhooks = await sweepWebhookDeliveries(deps, createWebhookDeps(env));
    console.log(JSON.stringify({ event: "webhook_sweep", ...webhooks }));
  },

  /**
   * The webhook queue (wrangler.toml `[[queues.consumers]]`): fan events out to webhooks, attempt deliveries; and
   * its dead-letter queue, where messages land after max_retries (services/webhook-dead-letters.ts).
   */
  async queue(batch, env) {
    if (batch.queue === WEBHOOK_DEAD_LETTER_QUEUE) await drainWebhookDeadLetters(batch, createDeps(env), createWebhookDeps(env));
    else await consumeWebhookBatch(batch, createDeps(env), createWebhookDeps(env));
  },
} satisfies ExportedHandler<Env>;
