/**
 * The bookkeeping queue's shards (services/bookkeeping-shards.ts): every shard declared in wrangler.toml is consumed
 * by the one handler and lands its items; a request's items go, as one message, to its tenant's shard; tenants
 * spread evenly; a missing shard binding fails at start.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { newTenantId } from "../../src/core/ids";
import { createDeps } from "../../src/deps";
import { ConfigError } from "../../src/errors";
import { type BookkeepingMessage, newAuditId, queueBookkeeping } from "../../src/services/bookkeeping";
import { BOOKKEEPING_BINDINGS, BOOKKEEPING_QUEUES, BOOKKEEPING_SHARDS, bookkeepingShard, isBookkeepingQueue } from "../../src/services/bookkeeping-shards";
import { shardRows } from "../audit-helpers";

const bindings = env as unknown as Env;

function auditItem(tenantId: string, action = "memory.read"): Extract<BookkeepingMessage, { kind: "audit" }> {
  return { kind: "audit", entry: { id: newAuditId(), tenantId, at: Date.now(), actor: "key_0123456789abcdef", action, memoryIds: "[]", detail: "{}", status: 200 } };
}

/** One tenant id per shard: drawn until every shard has one. */
function tenantPerShard(): string[] {
  const tenants: (string | undefined)[] = Array.from({ length: BOOKKEEPING_SHARDS });
  while (tenants.some((t) => t === undefined)) {
    const tenantId = newTenantId();
    tenants[bookkeepingShard(tenantId)] ??= tenantId;
  }
  return tenants as string[];
}

/** Waits until each (tenant, audit id) pair is in the tenant's audit shards, through the real queues and consumer. */
async function expectLanded(pairs: { tenantId: string; id: string }[]) {
  await vi.waitFor(
    async () => {
      const missing: string[] = [];
      for (const { tenantId, id } of pairs) if ((await shardRows(tenantId, "id = ?", id)).length !== 1) missing.push(`${tenantId}/${id}`);
      expect(missing).toEqual([]);
    },
    { timeout: 25_000, interval: 300 },
  );
}

describe("bookkeeping shards", () => {
  it("wrangler.toml gives every shard a producer binding and the handler takes every shard's queue", () => {
    expect(BOOKKEEPING_BINDINGS).toHaveLength(BOOKKEEPING_SHARDS);
    expect(new Set(BOOKKEEPING_QUEUES).size).toBe(BOOKKEEPING_SHARDS);
    for (const name of BOOKKEEPING_BINDINGS) expect(typeof (bindings as unknown as Record<string, Queue>)[name]?.sendBatch, name).toBe("function");
    for (const queue of BOOKKEEPING_QUEUES) expect(isBookkeepingQueue(queue), queue).toBe(true);
    expect(isBookkeepingQueue("memos-edge-webhooks")).toBe(false);
  });

  // Fails if a shard's queue has no [[queues.consumers]] entry (its message is never delivered) or if the queue
  // handler does not send that queue's batches to the bookkeeping consumer (the webhook consumer would drop them).
  it("an item sent on each shard's own binding reaches the tenant's audit object", async () => {
    const tenantId = newTenantId();
    const sent = await Promise.all(
      BOOKKEEPING_BINDINGS.map(async (name) => {
        const item = auditItem(tenantId, `shard.${name}`);
        await (bindings as unknown as Record<string, Queue>)[name]!.send([item]);
        return { tenantId, id: item.entry.id };
      }),
    );
    await expectLanded(sent);
  });

  it("the request path's producer lands a tenant on every shard: hold, key stamp, release with the audit entry", async () => {
    const sent = await Promise.all(
      tenantPerShard().map(async (tenantId) => {
        const { bookkeeping } = createDeps(bindings);
        bookkeeping.hold();
        await bookkeeping.send({ kind: "key_used", keyId: "key_0123456789abcdef", at: Date.now() });
        const item = auditItem(tenantId);
        await bookkeeping.release(item);
        return { tenantId, id: item.entry.id };
      }),
    );
    await expectLanded(sent);
  });

  it("sends a request's items as one message to its tenant's shard, and a lone key stamp by its key", async () => {
    const calls: { shard: number; bodies: unknown[] }[] = [];
    const queues = Array.from({ length: BOOKKEEPING_SHARDS }, (_, shard) => ({
      send: () => Promise.reject(new Error("the producer sends in batches")),
      sendBatch: async (messages: Iterable<MessageSendRequest<unknown>>) => void calls.push({ shard, bodies: [...messages].map((m) => m.body) }),
    })) as unknown as Queue[];
    for (const tenantId of tenantPerShard()) {
      const producer = queueBookkeeping(queues);
      producer.hold();
      await producer.send({ kind: "key_used", keyId: "key_a", at: 1 });
      await producer.send({ kind: "activity", tenantId, cubeId: "cube_a", liveCount: 3, at: 1 });
      await producer.release(auditItem(tenantId));
    }
    expect(calls.map((c) => c.shard)).toEqual([...Array(BOOKKEEPING_SHARDS).keys()]);
    for (const call of calls) expect(call.bodies).toHaveLength(1);

    calls.length = 0;
    await queueBookkeeping(queues).send({ kind: "key_used", keyId: "key_b", at: 1 });
    expect(calls.map((c) => c.shard)).toEqual([bookkeepingShard("key_b")]);
    // Nothing held and nothing released: no send at all.
    calls.length = 0;
    const idle = queueBookkeeping(queues);
    idle.hold();
    await idle.release();
    expect(calls).toEqual([]);
  });

  it("spreads tenant ids evenly, by a hash with no per-isolate seed", () => {
    const counts: number[] = Array.from({ length: BOOKKEEPING_SHARDS }, () => 0);
    const tenants = Array.from({ length: 16_000 }, () => newTenantId());
    for (const tenantId of tenants) counts[bookkeepingShard(tenantId)]! += 1;
    const mean = tenants.length / BOOKKEEPING_SHARDS;
    // 1,000 a shard on average, one standard deviation ~31 (~3%): ±15% is ~5 of them, which a fair hash passes but
    // for about one run in 10^5, and a hash that favours some shards (or ignores part of the id) does not.
    expect(Math.min(...counts)).toBeGreaterThan(mean * 0.85);
    expect(Math.max(...counts)).toBeLessThan(mean * 1.15);
    // Stable across isolates and deploys: plain FNV-1a 32 (its published test vectors), no per-isolate seed.
    expect(bookkeepingShard("a", 2 ** 32)).toBe(0xe40c292c);
    expect(bookkeepingShard("foobar", 2 ** 32)).toBe(0xbf9cf968);
  });

  it("refuses to start without a shard's binding, naming it", () => {
    const { BOOKKEEPING_7: _missing, ...rest } = bindings;
    expect(() => createDeps(rest as unknown as Env)).toThrow(ConfigError);
    expect(() => createDeps(rest as unknown as Env)).toThrow(/BOOKKEEPING_7/);
  });
});
