import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { MAX_WEBHOOKS_PER_TENANT } from "../../src/schemas/webhooks";
import { checkWebhookUrl } from "../../src/services/url-policy";
import { ROOT_KEY, call, errorOf, newTenant } from "../helpers";

const admin = () => newTenant(["admin"]);
const register = (key: string, body: object) => call("POST", "/v1/webhooks", { key, body });

/** The same app under ENVIRONMENT=production (the test config runs in local mode). */
async function callProduction(key: string, method: string, path: string, body?: object) {
  const ctx = createExecutionContext();
  const request = new Request(`https://memos.test${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const production = { ...env, ENVIRONMENT: "production" } as unknown as Env;
  const response = await worker.fetch(request, production, ctx);
  await waitOnExecutionContext(ctx);
  return { status: response.status, body: (await response.json()) as any, headers: response.headers };
}

describe("webhook management", () => {
  it("registers, lists, rotates and deletes webhooks; secrets are shown once", async () => {
    const { key } = await admin();
    const created = await register(key, { url: "https://example.com/hooks/memos", events: ["memory.created", "memory.forgotten", "memory.created"] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^whk_[0-9a-z]{16}$/),
      url: "https://example.com/hooks/memos",
      events: ["memory.created", "memory.forgotten"],
      secret: expect.stringMatching(/^whsec_[0-9a-z]{40}$/),
    });
    expect(created.body.secret.startsWith(created.body.secret_prefix)).toBe(true);
    expect(created.body.secret_prefix).toHaveLength(14);
    const other = await register(key, { url: "https://example.org/b", events: ["job.failed"] });

    const listed = await call("GET", "/v1/webhooks", { key });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((w: any) => w.id)).toEqual([other.body.id, created.body.id]);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.secret);
    expect(listed.body.data[1]).not.toHaveProperty("secret");

    const rotated = await call("POST", `/v1/webhooks/${created.body.id}/rotate-secret`, { key });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(created.body.secret);
    expect(rotated.body.secret_prefix).toBe(rotated.body.secret.slice(0, 14));
    expect(Date.parse(rotated.body.secret_created_at)).toBeGreaterThanOrEqual(Date.parse(created.body.secret_created_at));
    // The secret is sealed at rest: neither the old nor the new one is stored in clear.
    const stored = await env.DB.prepare("SELECT sealed_secret FROM webhooks WHERE id = ?").bind(created.body.id).first<{ sealed_secret: string }>();
    expect(stored!.sealed_secret).toMatch(/^v1\./);
    expect(stored!.sealed_secret).not.toContain(rotated.body.secret);

    const deleted = await call("DELETE", `/v1/webhooks/${created.body.id}`, { key });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ id: created.body.id, url: created.body.url });
    expect(deleted.body).not.toHaveProperty("secret");
    for (const [method, path] of [
      ["DELETE", `/v1/webhooks/${created.body.id}`],
      ["POST", `/v1/webhooks/${created.body.id}/rotate-secret`],
      ["GET", `/v1/webhooks/${created.body.id}/deliveries`],
    ] as const) {
      const gone = await call(method, path, { key });
      expect(gone.status, `${method} ${path}`).toBe(404);
      expect(errorOf(gone).code).toBe("not_found");
    }
    expect((await call("GET", "/v1/webhooks", { key })).body.data.map((w: any) => w.id)).toEqual([other.body.id]);
  });

  it("refuses bad bodies with 400 in the one error shape, and more than the per-tenant limit with 409", async () => {
    const { key } = await admin();
    const cases: [string, object][] = [
      ["no events", { url: "https://example.com/a", events: [] }],
      ["unknown event type", { url: "https://example.com/a", events: ["memory.exploded"] }],
      ["unknown field", { url: "https://example.com/a", events: ["job.failed"], secret: "mine" }],
      ["missing url", { events: ["job.failed"] }],
      ["url not a string", { url: 42, events: ["job.failed"] }],
      ["relative url", { url: "/hooks", events: ["job.failed"] }],
      ["other scheme", { url: "ftp://example.com/a", events: ["job.failed"] }],
      ["credentials in the url", { url: "https://user:pass@example.com/a", events: ["job.failed"] }],
      ["fragment", { url: "https://example.com/a#frag", events: ["job.failed"] }],
      ["url too long", { url: `https://example.com/${"a".repeat(2100)}`, events: ["job.failed"] }],
    ];
    for (const [label, body] of cases) {
      const response = await register(key, body);
      expect(response.status, label).toBe(400);
      expect(errorOf(response).code, label).toBe("invalid_request");
    }
    const bad = await register(key, { url: "gopher://example.com", events: ["job.failed"] });
    expect(errorOf(bad).details).toEqual([expect.objectContaining({ path: "url" })]);
    const malformed = await call("POST", "/v1/webhooks", { key, raw: "{not json" });
    expect(malformed.status).toBe(400);

    for (let i = 0; i < MAX_WEBHOOKS_PER_TENANT; i++) {
      expect((await register(key, { url: `https://example.com/${i}`, events: ["job.failed"] })).status).toBe(201);
    }
    const over = await register(key, { url: "https://example.com/one-too-many", events: ["job.failed"] });
    expect(over.status).toBe(409);
    expect(errorOf(over).code).toBe("conflict");
  });

  it("validates delivery-log queries", async () => {
    const { key } = await admin();
    const hook = await register(key, { url: "https://example.com/q", events: ["job.failed"] });
    const base = `/v1/webhooks/${hook.body.id}/deliveries`;
    const empty = await call("GET", base, { key });
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ data: [], next_cursor: null });
    for (const query of ["?status=lost", "?limit=0", "?limit=101", "?limit=x", "?cursor=forged", `?cursor=${btoa(JSON.stringify([1, "x"]))}`]) {
      const response = await call("GET", `${base}${query}`, { key });
      expect(response.status, query).toBe(400);
      expect(errorOf(response).code).toBe("invalid_request");
    }
    const replay = await call("POST", `${base}/dlv_0123456789abcdef/replay`, { key });
    expect(replay.status).toBe(404);
    expect(errorOf(replay).code).toBe("not_found");
  });
});

describe("webhook URLs", () => {
  it("in local mode allow http and local receivers", async () => {
    const { key } = await admin();
    for (const url of ["http://localhost:8788/hook", "http://127.0.0.1:9000/x", "https://receiver.local/x", "http://192.168.1.20/x"]) {
      const response = await register(key, { url, events: ["memory.created"] });
      expect(response.status, url).toBe(201);
    }
  });

  it("in production allow only https to public hosts", async () => {
    const { key } = await admin();
    const refused = [
      "http://example.com/hook",
      "https://localhost/hook",
      "https://LOCALHOST./hook",
      "https://api.localhost/hook",
      "https://printer.local/hook",
      "https://metadata.google.internal/hook",
      "https://0.0.0.0/hook",
      "https://127.0.0.1/hook",
      "https://127.8.9.10/hook",
      "https://2130706433/hook", // 127.0.0.1 in decimal
      "https://0x7f.1/hook", // 127.0.0.1 in hex shorthand
      "https://10.1.2.3/hook",
      "https://172.16.0.1/hook",
      "https://172.31.255.255/hook",
      "https://192.168.0.1/hook",
      "https://100.64.0.1/hook",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/hook",
      "https://[::]/hook",
      "https://[fe80::1]/hook",
      "https://[fc00::1]/hook",
      "https://[fd12:3456::1]/hook",
      "https://[::ffff:127.0.0.1]/hook",
      "https://[::ffff:10.0.0.1]/hook",
      "https://[64:ff9b::a9fe:a9fe]/hook", // NAT64 of 169.254.169.254
    ];
    for (const url of refused) {
      const response = await callProduction(key, "POST", "/v1/webhooks", { url, events: ["memory.created"] });
      expect(response.status, url).toBe(400);
      expect(errorOf(response).code, url).toBe("invalid_request");
      expect(errorOf(response).message, url).toMatch(/^url /);
    }
    for (const url of ["https://example.com/hook", "https://8.8.8.8/x", "https://172.32.0.1/x", "https://[2606:4700:4700::1111]/x", "https://hooks.example.com:8443/a?b=c"]) {
      const response = await callProduction(key, "POST", "/v1/webhooks", { url, events: ["memory.created"] });
      expect(response.status, url).toBe(201);
    }
  });

  it("the policy as a table: local mode and production", () => {
    const table: [string, boolean, boolean][] = [
      // url, allowed in local mode, allowed in production
      ["https://example.com/a", true, true],
      ["http://example.com/a", true, false],
      ["http://localhost:3000/a", true, false],
      ["https://service.internal/a", true, false],
      ["https://10.0.0.1/a", true, false],
      ["https://[fe80::abcd]/a", true, false],
      ["https://[febf::1]/a", true, false],
      ["https://[fec0::1]/a", true, false],
      ["https://[2001:db8::1]/a", true, false],
      ["https://224.0.0.1/a", true, false],
      ["https://255.255.255.255/a", true, false],
      ["https://1.1.1.1/a", true, true],
      ["https://[2a00:1450::1]/a", true, true],
      ["https://169.253.255.255/a", true, true],
      ["https://localhost.example.com/a", true, true],
      ["ftp://example.com/a", false, false],
      ["javascript:alert(1)", false, false],
      ["not a url", false, false],
    ];
    for (const [url, local, production] of table) {
      expect(checkWebhookUrl(url, { local: true }).ok, `${url} local`).toBe(local);
      expect(checkWebhookUrl(url, { local: false }).ok, `${url} production`).toBe(production);
    }
    expect(checkWebhookUrl("https://EXAMPLE.com:443/a", { local: false })).toEqual({ ok: true, url: "https://example.com/a" });
  });
});

describe("webhook authorisation", () => {
  it("needs an unrestricted admin key of the tenant", async () => {
    const { key: readWrite, tenantId } = await newTenant(["read", "write"]);
    const adminKey = (await call("POST", `/v1/admin/tenants/${tenantId}/keys`, { key: ROOT_KEY, body: { scopes: ["admin"] } })).body.key as string;
    const body = { url: "https://example.com/auth", events: ["memory.created"] };

    const anonymous = await call("POST", "/v1/webhooks", { body });
    expect(anonymous.status).toBe(401);
    expect(errorOf(anonymous).code).toBe("unauthorized");
    for (const [label, key] of [["read+write key", readWrite], ["root key", ROOT_KEY]] as const) {
      for (const [method, path] of [["POST", "/v1/webhooks"], ["GET", "/v1/webhooks"]] as const) {
        const response = await call(method, path, { key, body: method === "POST" ? body : undefined });
        expect(response.status, `${label} ${method}`).toBe(403);
        expect(errorOf(response).code).toBe("forbidden");
      }
    }
    const restricted = await call("POST", "/v1/keys", { key: adminKey, body: { scopes: ["admin"], allowed_owners: ["user:alice"] } });
    expect(restricted.status).toBe(201);
    const confined = await call("POST", "/v1/webhooks", { key: restricted.body.key, body });
    expect(confined.status).toBe(403);
    expect(errorOf(confined).message).toMatch(/restricted/);
    expect((await call("POST", "/v1/webhooks", { key: adminKey, body })).status).toBe(201);
  });

  it("another tenant's webhooks are indistinguishable from missing ones", async () => {
    const a = await admin();
    const b = await admin();
    const hook = await register(a.key, { url: "https://example.com/mine", events: ["memory.created"] });
    expect((await call("GET", "/v1/webhooks", { key: b.key })).body.data).toEqual([]);
    for (const [method, path] of [
      ["DELETE", `/v1/webhooks/${hook.body.id}`],
      ["POST", `/v1/webhooks/${hook.body.id}/rotate-secret`],
      ["GET", `/v1/webhooks/${hook.body.id}/deliveries`],
      ["POST", `/v1/webhooks/${hook.body.id}/deliveries/dlv_0123456789abcdef/replay`],
    ] as const) {
      const response = await call(method, path, { key: b.key });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(errorOf(response).code).toBe("not_found");
    }
    // Still there for its owner.
    expect((await call("GET", "/v1/webhooks", { key: a.key })).body.data.map((w: any) => w.id)).toEqual([hook.body.id]);
  });
});
