/**
 * The audit log (LogQuery): a scripted session through the public surface, then GET /v1/audit. Entries are written
 * after each response (waitUntil), so reads poll briefly until the expected entries are there.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { createDeps } from "../../src/deps";
import { auditEntryOf, type AuditedRequest } from "../../src/services/audit-entry";
import { auditPageQuery, type AuditFilters } from "../../src/services/audit";
import { cubeObjectName } from "../../src/core/ids";
import { ROOT_KEY, call, errorOf, newTenant, remember, uniqueUser } from "../helpers";
import { deliver, hookSecret, newCube } from "../lifecycle-helpers";

interface Entry {
  at: string;
  actor: string;
  action: string;
  cube_id: string | null;
  memory_ids: string[];
  request_id: string | null;
  status: number | null;
  detail: Record<string, unknown>;
}

/** Pages through GET /v1/audit (admin key) until `ready` holds for the entries, for up to ~5 s. */
async function auditUntil(adminKey: string, query: string, ready: (entries: Entry[]) => boolean): Promise<Entry[]> {
  let entries: Entry[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    const response = await call("GET", `/v1/audit?limit=100${query ? `&${query}` : ""}`, { key: adminKey });
    expect(response.status).toBe(200);
    entries = response.body.data;
    if (ready(entries)) return entries;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`audit entries never became ready: ${JSON.stringify(entries)}`);
}

const requestIdOf = (response: { headers: Headers }) => response.headers.get("X-Request-Id") ?? "";

describe("audit recording", { timeout: 30_000 }, () => {
  it("records every action of a scripted session with actor, cube, memory ids and request id, and never content", async () => {
    const { tenantId, key: adminKey, keyId: adminKeyId } = await newTenant(["admin"]);
    const created = await call("POST", "/v1/keys", { key: adminKey, body: { name: "writer", scopes: ["read", "write"] } });
    expect(created.status).toBe(201);
    const writer = created.body.key as string;
    const writerId = created.body.id as string;
    const user = uniqueUser();
    const secretText = `the vault code is ${crypto.randomUUID()}`;

    const write = await call("POST", "/v1/memories", {
      key: writer,
      body: { user_id: user, memories: [{ content: secretText, tags: ["vault"] }, { content: "Alice likes green tea." }] },
    });
    expect(write.status).toBe(201);
    const cubeId = write.body.cube_id as string;
    const [first, second] = (write.body.data as { id: string }[]).map((m) => m.id) as [string, string];
    const read = await call("GET", `/v1/memories/${first}`, { key: writer });
    const list = await call("GET", `/v1/memories?user_id=${user}`, { key: writer });
    const search = await call("POST", "/v1/search", { key: writer, body: { user_id: user, query: "green tea" } });
    const update = await call("PATCH", `/v1/memories/${second}`, { key: writer, body: { content: "Alice likes oolong." } });
    const forget = await call("DELETE", `/v1/memories/${second}`, { key: writer });
    const purge = await call("DELETE", `/v1/memories/${first}?hard=true`, { key: writer });
    const missing = `mem_${cubeId.slice(5)}${"0".repeat(16)}`;
    const failed = await call("PATCH", `/v1/memories/${missing}`, { key: writer, body: { content: "nothing here" } });
    for (const [response, status] of [[read, 200], [list, 200], [search, 200], [update, 200], [forget, 200], [purge, 200], [failed, 404]] as const) {
      expect(response.status).toBe(status);
    }
    expect(search.body.data.map((hit: { id: string }) => hit.id)).toContain(second);

    const expected = [
      { response: write, action: "memory.write", memory_ids: [first, second], status: 201 },
      { response: read, action: "memory.read", memory_ids: [first], status: 200 },
      { response: list, action: "memory.list", memory_ids: expect.arrayContaining([first, second]), status: 200 },
      { response: search, action: "search", memory_ids: expect.arrayContaining([second]), status: 200 },
      { response: update, action: "memory.update", memory_ids: [second], status: 200 },
      { response: forget, action: "memory.forget", memory_ids: [second], status: 200 },
      { response: purge, action: "memory.purge", memory_ids: [first], status: 200 },
      { response: failed, action: "memory.update", memory_ids: [missing], status: 404 },
    ];
    const entries = await auditUntil(adminKey, `actor=${writerId}`, (e) => e.length >= expected.length);
    expect(entries).toHaveLength(expected.length);
    for (const { response, ...want } of expected) {
      const entry = entries.find((e) => e.request_id === requestIdOf(response));
      expect(entry, want.action).toMatchObject({ ...want, actor: writerId, cube_id: cubeId });
    }
    expect(entries.find((e) => e.status === 404)?.detail).toEqual({ error: "not_found" });
    // Newest first.
    const times = entries.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(JSON.stringify(entries)).not.toContain("vault code");
    expect(JSON.stringify(entries)).not.toContain("oolong");

    // The admin's own actions, and the root key's on this tenant, are filed here too.
    const admin = await auditUntil(adminKey, `actor=${adminKeyId}&action=key.create`, (e) => e.length === 1);
    expect(admin[0]).toMatchObject({ action: "key.create", status: 201, request_id: requestIdOf(created), detail: { key_id: writerId } });
    const root = await auditUntil(adminKey, "actor=root", (e) => e.length >= 2);
    expect(root.map((e) => e.action).sort()).toEqual(["key.create", "tenant.create"]);
    expect(root.find((e) => e.action === "key.create")?.detail).toEqual({ key_id: adminKeyId });

    // Nothing of it is visible to another tenant, under any filter.
    const other = await newTenant(["admin"]);
    for (const query of ["", `actor=${writerId}`, `cube_id=${cubeId}`, "actor=root", "action=memory.write"]) {
      const seen = await call("GET", `/v1/audit?limit=100${query ? `&${query}` : ""}`, { key: other.key });
      expect(seen.status).toBe(200);
      const ids = new Set((seen.body.data as Entry[]).map((e) => e.request_id));
      for (const { response } of expected) expect(ids.has(requestIdOf(response))).toBe(false);
    }
    expect(tenantId).not.toBe(other.tenantId);
  });

  it("files refused requests of a key too, but not unauthenticated ones", async () => {
    const { key: adminKey, keyId: adminKeyId } = await newTenant(["admin"]);
    const reader = await call("POST", "/v1/keys", { key: adminKey, body: { scopes: ["read"] } });
    const denied = await call("POST", "/v1/memories", { key: reader.body.key, body: { user_id: "u", memories: [{ content: "x" }] } });
    expect(denied.status).toBe(403);
    const invalid = await call("GET", "/v1/memories?user_id=u&limit=0", { key: reader.body.key });
    expect(invalid.status).toBe(400);
    const unauthenticated = await call("GET", "/v1/memories?user_id=u", { key: "mos_unknownkey000000000000000000000000000" });
    expect(unauthenticated.status).toBe(401);

    const entries = await auditUntil(adminKey, `actor=${reader.body.id}`, (e) => e.length >= 2);
    expect(entries.map((e) => [e.action, e.status, e.detail.error])).toEqual(
      expect.arrayContaining([
        ["memory.write", 403, "forbidden"],
        ["memory.list", 400, "invalid_request"],
      ]),
    );
    const all = await auditUntil(adminKey, "", (e) => e.some((x) => x.actor === adminKeyId && x.action === "key.create"));
    expect(all.map((e) => e.request_id)).not.toContain(requestIdOf(unauthenticated));
  });

  it("takes ids the request body names, when the response names none", async () => {
    const { key } = await newTenant(["read", "write", "admin"]);
    const [a] = await remember(key, uniqueUser(), [{ content: "first cube" }]);
    const [b] = await remember(key, uniqueUser(), [{ content: "second cube" }]);
    const search = await call("POST", "/v1/search", { key, body: { cube_ids: [a.cube_id, b.cube_id], query: "zebra quasar", channels: ["lexical"] } });
    expect(search.body.data).toEqual([]);
    const [entry] = await auditUntil(key, "action=search", (e) => e.length >= 1);
    expect((entry!.detail.cube_ids as string[]).sort()).toEqual([a.cube_id, b.cube_id].sort());
  });

  it("records MCP calls as `mcp` and unknown routes by method and path", async () => {
    const { key: adminKey, keyId } = await newTenant(["admin"]);
    const mcp = await call("POST", "/mcp", {
      key: adminKey,
      headers: { Accept: "application/json, text/event-stream" },
      body: { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } },
    });
    const unknown = await call("GET", "/v1/nothing-here", { key: adminKey });
    expect(unknown.status).toBe(404);
    const entries = await auditUntil(adminKey, `actor=${keyId}`, (e) => e.some((x) => x.action === "mcp") && e.some((x) => x.action === "route.unknown"));
    expect(entries.find((e) => e.action === "mcp")).toMatchObject({ request_id: requestIdOf(mcp), status: mcp.status, memory_ids: [] });
    expect(entries.find((e) => e.action === "route.unknown")).toMatchObject({
      request_id: requestIdOf(unknown),
      status: 404,
      detail: { method: "GET", error: "not_found" },
    });
  });

  it("files a signed hook delivery under its tenant as hook:lifecycle, and not one whose signature fails", async () => {
    const { tenantId, key: adminKey } = await newTenant(["read", "write", "admin"]);
    const cubeId = await newCube(adminKey);
    const secret = await hookSecret(adminKey);
    const accepted = await deliver({ tenantId, secret, body: { type: "archive", cube_id: cubeId } });
    expect(accepted.status).toBe(202);
    const forged = await deliver({ tenantId, secret: "whsec_not-the-secret", body: { type: "archive", cube_id: cubeId } });
    expect(forged.status).toBe(401);
    await runDurableObjectAlarm(env.CUBE.getByName(cubeObjectName(tenantId, cubeId)));

    const entries = await auditUntil(adminKey, "actor=hook:lifecycle", (e) => e.length >= 1);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ action: "hook.lifecycle", cube_id: cubeId, status: 202, request_id: requestIdOf(accepted) });
  });

  it("does not record health, the OpenAPI document or the root key outside a tenant", async () => {
    const { key: adminKey } = await newTenant(["admin"]);
    const before = await auditUntil(adminKey, "actor=root", (e) => e.length === 2);
    await call("GET", "/health");
    await call("GET", "/openapi.json");
    const asRoot = await call("GET", "/v1/memories?user_id=a", { key: ROOT_KEY });
    expect(asRoot.status).toBe(403);
    const marker = await call("GET", "/v1/keys", { key: adminKey });
    const after = await auditUntil(adminKey, "", (e) => e.some((x) => x.request_id === requestIdOf(marker)));
    const added = after.filter((e) => !before.some((b) => b.request_id === e.request_id));
    expect(new Set(added.map((e) => e.action))).toEqual(new Set(["audit.read", "key.list"]));
  });
});

describe("GET /v1/audit", () => {
  it("filters by cube, actor, action and time, and pages newest first with an opaque cursor", async () => {
    const { key: adminKey, keyId } = await newTenant(["admin"]);
    const userA = uniqueUser();
    const userB = uniqueUser();
    const a = await call("POST", "/v1/memories", { key: adminKey, body: { user_id: userA, memories: [{ content: "a1" }] } });
    const b = await call("POST", "/v1/memories", { key: adminKey, body: { user_id: userB, memories: [{ content: "b1" }] } });
    for (let i = 0; i < 4; i++) await call("GET", `/v1/memories/${a.body.data[0].id}`, { key: adminKey });
    const sessionEntries = (e: Entry[]) => e.filter((x) => x.action !== "audit.read").length >= 6;
    const everything = await auditUntil(adminKey, `actor=${keyId}`, sessionEntries);

    const byCube = await auditUntil(adminKey, `cube_id=${b.body.cube_id}`, (e) => e.length >= 1);
    expect(byCube.map((e) => e.request_id)).toEqual([requestIdOf(b)]);
    const reads = await auditUntil(adminKey, "action=memory.read", (e) => e.length >= 4);
    expect(reads).toHaveLength(4);
    expect(reads.every((e) => e.cube_id === a.body.cube_id)).toBe(true);

    const writes = everything.filter((e) => e.action === "memory.write");
    const firstWriteAt = writes.map((e) => Date.parse(e.at)).sort((x, y) => x - y)[0]!;
    const fromIso = new Date(firstWriteAt).toISOString();
    const toIso = new Date(firstWriteAt + 1).toISOString();
    const window = await call("GET", `/v1/audit?action=memory.write&from=${fromIso}&to=${toIso}`, { key: adminKey });
    expect(window.status).toBe(200);
    expect(window.body.data.length).toBeGreaterThanOrEqual(1);
    expect(window.body.data.every((e: Entry) => Date.parse(e.at) === firstWriteAt)).toBe(true);
    const before = await call("GET", `/v1/audit?action=memory.write&to=${fromIso}`, { key: adminKey });
    expect(before.body.data).toEqual([]);

    // Paging one at a time walks the same entries as one big page, in the same order, without repeats (reads in
    // the same millisecond are told apart by their sequence number).
    const filter = `actor=${keyId}&action=memory.read`;
    const whole = (await call("GET", `/v1/audit?limit=100&${filter}`, { key: adminKey })).body.data as Entry[];
    const paged: Entry[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: Entry[]; next_cursor: string | null } } = await call(
        "GET",
        `/v1/audit?limit=1&${filter}${cursor ? `&cursor=${cursor}` : ""}`,
        { key: adminKey },
      );
      expect(page.body.data.length).toBe(1);
      paged.push(...page.body.data);
      cursor = page.body.next_cursor;
    } while (cursor !== null);
    expect(paged).toEqual(whole);
    expect(whole).toHaveLength(4);
    expect(everything.filter((e) => e.action !== "audit.read")).toHaveLength(6);
  });

  it("needs the admin scope", async () => {
    const { key: adminKey } = await newTenant(["admin"]);
    for (const scopes of [["read"], ["read", "write"]]) {
      const created = await call("POST", "/v1/keys", { key: adminKey, body: { scopes } });
      const response = await call("GET", "/v1/audit", { key: created.body.key });
      expect(response.status).toBe(403);
      expect(errorOf(response).code).toBe("forbidden");
    }
    expect((await call("GET", "/v1/audit", { key: ROOT_KEY })).status).toBe(403);
    expect((await call("GET", "/v1/audit")).status).toBe(401);
  });

  it.each([
    ["limit=0"],
    ["limit=101"],
    ["limit=abc"],
    ["cube_id=not-a-cube"],
    ["from=yesterday"],
    ["from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"],
    ["cursor=forged!"],
    ["cursor=bm90LWEtY3Vyc29y"],
    [`actor=${"x".repeat(65)}`],
  ])("refuses %s with 400 in the error shape", async (query) => {
    const { key } = await newTenant(["admin"]);
    const response = await call("GET", `/v1/audit?${query}`, { key });
    expect(response.status).toBe(400);
    expect(errorOf(response).code).toBe("invalid_request");
  });

  it("is served by the (tenant, …, at) indexes without sorting", async () => {
    const deps = createDeps(env);
    const after = { at: Date.now(), seq: 10 };
    const cases: [AuditFilters, string][] = [
      [{}, "audit_tenant_at"],
      [{ from: 1, to: Date.now(), after }, "audit_tenant_at"],
      [{ cubeId: "cube_0123456789abcdef" }, "audit_tenant_cube_at"],
      [{ cubeId: "cube_0123456789abcdef", from: 1, after }, "audit_tenant_cube_at"],
      [{ cubeId: "cube_0123456789abcdef", actor: "key_0123456789abcdef", action: "search" }, "audit_tenant_cube_at"],
      [{ actor: "key_0123456789abcdef", to: Date.now() }, "audit_tenant_actor_at"],
      [{ action: "memory.write", after }, "audit_tenant_action_at"],
    ];
    for (const [filters, index] of cases) {
      const query = auditPageQuery("ten_0123456789abcdef", filters, 20);
      const plan = await deps.db.all<{ detail: string }>(sql`EXPLAIN QUERY PLAN ${query}`);
      const details = plan.map((row) => row.detail).join("\n");
      expect(details, JSON.stringify(filters)).toContain(`USING INDEX ${index}`);
      // The filters are the index's key: equality on tenant (and cube, actor or action), then the time range.
      expect(details).toMatch(/USING INDEX \S+ \(tenant_id=\?/);
      if (filters.from !== undefined || filters.after !== undefined) expect(details).toMatch(/at[<>]\?/);
      expect(details).not.toContain("TEMP B-TREE");
      expect(details).not.toMatch(/SCAN audit_log(?! USING)/);
    }
  });
});

describe("audit entries", () => {
  const base: AuditedRequest = {
    method: "GET",
    route: "/v1/memories",
    path: "/v1/memories",
    params: {},
    query: {},
    principal: { kind: "tenant", tenantId: "ten_0123456789abcdef", keyId: "key_0123456789abcdef", scopes: new Set(["read"]) },
    hookTenantId: undefined,
    requestId: "req_1",
    at: 1,
    status: 200,
    requestBody: undefined,
    responseBody: undefined,
  };
  const memoryId = (i: number) => `mem_0123456789abcdef${i.toString().padStart(16, "0")}`;

  it("keeps at most 100 memory ids and counts the rest", () => {
    const data = Array.from({ length: 130 }, (_, i) => ({ id: memoryId(i), cube_id: "cube_0123456789abcdef" }));
    const entry = auditEntryOf({ ...base, responseBody: { data, next_cursor: null } })!;
    expect(JSON.parse(entry.memoryIds!)).toHaveLength(100);
    expect(JSON.parse(entry.detail!)).toEqual({ memory_ids_omitted: 30 });
    expect(entry.cubeId).toBe("cube_0123456789abcdef");
  });

  it("never takes ids from a memory's metadata, and names several cubes in detail", () => {
    const decoy = memoryId(99).replace("0123456789abcdef", "fedcba9876543210");
    const data = [
      { id: memoryId(1), cube_id: "cube_0123456789abcdef", metadata: { id: decoy, cube_id: "cube_fedcba9876543210" } },
      { id: memoryId(2).replace("0123456789abcdef", "aaaaaaaaaaaaaaaa"), cube_id: "cube_aaaaaaaaaaaaaaaa" },
    ];
    const entry = auditEntryOf({ ...base, route: "/v1/search", method: "POST", responseBody: { data } })!;
    expect(entry.action).toBe("search");
    expect(entry.memoryIds).not.toContain(decoy);
    expect(entry.cubeId).toBeNull();
    expect(JSON.parse(entry.detail!)).toEqual({ cube_ids: ["cube_0123456789abcdef", "cube_aaaaaaaaaaaaaaaa"] });
  });

  it("names a route missing from the table by method and pattern, and files nothing without a tenant", () => {
    expect(auditEntryOf({ ...base, method: "PUT", route: "/v1/owners/{owner}" })?.action).toBe("PUT /v1/owners/{owner}");
    expect(auditEntryOf({ ...base, principal: undefined })).toBeNull();
    expect(auditEntryOf({ ...base, principal: { kind: "root" } })).toBeNull();
    const hook = auditEntryOf({ ...base, principal: undefined, hookTenantId: "ten_0123456789abcdef", method: "POST", route: "/v1/hooks/lifecycle" });
    expect(hook).toMatchObject({ actor: "hook:lifecycle", action: "hook.lifecycle", tenantId: "ten_0123456789abcdef" });
  });

  it("leaves a successful deletion to the deletion's own entry, and never records the owner it names", () => {
    const request = { ...base, method: "DELETE", route: "/v1/owners/{owner}", params: { owner: "user:alice" } };
    expect(auditEntryOf({ ...request, status: 200 })).toBeNull();
    const refused = auditEntryOf({ ...request, status: 404, responseBody: { error: { code: "not_found" } } })!;
    expect(refused).toMatchObject({ action: "owner.delete", status: 404, cubeId: null, memoryIds: "[]" });
    expect(JSON.stringify(refused)).not.toContain("alice");
    expect(auditEntryOf({ ...base, method: "DELETE", route: "/v1/cubes/{id}", params: { id: "cube_0123456789abcdef" }, status: 200 })).toBeNull();
  });
});
