/**
 * Builds the per-request dependencies from the Worker's bindings. This is the one place that reads `env`;
 * a binding that the configuration needs and that is missing fails loudly here instead of degrading silently.
 */
import { systemClock } from "./core/time";
import { createDb } from "./db/client";
import { ConfigError } from "./errors";
import type { Deps } from "./services/context";

/** Shortest root key accepted: a guessable one would hand out every tenant. */
const MIN_ROOT_KEY_LENGTH = 24;

export function createDeps(env: Env): Deps {
  const missing = (["DB", "CUBE"] as const).filter((name) => !env[name]);
  if (missing.length > 0) throw new ConfigError(`missing bindings: ${missing.join(", ")} (see wrangler.toml)`);
  const rootKey = env.ROOT_KEY || undefined;
  if (rootKey !== undefined && rootKey.length < MIN_ROOT_KEY_LENGTH) {
    throw new ConfigError(`ROOT_KEY must be at least ${MIN_ROOT_KEY_LENGTH} characters`);
  }
  return { db: createDb(env.DB), cubes: env.CUBE, clock: systemClock, rootKey };
}
