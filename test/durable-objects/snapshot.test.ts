/**
 * What a MemStore snapshot publishes of one memory (cube/snapshot.ts publishedMemory): table-driven over the states
 * and sensitivity labels, and what is stripped from a memory that is published.
 */
import { describe, expect, it } from "vitest";
import { PUBLISHED_STATES, isSensitive, publishedMemory } from "../../durable-objects/cube/snapshot";
import { MEMORY_STATES } from "../../src/core/lifecycle";
import type { MemoryWire } from "../../src/schemas/memory";

const memory = (overrides: Partial<MemoryWire> = {}): MemoryWire => ({
  id: "mem_0123456789abcdef0123456789abcdef",
  cube_id: "cube_0123456789abcdef",
  owner: "user:alice",
  type: "fact",
  content: "Rest dough for an hour",
  tags: ["bread"],
  metadata: { app: "demo" },
  session_id: "kitchen",
  source: { kind: "extraction", episode_id: "ep_1", message_ids: ["m1"], key_id: "key_0123456789abcdef", request_id: "req_1", reader: "rules@1", merged_from: ["mem_x"] },
  created_at: "2026-11-01T00:00:00.000Z",
  updated_at: "2026-11-02T00:00:00.000Z",
  valid_at: null,
  invalid_at: null,
  expires_at: null,
  priority: 50,
  importance: 0.5,
  sensitivity: [],
  visibility: "private",
  frozen: false,
  pinned: true,
  watermark: "wm1.1.key_0123456789abcdef.mac",
  access_count: 7,
  last_accessed_at: "2026-11-03T00:00:00.000Z",
  version: 3,
  state: "activated",
  supersedes: "mem_a",
  superseded_by: null,
  ...overrides,
});

describe("publishedMemory", () => {
  it.each(MEMORY_STATES.map((state) => [state, (PUBLISHED_STATES as readonly string[]).includes(state)] as const))(
    "state %s is published: %s",
    (state, published) => {
      expect(publishedMemory(memory({ state }), "agent:memstore") !== null).toBe(published);
    },
  );

  it.each([[["pii"]], [["health"]], [["anything"]], [["pii", "health"]]])("a memory labelled %j is never published", (sensitivity) => {
    expect(isSensitive({ sensitivity })).toBe(true);
    for (const state of PUBLISHED_STATES) expect(publishedMemory(memory({ sensitivity, state }), "agent:memstore")).toBeNull();
  });

  it("keeps what a reader needs and strips who wrote it, where it came from and how it was used", () => {
    const published = publishedMemory(memory({ content_preview: true }), "agent:memstore")!;
    expect(published).toMatchObject({ content: "Rest dough for an hour", type: "fact", tags: ["bread"], metadata: { app: "demo" }, pinned: true, version: 3 });
    expect(published).toMatchObject({
      owner: "agent:memstore",
      session_id: null,
      source: { kind: "import", episode_id: null, message_ids: [], key_id: null, request_id: null },
      watermark: null,
      access_count: 0,
      last_accessed_at: null,
      supersedes: null,
      superseded_by: null,
    });
    expect(published).not.toHaveProperty("content_preview");
    expect(JSON.stringify(published)).not.toMatch(/user:alice|key_0123|ep_1|rules@1|mem_x|kitchen/);
  });
});
