import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cubeObjectName } from "../../src/core/ids";
import { call, errorOf, newTenant } from "../helpers";
import { deliver, hookSecret, jobsIn, newCube, resend, signature, unixNow } from "../lifecycle-helpers";

/** A tenant with an admin key, a cube and a hook secret. */
async function setup() {
  const tenant = await newTenant(["read", "write", "admin"]);
  const cubeId = await newCube(tenant.key);
  const secret = await hookSecret(tenant.key);
  return { ...tenant, cubeId, secret };
}

async function deliveriesOf(tenantId: string) {
  const { results } = await env.DB.prepare("SELECT signature, received_at FROM lifecycle_hook_deliveries WHERE tenant_id = ?").bind(tenantId).all();
  return results;
}

function expectUnauthorized(response: { status: number; body: any }) {
  expect(response.status, JSON.stringify(response.body)).toBe(401);
  return errorOf(response as any);
}

describe("POST /v1/hooks/lifecycle/secret", () => {
  it("an admin key creates the secret, shown once, and stored only sealed", async () => {
    const { key, tenantId } = await newTenant(["read", "write", "admin"]);
    const created = await call("POST", "/v1/hooks/lifecycle/secret", { key });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ rotated: false, prefix: created.body.secret.slice(0, 14) });
    expect(created.body.secret).toMatch(/^whsec_[0-9a-z]{40}$/);

    const row = await env.DB.prepare("SELECT sealed_secret, prefix FROM lifecycle_hook_secrets WHERE tenant_id = ?").bind(tenantId).first<{ sealed_secret: string; prefix: string }>();
    expect(row?.prefix).toBe(created.body.prefix);
    expect(row?.sealed_secret).toMatch(/^v1\.[\w-]+\.[\w-]+$/);
    expect(row?.sealed_secret).not.toContain(created.body.secret.slice(6));

    const rotated = await call("POST", "/v1/hooks/lifecycle/secret", { key });
    expect(rotated.status).toBe(201);
    expect(rotated.body.rotated).toBe(true);
    expect(rotated.body.secret).not.toBe(created.body.secret);
  });

  it("a sealed secret is bound to its tenant: copied into another tenant's row, it opens for nobody", async () => {
    const a = await setup();
    const b = await setup();
    await env.DB.prepare("UPDATE lifecycle_hook_secrets SET sealed_secret = (SELECT sealed_secret FROM lifecycle_hook_secrets WHERE tenant_id = ?) WHERE tenant_id = ?")
      .bind(a.tenantId, b.tenantId)
      .run();
    for (const secret of [a.secret, b.secret]) {
      const response = await deliver({ tenantId: b.tenantId, secret, body: { type: "archive", cube_id: b.cubeId } });
      expect(response.status).toBe(401);
    }
    expect(await jobsIn(b.tenantId, b.cubeId)).toEqual([]);
  });

  it("needs the admin scope", async () => {
    const { key } = await newTenant(["read", "write"]);
    const response = await call("POST", "/v1/hooks/lifecycle/secret", { key });
    expect(response.status).toBe(403);
    expect(errorOf(response).code).toBe("forbidden");
    expect((await call("POST", "/v1/hooks/lifecycle/secret")).status).toBe(401);
  });
});

describe("POST /v1/hooks/lifecycle", () => {
  it("a valid signature starts the job: 202, and the job exists", async () => {
    const { key, tenantId, cubeId, secret } = await setup();
    const response = await deliver({ tenantId, secret, body: { type: "consolidate", cube_id: cubeId } });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    expect(response.body.data).toHaveLength(1);
    const [job] = response.body.data;
    expect(job).toMatchObject({ type: "consolidate", cube_id: cubeId, status: "queued" });

    const polled = await call("GET", `/v1/jobs/${job.id}`, { key });
    expect(polled.status).toBe(200);
    expect(polled.body).toMatchObject({ id: job.id, type: "consolidate" });
    expect(await jobsIn(tenantId, cubeId)).toEqual([{ id: job.id, type: "consolidate", status: "queued" }]);
  });

  it("cube_ids starts one job per cube (duplicates once)", async () => {
    const { key, tenantId, cubeId, secret } = await setup();
    const other = await newCube(key);
    const response = await deliver({ tenantId, secret, body: { type: "archive", cube_ids: [cubeId, other, cubeId] } });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    expect(response.body.data.map((job: any) => [job.cube_id, job.type])).toEqual([
      [cubeId, "archive"],
      [other, "archive"],
    ]);
    expect(await jobsIn(tenantId, other)).toHaveLength(1);
  });

  it("the signature covers the raw bytes, not a re-serialisation of the JSON", async () => {
    const { tenantId, cubeId, secret } = await setup();
    // Whitespace, key order and a \u escape: JSON.stringify(JSON.parse(raw)) !== raw.
    const raw = `{ "cube_id" : "${cubeId}",\n  "type": "\\u0065xpire" }`;
    expect(JSON.stringify(JSON.parse(raw))).not.toBe(raw);
    const response = await deliver({ tenantId, secret, body: raw });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    expect(response.body.data[0]).toMatchObject({ type: "expire", cube_id: cubeId });

    // The same body, signed over its re-serialisation instead, is refused.
    const reserialised = await deliver({ tenantId, secret, body: raw, signatureHeader: await signature(secret, unixNow(), JSON.stringify(JSON.parse(raw))) });
    expectUnauthorized(reserialised);
  });

  describe("refused deliveries start nothing", () => {
    const failures: [string, (s: Awaited<ReturnType<typeof setup>>) => Promise<Awaited<ReturnType<typeof deliver>>>][] = [
      ["wrong secret", (s) => deliver({ tenantId: s.tenantId, secret: `whsec_${"x".repeat(40)}`, body: { type: "archive", cube_id: s.cubeId } })],
      [
        "signature of another body",
        async (s) => {
          const timestamp = unixNow();
          const signed = await signature(s.secret, timestamp, JSON.stringify({ type: "archive", cube_id: s.cubeId }));
          return deliver({ ...s, timestamp, signatureHeader: signed, body: { type: "consolidate", cube_id: s.cubeId } });
        },
      ],
      [
        "signature for another timestamp",
        async (s) => {
          const body = { type: "archive", cube_id: s.cubeId };
          const signed = await signature(s.secret, unixNow() - 10, JSON.stringify(body));
          return deliver({ ...s, body, signatureHeader: signed });
        },
      ],
      ["no signature header", (s) => deliver({ ...s, body: { type: "archive", cube_id: s.cubeId }, signatureHeader: null })],
      ["signature without v1=", async (s) => deliver({ ...s, body: { type: "archive", cube_id: s.cubeId }, signatureHeader: "0".repeat(64) })],
      ["signature not hex", (s) => deliver({ ...s, body: { type: "archive", cube_id: s.cubeId }, signatureHeader: `v1=${"z".repeat(64)}` })],
      ["stale timestamp (301 s ago)", (s) => deliver({ ...s, body: { type: "archive", cube_id: s.cubeId }, timestamp: unixNow() - 301 })],
      ["future timestamp (301 s ahead)", (s) => deliver({ ...s, body: { type: "archive", cube_id: s.cubeId }, timestamp: unixNow() + 301 })],
      ["timestamp in milliseconds", (s) => deliver({ ...s, body: { type: "archive", cube_id: s.cubeId }, timestamp: Date.now() })],
      ["no timestamp header", (s) => deliver({ ...s, body: { type: "archive", cube_id: s.cubeId }, headers: { "X-Memos-Timestamp": "" } })],
      ["unknown tenant", (s) => deliver({ ...s, tenantId: "ten_0000000000000000", body: { type: "archive", cube_id: s.cubeId } })],
      ["no tenant header", (s) => deliver({ ...s, tenantId: "", body: { type: "archive", cube_id: s.cubeId } })],
      [
        "rotated secret (the old one stops at once)",
        async (s) => {
          await hookSecret(s.key);
          return deliver({ ...s, body: { type: "archive", cube_id: s.cubeId } });
        },
      ],
      [
        "another tenant's secret",
        async (s) => {
          const other = await setup();
          return deliver({ tenantId: s.tenantId, secret: other.secret, body: { type: "archive", cube_id: s.cubeId } });
        },
      ],
    ];

    it.each(failures)("%s → 401 unauthorized", async (_name, send) => {
      const s = await setup();
      const response = await send(s);
      expect(expectUnauthorized(response).code).toBe("unauthorized");
      expect(await jobsIn(s.tenantId, s.cubeId)).toEqual([]);
      expect(await deliveriesOf(s.tenantId)).toEqual([]);
    });

    it("a tenant without a secret, an unknown tenant and a wrong signature read the same", async () => {
      const s = await setup();
      const bare = await newTenant(["read", "write", "admin"]);
      const bareCube = await newCube(bare.key);
      const body = { type: "archive", cube_id: bareCube };
      const noSecret = await deliver({ tenantId: bare.tenantId, secret: s.secret, body });
      const unknown = await deliver({ tenantId: "ten_zzzzzzzzzzzzzzzz", secret: s.secret, body });
      const wrong = await deliver({ tenantId: s.tenantId, secret: `${s.secret}x`, body: { type: "archive", cube_id: s.cubeId } });
      const messages = [noSecret, unknown, wrong].map((response) => expectUnauthorized(response).message);
      expect(new Set(messages).size).toBe(1);
      expect(await jobsIn(bare.tenantId, bareCube)).toEqual([]);
    });

    it("a replay → 409 conflict, and no second job starts", async () => {
      const { tenantId, cubeId, secret } = await setup();
      const first = await deliver({ tenantId, secret, body: { type: "archive", cube_id: cubeId } });
      expect(first.status, JSON.stringify(first.body)).toBe(202);
      // Let the job finish, so that an accepted replay would have to start a new one.
      expect(await runDurableObjectAlarm(env.CUBE.getByName(cubeObjectName(tenantId, cubeId)))).toBe(true);
      expect(await jobsIn(tenantId, cubeId)).toEqual([{ id: first.body.data[0].id, type: "archive", status: "done" }]);

      const replay = await resend(first.sent);
      expect(replay.status, JSON.stringify(replay.body)).toBe(409);
      expect(errorOf(replay).code).toBe("conflict");
      expect(await jobsIn(tenantId, cubeId)).toHaveLength(1);

      // A fresh signature (another timestamp) of the same body is a new delivery.
      const earlier = Number(first.sent.headers["X-Memos-Timestamp"]) - 1;
      const fresh = await deliver({ tenantId, secret, body: { type: "archive", cube_id: cubeId }, timestamp: earlier });
      expect(fresh.status, JSON.stringify(fresh.body)).toBe(202);
      expect(await jobsIn(tenantId, cubeId)).toHaveLength(2);
    });

    const badBodies: [string, string][] = [
      ["not JSON", '{"type": "archive", '],
      ["no cube", '{"type":"archive"}'],
      ["cube_id and cube_ids", '{"type":"archive","cube_id":"CUBE","cube_ids":["CUBE"]}'],
      ["empty cube_ids", '{"type":"archive","cube_ids":[]}'],
      ["101 cube_ids", JSON.stringify({ type: "archive", cube_ids: Array.from({ length: 101 }, () => "CUBE") })],
      ["unknown type", '{"type":"compact","cube_id":"CUBE"}'],
      ["ingest type", '{"type":"ingest","cube_id":"CUBE"}'],
      ["unknown field", '{"type":"archive","cube_id":"CUBE","force":true}'],
      ["empty body", ""],
    ];

    it.each(badBodies)("validly signed, bad body (%s) → 400, nothing started or recorded", async (_name, template) => {
      const { tenantId, cubeId, secret } = await setup();
      const raw = template.replaceAll("CUBE", cubeId);
      const response = await deliver({ tenantId, secret, body: raw });
      expect(response.status, JSON.stringify(response.body)).toBe(400);
      expect(errorOf(response).code).toBe("invalid_request");
      expect(await deliveriesOf(tenantId)).toEqual([]);
      expect(await jobsIn(tenantId, cubeId)).toEqual([]);
      // Not recorded: the same request is refused for its body again, not as a replay.
      expect((await resend(response.sent)).status).toBe(400);
    });

    it("validly signed, not JSON content → 415, nothing recorded", async () => {
      const { tenantId, cubeId, secret } = await setup();
      const response = await deliver({ tenantId, secret, body: { type: "archive", cube_id: cubeId }, headers: { "Content-Type": "text/plain" } });
      expect(response.status).toBe(415);
      expect(errorOf(response).code).toBe("unsupported_media_type");
      expect(await deliveriesOf(tenantId)).toEqual([]);
    });

    it("validly signed, another tenant's cube among them → 404, nothing started or recorded", async () => {
      const { tenantId, cubeId, secret } = await setup();
      const b = await newTenant();
      const theirs = await newCube(b.key);
      const response = await deliver({ tenantId, secret, body: { type: "archive", cube_ids: [cubeId, theirs] } });
      expect(response.status).toBe(404);
      expect(errorOf(response).code).toBe("not_found");
      expect(await jobsIn(tenantId, cubeId)).toEqual([]);
      expect(await jobsIn(b.tenantId, theirs)).toEqual([]);
      expect(await deliveriesOf(tenantId)).toEqual([]);
    });
  });

  it("delivery records past the replay window are pruned", async () => {
    const { tenantId, cubeId, secret } = await setup();
    const now = Date.now();
    await env.DB.prepare("INSERT INTO lifecycle_hook_deliveries (tenant_id, signature, received_at) VALUES (?, 'old', ?), (?, 'recent', ?)")
      .bind(tenantId, now - 11 * 60_000, tenantId, now - 9 * 60_000)
      .run();
    const response = await deliver({ tenantId, secret, body: { type: "expire", cube_id: cubeId } });
    expect(response.status).toBe(202);
    const kept = (await deliveriesOf(tenantId)).map((row) => row.signature);
    expect(kept).not.toContain("old");
    expect(kept).toContain("recent");
    expect(kept).toHaveLength(2);
  });

  it("a timestamp a little off either way is accepted", async () => {
    const { tenantId, cubeId, secret } = await setup();
    expect((await deliver({ tenantId, secret, body: { type: "expire", cube_id: cubeId }, timestamp: unixNow() - 240 })).status).toBe(202);
    expect((await deliver({ tenantId, secret, body: { type: "archive", cube_id: cubeId }, timestamp: unixNow() + 240 })).status).toBe(202);
  });

  it("other methods on the hook path still need an API key", async () => {
    expect((await call("GET", "/v1/hooks/lifecycle")).status).toBe(401);
  });
});
