/**
 * Import fidelity (issue 16, D9): a forgotten memory is embedded on import like a live one, so rolling it back in
 * the importing cube makes it findable by vector search as it was in the source cube; an unknown key anywhere in a
 * memory line is refused, as docs/export-format.md promises (objects are strict).
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cubeObjectName } from "../../src/core/ids";
import { call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

async function finish(key: string, stub: DurableObjectStub, jobId: string) {
  for (let i = 0; i < 100; i++) {
    const job = (await call("GET", `/v1/jobs/${jobId}`, { key })).body;
    if (job.status === "done" || job.status === "failed") return job;
    await runDurableObjectAlarm(stub);
  }
  throw new Error(`job ${jobId} did not finish`);
}

async function freshCube(key: string): Promise<string> {
  const created = await call("POST", "/v1/cubes", { key, body: { user_id: uniqueUser(), name: "imported" } });
  expect(created.status).toBe(201);
  return created.body.id as string;
}

const importText = (key: string, cubeId: string, raw: string) =>
  call("POST", `/v1/cubes/${cubeId}/import`, { key, raw, headers: { "Content-Type": "application/x-ndjson" } });

describe("import", () => {
  it("embeds forgotten memories, so a rollback after the import is found by vector search", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const [passport] = await remember(key, user, [
      { content: "Alice keeps her passport in the top drawer." },
      { content: "The cat is called Miso." },
    ]);
    expect((await call("DELETE", `/v1/memories/${passport.id}`, { key })).status).toBe(200);
    const vectorSearch = (cubeId: string) => call("POST", "/v1/search", { key, body: { cube_id: cubeId, query: "passport drawer", channels: ["vector"] } });

    // Exported without vectors: the import embeds every memory that keeps a vector, the forgotten one included.
    const exported = (await call("POST", `/v1/cubes/${passport.cube_id}/export`, { key })).body;
    const target = await freshCube(key);
    const started = await call("POST", `/v1/cubes/${target}/import`, { key, body: { export_id: exported.export_id } });
    expect(started.status).toBe(202);
    const job = await finish(key, env.CUBE.getByName(cubeObjectName(tenantId, target)), started.body.job_id);
    expect(job.result.import).toMatchObject({ imported: 2, re_embedded: 2 });

    const listed = await call("GET", `/v1/memories?cube_id=${target}&state=forgotten`, { key });
    const imported = listed.body.data.find((m: any) => m.content === passport.content);
    expect(imported).toBeDefined();
    expect((await vectorSearch(target)).body.data.map((m: any) => m.content)).not.toContain(passport.content);
    const history = (await call("GET", `/v1/memories/${imported.id}/history`, { key })).body.data;
    const live = history.find((v: any) => v.memory.state === "activated");
    const rolledBack = await call("POST", `/v1/memories/${imported.id}/rollback`, { key, body: { version: live.version } });
    expect(rolledBack.status).toBe(200);
    expect((await vectorSearch(target)).body.data[0]?.content).toBe(passport.content);
  });

  it("refuses an unknown key inside a memory, its source or one of its versions, naming where", async () => {
    const { key } = await newTenant();
    const [memory] = await remember(key, uniqueUser(), [{ content: "a memory to export" }]);
    const exported = (await call("POST", `/v1/cubes/${memory.cube_id}/export`, { key })).body;
    const text = (await call("GET", exported.download_url, { key })).body as string;
    const [header, line, end] = text.trim().split("\n") as [string, string, string];
    const target = await freshCube(key);
    const parsed = JSON.parse(line);

    const cases: [string, (l: any) => void][] = [
      ["memory", (l) => (l.memory.colour = "blue")],
      ["memory.source", (l) => (l.memory.source.colour = "blue")],
      ["versions.0.memory", (l) => (l.versions[0].memory.colour = "blue")],
      ["versions.0", (l) => (l.versions[0].colour = "blue")],
    ];
    for (const [path, mutate] of cases) {
      const changed = structuredClone(parsed);
      mutate(changed);
      const refused = await importText(key, target, `${header}\n${JSON.stringify(changed)}\n${end}\n`);
      expect([path, refused.status, errorOf(refused).code]).toEqual([path, 400, "invalid_request"]);
      expect((errorOf(refused).details as any[])[0]).toMatchObject({ line: 2, path, message: expect.stringContaining("colour") });
    }
    // The file as exported still loads.
    expect((await importText(key, target, text)).status).toBe(202);
  });
});
