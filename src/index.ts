/**
 * Worker entry: the HTTP API, the cron's lifecycle sweep, the webhook queue's consumer, and the Durable Object classes
 * the runtime needs to find here.
 */
import { createApp } from "./app";
import { createDeps, createWebhookDeps } from "./deps";
import { archiveAudit } from "./services/audit-archive";
import { pruneInactiveKeys } from "./services/control-plane-caps";
import { createRetrieval } from "./adapters/factory";
import { VECTOR_QUEUES, WEBHOOK_EVENT_QUEUES } from "./adapters/queue-shards";
import { consumeBookkeepingBatch } from "./services/bookkeeping";
import { isBookkeepingQueue } from "./services/bookkeeping-shards";
import { pruneHookDeliveries } from "./services/lifecycle-hook";
import { repairLifecycle } from "./services/lifecycle-sweep";
import { WEBHOOK_DEAD_LETTER_QUEUE, drainWebhookDeadLetters } from "./services/webhook-dead-letters";
import { consumeVectorBatch } from "./services/vector-queue";
import { consumeWebhookBatch, sweepWebhookDeliveries } from "./services/webhook-delivery";
import { probeResponse, withScaleProbe } from "./scale-probe";

export { CubeDurableObject } from "../durable-objects/cube";
export { RateLimiterDurableObject } from "../durable-objects/rate-limiter";
export { AuditDurableObject } from "../durable-objects/audit";
export { TenantDirectoryDurableObject } from "../durable-objects/tenant";

const app = createApp();

export default {
  // SCALE_PROBE=1 (the scale bench only) counts binding operations; otherwise env passes through untouched.
  fetch: (request: Request, env: Env, ctx: ExecutionContext) => probeResponse(request, env) ?? app.fetch(request, withScaleProbe(env, "worker"), ctx),

  /**
   * The cron trigger (wrangler.toml `[triggers]`): lost cube schedules repaired (cubes schedule their own lifecycle),
   * stale hook delivery records and long-inactive keys pruned, webhook deliveries that lost their queue message re-sent and old ones pruned,
   * audit days past their tenant's retention moved to R2.
   */
  async scheduled(_controller, rawEnv) {
    const env = withScaleProbe(rawEnv, "worker");
    const deps = createDeps(env);
    const report = await repairLifecycle(deps);
    await pruneHookDeliveries(deps);
    console.log(JSON.stringify({ event: "key_prune", deleted: await pruneInactiveKeys(deps) }));
    const repaired = report.visited.filter((v) => v.repaired).length;
    console.log(JSON.stringify({ event: "lifecycle_repair", visited: report.visited.length, repaired, failed: report.failed.length }));
    const webhooks = await sweepWebhookDeliveries(deps, createWebhookDeps(env));
    console.log(JSON.stringify({ event: "webhook_sweep", ...webhooks }));
    console.log(JSON.stringify({ event: "audit_archive", ...(await archiveAudit(deps, env.ARCHIVE)) }));
  },

  /**
   * The queues (wrangler.toml `[[queues.consumers]]`): bookkeeping batches, from any of its shards, go to D1 in one call each; the webhook
   * queue's shards fan events out to webhooks and attempts deliveries; its dead-letter queue is where messages land after
   * max_retries (services/webhook-dead-letters.ts); the vectors queue writes many cubes' vectors to the shared index
   * together (services/vector-queue.ts).
   */
  async queue(batch, rawEnv) {
    const env = withScaleProbe(rawEnv, "worker");
    if (isBookkeepingQueue(batch.queue)) return consumeBookkeepingBatch(batch, createDeps(env));
    if (VECTOR_QUEUES.has(batch.queue)) return void (await consumeVectorBatch(batch, createRetrieval(env).remoteIndex, env.CUBE));
    if (batch.queue === WEBHOOK_DEAD_LETTER_QUEUE) return drainWebhookDeadLetters(batch, createDeps(env), createWebhookDeps(env));
    if (WEBHOOK_EVENT_QUEUES.has(batch.queue)) return consumeWebhookBatch(batch, createDeps(env), createWebhookDeps(env));
    // A queue this Worker declares no consumer for: retried, then dead-lettered by the platform, never silently taken.
    console.error(`queue handler: no consumer for queue ${batch.queue}; retrying its batch`);
    batch.retryAll();
  },
} satisfies ExportedHandler<Env>;
