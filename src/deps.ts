/**
 * Builds the per-request dependencies from the Worker's bindings. This is the one place that reads `env`;
 * a binding that the configuration needs and that is missing fails loudly here instead of degrading silently.
 */
import { createChatModel } from "./adapters/chat-factory";
import type { ChatModel } from "./core/llm";
import { type Retrieval, createRetrieval } from "./adapters/factory";
import { systemClock } from "./core/time";
import { type Db, createDb } from "./db/client";
import { ConfigError } from "./errors";
import { queueBookkeeping } from "./services/bookkeeping";
import { WEBHOOK_EVENT_QUEUES, tenantShardedSender } from "./adapters/queue-shards";
import type { WebhookQueueMessage } from "./schemas/webhooks";
import { bookkeepingQueues } from "./services/bookkeeping-shards";
import type { Deps } from "./services/context";
import { urlPolicyFor } from "./services/url-policy";
import type { WebhookDeps } from "./services/webhooks";
import { type RateLimitDeps, parseLimit } from "./services/rate-limit";

/** Shortest root key accepted: a guessable one would hand out every tenant. */
const MIN_ROOT_KEY_LENGTH = 24;

export function createDeps(env: Env): Deps {
  const bookkeeping = bookkeepingQueues(env);
  const missing = [...(["DB", "CUBE", "RATE_LIMITER", "AUDIT", "TENANT"] as const).filter((name) => !env[name]), ...bookkeeping.missing];
  if (missing.length > 0) throw new ConfigError(`missing bindings: ${missing.join(", ")} (see wrangler.toml)`);
  const rootKey = env.ROOT_KEY || undefined;
  if (rootKey !== undefined && rootKey.length < MIN_ROOT_KEY_LENGTH) {
    throw new ConfigError(`ROOT_KEY must be at least ${MIN_ROOT_KEY_LENGTH} characters`);
  }
  let retrieval: Retrieval | undefined;
  let db: Db | undefined;
  return {
    // Built on first use: a warm request never touches D1 (docs/hot-path.md), so it never needs the client.
    get db() {
      return (db ??= createDb(env.DB));
    },
    cubes: env.CUBE,
    clock: systemClock,
    rootKey,
    limiters: env.RATE_LIMITER,
    bookkeeping: queueBookkeeping(bookkeeping.queues),
    retrieval: () => (retrieval ??= createRetrieval(env)),
    auditLogs: env.AUDIT,
    auditArchive: env.ARCHIVE,
    tenants: env.TENANT,
  };
}

/**
 * The per-key rate limiter and its defaults (README "Configuration"). Apart from `Deps` because only the auth
 * middleware uses it; a missing binding or a var that is not a non-negative integer is a configuration error.
 */
export function createRateLimitDeps(env: Env): RateLimitDeps {
  if (!env.RATE_LIMITER) throw new ConfigError("missing binding: RATE_LIMITER (see wrangler.toml)");
  const requests = parseLimit(env.RATE_LIMIT_REQUESTS_PER_MINUTE);
  const writeBytes = parseLimit(env.RATE_LIMIT_WRITE_BYTES_PER_MINUTE);
  if (requests === null) throw new ConfigError("RATE_LIMIT_REQUESTS_PER_MINUTE must be a whole number ≥ 0 (0 = no limit)");
  if (writeBytes === null) throw new ConfigError("RATE_LIMIT_WRITE_BYTES_PER_MINUTE must be a whole number ≥ 0 (0 = no limit)");
  return { limiters: env.RATE_LIMITER, defaults: { requests, writeBytes } };
}

/**
 * Outbound webhooks: the queue events and deliveries travel on, the fetch deliveries go out with (tests inject a
 * local receiver instead: the Workers test runtime has no network) and the URL policy of this deployment.
 */
export function createWebhookDeps(env: Env): WebhookDeps {
  const queue = tenantShardedSender<WebhookQueueMessage>(env, WEBHOOK_EVENT_QUEUES);
  if (!queue) throw new ConfigError("missing bindings: WEBHOOK_EVENTS and its shards (see wrangler.toml)");
  return { queue, fetch: (input, init) => fetch(input, init), policy: urlPolicyFor(env.ENVIRONMENT) };
}

/**
 * The static assets (wrangler.toml [assets]): the console and the API reference page, built by
 * scripts/build-assets.mjs. Only routes/docs.ts serves from them.
 */
export function createStaticAssets(env: Env): Fetcher {
  if (!env.ASSETS) throw new ConfigError("missing binding: ASSETS (see wrangler.toml [assets]; run `node scripts/build-assets.mjs`)");
  return env.ASSETS;
}

/** The chat endpoint's model (adapters/chat-factory.ts): null when CHAT is off; a misconfiguration is a ConfigError. */
export function createChatDeps(env: Env): ChatModel | null {
  return createChatModel(env);
}
