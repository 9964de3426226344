/**
 * Per-key rate limits: the sliding window itself (pure, any clock), then through the public surface with tiny
 * limits set on a key in D1. The limiter object's clock is moved (runInDurableObject) to let a window pass.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { type RateLimits, RateLimiterDurableObject, RateWindow } from "../../durable-objects/rate-limiter";
import { call, errorOf, newTenant, uniqueUser } from "../helpers";

describe("RateWindow", () => {
  const limits = (requests: number, writeBytes = 0): RateLimits => ({ requests, writeBytes });
  const s = (seconds: number) => seconds * 1000;

  it("admits up to the limit in a minute, then refuses until the oldest second leaves the window", () => {
    const window = new RateWindow();
    for (const t of [0, 0, 0]) expect(window.admit(s(t), 0, limits(5)).allowed).toBe(true);
    expect(window.admit(s(30), 0, limits(5)).allowed).toBe(true);
    expect(window.admit(s(30.5), 0, limits(5)).allowed).toBe(true);
    // Second 0 leaves the window at second 60: from second 45 that is 15 s away.
    expect(window.admit(s(45), 0, limits(5))).toEqual({ allowed: false, exceeded: "requests", limit: 5, retryAfterSeconds: 15 });
    // A refused request is not counted: the same answer a moment later, one second closer.
    expect(window.admit(s(46), 0, limits(5))).toMatchObject({ allowed: false, retryAfterSeconds: 14 });
    expect(window.admit(s(60), 0, limits(5)).allowed).toBe(true);
    expect(window.snapshot).toEqual([[30, 2, 0], [60, 1, 0]]);
  });

  it("slides: a full minute of one-second buckets, not a fixed minute", () => {
    const window = new RateWindow();
    expect(window.admit(s(59.9), 0, limits(1)).allowed).toBe(true);
    // A fixed window would reset at 60; this one waits until second 59 has left, at 119.
    expect(window.admit(s(60.1), 0, limits(1))).toMatchObject({ allowed: false, retryAfterSeconds: 59 });
    expect(window.admit(s(118.9), 0, limits(1)).allowed).toBe(false);
    expect(window.admit(s(119), 0, limits(1)).allowed).toBe(true);
  });

  it("counts written bytes separately from requests", () => {
    const window = new RateWindow();
    expect(window.admit(s(0), 600, limits(100, 1000)).allowed).toBe(true);
    expect(window.admit(s(10), 500, limits(100, 1000))).toEqual({ allowed: false, exceeded: "write_bytes", limit: 1000, retryAfterSeconds: 50 });
    expect(window.admit(s(10), 0, limits(100, 1000)).allowed).toBe(true);
    expect(window.admit(s(10), 400, limits(100, 1000)).allowed).toBe(true);
    // One body larger than the whole minute's allowance can never fit.
    expect(window.admit(s(11), 1001, limits(100, 1000))).toEqual({ allowed: false, exceeded: "write_bytes", limit: 1000, retryAfterSeconds: null });
  });

  it("waits for both measures when both are over", () => {
    const window = new RateWindow([[0, 1, 900], [20, 1, 0]]);
    // Requests free up at 60 (second 0 leaves), but so do the bytes: one wait covers both.
    expect(window.admit(s(30), 200, limits(2, 1000))).toEqual({ allowed: false, exceeded: "requests", limit: 2, retryAfterSeconds: 30 });
  });

  it("records requests already served whatever the limits, and decides later ones against them", () => {
    const window = new RateWindow([[0, 1, 0]]);
    window.record(s(1), 5, 300);
    expect(window.snapshot).toEqual([[0, 1, 0], [1, 5, 300]]);
    expect(window.admit(s(2), 0, limits(7)).allowed).toBe(true);
    expect(window.admit(s(2), 0, limits(7))).toMatchObject({ allowed: false, exceeded: "requests" });
  });

  it("treats 0 as no limit", () => {
    const window = new RateWindow();
    for (let i = 0; i < 1000; i++) expect(window.admit(s(1), 10_000, limits(0, 0)).allowed).toBe(true);
    expect(window.snapshot).toEqual([[1, 1000, 10_000_000]]);
  });
});

/** Sets a key's own limits in D1, as an operator would until key creation takes them. */
async function setKeyLimits(keyId: string, requests: number | null, writeBytes: number | null) {
  await env.DB.prepare("UPDATE api_keys SET rate_limit_requests = ?, rate_limit_write_bytes = ? WHERE id = ?")
    .bind(requests, writeBytes, keyId)
    .run();
}

describe("rate limits per key", () => {
  it("answers the (n+1)th request in a minute with 429, Retry-After and the error shape; other keys go on", async () => {
    const limited = await newTenant(["read", "write"]);
    await setKeyLimits(limited.keyId, 3, null);
    const other = await newTenant();
    for (let i = 0; i < 3; i++) expect((await call("GET", "/v1/memories?user_id=a", { key: limited.key })).status).toBe(200);

    const refused = await call("GET", "/v1/memories?user_id=a", { key: limited.key });
    expect(refused.status).toBe(429);
    const error = errorOf(refused);
    expect(error.code).toBe("rate_limited");
    expect(error.request_id).toBe(refused.headers.get("X-Request-Id"));
    expect(error.details).toMatchObject({ limit: "requests", per_minute: 3 });
    const retryAfter = Number(refused.headers.get("Retry-After"));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((error.details as { retry_after_seconds: number }).retry_after_seconds).toBe(retryAfter);

    // Refused before anything runs: a write is refused too, and writes nothing.
    const user = uniqueUser();
    expect((await call("POST", "/v1/memories", { key: limited.key, body: { user_id: user, memories: [{ content: "x" }] } })).status).toBe(429);
    expect((await call("GET", `/v1/memories?user_id=${user}`, { key: other.key })).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await call("GET", "/v1/memories?user_id=a", { key: other.key })).status).toBe(200);

    // A minute later the window has moved on.
    await runInDurableObject(env.RATE_LIMITER.getByName(limited.keyId), (limiter) => {
      const later = Date.now() + 61_000;
      limiter.clock = () => later;
    });
    expect((await call("GET", "/v1/memories?user_id=a", { key: limited.key })).status).toBe(200);
  });

  it("limits written bytes per minute: POST/PATCH bodies count, reads do not", async () => {
    const { key, keyId } = await newTenant();
    await setKeyLimits(keyId, null, 1500);
    const user = uniqueUser();
    const body = { user_id: user, memories: [{ content: "x".repeat(500) }] };
    const bytes = JSON.stringify(body).length;
    expect(bytes).toBeGreaterThan(500);
    expect(bytes * 2).toBeLessThanOrEqual(1500);
    expect(bytes * 3).toBeGreaterThan(1500);

    expect((await call("POST", "/v1/memories", { key, body })).status).toBe(201);
    expect((await call("POST", "/v1/memories", { key, body })).status).toBe(201);
    const refused = await call("POST", "/v1/memories", { key, body });
    expect(refused.status).toBe(429);
    expect(errorOf(refused).details).toMatchObject({ limit: "write_bytes", per_minute: 1500 });
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    // Reads carry no body and still pass; the refused write stored nothing.
    const list = await call("GET", `/v1/memories?user_id=${user}`, { key });
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(2);
  });

  it("counts a streamed body without Content-Length, and the route still reads it", async () => {
    const { key, keyId } = await newTenant();
    await setKeyLimits(keyId, null, 1000);
    const user = uniqueUser();
    const streamed = (content: string) => {
      const bytes = new TextEncoder().encode(JSON.stringify({ user_id: user, memories: [{ content }] }));
      const body = new ReadableStream({
        start(controller) {
          controller.enqueue(bytes.slice(0, 10));
          controller.enqueue(bytes.slice(10));
          controller.close();
        },
      });
      const request = new Request("http://memos.test/v1/memories", {
        method: "POST",
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
        body,
      });
      expect(request.headers.get("Content-Length")).toBeNull();
      return exports.default.fetch(request);
    };
    const first = await streamed("z".repeat(500));
    expect(first.status).toBe(201);
    expect(((await first.json()) as { data: { content: string }[] }).data[0]?.content).toBe("z".repeat(500));
    const second = await streamed("z".repeat(500));
    expect(second.status).toBe(429);
    expect(((await second.json()) as { error: { details: { limit: string } } }).error.details.limit).toBe("write_bytes");
  });

  it("refuses with 413 a body larger than the key's whole minute of bytes", async () => {
    const { key, keyId } = await newTenant();
    await setKeyLimits(keyId, null, 100);
    const response = await call("POST", "/v1/memories", { key, body: { user_id: "u", memories: [{ content: "y".repeat(200) }] } });
    expect(response.status).toBe(413);
    expect(errorOf(response).code).toBe("payload_too_large");
    expect(response.headers.get("Retry-After")).toBeNull();
  });

  it("counts every key on its own, and leaves rate-limited requests out of the audit log", async () => {
    const { key: adminKey, keyId: adminKeyId } = await newTenant(["admin"]);
    const created = await call("POST", "/v1/keys", { key: adminKey, body: { scopes: ["read"] } });
    await setKeyLimits(created.body.id, 1, null);
    expect((await call("GET", "/v1/memories?user_id=a", { key: created.body.key })).status).toBe(200);
    const refused = await call("GET", "/v1/memories?user_id=a", { key: created.body.key });
    expect(refused.status).toBe(429);

    let entries: { request_id: string; status: number }[] = [];
    for (let attempt = 0; attempt < 50 && entries.length === 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      entries = (await call("GET", `/v1/audit?actor=${created.body.id}`, { key: adminKey })).body.data;
    }
    expect(entries.map((e) => e.status)).toEqual([200]);
    expect(entries.map((e) => e.request_id)).not.toContain(refused.headers.get("X-Request-Id"));
    expect(adminKeyId).not.toBe(created.body.id);
  });
});

describe("keys far from their limits", () => {
  it("are admitted without waiting for the limiter, counted with the next request that waits, and every request is counted", async () => {
    const { key, keyId } = await newTenant();
    const user = uniqueUser();
    const admits = vi.spyOn(RateLimiterDurableObject.prototype, "admit");
    try {
      await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "x" }] } });
      for (let i = 0; i < 40; i++) expect((await call("GET", `/v1/memories?user_id=${user}`, { key })).status).toBe(200);
      // One limiter call per up to 20 requests (the headroom), or per second on a slow run; one per request before.
      expect(admits.mock.calls.length).toBeGreaterThanOrEqual(2);
      expect(admits.mock.calls.length).toBeLessThanOrEqual(8);
    } finally {
      admits.mockRestore();
    }
    const counted = () =>
      runInDurableObject(env.RATE_LIMITER.getByName(keyId), (_instance, state) =>
        (state.storage.kv.get<[number, number, number][]>("window") ?? []).reduce((sum, [, requests]) => sum + requests, 0),
      );
    // Past the headroom's second the next request waits for the limiter and carries the ones served since.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + 1_001);
      expect((await call("GET", `/v1/memories?user_id=${user}`, { key })).status).toBe(200);
    } finally {
      vi.useRealTimers();
    }
    expect(await counted()).toBe(42);
  });
});
