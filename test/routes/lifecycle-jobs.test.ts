import { describe, expect, it } from "vitest";
import { ON_DEMAND_JOB_TYPES } from "../../src/schemas/lifecycle";
import { ROOT_KEY, call, errorOf, newTenant } from "../helpers";
import { jobsIn, newCube } from "../lifecycle-helpers";

describe("POST /v1/jobs", () => {
  it.each(ON_DEMAND_JOB_TYPES)("starts a %s job on one of the tenant's cubes: 202, pollable, and started once", async (type) => {
    const { key, tenantId } = await newTenant();
    const cubeId = await newCube(key);

    const started = await call("POST", "/v1/jobs", { key, body: { type, cube_id: cubeId } });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body).toMatchObject({ job_id: started.body.job.id, status: "queued", job: { type, cube_id: cubeId, attempts: 0 } });

    const polled = await call("GET", `/v1/jobs/${started.body.job_id}`, { key });
    expect(polled.status).toBe(200);
    expect(polled.body).toMatchObject({ id: started.body.job_id, type, cube_id: cubeId });

    // Starting the same type while it runs returns the running job instead of a second one.
    const again = await call("POST", "/v1/jobs", { key, body: { type, cube_id: cubeId } });
    expect(again.status).toBe(202);
    expect(again.body.job_id).toBe(started.body.job_id);
    expect(await jobsIn(tenantId, cubeId)).toEqual([{ id: started.body.job_id, type, status: "queued" }]);
  });

  it("is the same job resource as POST /v1/cubes/{id}/reindex", async () => {
    const { key } = await newTenant();
    const cubeId = await newCube(key);
    const viaCube = await call("POST", `/v1/cubes/${cubeId}/reindex`, { key });
    const viaJobs = await call("POST", "/v1/jobs", { key, body: { type: "reindex", cube_id: cubeId } });
    expect(viaJobs.status).toBe(202);
    expect(viaJobs.body.job_id).toBe(viaCube.body.job_id);
  });

  const badBodies: [string, unknown][] = [
    ["no type", { cube_id: "CUBE" }],
    ["unknown type", { type: "compact", cube_id: "CUBE" }],
    ["type not a string", { type: 1, cube_id: "CUBE" }],
    ["ingest (started by writes with messages, not here)", { type: "ingest", cube_id: "CUBE" }],
    ["no cube_id", { type: "archive" }],
    ["malformed cube_id", { type: "archive", cube_id: "cube_x" }],
    ["cube_ids (hook only)", { type: "archive", cube_ids: ["CUBE"] }],
    ["unknown field", { type: "archive", cube_id: "CUBE", now: true }],
    ["an array", [{ type: "archive", cube_id: "CUBE" }]],
    ["null", null],
  ];

  it.each(badBodies)("%s → 400 invalid_request, nothing started", async (_name, body) => {
    const { key, tenantId } = await newTenant();
    const cubeId = await newCube(key);
    const withCube = JSON.parse(JSON.stringify(body).replaceAll("CUBE", cubeId));
    const response = await call("POST", "/v1/jobs", { key, body: withCube });
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(errorOf(response).code).toBe("invalid_request");
    expect(await jobsIn(tenantId, cubeId)).toEqual([]);
  });

  it("malformed JSON → 400", async () => {
    const { key } = await newTenant();
    const response = await call("POST", "/v1/jobs", { key, raw: '{"type": "archive", ' });
    expect(response.status).toBe(400);
    expect(errorOf(response).code).toBe("invalid_request");
  });

  it("another tenant's cube → 404 not_found, and nothing starts there", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const theirs = await newCube(b.key);
    const response = await call("POST", "/v1/jobs", { key: a.key, body: { type: "archive", cube_id: theirs } });
    expect(response.status).toBe(404);
    expect(errorOf(response).code).toBe("not_found");
    expect(await jobsIn(b.tenantId, theirs)).toEqual([]);
  });

  it("an unknown cube → 404 not_found", async () => {
    const { key } = await newTenant();
    const response = await call("POST", "/v1/jobs", { key, body: { type: "expire", cube_id: "cube_0000000000000000" } });
    expect(response.status).toBe(404);
    expect(errorOf(response).code).toBe("not_found");
  });

  it("needs a key with the write scope", async () => {
    const { key, tenantId } = await newTenant();
    const cubeId = await newCube(key);
    const reader = await call("POST", `/v1/admin/tenants/${tenantId}/keys`, { key: ROOT_KEY, body: { scopes: ["read"] } });
    const forbidden = await call("POST", "/v1/jobs", { key: reader.body.key, body: { type: "archive", cube_id: cubeId } });
    expect(forbidden.status).toBe(403);
    expect(errorOf(forbidden).code).toBe("forbidden");
    const anonymous = await call("POST", "/v1/jobs", { body: { type: "archive", cube_id: cubeId } });
    expect(anonymous.status).toBe(401);
    expect(await jobsIn(tenantId, cubeId)).toEqual([]);
  });
});
