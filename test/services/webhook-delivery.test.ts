import { createExecutionContext, createMessageBatch, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { QueueStandIn } from "../adapters/stand-ins";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CubeJobs, MAX_JOB_ATTEMPTS } from "../../durable-objects/cube/jobs";
import { CubeOutbox } from "../../durable-objects/cube/outbox";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { WEBHOOK_EVENT_QUEUES } from "../../src/adapters/queue-shards";
import { cubeObjectName } from "../../src/core/ids";
import { createDeps } from "../../src/deps";
import worker from "../../src/index";
import type { WebhookEventWire, WebhookQueue, WebhookQueueMessage } from "../../src/schemas/webhooks";
import type { Deps } from "../../src/services/context";
import {
  MAX_DELIVERY_ATTEMPTS,
  STALLED_AFTER_MS,
  consumeWebhookBatch,
  retryDelaySeconds,
  sweepWebhookDeliveries,
} from "../../src/services/webhook-delivery";
import { WEBHOOK_DEAD_LETTER_QUEUE } from "../../src/services/webhook-dead-letters";
import { changeWebhooks } from "../../src/services/tenant-directory";
import { SUBSCRIBERS_STALE_MS } from "../../src/services/webhook-subscribers";
import { type WebhookDeps, publishEvent } from "../../src/services/webhooks";
import wranglerToml from "../../wrangler.toml?raw";
import { call, newTenant, uniqueUser } from "../helpers";
import { type Receiver, createReceiver, verifyMemosWebhook } from "../webhook-receiver";

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * A queue producer that keeps what it is given, so the test decides when (and how often) messages arrive; it refuses
 * what Cloudflare Queues refuse (QueueStandIn: 100 messages and 256 KB per sendBatch, 128 KB per message).
 */
function capturingQueue(fail = false) {
  const sent: WebhookQueueMessage[] = [];
  const limits = new QueueStandIn<WebhookQueueMessage>();
  const queue: WebhookQueue = {
    async sendBatch(messages) {
      if (fail) throw new Error("queue unavailable");
      const list = [...messages];
      await limits.sendBatch(list);
      for (const message of list) sent.push(message.body);
    },
  };
  return { queue, sent, take: () => sent.splice(0, sent.length) };
}

/** The same producer on every shard binding of the webhook queue, as an outbox or the Worker finds them in env. */
const allShards = (queue: WebhookQueue) => Object.fromEntries(WEBHOOK_EVENT_QUEUES.bindings.map((binding) => [binding, queue]));

/** A consumer world with a clock the test moves, a captured queue and a local receiver instead of the network. */
function world(receiver: Receiver, start = Date.now()) {
  const clock = { now: start };
  const deps: Deps = { ...createDeps(env), clock: () => clock.now };
  const captured = capturingQueue();
  const hooks: WebhookDeps = { queue: captured.queue, fetch: receiver.fetch, policy: { local: true } };
  return { clock, deps, hooks, captured };
}

interface Settled {
  acked: boolean;
  retried: boolean;
  delaySeconds: number | undefined;
}

/** Runs the consumer over one batch and reports how each message was settled (ack, or retry with its delay). */
async function consume(deps: Deps, hooks: WebhookDeps, bodies: WebhookQueueMessage[], attempts = 1): Promise<Settled[]> {
  const batch = createMessageBatch<WebhookQueueMessage>(
    "memos-edge-webhooks",
    bodies.map((body) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts, body })),
  );
  const settled = batch.messages.map((message) => {
    const outcome: Settled = { acked: false, retried: false, delaySeconds: undefined };
    const retry = message.retry.bind(message);
    vi.spyOn(message, "ack").mockImplementation(() => {
      outcome.acked = true;
    });
    vi.spyOn(message, "retry").mockImplementation((options) => {
      outcome.retried = true;
      outcome.delaySeconds = options?.delaySeconds;
      retry(options);
    });
    return outcome;
  });
  await consumeWebhookBatch(batch as MessageBatch<unknown>, deps, hooks);
  return settled;
}

/** A synthetic event of `tenantId` (tests of delivery mechanics need no cube). */
function syntheticEvent(tenantId: string, type: WebhookEventWire["type"] = "memory.created"): WebhookEventWire {
  return {
    id: `evt_test_${crypto.randomUUID()}`,
    type,
    created_at: new Date().toISOString(),
    tenant_id: tenantId,
    cube_id: "cube_0123456789abcdef",
    owner: "user:alice",
    data: { memory_id: "mem_0123456789abcdef0123456789abcdef", version: 1 },
  };
}

const eventsMessage = (tenantId: string, events: WebhookEventWire[]): WebhookQueueMessage => ({ kind: "events", tenant_id: tenantId, events });

async function registerWebhook(key: string, events: string[], url = "https://receiver.example/hooks") {
  const response = await call("POST", "/v1/webhooks", { key, body: { url, events } });
  if (response.status !== 201) throw new Error(`webhook registration failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body as { id: string; secret: string };
}

const deliveries = async (key: string, webhookId: string, query = "") =>
  (await call("GET", `/v1/webhooks/${webhookId}/deliveries${query}`, { key })).body as { data: any[]; next_cursor: string | null };

const deliveryMessages = (messages: WebhookQueueMessage[]) => messages.filter((m) => m.kind === "delivery");

describe("the cube's outbox", () => {
  it("maps real cube activity to webhook events: ids, states and reasons, never content", async () => {
    const { key, tenantId, keyId } = await newTenant(["admin"]);
    const user = uniqueUser();
    const written = await call("POST", "/v1/memories", {
      key,
      body: { user_id: user, memories: [{ content: "Alice's locker code is 4711." }, { content: "Alice swims on Tuesdays." }] },
    });
    const [first, second] = written.body.data as { id: string }[];
    const cubeId = written.body.cube_id as string;
    expect((await call("PATCH", `/v1/memories/${first!.id}`, { key, body: { content: "Alice's locker code is 1234." } })).status).toBe(200);
    expect((await call("POST", `/v1/memories/${first!.id}/pin`, { key })).status).toBe(200);
    expect((await call("POST", `/v1/memories/${first!.id}/rollback`, { key, body: { version: 1 } })).status).toBe(200);
    expect((await call("DELETE", `/v1/memories/${first!.id}`, { key })).status).toBe(200);
    expect((await call("DELETE", `/v1/memories/${second!.id}?hard=true`, { key })).status).toBe(200);

    const ref: CubeRef = { tenantId, cubeId, owner: `user:${user}` };
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
    const { events, again } = await runInDurableObject(stub, (_instance, state) => {
      const outbox = new CubeOutbox(state.storage.sql, state.storage.kv);
      return { events: outbox.eventsAfter(ref, 0).events, again: outbox.eventsAfter(ref, 0).events };
    });
    expect(events.map((e) => [e.type, e.data.memory_id, e.data.change])).toEqual([
      ["memory.created", first!.id, "created"],
      ["memory.created", second!.id, "created"],
      ["memory.updated", first!.id, "updated"],
      // The pin is internal: no webhook event.
      ["memory.updated", first!.id, "rolled_back"],
      ["memory.forgotten", first!.id, "forgotten"],
      ["memory.forgotten", second!.id, "purged"],
    ]);
    for (const event of events) {
      expect(event).toMatchObject({ tenant_id: tenantId, cube_id: cubeId, owner: `user:${user}`, data: { actor: keyId } });
      expect(event.id).toMatch(new RegExp(`^evt_${cubeId.slice(5)}_[0-9a-f]{8}_\\d+$`));
      expect(Date.parse(event.created_at)).not.toBeNaN();
      expect(event.data.request_id).toMatch(/^req_/);
    }
    expect(events[2]!.data).toMatchObject({ version: 2, reason: null });
    expect(events[3]!.data).toMatchObject({ version: 3, rolled_back_to: 1, reason: "rolled back to version 1", from: "activated", to: "activated" });
    expect(events[4]!.data).toMatchObject({ version: 4, reason: "deleted on request", from: "activated", to: "forgotten" });
    expect(events[5]!.data).toMatchObject({ hard: true, reason: "hard delete requested" });
    // Stable ids (every re-send carries the same one), unique per event, and no content anywhere.
    expect(again.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    const wire = JSON.stringify(events);
    for (const text of ["4711", "1234", "locker", "Tuesdays"]) expect(wire).not.toContain(text);
  });

  it("publishes how jobs end: job.completed from the alarm, job.failed once when a job fails for good", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const user = uniqueUser();
    const written = await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "Bob likes tea." }] } });
    const cubeId = written.body.cube_id as string;
    const started = await call("POST", "/v1/jobs", { key, body: { type: "expire", cube_id: cubeId } });
    expect(started.status).toBe(202);
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
    await runDurableObjectAlarm(stub);
    expect((await call("GET", `/v1/jobs/${started.body.job_id}`, { key })).body.status).toBe("done");

    const ref: CubeRef = { tenantId, cubeId, owner: `user:${user}` };
    const events = await runInDurableObject(stub, (_instance, state) => {
      const jobs = new CubeJobs(state.storage.sql);
      const now = Date.now();
      const retried = jobs.create(ref, "reindex", 0, {}, now);
      for (let i = 0; i < MAX_JOB_ATTEMPTS + 2; i++) jobs.retryOrFail(retried.id, "embedding model unavailable", now);
      const failed = jobs.create(ref, "ingest", 0, { actor: "key_ingester000000", request_id: "req_ingest" }, now);
      jobs.fail(failed.id, "the model's output failed validation three times", now);
      jobs.fail(failed.id, "again", now);
      return new CubeOutbox(state.storage.sql, state.storage.kv).eventsAfter(ref, 0).events.filter((e) => e.type.startsWith("job."));
    });
    expect(events.map((e) => [e.type, e.data.job_type, e.data.error])).toEqual([
      ["job.completed", "expire", null],
      ["job.failed", "reindex", "embedding model unavailable"],
      ["job.failed", "ingest", "the model's output failed validation three times"],
    ]);
    expect(events[0]!.data).toMatchObject({ job_id: started.body.job_id, actor: "system", request_id: null });
    expect(events[2]!.data).toMatchObject({ actor: "key_ingester000000", request_id: "req_ingest" });
    expect(events[0]).not.toHaveProperty("data.memory_id");
  });

  it("drains to the queue and moves its cursor only after the queue accepted the events", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const user = uniqueUser();
    const written = await call("POST", "/v1/memories", {
      key,
      body: { user_id: user, memories: Array.from({ length: 25 }, (_, i) => ({ content: `fact number ${i}` })) },
    });
    const cubeId = written.body.cube_id as string;
    const ref: CubeRef = { tenantId, cubeId, owner: `user:${user}` };
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
    await runInDurableObject(stub, async (_instance, state) => {
      const outbox = new CubeOutbox(state.storage.sql, state.storage.kv);
      const all = outbox.eventsAfter(ref, 0);
      expect(all.events).toHaveLength(25);
      // From the start of the log, whatever drains ran before.
      state.storage.sql.exec("UPDATE webhook_outbox SET last_seq = 0");

      const down = capturingQueue(true);
      const failed = await outbox.drain(allShards(down.queue), ref);
      expect(failed).toMatchObject({ sent: 0, more: true, error: "queue unavailable" });
      expect(outbox.cursor().lastSeq).toBe(0);
      const unbound = await outbox.drain({}, ref);
      expect(unbound.error).toMatch(/WEBHOOK_EVENTS/);
      expect(outbox.cursor().lastSeq).toBe(0);

      const up = capturingQueue();
      const drained = await outbox.drain(allShards(up.queue), ref);
      expect(drained).toEqual({ sent: 25, more: false, error: null });
      expect(outbox.cursor().lastSeq).toBe(all.through);
      // Packed 20 events to a message, each message one tenant's.
      expect(up.sent.map((m) => (m.kind === "events" ? m.events.length : 0))).toEqual([20, 5]);
      expect(up.sent.every((m) => m.kind === "events" && m.tenant_id === tenantId)).toBe(true);
      expect(up.sent.flatMap((m) => (m.kind === "events" ? m.events.map((e) => e.id) : []))).toEqual(all.events.map((e) => e.id));

      // Nothing new: nothing sent. Concurrent drains send each event once between them.
      expect(await outbox.drain(allShards(up.queue), ref)).toEqual({ sent: 0, more: false, error: null });
      state.storage.sql.exec("UPDATE webhook_outbox SET last_seq = ?", all.through - 3);
      const twice = capturingQueue();
      const results = await Promise.all([outbox.drain(allShards(twice.queue), ref), outbox.drain(allShards(twice.queue), ref)]);
      expect(results.map((r) => r.sent)).toEqual([3, 0]);
      expect(twice.sent.flatMap((m) => (m.kind === "events" ? m.events.map((e) => e.id) : []))).toEqual(all.events.slice(-3).map((e) => e.id));
    });
  });
});

describe("webhook delivery", () => {
  it("fans an event out to the subscribed webhooks only and delivers it signed, verified by the receiver", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const created = await registerWebhook(key, ["memory.created", "memory.forgotten"]);
    const updates = await registerWebhook(key, ["memory.updated"]);
    const receiver = createReceiver({ secret: created.secret });
    const { deps, hooks, captured } = world(receiver);

    const event = syntheticEvent(tenantId, "memory.created");
    const fanned = await consume(deps, hooks, [eventsMessage(tenantId, [event])]);
    expect(fanned).toEqual([{ acked: true, retried: false, delaySeconds: undefined }]);
    const messages = deliveryMessages(captured.take());
    expect(messages).toHaveLength(1);
    expect((await deliveries(key, updates.id)).data).toEqual([]);
    const [queued] = (await deliveries(key, created.id)).data;
    expect(queued).toMatchObject({ status: "queued", attempts: 0, event_id: event.id, event_type: "memory.created", event });

    const delivered = await consume(deps, hooks, messages);
    expect(delivered[0]!.acked).toBe(true);
    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    expect(request!.verified).toBe(true);
    expect(request!.url).toBe("https://receiver.example/hooks");
    expect(request!.headers.get("Content-Type")).toBe("application/json");
    expect(request!.headers.get("X-Memos-Event-Id")).toBe(event.id);
    expect(request!.headers.get("X-Memos-Event-Type")).toBe("memory.created");
    expect(request!.headers.get("X-Memos-Delivery-Id")).toBe(queued.id);
    expect(JSON.parse(request!.body)).toEqual(event);
    // The signature is over "<timestamp>.<body>": another body, another timestamp or another secret fail.
    expect(await verifyMemosWebhook(created.secret, request!.headers, `${request!.body} `)).toBe(false);
    expect(await verifyMemosWebhook(updates.secret, request!.headers, request!.body)).toBe(false);
    const shifted = new Headers(request!.headers);
    shifted.set("X-Memos-Timestamp", String(Number(request!.headers.get("X-Memos-Timestamp")) + 1));
    expect(await verifyMemosWebhook(created.secret, shifted, request!.body)).toBe(false);

    const [done] = (await deliveries(key, created.id)).data;
    expect(done).toMatchObject({ status: "delivered", attempts: 1, last_status_code: 204, last_error: null, next_attempt_at: null });
    expect(done.delivered_at).not.toBeNull();
  });

  it("gives a webhook only the events that happened after it was registered, even when the queue brings them later", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const before = { ...syntheticEvent(tenantId), created_at: new Date(Date.now() - 5_000).toISOString() };
    const hook = await registerWebhook(key, ["memory.created"]);
    const after = { ...syntheticEvent(tenantId), created_at: new Date(Date.now() + 1_000).toISOString() };
    const { deps, hooks, captured } = world(createReceiver({ secret: hook.secret }));
    await consume(deps, hooks, [eventsMessage(tenantId, [before, after])]);
    expect(deliveryMessages(captured.take())).toHaveLength(1);
    expect((await deliveries(key, hook.id)).data.map((d: { event_id: string }) => d.event_id)).toEqual([after.id]);
  });

  it("reads a tenant's subscribers from D1 once, in its directory object: an isolate's refresh past the bound reads no D1, with or without webhooks", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const { deps, hooks, captured, clock } = world(createReceiver({ secret: "unused" }));
    const proto = Object.getPrototypeOf(env.DB) as D1Database;
    const prepare = vi.spyOn(proto, "prepare");
    // Three messages of the tenant in one batch are fanned out at once: they share one read (the object's load).
    await consume(deps, hooks, [1, 2, 3].map(() => eventsMessage(tenantId, [syntheticEvent(tenantId)])));
    expect(prepare.mock.calls.length).toBe(1);
    await consume(deps, hooks, [eventsMessage(tenantId, [syntheticEvent(tenantId)])]);
    // Past the bound the isolate asks the tenant's object again, which holds the (empty) list: no D1 read. Before
    // the object (3aa34a4) this was one D1 read per tenant, isolate and 5 s.
    for (let round = 1; round <= 3; round++) {
      clock.now += SUBSCRIBERS_STALE_MS;
      await consume(deps, hooks, [eventsMessage(tenantId, [syntheticEvent(tenantId)])]);
    }
    expect(prepare.mock.calls.length).toBe(1);

    // A webhook registered through this isolate is seen at once (one load of the changed list, then none).
    const hook = await registerWebhook(key, ["memory.created"]);
    const seen = { ...syntheticEvent(tenantId), created_at: new Date(Date.now() + 1_000).toISOString() };
    await consume(deps, hooks, [eventsMessage(tenantId, [seen])]);
    expect(deliveryMessages(captured.take())).toHaveLength(1);
    const webhookReads = () => prepare.mock.calls.filter(([query]) => /FROM webhooks WHERE tenant_id/i.test(query)).length;
    const afterRegistration = webhookReads();
    clock.now += SUBSCRIBERS_STALE_MS;
    await consume(deps, hooks, [eventsMessage(tenantId, [{ ...syntheticEvent(tenantId), created_at: new Date(Date.now() + 1_000).toISOString() }])]);
    expect(deliveryMessages(captured.take())).toHaveLength(1);
    expect(webhookReads()).toBe(afterRegistration);
    prepare.mockRestore();

    // One registered by another isolate (its D1 insert bracketed by the object, as createWebhook does, without
    // touching this isolate's cache) is fanned to within the bound.
    const elsewhere = "whk_elsewhere" + crypto.randomUUID().slice(0, 8);
    await changeWebhooks(deps, tenantId, () =>
      env.DB.prepare("INSERT INTO webhooks (id, tenant_id, url, events, sealed_secret, secret_prefix, created_at, secret_created_at) SELECT ?, tenant_id, url, events, sealed_secret, secret_prefix, ?, ? FROM webhooks WHERE id = ?")
        .bind(elsewhere, Date.now(), Date.now(), hook.id)
        .run(),
    );
    clock.now = Math.max(clock.now, Date.now()) + SUBSCRIBERS_STALE_MS;
    const later = { ...syntheticEvent(tenantId), created_at: new Date(clock.now).toISOString() };
    await consume(deps, hooks, [eventsMessage(tenantId, [later])]);
    expect(deliveryMessages(captured.take())).toHaveLength(2);

    // Deleted by another isolate: no delivery is made for it once the bound has passed here.
    await changeWebhooks(deps, tenantId, () =>
      env.DB.batch([env.DB.prepare("DELETE FROM webhook_deliveries WHERE webhook_id = ?").bind(elsewhere), env.DB.prepare("DELETE FROM webhooks WHERE id = ?").bind(elsewhere)]),
    );
    clock.now += SUBSCRIBERS_STALE_MS;
    const last = { ...syntheticEvent(tenantId), created_at: new Date(clock.now).toISOString() };
    await consume(deps, hooks, [eventsMessage(tenantId, [last])]);
    expect(deliveryMessages(captured.take())).toHaveLength(1);
  });

  it("re-reads the subscribers when a cached webhook was deleted elsewhere, and still delivers to the others", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const kept = await registerWebhook(key, ["memory.created"]);
    const gone = await registerWebhook(key, ["memory.created"], "https://receiver.example/hooks/gone");
    const { deps, hooks, captured } = world(createReceiver({ secret: kept.secret }));
    await consume(deps, hooks, [eventsMessage(tenantId, [{ ...syntheticEvent(tenantId), created_at: new Date(Date.now() + 1_000).toISOString() }])]);
    expect(deliveryMessages(captured.take())).toHaveLength(2);
    // Deleted in D1 only, as another isolate would: this isolate's list still names it.
    await env.DB.batch([env.DB.prepare("DELETE FROM webhook_deliveries WHERE webhook_id = ?").bind(gone.id), env.DB.prepare("DELETE FROM webhooks WHERE id = ?").bind(gone.id)]);
    const event = { ...syntheticEvent(tenantId), created_at: new Date(Date.now() + 1_000).toISOString() };
    const settled = await consume(deps, hooks, [eventsMessage(tenantId, [event])]);
    expect(settled[0]!.acked).toBe(true);
    expect(deliveryMessages(captured.take())).toHaveLength(1);
    expect((await deliveries(key, kept.id)).data.map((d: { event_id: string }) => d.event_id)).toContain(event.id);
  });

  it.each([
    [9, 1],
    [10, 1],
    [100, 1],
    [7, 2],
    [100, 3],
  ])("fans %i events out to %i webhook(s): every delivery is created and queued, none lost to the 100-parameter limit", async (count, hookCount) => {
    const { key, tenantId } = await newTenant(["admin"]);
    const hooks = [];
    for (let i = 0; i < hookCount; i++) hooks.push(await registerWebhook(key, ["memory.created"], `https://receiver.example/hooks/${i}`));
    const { deps, hooks: webhookDeps, captured } = world(createReceiver({ secret: hooks[0]!.secret }));
    const events = Array.from({ length: count }, () => syntheticEvent(tenantId));
    const fanned = await consume(deps, webhookDeps, [eventsMessage(tenantId, events)]);
    expect(fanned).toEqual([{ acked: true, retried: false, delaySeconds: undefined }]);
    expect(deliveryMessages(captured.take())).toHaveLength(count * hookCount);
    for (const hook of hooks) {
      const listed = await env.DB.prepare("SELECT event_id FROM webhook_deliveries WHERE webhook_id = ?").bind(hook.id).all<{ event_id: string }>();
      expect(listed.results.map((row) => row.event_id).sort()).toEqual(events.map((e) => e.id).sort());
    }
    // Hundreds of queued rows would crowd the cron's bounded sweep that a later test drives.
    await env.DB.prepare("DELETE FROM webhook_deliveries WHERE tenant_id = ?").bind(tenantId).run();
  });

  it("a 24-memory write with two webhooks queues a delivery of every memory.created event to each", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const hooks = [await registerWebhook(key, ["memory.created"]), await registerWebhook(key, ["memory.created"], "https://other.example/hooks")];
    const user = uniqueUser();
    const written = await call("POST", "/v1/memories", {
      key,
      body: { user_id: user, memories: Array.from({ length: 24 }, (_, i) => ({ content: `a distinct fact, number ${i}` })) },
    });
    expect(written.status).toBe(201);
    const cubeId = written.body.cube_id as string;
    const ref: CubeRef = { tenantId, cubeId, owner: `user:${user}` };
    const events = await runInDurableObject(env.CUBE.getByName(cubeObjectName(tenantId, cubeId)), (_instance, state) =>
      new CubeOutbox(state.storage.sql, state.storage.kv).eventsAfter(ref, 0).events,
    );
    expect(events).toHaveLength(24);
    const { deps, hooks: webhookDeps } = world(createReceiver({ secret: hooks[0]!.secret }));
    // The real queue's consumer may fan the same events out meanwhile: rows are unique per (webhook, event), so
    // either way each webhook ends with exactly 24.
    expect(await consume(deps, webhookDeps, [eventsMessage(tenantId, events)])).toEqual([{ acked: true, retried: false, delaySeconds: undefined }]);
    for (const hook of hooks) expect((await deliveries(key, hook.id, "?limit=100")).data).toHaveLength(24);
    // The write also drained to the real queue, whose consumer would go on POSTing to these endpoints during later
    // tests; with the webhooks gone its messages find nothing to do.
    for (const hook of hooks) expect((await call("DELETE", `/v1/webhooks/${hook.id}`, { key })).status).toBe(200);
    await env.DB.prepare("DELETE FROM webhook_deliveries WHERE tenant_id = ?").bind(tenantId).run();
  });

  it("retries a failing endpoint with exponential backoff until it answers 2xx", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const hook = await registerWebhook(key, ["memory.created"]);
    const receiver = createReceiver({ secret: hook.secret, failures: 2, failureStatus: 503 });
    const { clock, deps, hooks, captured } = world(receiver);
    await consume(deps, hooks, [eventsMessage(tenantId, [syntheticEvent(tenantId)])]);
    const [message] = deliveryMessages(captured.take());

    const first = await consume(deps, hooks, [message!]);
    expect(first).toEqual([{ acked: false, retried: true, delaySeconds: 10 }]);
    let [row] = (await deliveries(key, hook.id)).data;
    expect(row).toMatchObject({ status: "failed", attempts: 1, last_status_code: 503, last_error: "HTTP 503" });
    expect(Date.parse(row.next_attempt_at)).toBe(clock.now + 10_000);

    // The same message arriving before its retry is due (a duplicate) waits, without a request.
    clock.now += 4_000;
    expect(await consume(deps, hooks, [message!], 2)).toEqual([{ acked: false, retried: true, delaySeconds: 6 }]);
    expect(receiver.requests).toHaveLength(1);

    clock.now += 6_000;
    expect(await consume(deps, hooks, [message!], 2)).toEqual([{ acked: false, retried: true, delaySeconds: 20 }]);
    clock.now += 20_000;
    expect(await consume(deps, hooks, [message!], 3)).toEqual([{ acked: true, retried: false, delaySeconds: undefined }]);
    [row] = (await deliveries(key, hook.id)).data;
    expect(row).toMatchObject({ status: "delivered", attempts: 3, last_status_code: 204, last_error: null });

    // Every attempt carried the same event and event id, each signed afresh; the receiver handled the event once.
    expect(receiver.requests.map((r) => r.status)).toEqual([503, 503, 204]);
    expect(receiver.requests.every((r) => r.verified)).toBe(true);
    expect(new Set(receiver.requests.map((r) => r.headers.get("X-Memos-Event-Id"))).size).toBe(1);
    expect(receiver.requests.map((r) => r.headers.get("X-Memos-Delivery-Attempt"))).toEqual(["1", "2", "3"]);
    expect(receiver.handled).toHaveLength(1);

    // A late duplicate of the message after delivery changes nothing.
    expect(await consume(deps, hooks, [message!], 4)).toEqual([{ acked: true, retried: false, delaySeconds: undefined }]);
    expect(receiver.requests).toHaveLength(3);
  });

  it("de-duplicates by event id: the same event arriving twice is delivered once", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const hook = await registerWebhook(key, ["memory.forgotten", "owner.deleted"]);
    const receiver = createReceiver({ secret: hook.secret });
    const { deps, hooks, captured } = world(receiver);
    const event = syntheticEvent(tenantId, "memory.forgotten");

    // At-least-once upstream: the outbox re-sends after a lost acknowledgement, the queue redelivers.
    await consume(deps, hooks, [eventsMessage(tenantId, [event])]);
    await consume(deps, hooks, [eventsMessage(tenantId, [event]), eventsMessage(tenantId, [event])]);
    const messages = deliveryMessages(captured.take());
    expect(messages).toHaveLength(1);
    await consume(deps, hooks, [...messages, ...messages]);
    expect(receiver.requests.filter((r) => r.status === 204)).toHaveLength(1);
    expect((await deliveries(key, hook.id)).data).toHaveLength(1);

    // Events of another tenant, or of no subscribed type, make no delivery.
    const stranger = await newTenant(["admin"]);
    await consume(deps, hooks, [eventsMessage(stranger.tenantId, [{ ...syntheticEvent(stranger.tenantId), type: "memory.forgotten" }])]);
    await consume(deps, hooks, [eventsMessage(tenantId, [syntheticEvent(tenantId, "memory.created")])]);
    await consume(deps, hooks, [eventsMessage(stranger.tenantId, [syntheticEvent(tenantId, "memory.forgotten")])]);
    expect(captured.take()).toEqual([]);

    // owner.deleted comes from the Worker through publishEvent, the same way in.
    const published = await publishEvent(hooks.queue, tenantId, { type: "owner.deleted", data: { owner: "user:alice", cubes: 2 }, owner: "user:alice" });
    expect(published).toMatchObject({ id: expect.stringMatching(/^evt_/), type: "owner.deleted", tenant_id: tenantId, cube_id: null, owner: "user:alice" });
    await consume(deps, hooks, captured.take());
    await consume(deps, hooks, captured.take());
    expect(receiver.handled.map((e) => e.type)).toEqual(["memory.forgotten", "owner.deleted"]);
    expect(receiver.handled[1]).toEqual(published);
  });

  it("a delivery that keeps failing is dead after the last try, listed as such, and the queue lets it go", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const hook = await registerWebhook(key, ["job.failed"]);
    const healthy = await registerWebhook(key, ["job.failed"], "https://healthy.example/hooks");
    const down = createReceiver({ secret: hook.secret, failures: Number.MAX_SAFE_INTEGER, failureStatus: 500, toleranceSeconds: 7 * 86_400 });
    const up = createReceiver({ secret: healthy.secret, toleranceSeconds: 7 * 86_400 });
    const { clock, deps, hooks, captured } = world(down);
    hooks.fetch = (url, init) => (url.startsWith("https://healthy.example") ? up.fetch(url, init) : down.fetch(url, init));

    await consume(deps, hooks, [eventsMessage(tenantId, [syntheticEvent(tenantId, "job.failed")])]);
    const messages = deliveryMessages(captured.take());
    expect(messages).toHaveLength(2);
    const failingId = (await deliveries(key, hook.id)).data[0].id;
    const failing = messages.find((m) => m.kind === "delivery" && m.delivery_id === failingId)!;

    // The first round carries both deliveries; from then on only the failing one comes back, each time when due.
    const delays: (number | undefined)[] = [];
    for (let attempt = 1; attempt <= MAX_DELIVERY_ATTEMPTS; attempt++) {
      const settled = await consume(deps, hooks, attempt === 1 ? messages : [failing], attempt);
      const retried = settled.filter((s) => s.retried);
      expect(retried.length).toBeLessThanOrEqual(1);
      delays.push(retried[0]?.delaySeconds);
      clock.now += (retried[0]?.delaySeconds ?? 0) * 1000;
    }
    expect(delays).toEqual([...Array.from({ length: MAX_DELIVERY_ATTEMPTS - 1 }, (_, i) => retryDelaySeconds(i + 1)), undefined]);
    expect(delays.slice(0, 4)).toEqual([10, 20, 40, 80]);
    expect(down.requests).toHaveLength(MAX_DELIVERY_ATTEMPTS);
    // The healthy endpoint got the event once, on the first round: its delivery never waited for the failing one.
    expect(up.handled).toHaveLength(1);
    expect(up.requests).toHaveLength(1);

    const dead = await deliveries(key, hook.id, "?status=dead");
    expect(dead.data).toHaveLength(1);
    expect(dead.data[0]).toMatchObject({ status: "dead", attempts: MAX_DELIVERY_ATTEMPTS, last_status_code: 500, next_attempt_at: null });
    expect((await deliveries(key, hook.id, "?status=failed")).data).toEqual([]);
    expect((await deliveries(key, healthy.id, "?status=delivered")).data).toHaveLength(1);
  });

  it("records endpoints that cannot be reached, answer a redirect, or may no longer be called", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const local = await registerWebhook(key, ["memory.expired"], "http://localhost:8788/hook");
    const receiver = createReceiver({ secret: local.secret });
    const { clock, deps, hooks, captured } = world(receiver);
    const fan = async () => {
      clock.now += 1; // newest first in the list below
      await consume(deps, hooks, [eventsMessage(tenantId, [syntheticEvent(tenantId, "memory.expired")])]);
      return deliveryMessages(captured.take());
    };

    hooks.fetch = async () => {
      throw new TypeError("connection refused");
    };
    expect((await consume(deps, hooks, await fan()))[0]).toMatchObject({ retried: true, delaySeconds: 10 });
    expect((await deliveries(key, local.id, "?status=failed")).data[0]).toMatchObject({ last_status_code: null, last_error: "request failed: connection refused" });

    hooks.fetch = async () => new Response(null, { status: 302, headers: { Location: "http://169.254.169.254/" } });
    await consume(deps, hooks, await fan());
    expect((await deliveries(key, local.id)).data[0]).toMatchObject({ status: "failed", last_status_code: 302, last_error: "HTTP 302 (redirects are not followed)" });

    // Registered in local mode; the deployment is now production: no request, and no retry can help.
    hooks.fetch = receiver.fetch;
    hooks.policy = { local: false };
    expect((await consume(deps, hooks, await fan()))[0]).toMatchObject({ acked: true, retried: false });
    expect(receiver.requests).toEqual([]);
    expect((await deliveries(key, local.id)).data[0]).toMatchObject({ status: "dead", attempts: 1, last_error: expect.stringMatching(/^url must use https/) });

    // A changed ROOT_KEY cannot open the secret: dead at once, with the way out in the error.
    hooks.policy = { local: true };
    const rekeyed: Deps = { ...deps, rootKey: "another-root-key-0123456789abcdef" };
    const messages = await fan();
    await consume(rekeyed, hooks, messages);
    expect((await deliveries(key, local.id)).data[0]).toMatchObject({ status: "dead", last_error: expect.stringMatching(/rotate the secret/) });
    expect(receiver.requests).toEqual([]);

    // A deleted webhook's queued deliveries are dropped when their messages come up.
    const queued = await fan();
    expect((await call("DELETE", `/v1/webhooks/${local.id}`, { key })).status).toBe(200);
    expect(await consume(deps, hooks, queued)).toEqual([{ acked: true, retried: false, delaySeconds: undefined }]);
    expect(receiver.requests).toEqual([]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM webhook_deliveries WHERE webhook_id = ?").bind(local.id).first("n")).toBe(0);
  });

  it("signs with the rotated secret from the moment of rotation, retries of older deliveries included", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const hook = await registerWebhook(key, ["memory.archived"]);
    const receiver = createReceiver({ secret: hook.secret });
    const { clock, deps, hooks, captured } = world(receiver);
    await consume(deps, hooks, [eventsMessage(tenantId, [syntheticEvent(tenantId, "memory.archived")])]);
    const messages = deliveryMessages(captured.take());

    const rotated = await call("POST", `/v1/webhooks/${hook.id}/rotate-secret`, { key });
    // The receiver still has the old secret: it refuses, and the delivery is retried.
    expect((await consume(deps, hooks, messages))[0]).toMatchObject({ retried: true, delaySeconds: 10 });
    expect(receiver.requests[0]).toMatchObject({ verified: false, status: 401 });
    receiver.secret = rotated.body.secret;
    clock.now += 10_000;
    expect((await consume(deps, hooks, messages, 2))[0]).toMatchObject({ acked: true });
    expect(receiver.requests[1]).toMatchObject({ verified: true, status: 204 });
  });

  it("the cron re-sends deliveries whose queue message was lost", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const hook = await registerWebhook(key, ["memory.updated"]);
    const receiver = createReceiver({ secret: hook.secret, toleranceSeconds: 3600 });
    const { clock, deps, hooks, captured } = world(receiver);
    await consume(deps, hooks, [eventsMessage(tenantId, [syntheticEvent(tenantId, "memory.updated")])]);
    captured.take(); // the delivery message is lost
    const [row] = (await deliveries(key, hook.id)).data;

    expect(await sweepWebhookDeliveries(deps, hooks)).toMatchObject({ requeued: 0 });
    clock.now += STALLED_AFTER_MS + 1000;
    const swept = await sweepWebhookDeliveries(deps, hooks);
    expect(swept.requeued).toBeGreaterThanOrEqual(1);
    const resent = deliveryMessages(captured.take()).filter((m) => m.kind === "delivery" && m.delivery_id === row.id);
    expect(resent).toHaveLength(1);
    await consume(deps, hooks, resent);
    expect((await deliveries(key, hook.id)).data[0]).toMatchObject({ id: row.id, status: "delivered" });
  });

  it("lists deliveries newest first, by status, a page at a time", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const hook = await registerWebhook(key, ["memory.created"]);
    const receiver = createReceiver({ secret: hook.secret });
    const { clock, deps, hooks, captured } = world(receiver);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const event = syntheticEvent(tenantId);
      ids.push(event.id);
      clock.now += 1;
      await consume(deps, hooks, [eventsMessage(tenantId, [event])]);
    }
    // Deliver the two oldest.
    await consume(deps, hooks, deliveryMessages(captured.take()).slice(0, 2));

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: any[]; next_cursor: string | null } = await deliveries(key, hook.id, `?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((d) => d.event_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    expect((await deliveries(key, hook.id, "?status=delivered")).data.map((d) => d.event_id)).toEqual([ids[1], ids[0]]);
    expect((await deliveries(key, hook.id, "?status=queued")).data.map((d) => d.event_id)).toEqual([ids[4], ids[3], ids[2]]);
  });
});

describe("the webhook queue for real", () => {
  /** The Worker's own consumer delivers through the global fetch; here it reaches the receiver instead of the network. */
  function routeFetchTo(receiver: Receiver) {
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => receiver.fetch(String(input instanceof Request ? input.url : input), init ?? {}));
  }

  it("the queue handler fans out and delivers with the Worker's bindings", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const hook = await registerWebhook(key, ["memory.superseded"], "http://localhost:8788/superseded");
    const receiver = createReceiver({ secret: hook.secret });
    routeFetchTo(receiver);
    const captured = capturingQueue();
    const bindings = { ...env, ...allShards(captured.queue) } as unknown as Env;
    const run = async (bodies: WebhookQueueMessage[]) => {
      const batch = createMessageBatch<WebhookQueueMessage>("memos-edge-webhooks", bodies.map((body) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body })));
      const ctx = createExecutionContext();
      await worker.queue(batch as MessageBatch<unknown>, bindings);
      return getQueueResult(batch, ctx);
    };
    const fanned = await run([eventsMessage(tenantId, [syntheticEvent(tenantId, "memory.superseded")]), { kind: "nonsense" } as unknown as WebhookQueueMessage]);
    expect(fanned.explicitAcks).toHaveLength(2);
    expect(fanned.retryMessages).toEqual([]);
    const delivered = await run(captured.take());
    expect(delivered.explicitAcks).toHaveLength(1);
    expect(receiver.handled.map((e) => e.type)).toEqual(["memory.superseded"]);
    expect(receiver.requests[0]!.url).toBe("http://localhost:8788/superseded");
  });

  it("the dead-letter queue's consumer fans events out once more and lets delivery messages go (the cron re-sends those)", async () => {
    expect(wranglerToml).toContain(`dead_letter_queue = "${WEBHOOK_DEAD_LETTER_QUEUE}"`);
    expect(wranglerToml).toContain(`queue = "${WEBHOOK_DEAD_LETTER_QUEUE}"`);
    const { key, tenantId } = await newTenant(["admin"]);
    const hook = await registerWebhook(key, ["memory.archived"], "http://localhost:8788/dead-letters");
    const captured = capturingQueue();
    const bindings = { ...env, ...allShards(captured.queue) } as unknown as Env;
    const events = Array.from({ length: 12 }, () => syntheticEvent(tenantId, "memory.archived"));
    const bodies: WebhookQueueMessage[] = [eventsMessage(tenantId, events), { kind: "delivery", delivery_id: "dlv_lost_message" }];
    const batch = createMessageBatch<WebhookQueueMessage>(
      WEBHOOK_DEAD_LETTER_QUEUE,
      bodies.map((body) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body })),
    );
    const ctx = createExecutionContext();
    await worker.queue(batch as MessageBatch<unknown>, bindings);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toHaveLength(2);
    expect(result.retryMessages).toEqual([]);
    expect((await deliveries(key, hook.id, "?limit=100")).data.map((d) => d.event_id).sort()).toEqual(events.map((e) => e.id).sort());
    expect(deliveryMessages(captured.take())).toHaveLength(12);
    expect((await call("DELETE", `/v1/webhooks/${hook.id}`, { key })).status).toBe(200);
    await env.DB.prepare("DELETE FROM webhook_deliveries WHERE tenant_id = ?").bind(tenantId).run();
  });

  it("from a cube's outbox through the real queue to the receiver; a dead delivery replayed through the API arrives", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const hook = await registerWebhook(key, ["memory.created"], "http://localhost:8788/real");
    const receiver = createReceiver({ secret: hook.secret });
    routeFetchTo(receiver);

    const user = uniqueUser();
    const written = await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "Carol is vegetarian." }] } });
    const cubeId = written.body.cube_id as string;
    const memoryId = written.body.data[0].id as string;
    const ref: CubeRef = { tenantId, cubeId, owner: `user:${user}` };
    await runInDurableObject(env.CUBE.getByName(cubeObjectName(tenantId, cubeId)), (_instance, state) =>
      new CubeOutbox(state.storage.sql, state.storage.kv).drain(env, ref),
    );
    await vi.waitFor(() => expect(receiver.handled.map((e) => e.data.memory_id)).toContain(memoryId), { timeout: 20_000, interval: 250 });
    const [delivery] = (await deliveries(key, hook.id)).data;
    expect(delivery).toMatchObject({ status: "delivered", attempts: 1, event_type: "memory.created" });
    expect(receiver.requests.every((r) => r.verified)).toBe(true);

    // Make it a dead-letter record, as if every attempt had failed, then replay it through the API.
    await env.DB.prepare("UPDATE webhook_deliveries SET status = 'dead', attempts = ?, last_status_code = 500 WHERE id = ?")
      .bind(MAX_DELIVERY_ATTEMPTS, delivery.id)
      .run();
    const replayed = await call("POST", `/v1/webhooks/${hook.id}/deliveries/${delivery.id}/replay`, { key });
    expect(replayed.status).toBe(202);
    expect(replayed.body).toMatchObject({ id: delivery.id, status: "queued", attempts: 0, event_id: delivery.event_id, last_status_code: null });
    const again = await call("POST", `/v1/webhooks/${hook.id}/deliveries/${delivery.id}/replay`, { key });
    expect(again.status).toBe(409);
    await vi.waitFor(async () => expect((await deliveries(key, hook.id)).data[0]).toMatchObject({ status: "delivered", attempts: 1 }), {
      timeout: 20_000,
      interval: 250,
    });
    // The replay carried the same event id: the receiver recognised it as a duplicate.
    expect(receiver.duplicates).toBe(1);
    expect(receiver.requests.map((r) => r.headers.get("X-Memos-Event-Id"))).toEqual([delivery.event_id, delivery.event_id]);
  });
});
