/**
 * Issue 16, D2–D4 and the minor MCP item: hostile JSON is refused with a 400 before any work, at every documented
 * limit it works and just past it it is refused (docs/limits.md), and a refused write leaves nothing behind.
 */
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/schemas/limits";
import { call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

const { key } = await newTenant();

/** `levels` containers nested in one another: objects and arrays in turn, the innermost holding 1. */
function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = i % 2 ? [value] : { a: value };
  return value;
}

/** A metadata object (one container) whose value nests `levels - 1` more. */
const metadataOfDepth = (levels: number) => ({ deep: nested(levels - 1) });

const count = async (user: string) =>
  (await call("GET", `/v1/memories?user_id=${encodeURIComponent(user)}&limit=100`, { key })).body.data?.length ?? 0;

const mem0 = (method: string, path: string, body: unknown) => call(method, `/mem0${path}`, { headers: { Authorization: `Token ${key}` }, body });

const mcp = (body: unknown) =>
  call("POST", "/mcp", { key, headers: { Accept: "application/json, text/event-stream" }, body });

function expect400(response: Awaited<ReturnType<typeof call>>) {
  expect(response.status, JSON.stringify(response.body)).toBe(400);
  expect(errorOf(response).code).toBe("invalid_request");
}

describe("free JSON is bounded before any work (D2, item 2)", { timeout: 30_000 }, () => {
  it("metadata nested 2,500 levels (a 5 KB body) is a 400 and stores nothing, alone or in a batch", async () => {
    const user = uniqueUser();
    expect400(await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "deep", metadata: metadataOfDepth(2_500) }] } }));
    const batch = [...Array.from({ length: 9 }, (_, i) => ({ content: `fine ${i}` })), { content: "deep", metadata: metadataOfDepth(2_500) }];
    expect400(await call("POST", "/v1/memories", { key, body: { user_id: user, memories: batch } }));
    expect(await count(user)).toBe(0);
  });

  it("metadata at the depth limit is stored and reads back; one level more is a 400", async () => {
    const user = uniqueUser();
    const [stored] = await remember(key, user, [{ content: "at the limit", metadata: metadataOfDepth(LIMITS.jsonDepth) }]);
    const read = await call("GET", `/v1/memories/${stored.id}`, { key });
    expect(read.body.metadata).toEqual(metadataOfDepth(LIMITS.jsonDepth));
    expect400(await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "past", metadata: metadataOfDepth(LIMITS.jsonDepth + 1) }] } }));
    const patched = await call("PATCH", `/v1/memories/${stored.id}`, { key, body: { metadata: metadataOfDepth(LIMITS.jsonDepth + 1) } });
    expect400(patched);
    expect((await call("GET", `/v1/memories/${stored.id}`, { key })).body.version).toBe(1);
    expect(await count(user)).toBe(1);
  });

  it("metadata at the value-count and byte limits is stored; one more is a 400", async () => {
    const user = uniqueUser();
    // The object, the array and 1,998 numbers: 2,000 values.
    const atNodes = { list: Array.from({ length: LIMITS.jsonNodes - 2 }, () => 0) };
    const overNodes = { list: Array.from({ length: LIMITS.jsonNodes - 1 }, () => 0) };
    const atBytes = { k: "é".repeat((LIMITS.metadataBytes - 8) / 2) };
    const overBytes = { k: `${atBytes.k}x` };
    await remember(key, user, [{ content: "many values", metadata: atNodes }, { content: "many bytes", metadata: atBytes }]);
    for (const metadata of [overNodes, overBytes]) {
      expect400(await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "past", metadata }] } }));
    }
    expect(await count(user)).toBe(2);
  });

  it("any JSON body nested past what a schema can hold is a 400, on every route", async () => {
    const deep = nested(5_000);
    const user = uniqueUser();
    const routes: [string, string, unknown][] = [
      ["POST", "/v1/memories", { user_id: user, memories: [{ content: "x" }], extra: deep }],
      ["POST", "/v1/search", { user_id: user, query: "x", where: deep }],
      ["POST", "/v1/context", { user_id: user, query: "x", extra: deep }],
      ["POST", "/v1/admin/tenants", deep],
    ];
    for (const [method, path, body] of routes) expect400(await call(method, path, { key, body }));
  });

  it("a mem0 add with deep metadata is a 400 and stores nothing", async () => {
    const user = uniqueUser();
    const response = await mem0("POST", "/v3/memories/add/", { user_id: user, messages: "hello", infer: false, async_mode: false, metadata: metadataOfDepth(2_500) });
    expect400(response);
    expect(await count(user)).toBe(0);
  });

  it("an MCP call with deep arguments is refused as Invalid Request and stores nothing", async () => {
    const user = uniqueUser();
    const response = await mcp({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "memos_remember", arguments: { user_id: user, memories: [{ content: "deep", metadata: metadataOfDepth(2_500) }] } },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe(-32600);
    expect(await count(user)).toBe(0);
  });
});

describe("mem0 filters: depth checked before recursion (D3)", () => {
  const andNest = (levels: number, user: string) => {
    let filter: Record<string, unknown> = { user_id: user };
    for (let i = 0; i < levels; i++) filter = { AND: [filter] };
    return filter;
  };

  it("1,500 nested ANDs (~15 KB) are a 400, not a stack overflow", async () => {
    const user = uniqueUser();
    expect400(await mem0("POST", "/v3/memories/search/", { query: "x", filters: andNest(1_500, user) }));
    expect400(await mem0("POST", "/v3/memories/", { filters: andNest(1_500, user) }));
  });

  it("ANDs nested to the JSON depth limit work; one more is a 400", async () => {
    const user = uniqueUser();
    await remember(key, user, [{ content: "a memory about tea" }]);
    // Each AND level is an object and a list; the innermost filter one more object.
    const most = (LIMITS.jsonDepth - 1) / 2;
    const ok = await mem0("POST", "/v3/memories/search/", { query: "tea", filters: andNest(Math.floor(most), user) });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.results).toHaveLength(1);
    expect400(await mem0("POST", "/v3/memories/search/", { query: "tea", filters: andNest(Math.floor(most) + 1, user) }));
  });
});

describe("identifiers are well-formed Unicode (D4, item 4)", () => {
  const lone = ["eve\ud800", "eve\udc00", "\udfffeve"];

  it.each(lone)("user id %j is a 400 on write, search, list, mem0 and owner deletion", async (owner) => {
    expect400(await call("POST", "/v1/memories", { key, body: { user_id: owner, memories: [{ content: "x" }] } }));
    expect400(await call("POST", "/v1/search", { key, body: { user_id: owner, query: "x" } }));
    expect400(await mem0("POST", "/v3/memories/add/", { user_id: owner, messages: "hi", infer: false, async_mode: false }));
    expect400(await mem0("POST", "/v3/memories/", { filters: { user_id: owner } }));
  });

  it("lone surrogates in tags, session ids, metadata keys and values, content, key scopes and cube names are 400s", async () => {
    const user = uniqueUser();
    const bad = "x\ud800";
    const writes = [
      { content: "x", tags: [bad] },
      { content: "x", session_id: bad },
      { content: "x", metadata: { [bad]: 1 } },
      { content: "x", metadata: { k: [bad] } },
      { content: bad },
    ];
    for (const memory of writes) expect400(await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [memory] } }));
    expect400(await call("POST", "/v1/keys", { key, body: { scopes: ["read"], allowed_owners: [`user:${bad}`] } }));
    expect400(await call("POST", "/v1/cubes", { key, body: { user_id: user, name: bad } }));
    expect(await count(user)).toBe(0);
  });

  it("two well-formed spellings never share a cube", async () => {
    const base = uniqueUser();
    const [plain] = await remember(key, base, [{ content: "plain" }]);
    const [replaced] = await remember(key, `${base}\ufffd`, [{ content: "replacement character" }]);
    expect(replaced.cube_id).not.toBe(plain.cube_id);
    expect(replaced.owner).toBe(`user:${base}\ufffd`);
  });
});

describe("MCP over JSON-RPC", () => {
  it("an empty batch [] is an Invalid Request error, not a 202", async () => {
    const response = await mcp([]);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ jsonrpc: "2.0", error: { code: -32600, message: expect.stringContaining("Invalid Request") }, id: null });
  });
});
