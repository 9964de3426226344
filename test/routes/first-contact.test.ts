/**
 * What a newcomer meets first: the entry point, the error that tells them how to send a body, the request log an
 * operator reads, and export links they can fetch as they are (issue 13, the newcomer fixes).
 */
import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, newTenant, remember, TEST_ORIGIN, uniqueUser } from "../helpers";

afterEach(() => vi.restoreAllMocks());

describe("GET /", () => {
  it("answers an API client with the absolute addresses of the console, the docs and the OpenAPI document", async () => {
    const response = await call("GET", "/");
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      service: "MemOS Edge",
      console: `${TEST_ORIGIN}/console`,
      docs: `${TEST_ORIGIN}/docs`,
      openapi: `${TEST_ORIGIN}/openapi.json`,
      health: `${TEST_ORIGIN}/health`,
    });
  });

  it("sends a browser to the console", async () => {
    const request = new Request(`${TEST_ORIGIN}/`, { headers: { Accept: "text/html,application/xhtml+xml" }, redirect: "manual" });
    const response = await exports.default.fetch(request);
    expect(response.status).toBe(302);
    expect(response.headers.get("Location")).toBe(`${TEST_ORIGIN}/console`);
  });
});

describe("a body without Content-Type: application/json", () => {
  it("is a 415 that says which header to send, and writes nothing", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const body = JSON.stringify({ user_id: user, memories: [{ content: "Ada likes tea." }] });
    for (const contentType of [undefined, "text/plain"]) {
      const response = await call("POST", "/v1/memories", {
        key,
        raw: body,
        headers: contentType ? { "Content-Type": contentType } : { "Content-Type": "" },
      });
      expect(response.status).toBe(415);
      expect(response.body.error.code).toBe("unsupported_media_type");
      expect(response.body.error.message).toContain("Content-Type: application/json");
    }
    const listed = await call("GET", `/v1/memories?user_id=${user}`, { key });
    expect(listed.body.data).toEqual([]);
  });
});

describe("the request log", () => {
  it("is one JSON line per request with its id, tenant, route template, status and duration — never content or keys", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    const written = await call("POST", "/v1/memories", {
      key,
      body: { user_id: user, memories: [{ content: "Secret marker zebra-42." }] },
      headers: { "X-Request-Id": "req-log-test-1" },
    });
    expect(written.status).toBe(201);
    const records = lines.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>);
    const mine = records.filter((record) => record.request_id === "req-log-test-1");
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ type: "request", method: "POST", route: "/v1/memories", status: 201 });
    expect(mine[0]!.tenant).toMatch(/^ten_/);
    expect(typeof mine[0]!.duration_ms).toBe("number");
    const everything = lines.join("\n");
    expect(everything).not.toContain("zebra-42");
    expect(everything).not.toContain(key);
    expect(everything).not.toContain(user);
  });

  it("names the route template, not the path with its ids", async () => {
    const { key } = await newTenant();
    const [memory] = await remember(key, uniqueUser(), [{ content: "Bo plays the oboe." }]);
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    await call("GET", `/v1/memories/${memory.id}`, { key, headers: { "X-Request-Id": "req-log-test-2" } });
    const record = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((r) => r.request_id === "req-log-test-2");
    expect(record).toMatchObject({ route: "/v1/memories/{id}", status: 200 });
    expect(lines.join("\n")).not.toContain(memory.id);
  });
});
