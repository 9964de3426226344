/**
 * The MCP endpoint through the SDK's own client, its fetch wired to the Worker (`exports.default.fetch`), so every
 * request goes through the real app: auth, the transport, the tools and the services.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { ROOT_KEY, call, errorOf, newTenant, uniqueUser } from "../helpers";

const MCP_URL = "http://memos.test/mcp";
const TOOL_NAMES = [
  "memos_get_context",
  "memos_search",
  "memos_remember",
  "memos_ingest_conversation",
  "memos_list_memories",
  "memos_get_memory",
  "memos_update_memory",
  "memos_forget_memory",
  "memos_memory_history",
  "memos_get_activation",
  "memos_rollback_activation",
  "memos_distill",
  "memos_list_adapters",
  "memos_find_listings",
  "memos_search_listing",
];

const open: Client[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((client) => client.close()));
});

async function connect(key: string | null): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), {
    requestInit: key === null ? {} : { headers: { Authorization: `Bearer ${key}` } },
    fetch: (url, init) => exports.default.fetch(new Request(url, init)),
  });
  const client = new Client({ name: "memos-test", version: "1.0.0" });
  await client.connect(transport);
  open.push(client);
  return client;
}

/** A tool call whose result must be a success; returns its structured content and text. */
async function ok(client: Client, name: string, args: Record<string, unknown>) {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  const [first] = result.content;
  return { data: result.structuredContent as any, text: first?.type === "text" ? first.text : "" };
}

/** A tool call that must fail as a tool result (not a protocol error); returns the error. */
async function toolError(client: Client, name: string, args: Record<string, unknown>) {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  expect(result.isError, JSON.stringify(result)).toBe(true);
  const [first] = result.content;
  const text = first?.type === "text" ? first.text : "";
  return { error: (result.structuredContent as any)?.error, text };
}

/** A raw MCP initialize request (for the HTTP-level checks the SDK client hides). */
function initializeRequest(headers: Record<string, string>) {
  return new Request(MCP_URL, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    }),
  });
}

describe("MCP at /mcp", () => {
  it("lists the memos_ tools with descriptions for a model and JSON input schemas", async () => {
    const { key } = await newTenant();
    const client = await connect(key);
    expect(client.getServerVersion()?.name).toBe("memos-edge");
    expect(client.getInstructions()).toContain("memos_get_context");

    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(TOOL_NAMES);
    for (const tool of tools) {
      expect(tool.description?.length, tool.name).toBeGreaterThan(150);
      expect(tool.inputSchema.type).toBe("object");
      expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);
      expect(Object.keys(tool.inputSchema.properties ?? {}).length, tool.name).toBeGreaterThan(0);
    }
    // Every tool schema goes into the model's context: the list stays small (the REST `where` grammar alone was 75 KB;
    // 15 tools take ~32 KB, ~8k tokens).
    expect(JSON.stringify(tools).length).toBeLessThan(36_000);
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(byName.memos_search!.inputSchema.required).toEqual(["query"]);
    expect(byName.memos_remember!.inputSchema.required).toEqual(["memories"]);
    expect(byName.memos_forget_memory!.inputSchema.required).toEqual(["id"]);
    // Descriptions reach the schema (the REST schemas' .openapi() metadata does not, so the tools describe fields).
    const userId = (byName.memos_remember!.inputSchema.properties as any).user_id;
    expect(userId.description).toContain("exactly one of user_id, agent_id or cube_id");
    const memoryItem = (byName.memos_remember!.inputSchema.properties as any).memories.items;
    expect(memoryItem.required).toEqual(["content"]);
    expect(memoryItem.properties.type.enum).toContain("preference");
    expect((byName.memos_search!.inputSchema.properties as any).reference_time).toMatchObject({ type: "string", format: "date-time" });
    expect(byName.memos_search!.annotations?.readOnlyHint).toBe(true);
    expect(byName.memos_forget_memory!.annotations?.destructiveHint).toBe(true);
  });

  it("memos_search passes on the best hits' session neighbours, cut for the model, and leaves them out on request", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const client = await connect(key);
    const long = `Melanie: Pottery, mostly. ${"Clay on the wheel calms me down after a long day. ".repeat(10)}`;
    const turns = ["Caroline: The weather was lovely all week.", "Caroline: What do you do to unwind after work, Melanie?", long, "Caroline: Nice."];
    const stored = await ok(client, "memos_remember", { user_id: user, memories: turns.map((content) => ({ content, session_id: "s1" })) });
    const ids = stored.data.ids as string[];

    const found = await ok(client, "memos_search", { user_id: user, query: "unwind", top_k: 1 });
    expect(found.data.ids).toEqual([ids[1]]);
    expect(found.data.hits[0].neighbours).toEqual([
      { id: ids[0], position: "before", content: turns[0] },
      { id: ids[2], position: "after", content: `${long.slice(0, 200)}…`, truncated: true, chars: long.length },
    ]);
    // The model reads them under their hit, each with its id.
    const lines = found.text.split("\n");
    expect(lines[1]).toContain(`[${ids[1]}]`);
    expect(lines[2]).toBe(`   ↑ before [${ids[0]}]: ${turns[0]}`);
    expect(lines[3]).toBe(`   ↓ after [${ids[2]}]: ${long.slice(0, 200)}…`);

    const without = await ok(client, "memos_search", { user_id: user, query: "unwind", top_k: 1, neighbours: false });
    expect(without.data.hits[0].neighbours).toBeUndefined();
    expect(without.text.split("\n")).toHaveLength(2);
  });

  it("remembers, finds and forgets a memory (remember → search → forget)", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const client = await connect(key);

    const stored = await ok(client, "memos_remember", {
      user_id: user,
      memories: [
        { content: "Alice is allergic to peanuts.", tags: ["health"] },
        { content: "Alice prefers window seats on long flights.", type: "preference" },
      ],
    });
    expect(stored.data.ids).toHaveLength(2);
    const [peanutId, seatId] = stored.data.ids as string[];
    expect(peanutId).toMatch(/^mem_/);
    expect(stored.data.cube_id).toMatch(/^cube_/);
    expect(stored.text).toContain(peanutId);

    // The same memory through REST: the tool wrote through the same service.
    const rest = await call("GET", `/v1/memories/${peanutId}`, { key });
    expect(rest.status).toBe(200);
    expect(rest.body).toMatchObject({ content: "Alice is allergic to peanuts.", type: "fact", tags: ["health"], owner: `user:${user}` });

    const found = await ok(client, "memos_search", { user_id: user, query: "what is alice allergic to?", top_k: 5 });
    expect(found.data.ids[0]).toBe(peanutId);
    expect(found.data.hits[0]).toMatchObject({ id: peanutId, type: "fact", content: "Alice is allergic to peanuts.", tags: ["health"] });
    expect(found.data.hits[0].score).toBeGreaterThan(0);
    expect(found.text).toContain(`[${peanutId}]`);

    const forgotten = await ok(client, "memos_forget_memory", { id: peanutId });
    expect(forgotten.data).toEqual({ id: peanutId, deleted: "forgotten" });

    const after = await ok(client, "memos_search", { user_id: user, query: "what is alice allergic to?", top_k: 5 });
    expect(after.data.ids).not.toContain(peanutId);
    const gone = await toolError(client, "memos_get_memory", { id: peanutId });
    expect(gone.error.code).toBe("not_found");
    // The other memory is untouched.
    expect((await ok(client, "memos_get_memory", { id: seatId })).data.memory.type).toBe("preference");
  });

  it("cuts long contents in search and list, and memos_get_memory returns them whole", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const client = await connect(key);
    const long = `Bob's garden plan: ${"tomatoes basil zucchini peppers ".repeat(60)}`.trim();
    const { data } = await ok(client, "memos_remember", { user_id: user, memories: [{ content: long }] });

    const found = await ok(client, "memos_search", { user_id: user, query: "garden plan tomatoes" });
    const hit = found.data.hits[0];
    expect(hit.id).toBe(data.ids[0]);
    expect(hit.truncated).toBe(true);
    expect(hit.chars).toBe(long.length);
    expect(hit.content.length).toBe(501);
    expect(hit.content.endsWith("…")).toBe(true);
    expect(found.text).toContain("memos_get_memory");

    const listed = await ok(client, "memos_list_memories", { user_id: user });
    expect(listed.data.memories[0].content.length).toBe(201);

    const whole = await ok(client, "memos_get_memory", { id: data.ids[0] });
    expect(whole.data.memory.content).toBe(long);
    expect(whole.text).toContain(long);
  });

  it("reads a conversation into memories with sync by default", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const client = await connect(key);
    const conversation = {
      user_id: user,
      session_id: "s-2023-05-08",
      messages: [
        { role: "user", name: "Caroline", id: "D1:1", created_at: "2023-05-08T13:56:00Z", content: "I love painting sunsets by the lake." },
        { role: "assistant", id: "D1:2", content: "That sounds lovely!" },
      ],
    };
    const read = await ok(client, "memos_ingest_conversation", conversation);
    expect(read.data.status).toBe("done");
    expect(read.data.job_id).toMatch(/^job_/);
    expect(read.data.episode_id).toMatch(/^ep_/);
    expect(read.data.memories.length).toBeGreaterThan(0);
    expect(read.data.memories.map((m: { content: string }) => m.content).join(" ")).toMatch(/painting sunsets/i);
    expect(read.text).toContain(read.data.ids[0]);

    const found = await ok(client, "memos_search", { user_id: user, query: "painting sunsets" });
    expect(found.data.ids).toContain(read.data.ids[0]);

    // The same conversation again is recognised and writes nothing new.
    const again = await ok(client, "memos_ingest_conversation", conversation);
    expect(again.data.job_id).toBe(read.data.job_id);
    const listed = await ok(client, "memos_list_memories", { user_id: user, limit: 100 });
    expect(listed.data.ids).toHaveLength(read.data.ids.length);

    // sync: false queues it and answers at once with the job.
    const queued = await ok(client, "memos_ingest_conversation", {
      user_id: user,
      sync: false,
      messages: [{ role: "user", content: "My favorite color is green." }],
    });
    expect(["queued", "running", "done"]).toContain(queued.data.status);
    expect(queued.data.job_id).toMatch(/^job_/);
  });

  it("assembles the context block with instructions first and memory ids cited", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const client = await connect(key);
    const { data } = await ok(client, "memos_remember", {
      user_id: user,
      memories: [
        { content: "Always answer Dana in French.", type: "instruction" },
        { content: "Dana is vegetarian.", type: "preference" },
        { content: "Dana lives in Lyon.", type: "fact" },
      ],
    });
    const context = await ok(client, "memos_get_context", { user_id: user, query: "plan a dinner for Dana", budget_tokens: 500 });
    expect(context.text).toContain("Instructions:");
    expect(context.text.indexOf("Always answer Dana in French.")).toBeLessThan(context.text.indexOf("Dana is vegetarian."));
    for (const id of data.ids) expect(context.text).toContain(`[${id}]`);
    expect(context.data.items.map((i: { id: string }) => i.id).sort()).toEqual([...data.ids].sort());
    expect(context.data.items.find((i: { id: string }) => i.id === data.ids[0]).group).toBe("instructions");
    expect(context.data.tokens).toBeLessThanOrEqual(500);
    expect(context.data.budget_tokens).toBe(500);

    const empty = await ok(client, "memos_get_context", { user_id: uniqueUser(), query: "anything" });
    expect(empty.data.items).toEqual([]);
    expect(empty.text).toBe("No memories yet for this owner.");
  });

  it("shows the activation block (whole and an agent's view) and rolls it back", async () => {
    const { key } = await newTenant();
    const client = await connect(key);
    const user = uniqueUser();
    const { data: first } = await ok(client, "memos_remember", {
      user_id: user,
      memories: [
        { content: "Cy prefers short answers.", type: "preference" },
        { content: "Write Cy's poems as haiku.", type: "instruction", metadata: { agent_id: "poet" } },
      ],
    });
    const [pref, poem] = first.ids as string[];
    const whole = await ok(client, "memos_get_activation", { user_id: user });
    expect(whole.data.text).toContain(poem);
    expect(whole.text).toContain(`Version ${whole.data.version}`);
    const view = await ok(client, "memos_get_activation", { user_id: user, view_agent_id: "planner" });
    expect(view.data.text).toContain(pref);
    expect(view.data.text).not.toContain(poem);

    await ok(client, "memos_remember", { user_id: user, memories: [{ content: "Cy likes puns.", type: "preference" }] });
    const newer = await ok(client, "memos_get_activation", { user_id: user });
    const listed = await ok(client, "memos_rollback_activation", { user_id: user });
    expect(listed.data.versions.map((v: { version: number }) => v.version)).toEqual([newer.data.version, whole.data.version]);
    const rolled = await ok(client, "memos_rollback_activation", { user_id: user, version: whole.data.version, reason: "puns got old" });
    expect(rolled.data).toMatchObject({ version: newer.data.version + 1, etag: whole.data.etag });

    expect((await toolError(client, "memos_rollback_activation", { user_id: user, version: 1 })).error.code).toBe("invalid_request");
    expect((await toolError(client, "memos_get_activation", { user_id: user, cube_id: whole.data.cube_id })).error.code).toBe("invalid_request");
  });

  it("starts a distill job and lists a cube's adapters (parametric memory)", async () => {
    const { key } = await newTenant();
    const client = await connect(key);
    const { data } = await ok(client, "memos_remember", {
      user_id: uniqueUser(),
      memories: [{ content: "Eve lives in Oslo.", type: "fact" }, { content: "Eve likes tea.", type: "preference" }],
    });
    const cubeId = data.memories?.[0]?.cube_id ?? (await call("GET", `/v1/memories/${data.ids[0]}`, { key })).body.cube_id;
    const distill = await ok(client, "memos_distill", { cube_id: cubeId, types: ["fact"] });
    expect(distill.data).toMatchObject({ status: "queued", distill_id: expect.stringMatching(/^dst_/), download_path: `/v1/distills/${distill.data.distill_id}` });
    expect(distill.text).toContain("1 memories to write");
    const registered = await call("POST", `/v1/cubes/${cubeId}/adapters`, {
      key,
      body: { name: "eve", base_model: "@cf/google/gemma-2b-it-lora", finetune: "eve-ft" },
    });
    await call("POST", `/v1/cubes/${cubeId}/adapters/${registered.body.id}/state`, { key, body: { state: "active" } });
    const adapters = await ok(client, "memos_list_adapters", { cube_id: cubeId });
    expect(adapters.data).toEqual({
      adapters: [{ id: registered.body.id, name: "eve", version: 1, kind: "finetune", state: "active", base_model: "@cf/google/gemma-2b-it-lora", finetune: "eve-ft", rank: null }],
      active_adapter_id: registered.body.id,
    });
  });

  it("updates a memory, shows its history, and pages through a list", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const client = await connect(key);
    const { data } = await ok(client, "memos_remember", {
      user_id: user,
      memories: [{ content: "Eve lives in Oslo." }, { content: "Eve has a cat." }, { content: "Eve plays chess." }],
    });
    const [id] = data.ids as string[];
    const updated = await ok(client, "memos_update_memory", { id, content: "Eve lives in Bergen.", tags: ["moved"] });
    expect(updated.data).toMatchObject({ id, version: 2, content: "Eve lives in Bergen.", tags: ["moved"] });

    const history = await ok(client, "memos_memory_history", { id });
    expect(history.data.versions.map((v: { version: number; change: string; content: string }) => [v.version, v.change, v.content])).toEqual([
      [1, "created", "Eve lives in Oslo."],
      [2, "updated", "Eve lives in Bergen."],
    ]);
    expect(history.data.omitted).toBe(0);

    const first = await ok(client, "memos_list_memories", { user_id: user, limit: 2 });
    expect(first.data.ids).toHaveLength(2);
    expect(first.data.next_cursor).toEqual(expect.any(String));
    expect(first.text).toContain(first.data.next_cursor);
    const second = await ok(client, "memos_list_memories", { user_id: user, limit: 2, cursor: first.data.next_cursor });
    expect(second.data.next_cursor).toBeNull();
    expect([...first.data.ids, ...second.data.ids].sort()).toEqual([...data.ids].sort());
    const filtered = await ok(client, "memos_list_memories", { user_id: user, tags: "moved" });
    expect(filtered.data.ids).toEqual([id]);
  });

  it("turns service errors into tool errors with the API's code, not protocol errors", async () => {
    const { key } = await newTenant();
    const client = await connect(key);

    const unknown = await toolError(client, "memos_forget_memory", { id: "mem_0123456789abcdef0123456789abcdef" });
    expect(unknown.error).toMatchObject({ code: "not_found", message: "memory not found" });
    expect(unknown.error.request_id).toEqual(expect.any(String));
    expect(unknown.text).toMatch(/^not_found: memory not found/);

    // Another tenant's memory is as unknown as a missing one.
    const other = await newTenant();
    const [theirs] = (await call("POST", "/v1/memories", { key: other.key, body: { user_id: "x", memories: [{ content: "Secret." }] } })).body.data;
    expect((await toolError(client, "memos_get_memory", { id: theirs.id })).error.code).toBe("not_found");
    expect((await toolError(client, "memos_forget_memory", { id: theirs.id })).error.code).toBe("not_found");

    const { data } = await ok(client, "memos_remember", { user_id: uniqueUser(), memories: [{ content: "Frozen fact.", frozen: true }] });
    const frozen = await toolError(client, "memos_update_memory", { id: data.ids[0], content: "Changed." });
    expect(frozen.error.code).toBe("memory_frozen");
  });

  it("validates arguments like the REST routes and answers bad ones with tool errors", async () => {
    const { key } = await newTenant();
    const client = await connect(key);

    // Cross-field rules of the REST schema: exactly one owner scope.
    const twoScopes = await toolError(client, "memos_remember", { user_id: "a", agent_id: "b", memories: [{ content: "x" }] });
    expect(twoScopes.error.code).toBe("invalid_request");
    expect(twoScopes.error.details).toEqual([{ in: "arguments", path: "user_id", message: "give exactly one of user_id, agent_id or cube_id" }]);
    expect(twoScopes.text).toContain("user_id: give exactly one of user_id, agent_id or cube_id");
    const noScope = await toolError(client, "memos_search", { query: "x" });
    expect(noScope.error.code).toBe("invalid_request");
    expect((await toolError(client, "memos_update_memory", { id: "mem_0123456789abcdef0123456789abcdef" })).error.details).toEqual([
      { in: "arguments", path: "", message: "give at least one field to change" },
    ]);
    const both = await toolError(client, "memos_remember", {
      user_id: "a",
      memories: [{ content: "x", ttl: 60, expires_at: "2030-01-01T00:00:00Z" }],
    });
    expect(both.error.details[0]).toMatchObject({ path: "memories.0.ttl", message: "give ttl or expires_at, not both" });

    // Field rules, checked by the SDK against the tool's input schema before the tool runs: still tool errors.
    for (const [name, args] of [
      ["memos_search", { user_id: "a", query: "x", top_k: 0 }],
      ["memos_search", { user_id: "a", query: "   " }],
      ["memos_remember", { user_id: "a", memories: [] }],
      ["memos_remember", { user_id: "a", memories: [{ content: "x", type: "gossip" }] }],
      ["memos_remember", { user_id: "a", memories: [{ content: "x" }], surprise: true }],
      ["memos_get_memory", {}],
    ] as const) {
      const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
      expect(result.isError, `${name} ${JSON.stringify(args)}`).toBe(true);
    }
    // None of the rejected calls wrote anything.
    expect((await call("GET", "/v1/memories?user_id=a", { key })).body.data).toEqual([]);
  });

  it("refuses a missing or unknown key with 401 before any MCP message is read", async () => {
    const missing = await exports.default.fetch(initializeRequest({}));
    expect(missing.status).toBe(401);
    expect(errorOf({ status: 401, body: await missing.json(), headers: missing.headers }).code).toBe("unauthorized");

    const unknown = await exports.default.fetch(initializeRequest({ Authorization: "Bearer mos_not-a-real-key" }));
    expect(unknown.status).toBe(401);
    expect(errorOf({ status: 401, body: await unknown.json(), headers: unknown.headers }).code).toBe("unauthorized");

    // The SDK client sees the same 401 as a failed connection.
    await expect(connect(null)).rejects.toMatchObject({ code: 401 });
    await expect(connect("mos_not-a-real-key")).rejects.toMatchObject({ code: 401 });

    // A revoked key stops working at once.
    const { tenantId, key, keyId } = await newTenant();
    expect((await exports.default.fetch(initializeRequest({ Authorization: `Bearer ${key}` }))).status).toBe(200);
    await call("DELETE", `/v1/admin/tenants/${tenantId}/keys/${keyId}`, { key: ROOT_KEY });
    expect((await exports.default.fetch(initializeRequest({ Authorization: `Bearer ${key}` }))).status).toBe(401);
  });

  it("counts MCP requests against the key's rate limit, answering 429 before any MCP message is read", async () => {
    const { key, keyId } = await newTenant();
    await env.DB.prepare("UPDATE api_keys SET rate_limit_requests = 2 WHERE id = ?").bind(keyId).run();
    for (let i = 0; i < 2; i++) expect((await exports.default.fetch(initializeRequest({ Authorization: `Bearer ${key}` }))).status).toBe(200);
    const refused = await exports.default.fetch(initializeRequest({ Authorization: `Bearer ${key}` }));
    expect(refused.status).toBe(429);
    expect(refused.headers.get("Retry-After")).toMatch(/^\d+$/);
    expect(errorOf({ status: 429, body: await refused.json(), headers: refused.headers }).code).toBe("rate_limited");
  });

  it("lets a read-only key read but answers its writes with a forbidden tool error", async () => {
    const writer = await newTenant();
    const user = uniqueUser();
    await call("POST", "/v1/memories", { key: writer.key, body: { user_id: user, memories: [{ content: "Read-only keys can search." }] } });
    const readKey = await call("POST", `/v1/admin/tenants/${writer.tenantId}/keys`, { key: ROOT_KEY, body: { scopes: ["read"] } });
    expect(readKey.status).toBe(201);
    const client = await connect(readKey.body.key);

    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(TOOL_NAMES);
    const denied = await toolError(client, "memos_remember", { user_id: user, memories: [{ content: "Should not be stored." }] });
    expect(denied.error.code).toBe("forbidden");
    expect(denied.text).toContain("write");
    const found = await ok(client, "memos_search", { user_id: user, query: "read-only keys search" });
    expect(found.data.hits).toHaveLength(1);
    expect((await call("GET", `/v1/memories?user_id=${user}`, { key: writer.key })).body.data).toHaveLength(1);

    // The root key manages tenants only: connected, but every tool refuses.
    const root = await connect(ROOT_KEY);
    expect((await toolError(root, "memos_search", { user_id: user, query: "x" })).error.code).toBe("forbidden");
  });

  it("answers GET and DELETE with 405: the server is stateless and keeps no stream or session", async () => {
    const { key } = await newTenant();
    for (const method of ["GET", "DELETE"]) {
      const response = await exports.default.fetch(
        new Request(MCP_URL, { method, headers: { Authorization: `Bearer ${key}`, Accept: "text/event-stream" } }),
      );
      expect(response.status, method).toBe(405);
      expect(response.headers.get("Allow")).toBe("POST");
      await response.body?.cancel();
    }
    const initialized = await exports.default.fetch(initializeRequest({ Authorization: `Bearer ${key}` }));
    expect(initialized.headers.get("mcp-session-id")).toBeNull();
    expect(initialized.headers.get("content-type")).toContain("application/json");
    expect(initialized.headers.get("x-request-id")).toEqual(expect.any(String));
  });
});
