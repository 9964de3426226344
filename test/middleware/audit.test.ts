/**
 * The audit middleware (src/middleware/audit.ts; docs/hot-path.md, "After the answer"): an entry's ids come from the
 * object the handler gave `c.json` — the answer is neither re-read nor re-parsed — and nothing of the entry is built
 * before the answer has been handed on. A JSON answer built without `c.json` still gets its ids, from its text.
 * The entries' contents through the real pipeline are test/routes/audit.test.ts's.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { newCubeId, newKeyId, newMemoryId, newTenantId } from "../../src/core/ids";
import { recordAuditEntry } from "../../src/middleware/audit";
import { createRouter } from "../../src/routes/shared";
import type { BookkeepingMessage } from "../../src/services/bookkeeping";
import type { Deps, Principal } from "../../src/services/context";

const tenantId = newTenantId();
const principal: Principal = { kind: "tenant", tenantId, keyId: newKeyId(), scopes: new Set(["read"]) };
const cubeId = newCubeId();
const memoryIds = [newMemoryId(cubeId), newMemoryId(cubeId)];

/** An app with the audit middleware, a principal, and a bookkeeping producer that keeps what it is handed. */
function auditedApp() {
  const released: (BookkeepingMessage | undefined)[] = [];
  const bookkeeping = { send: async () => {}, hold: () => {}, release: async (last?: BookkeepingMessage) => void released.push(last) };
  const app = createRouter();
  app.use("*", async (c, next) => {
    c.set("deps", { bookkeeping } as unknown as Deps);
    c.set("principal", principal);
    c.set("requestId", "req_test");
    await next();
  });
  app.use("*", recordAuditEntry);
  app.post("/v1/search", (c) => c.json({ data: memoryIds.map((id) => ({ id, cube_id: cubeId, content: "Ada drinks green tea" })) }, 200));
  app.post("/v1/handmade", () =>
    new Response(JSON.stringify({ data: memoryIds.map((id) => ({ id })) }), { headers: { "Content-Type": "application/json" } }),
  );
  app.onError((_error, c) => c.json({ error: { code: "invalid_request", message: "no", request_id: "req_test" } }, 400));
  app.post("/v1/fails", () => {
    throw new Error("refused");
  });

  const waiting: Promise<unknown>[] = [];
  const ctx = { waitUntil: (work: Promise<unknown>) => void waiting.push(work), passThroughOnException: () => {}, props: {} };
  const request = (path: string) => app.request(path, { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } }, {}, ctx as unknown as ExecutionContext);
  return { request, released, settled: () => Promise.all(waiting) };
}

function entryOf(message: BookkeepingMessage | undefined) {
  if (message?.kind !== "audit") throw new Error(`no audit entry: ${JSON.stringify(message)}`);
  return message.entry;
}

const memoryIdsOf = (message: BookkeepingMessage | undefined) => JSON.parse(entryOf(message).memoryIds ?? "null") as unknown;
const dataOf = async (response: Response) => ((await response.json()) as { data: unknown[] }).data;

afterEach(() => vi.restoreAllMocks());

describe("the audit middleware", () => {
  it("takes a search answer's ids from the handler's object, without reading or parsing the answer", async () => {
    const { request, released, settled } = auditedApp();
    const text = vi.spyOn(Response.prototype, "text");
    const parse = vi.spyOn(JSON, "parse");
    const response = await request("/v1/search");
    expect(response.status).toBe(200);
    await settled();
    expect(text).not.toHaveBeenCalled();
    // The spy is global: other work of the shared test runtime may parse its own JSON meanwhile; the answer's must not be.
    expect(parse.mock.calls.filter(([input]) => String(input).includes("Ada drinks green tea"))).toEqual([]);
    expect(entryOf(released[0])).toMatchObject({ tenantId, action: "search", cubeId, status: 200 });
    expect(memoryIdsOf(released[0])).toEqual(memoryIds);
    expect(await dataOf(response)).toHaveLength(2);
  });

  it("builds the entry only after the answer is out", async () => {
    const { request, released, settled } = auditedApp();
    await request("/v1/search");
    expect(released).toHaveLength(0);
    await settled();
    expect(released).toHaveLength(1);
  });

  it("reads the ids of a JSON answer that c.json did not build from its text, and still sends the answer whole", async () => {
    const { request, released, settled } = auditedApp();
    const response = await request("/v1/handmade");
    await settled();
    expect(memoryIdsOf(released[0])).toEqual(memoryIds);
    expect(await dataOf(response)).toHaveLength(2);
  });

  it("records the error code of an answer the error handler gave", async () => {
    const { request, released, settled } = auditedApp();
    const response = await request("/v1/fails");
    expect(response.status).toBe(400);
    await settled();
    expect(entryOf(released[0])).toMatchObject({ status: 400, detail: JSON.stringify({ error: "invalid_request" }) });
  });
});
