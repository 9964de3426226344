/**
 * The webhook and vectors queues' shards (adapters/queue-shards.ts): every shard wrangler.toml declares has a
 * producer and a consumer the Worker's handler dispatches to, a webhook event sent on any shard reaches its receiver
 * through the real queues, each tenant's messages go to its own shard, and a partial set of bindings fails at start.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CubeOutbox } from "../../durable-objects/cube/outbox";
import { createRetrieval } from "../../src/adapters/factory";
import { VECTOR_QUEUES, VECTOR_SHARDS, WEBHOOK_EVENT_QUEUES, WEBHOOK_EVENT_SHARDS, shardOf, shardedSender, tenantOf } from "../../src/adapters/queue-shards";
import { cubeObjectName, newTenantId } from "../../src/core/ids";
import { createWebhookDeps } from "../../src/deps";
import { ConfigError } from "../../src/errors";
import worker from "../../src/index";
import type { WebhookEventWire, WebhookQueueMessage } from "../../src/schemas/webhooks";
import { WEBHOOK_DEAD_LETTER_QUEUE } from "../../src/services/webhook-dead-letters";
import wranglerToml from "../../wrangler.toml?raw";
import { call, newTenant, uniqueUser } from "../helpers";
import { createReceiver } from "../webhook-receiver";

const bindings = env as unknown as Record<string, Queue>;

afterEach(() => {
  vi.restoreAllMocks();
});

/** The `[[queues.consumers]]` entries of wrangler.toml, by queue: their settings as text. */
function consumers(): Map<string, string> {
  const entries = [...wranglerToml.replace(/^#.*\n/gm, "").matchAll(/\[\[queues\.consumers\]\]\s*\n((?:[a-z_]+\s*=.*\n)+)/g)];
  return new Map(entries.map((m) => [String(/queue\s*=\s*"([^"]+)"/.exec(m[1]!)?.[1]), m[1]!.replace(/queue\s*=.*\n/, "")]));
}

/** One tenant id per shard of `count`: drawn until every shard has one. */
function tenantPerShard(count: number): string[] {
  const tenants: (string | undefined)[] = Array.from({ length: count });
  while (tenants.some((t) => t === undefined)) {
    const tenantId = newTenantId();
    tenants[shardOf(tenantId, count)] ??= tenantId;
  }
  return tenants as string[];
}

/** Producers that record which shard each sendBatch reached. */
function recordingShards(count: number) {
  const calls: { shard: number; bodies: unknown[] }[] = [];
  const queues = Array.from({ length: count }, (_, shard) => ({
    send: () => Promise.reject(new Error("producers send in batches")),
    sendBatch: async (messages: Iterable<MessageSendRequest<unknown>>) => void calls.push({ shard, bodies: [...messages].map((m) => m.body) }),
  })) as unknown as Queue[];
  return { calls, queues };
}

function syntheticEvent(tenantId: string): WebhookEventWire {
  return {
    id: `evt_test_${crypto.randomUUID()}`,
    type: "memory.created",
    created_at: new Date().toISOString(),
    tenant_id: tenantId,
    cube_id: "cube_0123456789abcdef",
    owner: "user:alice",
    data: { memory_id: "mem_0123456789abcdef0123456789abcdef", version: 1 },
  };
}

describe("the webhook and vectors queues' shards in wrangler.toml", () => {
  it("every shard has a producer binding and a consumer with shard 0's settings; the webhook shards share its dead-letter queue", () => {
    const declared = consumers();
    for (const family of [WEBHOOK_EVENT_QUEUES, VECTOR_QUEUES]) {
      const first = declared.get(family.queues[0]!);
      expect(first, family.queues[0]).toBeDefined();
      for (const [i, queue] of family.queues.entries()) {
        expect(typeof bindings[family.bindings[i]!]?.sendBatch, family.bindings[i]).toBe("function");
        expect(wranglerToml).toContain(`binding = "${family.bindings[i]}"\nqueue = "${queue}"`);
        expect(declared.get(queue), queue).toBe(first);
      }
    }
    expect(WEBHOOK_EVENT_QUEUES.queues).toHaveLength(WEBHOOK_EVENT_SHARDS);
    expect(VECTOR_QUEUES.queues).toHaveLength(VECTOR_SHARDS);
    expect(declared.get("memos-edge-webhooks")).toContain(`dead_letter_queue = "${WEBHOOK_DEAD_LETTER_QUEUE}"`);
  });

  it("the queue handler sends each shard's batches to its family's consumer, and refuses a queue it has none for", async () => {
    const run = async (queue: string, body: unknown) => {
      const batch = createMessageBatch<unknown>(queue, [{ id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body }]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env as unknown as Env);
      return getQueueResult(batch, ctx);
    };
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    // A malformed message is acked by its family's consumer (logged, never retried); a batch nobody takes is retried.
    for (const queue of [...WEBHOOK_EVENT_QUEUES.queues, ...VECTOR_QUEUES.queues]) {
      const result = await run(queue, { kind: "nonsense" });
      expect({ queue, acked: result.explicitAcks.length, retried: result.retryBatch.retry }).toEqual({ queue, acked: 1, retried: false });
    }
    expect((await run("memos-edge-unknown", { kind: "nonsense" })).retryBatch.retry).toBe(true);
  });
});

describe("the webhook queue's shards for real", () => {
  // Fails if a shard's queue has no [[queues.consumers]] entry (its message is never delivered) or if the queue
  // handler does not send that queue's batches to the webhook consumer.
  it("an event sent on each shard's own binding is fanned out and reaches the tenant's receiver", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const response = await call("POST", "/v1/webhooks", { key, body: { url: "http://localhost:8788/shards", events: ["memory.created"] } });
    expect(response.status).toBe(201);
    const receiver = createReceiver({ secret: (response.body as { secret: string }).secret });
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => receiver.fetch(String(input instanceof Request ? input.url : input), init ?? {}));
    const sent = await Promise.all(
      WEBHOOK_EVENT_QUEUES.bindings.map(async (binding) => {
        const event = syntheticEvent(tenantId);
        await bindings[binding]!.send({ kind: "events", tenant_id: tenantId, events: [event] } satisfies WebhookQueueMessage, { contentType: "json" });
        return event.id;
      }),
    );
    await vi.waitFor(() => expect(receiver.handled.map((e) => e.id).sort()).toEqual([...sent].sort()), { timeout: 25_000, interval: 300 });
  });
});

describe("producers choose their tenant's shard", () => {
  it("a cube's outbox sends its events to its tenant's shard, one call each", async () => {
    const { calls, queues } = recordingShards(WEBHOOK_EVENT_SHARDS);
    const target = Object.fromEntries(WEBHOOK_EVENT_QUEUES.bindings.map((binding, i) => [binding, queues[i]]));
    const { key, tenantId } = await newTenant(["admin"]);
    const user = uniqueUser();
    const written = await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "a fact" }, { content: "another fact" }] } });
    const cubeId = written.body.cube_id as string;
    await runInDurableObject(env.CUBE.getByName(cubeObjectName(tenantId, cubeId)), async (_instance, state) => {
      const outbox = new CubeOutbox(state.storage.sql, state.storage.kv);
      state.storage.sql.exec("UPDATE webhook_outbox SET last_seq = 0");
      expect(await outbox.drain(target, { tenantId, cubeId, owner: `user:${user}` })).toMatchObject({ sent: 2, error: null });
    });
    expect(calls.map((c) => c.shard)).toEqual([shardOf(tenantId, WEBHOOK_EVENT_SHARDS)]);
  });

  it("the Worker's webhook producer and the vectors producer send each tenant's messages to its shard, the sweep's to one", async () => {
    const webhooks = recordingShards(WEBHOOK_EVENT_SHARDS);
    const sender = shardedSender(webhooks.queues, tenantOf);
    const tenants = tenantPerShard(WEBHOOK_EVENT_SHARDS);
    await sender.sendBatch(
      tenants.flatMap((tenantId) => [
        { body: { kind: "events", tenant_id: tenantId, events: [] } },
        { body: { kind: "delivery", delivery_id: `dlv_${tenantId}`, tenant_id: tenantId } },
      ]),
    );
    // One call per shard, each with its tenant's two messages, in order.
    expect(webhooks.calls.map((c) => c.shard).sort((a, b) => a - b)).toEqual([...Array(WEBHOOK_EVENT_SHARDS).keys()]);
    for (const call of webhooks.calls) expect(call.bodies.map(tenantOf)).toEqual([tenants[call.shard], tenants[call.shard]]);
    webhooks.calls.length = 0;
    await sender.sendBatch([{ body: { kind: "delivery", delivery_id: "dlv_a" } }, { body: { kind: "delivery", delivery_id: "dlv_b" } }]);
    expect(webhooks.calls.map((c) => c.shard)).toEqual([shardOf("", WEBHOOK_EVENT_SHARDS)]);

    const vectors = recordingShards(VECTOR_SHARDS);
    const retrieval = createRetrieval({ VECTOR_INDEX: "vectorize", VECTORIZE: {}, ...Object.fromEntries(VECTOR_QUEUES.bindings.map((b, i) => [b, vectors.queues[i]])) });
    for (const tenantId of tenantPerShard(VECTOR_SHARDS)) {
      await retrieval.vectorQueue!.sendBatch([{ body: { tenant_id: tenantId, cube_id: "cube_a", embedder: "e", handed_at: 1, vectors: [] } }]);
    }
    expect(vectors.calls.map((c) => c.shard)).toEqual([...Array(VECTOR_SHARDS).keys()]);
  });

  it("a partial set of shard bindings fails at start, naming the missing; none is no vectors queue", () => {
    const { WEBHOOK_EVENTS_9: _hook, ...withoutHook } = bindings;
    expect(() => createWebhookDeps(withoutHook as unknown as Env)).toThrow(ConfigError);
    expect(() => createWebhookDeps(withoutHook as unknown as Env)).toThrow(/WEBHOOK_EVENTS_9/);
    const { VECTOR_UPSERTS_3: _vector, ...withoutVector } = bindings;
    expect(() => createRetrieval({ ...withoutVector, VECTOR_INDEX: "vectorize", VECTORIZE: {} })).toThrow(/VECTOR_UPSERTS_3/);
    expect(createRetrieval({ VECTOR_INDEX: "vectorize", VECTORIZE: {} }).vectorQueue).toBeNull();
  });
});
