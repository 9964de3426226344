import { describe, expect, it } from "vitest";
import { call } from "../helpers";

describe("GET /openapi.json", () => {
  it("documents every route with its errors, generated from the zod schemas", async () => {
    const response = await call("GET", "/openapi.json");
    expect(response.status).toBe(200);
    const doc = response.body;
    expect(doc.openapi).toBe("3.1.0");
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods as object).map((m) => `${m.toUpperCase()} ${path}`));
    expect(routes.sort()).toEqual(
      [
        "GET /",
        "GET /health",
        "POST /v1/memories",
        "GET /v1/memories",
        "GET /v1/memories/{id}",
        "PATCH /v1/memories/{id}",
        "DELETE /v1/memories/{id}",
        "GET /v1/memories/{id}/history",
        "POST /v1/memories/{id}/rollback",
        "POST /v1/memories/{id}/pin",
        "DELETE /v1/memories/{id}/pin",
        "GET /v1/memories/{id}/provenance",
        "POST /v1/cubes/{id}/export",
        "GET /v1/exports/{id}",
        "POST /v1/cubes/{id}/import",
        // Parametric memory (docs/parametric.md).
        "POST /v1/cubes/{id}/distill",
        "GET /v1/distills/{id}",
        "DELETE /v1/distills/{id}",
        "POST /v1/cubes/{id}/adapters",
        "GET /v1/cubes/{id}/adapters",
        "GET /v1/cubes/{id}/adapters/{adapter_id}",
        "DELETE /v1/cubes/{id}/adapters/{adapter_id}",
        "PUT /v1/cubes/{id}/adapters/{adapter_id}/weights",
        "GET /v1/cubes/{id}/adapters/{adapter_id}/files/{file}",
        "POST /v1/cubes/{id}/adapters/{adapter_id}/state",
        "DELETE /v1/cubes/{id}",
        "DELETE /v1/owners/{owner}",
        "POST /v1/context",
        "GET /v1/cubes/{id}/working-memory",
        "GET /v1/cubes/{id}/activation",
        "GET /v1/cubes/{id}/activation/history",
        "POST /v1/cubes/{id}/activation/rollback",
        "POST /v1/chat/completions",
        "GET /v1/cubes/{id}/stats",
        "POST /v1/search",
        "POST /v1/cubes/{id}/reindex",
        "POST /v1/cubes",
        "GET /v1/cubes",
        "GET /v1/cubes/{id}",
        "POST /v1/cubes/{id}/grants",
        "GET /v1/cubes/{id}/grants",
        "DELETE /v1/cubes/{id}/grants/{principal}",
        "GET /v1/jobs/{id}",
        "POST /v1/jobs",
        "POST /v1/hooks/lifecycle",
        "POST /v1/hooks/lifecycle/secret",
        "POST /v1/webhooks",
        "GET /v1/webhooks",
        "DELETE /v1/webhooks/{id}",
        "POST /v1/webhooks/{id}/rotate-secret",
        "GET /v1/webhooks/{id}/deliveries",
        "POST /v1/webhooks/{id}/deliveries/{delivery_id}/replay",
        "POST /v1/keys",
        "GET /v1/keys",
        "DELETE /v1/keys/{key_id}",
        "POST /v1/admin/tenants",
        "GET /v1/admin/tenants/{tenant_id}",
        "PATCH /v1/admin/tenants/{tenant_id}",
        "POST /v1/admin/tenants/{tenant_id}/keys",
        "GET /v1/admin/tenants/{tenant_id}/keys",
        "DELETE /v1/admin/tenants/{tenant_id}/keys/{key_id}",
        "GET /v1/audit",
        "POST /v1/memstore/listings",
        "GET /v1/memstore/listings",
        "GET /v1/memstore/listings/{id}",
        "DELETE /v1/memstore/listings/{id}",
        "POST /v1/memstore/listings/{id}/versions",
        "POST /v1/memstore/listings/{id}/subscription",
        "DELETE /v1/memstore/listings/{id}/subscription",
        "POST /v1/memstore/listings/{id}/search",
        "GET /v1/memstore/listings/{id}/memories",
        "POST /v1/memstore/listings/{id}/fork",
        "GET /v1/audit/archive",
        "GET /v1/audit/archive/{day}",
        // The mem0-compatible facade, at mem0's own paths (trailing slashes included).
        "GET /mem0/v1/ping/",
        "POST /mem0/v3/memories/add/",
        "GET /mem0/v1/event/{event_id}/",
        "POST /mem0/v3/memories/search/",
        "POST /mem0/v3/memories/",
        "DELETE /mem0/v1/memories/",
        "GET /mem0/v1/memories/{memory_id}/",
        "PUT /mem0/v1/memories/{memory_id}/",
        "DELETE /mem0/v1/memories/{memory_id}/",
        "GET /mem0/v1/memories/{memory_id}/history/",
        "GET /mem0/v1/entities/",
        "PUT /mem0/v1/batch/",
        "DELETE /mem0/v1/batch/",
        "DELETE /mem0/v2/entities/{entity_type}/{entity_id}/",
      ].sort(),
    );
    expect(doc.paths["/mem0/v3/memories/search/"].post.security).toEqual([{ mem0Token: [] }]);
    expect(doc.components.securitySchemes.mem0Token).toMatchObject({ type: "apiKey", in: "header", name: "Authorization" });
    const write = doc.paths["/v1/memories"].post;
    expect(Object.keys(write.responses)).toEqual(expect.arrayContaining(["201", "400", "401", "403", "404", "409", "413", "422"]));
    expect(doc.components.schemas.Memory.properties).toHaveProperty("superseded_by");
    expect(doc.components.schemas.Error).toBeDefined();
    expect(Object.keys(doc.paths["/v1/cubes/{id}/import"].post.requestBody.content)).toEqual(["application/json", "application/x-ndjson"]);
    expect(Object.keys(doc.paths["/v1/owners/{owner}"].delete.responses)).toEqual(expect.arrayContaining(["200", "400", "401", "403", "404"]));
    expect(doc.components.schemas.Provenance.properties).toHaveProperty("derivation");
    expect(Object.keys(doc.paths["/v1/cubes/{id}/grants"].post.responses)).toEqual(expect.arrayContaining(["200", "201", "400", "401", "403", "404"]));
    expect(doc.components.schemas.ApiKey.properties).toHaveProperty("allowed_owners");
    expect(doc.components.securitySchemes.bearerAuth.scheme).toBe("bearer");
    expect(Object.keys(doc.paths["/v1/webhooks"].post.responses)).toEqual(expect.arrayContaining(["201", "400", "401", "403", "409"]));
    expect(doc.components.schemas.WebhookEvent.properties).toHaveProperty("data");

    expect(Object.keys(doc.paths["/v1/jobs"].post.responses)).toEqual(expect.arrayContaining(["202", "400", "401", "403", "404"]));
    const hook = doc.paths["/v1/hooks/lifecycle"].post;
    expect(Object.keys(hook.responses)).toEqual(expect.arrayContaining(["202", "400", "401", "404", "409", "413"]));
    expect(hook.security).toEqual([{ lifecycleHookSignature: [] }]);
    expect(hook.parameters.map((p: any) => `${p.in}:${p.name}`)).toEqual(
      expect.arrayContaining(["header:X-Memos-Tenant", "header:X-Memos-Timestamp", "header:X-Memos-Signature"]),
    );
    expect(doc.components.securitySchemes.lifecycleHookSignature).toMatchObject({ type: "apiKey", in: "header", name: "X-Memos-Signature" });
    expect(Object.keys(doc.paths["/v1/hooks/lifecycle/secret"].post.responses)).toEqual(expect.arrayContaining(["201", "401", "403"]));
  });
});
