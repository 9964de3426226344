/**
 * The bookkeeping queue's consumer (services/bookkeeping.ts): a batch's audit entries land in their tenants' audit
 * objects and the rest in D1 in one call, a redelivered batch changes nothing, and a batch that failed is not
 * acknowledged and lands whole when it comes again.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createDeps } from "../../src/deps";
import worker from "../../src/index";
import { BOOKKEEPING_QUEUE, type BookkeepingMessage, bookkeepingStatements, consumeBookkeepingBatch, newAuditId } from "../../src/services/bookkeeping";
import { LAST_USE_PRECISION_MS, RecentFlushes } from "../../src/services/bookkeeping-coalesce";
import { listOwners } from "../../src/services/owners";
import { shardRows } from "../audit-helpers";
import { newTenant, remember, uniqueUser } from "../helpers";

const bindings = env as unknown as Env;

function auditMessage(tenantId: string, action = "memory.read", at = Date.now()): BookkeepingMessage {
  const entry = { id: newAuditId(), tenantId, at, actor: "key_0123456789abcdef", action, memoryIds: "[]", detail: "{}", status: 200 };
  return { kind: "audit", entry };
}

function batchOf(messages: unknown[], attempts = 1) {
  return createMessageBatch<unknown>(
    BOOKKEEPING_QUEUE,
    messages.map((body, i) => ({ id: `msg-${i}`, timestamp: new Date(), attempts, body })),
  );
}

async function deliver(messages: unknown[], attempts = 1) {
  const batch = batchOf(messages, attempts);
  const ctx = createExecutionContext();
  await worker.queue(batch, bindings);
  return getQueueResult(batch, ctx);
}

/** Rows of the tenant's audit shards with these ids (D1 holds none of them). */
async function auditRows(tenantId: string, ids: string[]): Promise<Record<string, unknown>[]> {
  const placeholders = ids.map(() => "?").join(",");
  const inD1 = await env.DB.prepare(`SELECT count(*) AS n FROM audit_log WHERE id IN (${placeholders})`).bind(...ids).first<{ n: number }>();
  expect(inD1?.n).toBe(0);
  const rows = await shardRows(tenantId, `id IN (${placeholders})`, ...ids);
  return rows.sort((a, b) => (String(a.action) < String(b.action) ? 1 : String(a.action) > String(b.action) ? -1 : 0));
}

const auditCount = async (tenantId: string, ids: string[]) => (await auditRows(tenantId, ids)).length;

/** An owner as the directory lists it: its count and last activity rolled up from its cubes. */
async function ownerOf(tenantId: string, owner: string) {
  const { owners } = await listOwners(createDeps(bindings), tenantId, 1, 100);
  const entry = owners.find((o) => o.owner === owner);
  return entry && { memory_count: entry.memoryCount, last_active_at: entry.lastActiveAt };
}

const idsOf = (messages: BookkeepingMessage[]) => messages.flatMap((m) => (m.kind === "audit" ? [m.entry.id] : []));

afterEach(() => vi.restoreAllMocks());

describe("bookkeeping queue consumer", () => {
  it("writes a batch once: a redelivery of the same messages adds no audit entry and moves no count back", async () => {
    const { key, tenantId, keyId } = await newTenant();
    const user = uniqueUser();
    const [memory] = await remember(key, user, [{ content: "a" }]);
    const cubeId = memory.cube_id as string;
    const at = Date.now() + 60_000;
    const messages: BookkeepingMessage[] = [
      ...Array.from({ length: 30 }, () => auditMessage(tenantId)),
      // Out of order: the newer count arrives first and must win.
      { kind: "activity", tenantId, cubeId, liveCount: 7, at: at + 10 },
      { kind: "activity", tenantId, cubeId, liveCount: 3, at },
      { kind: "key_used", keyId, at },
    ];
    const first = await deliver(messages);
    expect(first.ackAll).toBe(true);
    const again = await deliver(messages, 2);
    expect(again.ackAll).toBe(true);

    expect(await auditCount(tenantId, idsOf(messages))).toBe(30);
    const cube = await env.DB.prepare("SELECT memory_count, last_active_at FROM cubes WHERE id = ?").bind(cubeId).first();
    expect(cube).toEqual({ memory_count: 7, last_active_at: at + 10 });
    expect(await ownerOf(tenantId, `user:${user}`)).toEqual({ memory_count: 7, last_active_at: at + 10 });
    const keyRow = await env.DB.prepare("SELECT last_used_at FROM api_keys WHERE id = ?").bind(keyId).first();
    expect(keyRow).toEqual({ last_used_at: at });

    // An older stamp delivered late does not move the newer one back.
    await deliver([{ kind: "key_used", keyId, at: at - 5_000 }, { kind: "activity", tenantId, cubeId, liveCount: 1, at }]);
    expect(await env.DB.prepare("SELECT last_used_at FROM api_keys WHERE id = ?").bind(keyId).first()).toEqual({ last_used_at: at });
    expect(await env.DB.prepare("SELECT memory_count FROM cubes WHERE id = ?").bind(cubeId).first()).toEqual({ memory_count: 7 });
  });

  it("applies a full batch of 100 messages in one audit-shard call and one D1 call of one statement per kind", async () => {
    const { key, tenantId, keyId } = await newTenant();
    const deps = createDeps(bindings);
    const { db } = deps;
    const users = [uniqueUser(), uniqueUser()];
    const cubeIds: string[] = [];
    for (const user of users) cubeIds.push((await remember(key, user, [{ content: "a" }]))[0].cube_id as string);
    const at = Date.now() + 60_000;
    const messages: BookkeepingMessage[] = [
      ...Array.from({ length: 96 }, () => auditMessage(tenantId)),
      ...users.map((user, i): BookkeepingMessage => ({ kind: "activity", tenantId, cubeId: cubeIds[i] as string, liveCount: 5 + i, at })),
      { kind: "key_used", keyId, at },
      { kind: "key_used", keyId, at: at - 1 },
    ];
    // 2 cubes of 2 owners and a key: two statements, where one row per statement would take 3 and a statement for
    // the owners' sums one more; no audit row in D1.
    expect(bookkeepingStatements(db.$client, messages)).toHaveLength(2);
    // A batch of writes alone (no key stamp due): one statement, however many cubes and owners it names.
    expect(bookkeepingStatements(db.$client, messages.filter((m) => m.kind !== "key_used"))).toHaveLength(1);
    const batchCall = vi.spyOn(db.$client, "batch");
    const objectOf = vi.spyOn(deps.auditLogs, "getByName");
    await consumeBookkeepingBatch(batchOf(messages), deps);
    expect(batchCall).toHaveBeenCalledTimes(1);
    // One shard (today's); its first append registers it with the tenant's directory, which the spy sees locally.
    expect(objectOf.mock.calls.map(([name]) => name).filter((name) => name.includes("/"))).toHaveLength(1);
    expect(await auditCount(tenantId, idsOf(messages))).toBe(96);
    for (const [i, user] of users.entries()) expect(await ownerOf(tenantId, `user:${user}`)).toEqual({ memory_count: 5 + i, last_active_at: at });
    expect(await env.DB.prepare("SELECT last_used_at FROM api_keys WHERE id = ?").bind(keyId).first()).toEqual({ last_used_at: at });
  });

  it("keeps an audit entry's every field, nulls included", async () => {
    const { tenantId } = await newTenant();
    const full = auditMessage(tenantId, "memory.write");
    if (full.kind !== "audit") throw new Error("unreachable");
    Object.assign(full.entry, { cubeId: "cube_x", memoryIds: '["mem_a"]', requestId: "req_1", status: 201, detail: '{"n":1}' });
    const bare = auditMessage(tenantId);
    if (bare.kind !== "audit") throw new Error("unreachable");
    Object.assign(bare.entry, { memoryIds: undefined, detail: undefined, status: undefined } as Partial<typeof bare.entry>);
    await deliver([full, bare]);
    const rows = (await auditRows(tenantId, [full.entry.id, bare.entry.id])).map(({ seq: _seq, ...row }) => row);
    expect(rows).toEqual([
      { id: full.entry.id, at: full.entry.at, actor: full.entry.actor, action: "memory.write", cube_id: "cube_x", memory_ids: '["mem_a"]', request_id: "req_1", status: 201, detail: '{"n":1}' },
      { id: bare.entry.id, at: bare.entry.at, actor: bare.entry.actor, action: "memory.read", cube_id: null, memory_ids: "[]", request_id: null, status: null, detail: "{}" },
    ]);
  });

  it("a batch whose audit append fails in one tenant's object is not acknowledged, and lands once in each when redelivered", async () => {
    const [a, b] = [await newTenant(), await newTenant()];
    const deps = createDeps(bindings);
    const messages = [...Array.from({ length: 6 }, () => auditMessage(a.tenantId)), ...Array.from({ length: 6 }, () => auditMessage(b.tenantId))];
    // Tenant a's shard takes its entries; tenant b's call fails (an object reset mid-call): the batch throws.
    const real = deps.auditLogs.getByName.bind(deps.auditLogs);
    vi.spyOn(deps.auditLogs, "getByName").mockImplementation((name) => {
      if (name.startsWith(`${b.tenantId}/`)) return { append: () => Promise.reject(new Error("object reset")) } as unknown as ReturnType<typeof real>;
      return real(name);
    });
    await expect(consumeBookkeepingBatch(batchOf(messages), deps)).rejects.toThrow("object reset");
    vi.restoreAllMocks();
    expect(await auditCount(a.tenantId, idsOf(messages))).toBe(6);
    expect(await auditCount(b.tenantId, idsOf(messages))).toBe(0);

    const redelivered = await deliver(messages, 2);
    expect(redelivered.ackAll).toBe(true);
    expect(await auditCount(a.tenantId, idsOf(messages))).toBe(6);
    expect(await auditCount(b.tenantId, idsOf(messages))).toBe(6);
  });

  it("a batch whose D1 write fails is not acknowledged, and its D1 part lands when redelivered", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const cubeId = (await remember(key, user, [{ content: "a" }]))[0].cube_id as string;
    const deps = createDeps(bindings);
    const at = Date.now() + 120_000;
    const messages: BookkeepingMessage[] = [auditMessage(tenantId), { kind: "activity", tenantId, cubeId, liveCount: 42, at }];
    vi.spyOn(deps.db.$client, "batch").mockRejectedValueOnce(new Error("D1 is overloaded"));
    await expect(consumeBookkeepingBatch(batchOf(messages), deps)).rejects.toThrow("D1 is overloaded");
    expect(await env.DB.prepare("SELECT memory_count FROM cubes WHERE id = ?").bind(cubeId).first()).not.toEqual({ memory_count: 42 });
    expect((await deliver(messages, 2)).ackAll).toBe(true);
    expect(await env.DB.prepare("SELECT memory_count FROM cubes WHERE id = ?").bind(cubeId).first()).toEqual({ memory_count: 42 });
    expect(await auditCount(tenantId, idsOf(messages))).toBe(1);
  });

  it("writes a row's last-use stamp at most once per window: skipped by the isolate's memory, and by SQL without it", async () => {
    const { key, tenantId, keyId } = await newTenant();
    const user = uniqueUser();
    const cubeId = (await remember(key, user, [{ content: "a" }]))[0].cube_id as string;
    const deps = createDeps(bindings);
    const start = Date.now() + 600_000;
    const activity = (liveCount: number, at: number): BookkeepingMessage => ({ kind: "activity", tenantId, cubeId, liveCount, at });
    const stamps = async () => ({
      cube: await env.DB.prepare("SELECT memory_count AS n, last_active_at AS at FROM cubes WHERE id = ?").bind(cubeId).first(),
      owner: await ownerOf(tenantId, `user:${user}`).then((o) => o && { n: o.memory_count, at: o.last_active_at }),
      key: (await env.DB.prepare("SELECT last_used_at AS at FROM api_keys WHERE id = ?").bind(keyId).first())?.at,
    });
    const recent = new RecentFlushes();
    await consumeBookkeepingBatch(batchOf([activity(5, start), { kind: "key_used", keyId, at: start }]), deps, recent);
    expect(await stamps()).toEqual({ cube: { n: 5, at: start }, owner: { n: 5, at: start }, key: start });

    // Within the window, same count: this isolate sends D1 nothing at all.
    const batchCall = vi.spyOn(deps.db.$client, "batch");
    await consumeBookkeepingBatch(batchOf([activity(5, start + 60_000), { kind: "key_used", keyId, at: start + 60_000 }]), deps, recent);
    expect(batchCall).not.toHaveBeenCalled();
    // Another isolate (no memory) sends the statements, and the SQL guards write nothing.
    await consumeBookkeepingBatch(batchOf([activity(5, start + 120_000), { kind: "key_used", keyId, at: start + 120_000 }]), deps, new RecentFlushes());
    expect(batchCall).toHaveBeenCalledTimes(1);
    expect(await stamps()).toEqual({ cube: { n: 5, at: start }, owner: { n: 5, at: start }, key: start });

    // A changed count is written at once, window or not.
    await consumeBookkeepingBatch(batchOf([activity(6, start + 180_000)]), deps, recent);
    expect((await stamps()).cube).toEqual({ n: 6, at: start + 180_000 });
    expect((await stamps()).owner).toEqual({ n: 6, at: start + 180_000 });
    // Past the window the stamps move again.
    const later = start + 180_000 + LAST_USE_PRECISION_MS;
    await consumeBookkeepingBatch(batchOf([activity(6, later), { kind: "key_used", keyId, at: later }]), deps, recent);
    expect(await stamps()).toEqual({ cube: { n: 6, at: later }, owner: { n: 6, at: later }, key: later });
  });

  it("a message of unknown shape is dropped without holding back the rest of its batch", async () => {
    const { tenantId } = await newTenant();
    const good = [auditMessage(tenantId), auditMessage(tenantId)];
    const grouped = [auditMessage(tenantId), auditMessage(tenantId)];
    // A request's items travel as one array; a bad item inside it is dropped alone.
    const result = await deliver([{ kind: "nonsense" }, "text", null, ...good, { kind: "audit", entry: { id: 5 } }, [grouped[0], { kind: "?" }, grouped[1]]]);
    expect(result.ackAll).toBe(true);
    expect(await auditCount(tenantId, idsOf([...good, ...grouped]))).toBe(4);
  });
});
