import { describe, expect, it } from "vitest";
import { call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

const { key } = await newTenant();

/** Asserts a 4xx in the error shape and that the owner's memories are unchanged. */
async function expectRejected(response: Awaited<ReturnType<typeof call>>, status = 400, code = "invalid_request") {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  const error = errorOf(response);
  expect(error.code).toBe(code);
  expect(error.request_id).toBe(response.headers.get("X-Request-Id"));
  return error;
}

async function countFor(user: string) {
  return (await call("GET", `/v1/memories?user_id=${user}&limit=100`, { key })).body.data.length;
}

const item = { content: "fine" };

describe("bad input on writes: 4xx in the one shape, nothing written", () => {
  const cases: [string, unknown][] = [
    ["no owner", { memories: [item] }],
    ["two owners", { user_id: "a", agent_id: "b", memories: [item] }],
    ["empty batch", { user_id: "u", memories: [] }],
    ["101 items", { user_id: "u", memories: Array.from({ length: 101 }, () => item) }],
    ["memories not an array", { user_id: "u", memories: "x" }],
    ["empty content", { user_id: "u", memories: [{ content: "" }] }],
    ["blank content", { user_id: "u", memories: [{ content: "   \n " }] }],
    ["content with a control character", { user_id: "u", memories: [{ content: "a\u0000b" }] }],
    ["content over 16 KB", { user_id: "u", memories: [{ content: "é".repeat(8193) }] }],
    ["content a number", { user_id: "u", memories: [{ content: 42 }] }],
    ["unknown type", { user_id: "u", memories: [{ content: "x", type: "gossip" }] }],
    ["unknown field", { user_id: "u", memories: [{ content: "x", colour: "red" }] }],
    ["unknown top-level field", { user_id: "u", memories: [item], extra: 1 }],
    ["tags not strings", { user_id: "u", memories: [{ content: "x", tags: [1] }] }],
    ["empty tag", { user_id: "u", memories: [{ content: "x", tags: [""] }] }],
    ["33 tags", { user_id: "u", memories: [{ content: "x", tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }] }],
    ["metadata an array", { user_id: "u", memories: [{ content: "x", metadata: [1] }] }],
    ["metadata over 8 KB", { user_id: "u", memories: [{ content: "x", metadata: { big: "x".repeat(9000) } }] }],
    ["valid_at not a date", { user_id: "u", memories: [{ content: "x", valid_at: "yesterday" }] }],
    ["invalid_at before valid_at", { user_id: "u", memories: [{ content: "x", valid_at: "2026-02-01T00:00:00Z", invalid_at: "2026-01-01T00:00:00Z" }] }],
    ["ttl and expires_at", { user_id: "u", memories: [{ content: "x", ttl: 5, expires_at: "2030-01-01T00:00:00Z" }] }],
    ["negative ttl", { user_id: "u", memories: [{ content: "x", ttl: -1 }] }],
    ["fractional ttl", { user_id: "u", memories: [{ content: "x", ttl: 1.5 }] }],
    ["priority out of range", { user_id: "u", memories: [{ content: "x", priority: 101 }] }],
    ["importance out of range", { user_id: "u", memories: [{ content: "x", importance: 2 }] }],
    ["source kind extraction (server only)", { user_id: "u", memories: [{ content: "x", source: { kind: "extraction" } }] }],
    ["user_id with spaces", { user_id: "a b", memories: [item] }],
    ["user_id too long", { user_id: "u".repeat(129), memories: [item] }],
    ["empty user_id", { user_id: "", memories: [item] }],
    ["malformed cube_id", { cube_id: "cube_x", memories: [item] }],
    ["body is an array", [item]],
    ["body is null", null],
    ["one bad item among good ones", { user_id: "u", memories: [item, item, { content: "" }] }],
  ];

  it.each(cases)("%s → 400", async (_name, body) => {
    const user = uniqueUser();
    const withOwner = body && typeof body === "object" && !Array.isArray(body) && "user_id" in body ? { ...body, user_id: (body as any).user_id === "u" ? user : (body as any).user_id } : body;
    await expectRejected(await call("POST", "/v1/memories", { key, body: withOwner }));
    expect(await countFor(user)).toBe(0);
  });

  it("lists every problem with its path", async () => {
    const error = await expectRejected(
      await call("POST", "/v1/memories", { key, body: { user_id: "u", memories: [{ content: "" }, { content: "x", type: "nope" }] } }),
    );
    const paths = (error.details as { path: string }[]).map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(["memories.0.content", "memories.1.type"]));
  });

  it.each([
    ["malformed JSON", "{\"user_id\": \"u\", "],
    ["trailing garbage", "{}}"],
    ["empty body", ""],
  ])("%s → 400", async (_name, raw) => {
    await expectRejected(await call("POST", "/v1/memories", { key, raw }));
  });

  it("a body that is not JSON at all → 4xx, never 500", async () => {
    const response = await call("POST", "/v1/memories", { key, raw: "user_id=u", headers: { "Content-Type": "text/plain" } });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    errorOf(response);
  });

  it("a body over 1 MB → 413", async () => {
    const raw = JSON.stringify({ user_id: "u", memories: [{ content: "x".repeat(1024 * 1024) }] });
    await expectRejected(await call("POST", "/v1/memories", { key, raw }), 413, "payload_too_large");
  });
});

describe("bad input on reads, updates and search", () => {
  it.each([
    ["no owner", ""],
    ["limit 0", "user_id=u&limit=0"],
    ["limit 101", "user_id=u&limit=101"],
    ["limit not a number", "user_id=u&limit=ten"],
    ["unknown type", "user_id=u&type=gossip"],
    ["unknown state", "user_id=u&state=zombie"],
    ["bad time", "user_id=u&created_after=last-week"],
    ["forged cursor", "user_id=u&cursor=eyJoYWNrIjp0cnVlfQ"],
  ])("list with %s → 400", async (_name, query) => {
    await expectRejected(await call("GET", `/v1/memories?${query}`, { key }));
  });

  it.each([
    ["empty patch", {}],
    ["empty content", { content: "" }],
    ["unknown field", { colour: "red" }],
    ["wrong type", { priority: "high" }],
    ["unknown enum", { type: "gossip" }],
  ])("update with %s → 400, version unchanged", async (_name, body) => {
    const [memory] = await remember(key, uniqueUser(), [{ content: "stable" }]);
    await expectRejected(await call("PATCH", `/v1/memories/${memory.id}`, { key, body }));
    expect((await call("GET", `/v1/memories/${memory.id}`, { key })).body).toMatchObject({ version: 1, content: "stable" });
  });

  it.each([
    ["no query", { user_id: "u" }],
    ["empty query", { user_id: "u", query: "" }],
    ["query over 2 KB", { user_id: "u", query: "a".repeat(2049) }],
    ["top_k 0", { user_id: "u", query: "x", top_k: 0 }],
    ["top_k 101", { user_id: "u", query: "x", top_k: 101 }],
    ["unknown filter", { user_id: "u", query: "x", filters: { colour: "red" } }],
    ["bad filter type", { user_id: "u", query: "x", filters: { type: "gossip" } }],
    ["no owner", { query: "x" }],
  ])("search with %s → 400", async (_name, body) => {
    await expectRejected(await call("POST", "/v1/search", { key, body }));
  });

  it("delete with a bad hard flag → 400 and nothing deleted", async () => {
    const [memory] = await remember(key, uniqueUser(), [{ content: "keep" }]);
    await expectRejected(await call("DELETE", `/v1/memories/${memory.id}?hard=yes`, { key }));
    expect((await call("GET", `/v1/memories/${memory.id}`, { key })).status).toBe(200);
  });

  it("unknown routes are 404 in the error shape", async () => {
    const response = await call("GET", "/v1/nothing-here", { key });
    expect(response.status).toBe(404);
    errorOf(response);
  });
});
