/** Memories written straight into a cube (`instance.remember` inside runInDurableObject), past the API's batch limits. */
import type { NewMemory } from "../../durable-objects/cube/protocol";

/** A plain API-written note with `content`, everything else at the API's defaults unless `overrides` say otherwise. */
export function newMemory(content: string, overrides: Partial<NewMemory> = {}): NewMemory {
  return {
    content,
    type: "note",
    tags: [],
    metadata: {},
    sessionId: null,
    validAt: null,
    invalidAt: null,
    expiresAt: null,
    ttlSeconds: null,
    priority: 50,
    importance: 0.5,
    sensitivity: [],
    frozen: false,
    source: { kind: "api", episodeId: null, messageIds: [] },
    ...overrides,
  };
}
