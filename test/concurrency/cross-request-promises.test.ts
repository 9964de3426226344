/**
 * Nothing in module scope hands one request a promise that another request's I/O settles (issue 14; docs/hot-path.md
 * "Changed, then reverted"): workerd refuses a request awaiting such a promise ("Cannot perform I/O on behalf of a
 * different request"). Each test puts two requests in flight at once in this isolate, each a request of its own
 * (`exports.default.fetch` / `.queue` enter the Worker as separate events), with the shared work held open long
 * enough that the second arrives while the first's is pending.
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TenantDirectoryDurableObject } from "../../durable-objects/tenant";
import { createDeps } from "../../src/deps";
import { subscribersOf } from "../../src/services/webhook-subscribers";
import { call, newTenant } from "../helpers";

afterEach(() => vi.restoreAllMocks());

describe("promises are not shared between requests", () => {
  it("two consumers of one tenant's subscriber list at once, the list not cached yet: each request reads it, the messages of one request share their read", async () => {
    const { tenantId } = await newTenant();
    const load = vi.spyOn(TenantDirectoryDurableObject.prototype, "webhookSubscribers").mockImplementation(async () => {
      await scheduler.wait(200);
      return [];
    });
    // Two requests of their own: each callback runs inside its own object's request (Fetcher.queue cannot be used
    // here: the test pool hands the Worker's queue handler the queue name instead of a batch). Each fans out two
    // messages at once with one deps, as a queue batch does.
    const consumer = (host: string) =>
      runInDurableObject(env.RATE_LIMITER.getByName(`consumer-${host}-${tenantId}`), () => {
        const deps = createDeps(env);
        return Promise.all([subscribersOf(deps, tenantId), subscribersOf(deps, tenantId)]);
      });
    const outcomes = await Promise.allSettled([consumer("a"), consumer("b")]);
    expect(outcomes.map((outcome) => (outcome.status === "fulfilled" ? outcome.value : String(outcome.reason)))).toEqual([[[], []], [[], []]]);
    // On the base code the two requests shared one read (one call), and miniflare did not refuse the second: the
    // promise was a plain async function's. It is still not shared: had the first request ended before its read, the
    // second would have waited on a read that never settles.
    expect(load).toHaveBeenCalledTimes(2);
  });

  it("two webhooks created at once by a fresh isolate (the secret-sealing key not derived yet): both are created", async () => {
    const { key } = await newTenant(["admin"]);
    const create = (n: number) => call("POST", "/v1/webhooks", { key, body: { url: `https://receiver.example/hooks/${n}`, events: ["memory.created"] } });
    const statuses = (await Promise.all([create(1), create(2), create(3)])).map((response) => response.status);
    expect(statuses).toEqual([201, 201, 201]);
  });
});
