/**
 * Export and import (MemDumper / MemLoader): the round trip export → import into a fresh cube gives the same
 * memories and the same search results; imports are idempotent, re-embed when the embedder differs, refuse bad
 * files clearly, and carry 10,000 memories through R2 multipart and alarm batches.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { archiveKey } from "../../durable-objects/cube/r2-keys";
import { PART_BYTES, exportKey, importedMemoryId } from "../../durable-objects/cube/portability";
import type { CubeRef, NewMemory } from "../../durable-objects/cube/protocol";
import { cubeObjectName } from "../../src/core/ids";
import { type ApiResponse, call, errorOf, newTenant, remember, TEST_ORIGIN, uniqueUser } from "../helpers";
import { newMemory } from "../helpers/memories";

const DAY = 86_400_000;
const ALL_STATES = "state=generated&state=activated&state=archived&state=expired&state=superseded&state=merged&state=forgotten";

async function tenant(scopes?: string[]) {
  const created = await newTenant(scopes);
  const stubOf = (cubeId: string) => env.CUBE.getByName(cubeObjectName(created.tenantId, cubeId));
  return { ...created, stubOf };
}

/** A fresh named cube of a new user. */
async function freshCube(key: string): Promise<string> {
  const created = await call("POST", "/v1/cubes", { key, body: { user_id: uniqueUser(), name: "imported" } });
  if (created.status !== 201) throw new Error(`cube creation failed: ${created.status} ${JSON.stringify(created.body)}`);
  return created.body.id as string;
}

/** Runs the cube's alarm until the job is done or failed. */
async function finish(key: string, stub: DurableObjectStub, jobId: string) {
  for (let i = 0; i < 200; i++) {
    const job = (await call("GET", `/v1/jobs/${jobId}`, { key })).body;
    if (job.status === "done" || job.status === "failed") return job;
    await runDurableObjectAlarm(stub);
  }
  throw new Error(`job ${jobId} did not finish`);
}

/** Exports a cube (202, one contract) and runs its alarm until the export job ends; the answer and the job's counts. */
async function exportAll(key: string, stub: DurableObjectStub, cubeId: string, query = "") {
  const started = await call("POST", `/v1/cubes/${cubeId}/export${query}`, { key });
  if (started.status !== 202) throw new Error(`export failed: ${started.status} ${JSON.stringify(started.body)}`);
  const job = started.body.status === "done" ? started.body.job : await finish(key, stub, started.body.job_id);
  return { ...started.body, job, ...job.result.export };
}

async function allMemories(key: string, cubeId: string) {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const page: ApiResponse = await call("GET", `/v1/memories?cube_id=${cubeId}&${ALL_STATES}&limit=100${cursor ? `&cursor=${cursor}` : ""}`, { key });
    out.push(...page.body.data);
    cursor = page.body.next_cursor;
  } while (cursor);
  return out;
}

const parseJsonl = (text: string) =>
  text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line));

/** What must survive the trip, with links expressed as contents (ids change by design). */
function comparable(memories: any[]) {
  const byId = new Map(memories.map((m) => [m.id, m]));
  const contentOf = (id: string | null) => (id === null ? null : (byId.get(id)?.content ?? `missing:${id}`));
  return memories
    .map((m) => ({
      content: m.content,
      type: m.type,
      tags: m.tags,
      metadata: m.metadata,
      session_id: m.session_id,
      created_at: m.created_at,
      updated_at: m.updated_at,
      valid_at: m.valid_at,
      invalid_at: m.invalid_at,
      expires_at: m.expires_at,
      priority: m.priority,
      importance: m.importance,
      sensitivity: m.sensitivity,
      visibility: m.visibility,
      frozen: m.frozen,
      pinned: m.pinned,
      access_count: m.access_count,
      last_accessed_at: m.last_accessed_at,
      version: m.version,
      state: m.state,
      supersedes: contentOf(m.supersedes),
      superseded_by: contentOf(m.superseded_by),
      merged_from: (m.source.merged_from ?? []).map(contentOf),
      message_ids: m.source.message_ids,
      episode_id: m.source.episode_id,
    }))
    .sort((a, b) => (a.created_at + a.content < b.created_at + b.content ? -1 : 1));
}

describe("export → import round trip", () => {
  it("gives a fresh cube the same memories, histories and search results", async () => {
    const { key, keyId, tenantId, stubOf } = await tenant(["read", "write", "admin"]);
    const user = uniqueUser();
    const long = `The blue bicycle stands in the garden shed. ${"It has a basket, a bell and a worn leather saddle. ".repeat(8)}`;
    const written = await remember(key, user, [
      { content: "Alice is allergic to peanuts.", type: "fact", tags: ["health", "food"], metadata: { source: "intake", level: 3 }, importance: 0.9 },
      { content: "Alice prefers window seats on long flights.", type: "preference", ttl: 365 * 86_400, priority: 80 },
      { content: "Always answer Alice in French.", type: "instruction", sensitivity: ["pii"] },
      { content: "Alice had dinner at Chez Marcel.", type: "event", valid_at: "2026-03-14T19:00:00Z", session_id: "trip" },
      { content: "Did you paint that?", type: "message", session_id: "trip" },
      { content: "Yes, the lake at sunrise.", type: "message", session_id: "trip" },
      { content: "An old note nobody needs.", type: "note" },
      { content: "Bob's birthday is on May 3rd.", frozen: true },
      { content: long, importance: 0.1 },
    ]);
    const [peanuts, , , , , , old, , bike] = written;
    const srcCube = peanuts.cube_id as string;
    const src = stubOf(srcCube);
    const ref: CubeRef = { tenantId, cubeId: srcCube, owner: `user:${user}` };
    // Versions, a soft delete, a pin, a superseded pair from MemReader (with its episodes), an archived memory.
    await call("PATCH", `/v1/memories/${peanuts.id}`, { key, body: { content: "Alice is allergic to peanuts and tree nuts." } });
    await call("PATCH", `/v1/memories/${peanuts.id}`, { key, body: { tags: ["health"] } });
    await call("DELETE", `/v1/memories/${old.id}`, { key });
    await call("POST", `/v1/memories/${written[2].id}/pin`, { key });
    const say = (content: string, at: string) =>
      call("POST", "/v1/memories", { key, body: { user_id: user, sync: true, messages: [{ role: "user", name: "Alice", content, created_at: at }] } });
    expect((await say("I live in Paris.", "2024-01-01T10:00:00Z")).status).toBe(200);
    expect((await say("I moved to Berlin.", "2024-06-01T10:00:00Z")).status).toBe(200);
    await call("POST", "/v1/search", { key, body: { user_id: user, query: "peanuts" } });
    const later = Date.now() + 31 * DAY;
    await runInDurableObject(src, (instance) => {
      instance.clock = () => later;
    });
    // Only the bicycle is cold and unimportant enough to archive (everything else was touched or matters).
    const archiving = await runInDurableObject(src, (instance) => instance.startJob(ref, "archive"));
    expect(await finish(key, src, archiving.id)).toMatchObject({ status: "done" });
    await runInDurableObject(src, (instance) => {
      instance.clock = () => Date.now();
    });
    const before = await allMemories(key, srcCube);
    expect(before.find((m) => m.id === bike.id)?.state).toBe("archived");
    expect(before.map((m) => m.state).sort()).toEqual(expect.arrayContaining(["forgotten", "superseded", "archived", "activated"]));

    const exported = await call("POST", `/v1/cubes/${srcCube}/export?include_vectors=true`, { key });
    // A small cube is exported within the request: 202 with its job already done.
    expect(exported.status).toBe(202);
    expect(exported.body).toMatchObject({
      status: "done",
      cube_id: srcCube,
      download_url: `${TEST_ORIGIN}/v1/exports/${exported.body.export_id}`,
      job_url: `${TEST_ORIGIN}/v1/jobs/${exported.body.job_id}`,
      job: {
        type: "export",
        status: "done",
        progress: { done: before.length + 2, total: before.length + 2 },
        result: { export: { export_id: exported.body.export_id, key: `exports/${tenantId}/${srcCube}/${exported.body.export_id}.jsonl`, memories: before.length, episodes: 2, parts: 0 } },
      },
    });
    expect(exported.body.export_id).toMatch(/^exp_[0-9a-z]{32}$/);
    const summary = exported.body.job.result.export;
    expect(summary.vectors).toBeGreaterThan(0);
    expect((await call("GET", exported.body.job_url, { key })).body).toEqual(exported.body.job);

    const download = await call("GET", exported.body.download_url, { key });
    expect(download.status).toBe(200);
    expect(download.headers.get("Content-Type")).toBe("application/x-ndjson");
    const lines = parseJsonl(download.body as string);
    expect(new TextEncoder().encode(download.body as string).length).toBe(summary.bytes);
    expect(lines[0]).toMatchObject({ type: "header", format: "memos-cube-export", version: 1, cube_id: srcCube, owner: `user:${user}`, vectors: true });
    expect(lines.at(-1)).toEqual({ type: "end", counts: { memories: before.length, versions: expect.any(Number), episodes: 2, vectors: summary.vectors } });
    // The archived memory is exported with its full text and versions, read from R2.
    const bikeLine = lines.find((l) => l.type === "memory" && l.memory.id === bike.id);
    expect(bikeLine).toMatchObject({ memory: { state: "archived", content: long }, versions: [{ version: 1, memory: { content: long } }] });
    const peanutLine = lines.find((l) => l.type === "memory" && l.memory.id === peanuts.id);
    expect(peanutLine.versions.map((v: any) => v.change)).toEqual(["created", "updated", "updated"]);
    expect(peanutLine.vector).toMatchObject({ encoding: "f32le-base64", dimensions: 128 });

    const dstCube = await freshCube(key);
    const dst = stubOf(dstCube);
    const started = await call("POST", `/v1/cubes/${dstCube}/import`, { key, body: { export_id: exported.body.export_id } });
    expect(started.status).toBe(202);
    expect(started.body.job).toMatchObject({ type: "import", status: "queued", cube_id: dstCube, progress: { total: before.length } });
    const job = await finish(key, dst, started.body.job_id);
    expect(job).toMatchObject({
      status: "done",
      error: null,
      result: { import: { export_id: exported.body.export_id, imported: before.length, skipped: 0, episodes: 2, re_embedded: 0 } },
    });
    expect(job.result.import.vectors_reused).toBe(summary.vectors);

    const after = await allMemories(key, dstCube);
    expect(comparable(after)).toEqual(comparable(before));
    expect(after.every((m) => m.cube_id === dstCube && m.source.kind === "import" && m.source.key_id === keyId)).toBe(true);
    // Histories came along, version for version; the archived one is archived here too, its payload in this cube's R2 prefix.
    for (const original of before.filter((m) => m.state !== "archived")) {
      const copy = importedMemoryId(dstCube, original.id);
      const [a, b] = await Promise.all([
        call("GET", `/v1/memories/${original.id}/history`, { key }),
        call("GET", `/v1/memories/${copy}/history`, { key }),
      ]);
      expect(b.body.data.map((v: any) => [v.version, v.change, v.changed_at, v.memory.content])).toEqual(
        a.body.data.map((v: any) => [v.version, v.change, v.changed_at, v.memory.content]),
      );
    }
    const bikeCopy = importedMemoryId(dstCube, bike.id);
    expect(await (await env.ARCHIVE.get(archiveKey({ tenantId, cubeId: dstCube, owner: "" }, bikeCopy)))?.json()).toMatchObject({ content: long });
    expect((await call("GET", `/v1/cubes/${dstCube}/stats`, { key })).body.states).toEqual((await call("GET", `/v1/cubes/${srcCube}/stats`, { key })).body.states);

    // The same searches answer with the same contents in the same order, from every channel. Scores agree to a few
    // thousandths: recency is measured from each call's own clock, and each search counts as an access in its cube.
    const search = async (cubeId: string, body: object) =>
      (await call("POST", "/v1/search", { key, body: { cube_id: cubeId, top_k: 10, ...body } })).body.data.map((h: any) => [h.content, h.score]);
    for (const body of [
      { query: "what is alice allergic to" },
      { query: "flights seats" },
      { query: "paint lake sunrise" },
      { query: "where does alice live" },
      { query: "allergy nuts", channels: ["vector"] },
      { query: "french", filters: { type: "instruction" } },
      { query: "dinner", where: { field: "metadata.source", op: "ne", value: "x" } },
    ]) {
      const [a, b] = [await search(srcCube, body), await search(dstCube, body)];
      expect(a.length, JSON.stringify(body)).toBeGreaterThan(0);
      // Search returns the nearest memories even when they match weakly, and those near-ties may trade places
      // between the cubes: the same contents, each with the same score, and the same best hit.
      const scores = new Map<string, number>(b);
      expect([...scores.keys()].sort(), JSON.stringify(body)).toEqual(a.map(([content]: [string]) => content).sort());
      a.forEach(([content, score]: [string, number]) => expect(Math.abs(scores.get(content)! - score), JSON.stringify(body)).toBeLessThan(0.005));
      expect(b[0][0], JSON.stringify(body)).toBe(a[0][0]);
    }
    expect((await search(dstCube, { query: "Berlin" }))[0]?.[0]).toContain("Berlin");

    // Provenance keeps where an imported memory came from, and its original watermark still verifies.
    const peanutCopy = importedMemoryId(dstCube, peanuts.id);
    const provenance = await call("GET", `/v1/memories/${peanutCopy}/provenance`, { key });
    expect(provenance.body).toMatchObject({
      source: { kind: "import", key_id: keyId },
      writer: { key_id: keyId, version: 3, verified: true },
      imported_from: { export_id: exported.body.export_id, cube_id: srcCube, memory_id: peanuts.id, kind: "api", key_id: keyId, verified: true },
    });
    expect(provenance.body.derivation.map((s: any) => [s.event, s.from_export])).toEqual([
      ["memory.created", exported.body.export_id],
      ["memory.updated", exported.body.export_id],
      ["memory.updated", exported.body.export_id],
      ["memory.imported", undefined],
    ]);
    const berlin = after.find((m) => m.content.includes("Berlin"));
    const berlinProvenance = (await call("GET", `/v1/memories/${berlin.id}/provenance`, { key })).body;
    expect(berlinProvenance.episode).toMatchObject({ found: true, messages: [{ content: "I moved to Berlin." }] });
    expect(berlinProvenance.derivation.find((s: any) => s.event === "memory.supersedes").superseded).toBe(berlin.supersedes);

    // Importing the same export again writes nothing and answers with the first job.
    const again = await call("POST", `/v1/cubes/${dstCube}/import`, { key, body: { export_id: exported.body.export_id } });
    expect([again.status, again.headers.get("Idempotent-Replayed"), again.body.job_id]).toEqual([202, "true", started.body.job_id]);
    // The same file sent as a body is another job, but every memory in it is already here.
    const upload = await call("POST", `/v1/cubes/${dstCube}/import`, {
      key,
      raw: download.body as string,
      headers: { "Content-Type": "application/x-ndjson" },
    });
    expect(upload.status).toBe(202);
    expect(upload.body.job_id).not.toBe(started.body.job_id);
    expect((await finish(key, dst, upload.body.job_id)).result.import).toMatchObject({ imported: 0, skipped: before.length });
    expect(await allMemories(key, dstCube)).toHaveLength(before.length);
  }, 60_000);

  it("re-embeds with the configured embedder when the file's vectors are of another one, or absent", async () => {
    const { key, user, ...rest } = { ...(await tenant()), user: uniqueUser() };
    const [memory] = await remember(key, user, [
      { content: "Alice keeps her passport in the top drawer." },
      { content: "The cat is called Miso." },
    ]);
    const exported = await exportAll(key, rest.stubOf(memory.cube_id), memory.cube_id, "?include_vectors=true");
    const text = (await call("GET", exported.download_url, { key })).body as string;
    const foreign = parseJsonl(text)
      .map((line) => (line.type === "memory" ? { ...line, vector: { ...line.vector, embedder: "other:model@1" } } : line))
      .map((line) => JSON.stringify(line))
      .join("\n");
    const dstCube = await freshCube(key);
    const started = await call("POST", `/v1/cubes/${dstCube}/import`, { key, raw: foreign, headers: { "Content-Type": "application/x-ndjson; charset=utf-8" } });
    expect(started.status).toBe(202);
    const job = await finish(key, rest.stubOf(dstCube), started.body.job_id);
    expect(job.result.import).toMatchObject({ imported: 2, vectors_reused: 0, re_embedded: 2 });
    const hits = await call("POST", "/v1/search", { key, body: { cube_id: dstCube, query: "passport drawer", channels: ["vector"] } });
    expect(hits.body.data[0]?.content).toBe("Alice keeps her passport in the top drawer.");

    // Without vectors in the file, every live memory is embedded on import.
    const bare = await exportAll(key, rest.stubOf(memory.cube_id), memory.cube_id);
    expect(bare.vectors).toBe(0);
    const other = await freshCube(key);
    const second = await call("POST", `/v1/cubes/${other}/import`, { key, body: { export_id: bare.export_id } });
    expect((await finish(key, rest.stubOf(other), second.body.job_id)).result.import).toMatchObject({ imported: 2, re_embedded: 2 });
  });
});

describe("bad input", () => {
  it("refuses bad requests and files with clear 4xx answers, and other tenants' cubes and exports are not found", async () => {
    const { key, tenantId, stubOf } = await tenant(["read", "write", "admin"]);
    const [memory] = await remember(key, uniqueUser(), [{ content: "a memory to export" }]);
    const cubeId = memory.cube_id as string;
    const exported = await exportAll(key, stubOf(cubeId), cubeId);
    const text = (await call("GET", exported.download_url, { key })).body as string;
    const target = await freshCube(key);
    const importJson = (body: unknown) => call("POST", `/v1/cubes/${target}/import`, { key, body });
    const importText = (raw: string, type = "application/x-ndjson") => call("POST", `/v1/cubes/${target}/import`, { key, raw, headers: { "Content-Type": type } });

    const malformed = await importJson({ export_id: "exp_nope" });
    expect([malformed.status, errorOf(malformed).code]).toEqual([400, "invalid_request"]);
    expect((await importJson({})).status).toBe(400);
    expect((await importJson({ export_id: exported.export_id, extra: 1 })).status).toBe(400);
    const unknown = await importJson({ export_id: `exp_${cubeId.slice(5)}${"0".repeat(16)}` });
    expect([unknown.status, errorOf(unknown).message]).toEqual([404, "export not found"]);
    expect((await importText("hello", "text/plain")).status).toBe(415);

    const [header, line, end] = text.trim().split("\n") as [string, string, string];
    const notJson = await importText(`${header}\n{oops\n${end}\n`);
    expect([notJson.status, errorOf(notJson).details]).toEqual([400, [{ line: 2, path: "", message: "not JSON" }]]);
    const badField = await importText(`${header}\n${line.replace('"type":"fact"', '"type":"gossip"')}\n${end}\n`);
    expect(badField.status).toBe(400);
    expect((errorOf(badField).details as any[])[0]).toMatchObject({ line: 2, path: "memory.type" });
    const cut = await importText(`${header}\n${line}\n`);
    expect(errorOf(cut).details).toEqual([{ line: 2, path: "", message: "the file must end with its end line" }]);
    const noHeader = await importText(`${line}\n${end}\n`);
    expect((errorOf(noHeader).details as any[])[0]).toMatchObject({ line: 1, message: "the file must start with its header" });
    const wrongCount = await importText(`${header}\n${end}\n`);
    expect((errorOf(wrongCount).details as any[])[0].message).toContain("the end line counts 1 memories");
    const otherFormat = await importText(text.replace('"version":1', '"version":2'));
    expect((errorOf(otherFormat).details as any[])[0]).toMatchObject({ line: 1, path: "version" });

    // A file that was cut short in R2 (not through the API) fails its job with the reason, visibly.
    const truncatedId = `exp_${cubeId.slice(5)}${"1".repeat(16)}`;
    await env.ARCHIVE.put(exportKey({ tenantId, cubeId }, truncatedId), `${header}\n${line}\n`);
    const truncated = await importJson({ export_id: truncatedId });
    expect(truncated.status).toBe(202);
    expect(await finish(key, stubOf(target), truncated.body.job_id)).toMatchObject({ status: "failed", error: "the file ends without its end line: it was cut short" });
    const brokenId = `exp_${cubeId.slice(5)}${"2".repeat(16)}`;
    await env.ARCHIVE.put(exportKey({ tenantId, cubeId }, brokenId), `${header}\n${line.replace('"state":"activated"', '"state":"lost"')}\n${end}\n`);
    const broken = await importJson({ export_id: brokenId });
    expect((await finish(key, stubOf(target), broken.body.job_id)).error).toMatch(/^line 2: memory\.state: /);
    const notAnExport = `exp_${cubeId.slice(5)}${"3".repeat(16)}`;
    await env.ARCHIVE.put(exportKey({ tenantId, cubeId }, notAnExport), "just some text\n");
    const refused = await importJson({ export_id: notAnExport });
    expect([refused.status, errorOf(refused).message]).toEqual([400, "line 1: not JSON"]);

    // Another tenant sees none of it.
    const other = await tenant();
    expect((await call("POST", `/v1/cubes/${cubeId}/export`, { key: other.key })).status).toBe(404);
    expect((await call("GET", exported.download_url, { key: other.key })).status).toBe(404);
    const otherCube = await freshCube(other.key);
    const stolen = await call("POST", `/v1/cubes/${otherCube}/import`, { key: other.key, body: { export_id: exported.export_id } });
    expect([stolen.status, errorOf(stolen).message]).toEqual([404, "export not found"]);
    expect((await call("POST", `/v1/cubes/${target}/import`, { key: other.key, body: { export_id: exported.export_id } })).status).toBe(404);
    expect((await call("GET", "/v1/exports/exp_short", { key })).status).toBe(404);
    expect((await call("POST", `/v1/cubes/${cubeId}/export?include_vectors=yes`, { key })).status).toBe(400);

    // A read-only key may export and download, not import.
    const readOnly = (await call("POST", "/v1/keys", { key, body: { scopes: ["read"] } })).body.key as string;
    const readExport = await call("POST", `/v1/cubes/${cubeId}/export`, { key: readOnly });
    expect([readExport.status, readExport.body.status]).toEqual([202, "done"]);
    expect((await call("GET", readExport.body.download_url, { key: readOnly })).status).toBe(200);
    const denied = await call("POST", `/v1/cubes/${target}/import`, { key: readOnly, body: { export_id: exported.export_id } });
    expect([denied.status, errorOf(denied).code]).toEqual([403, "forbidden"]);
  });
});

describe("scale", () => {
  it("exports 10,000 memories through R2 multipart and imports them in alarm batches", async () => {
    const { key, tenantId, stubOf } = await tenant();
    const [seed] = await remember(key, uniqueUser(), [{ content: "seed memory" }]);
    const srcCube = seed.cube_id as string;
    const ref: CubeRef = { tenantId, cubeId: srcCube, owner: seed.owner };
    const topics = ["garden", "kitchen", "travel", "music", "health", "work", "books", "family"];
    await runInDurableObject(stubOf(srcCube), async (instance) => {
      for (let batch = 0; batch < 20; batch++) {
        const items: NewMemory[] = Array.from({ length: 500 }, (_, i) => {
          const n = batch * 500 + i;
          const topic = topics[n % topics.length]!;
          return newMemory(`Note ${n} about ${topic}: the ${topic} plan number ${n} needs attention on day ${n % 31} with care and patience.`, {
            tags: [topic],
            metadata: { n, topic },
            sessionId: `s${n % 50}`,
            importance: (n % 10) / 10,
            source: { kind: "api", episodeId: null, messageIds: [`m${n}`] },
          });
        });
        const outcome = await instance.remember(ref, items, { actor: "key_bulk", requestId: `req_${batch}` });
        if (!outcome.ok) throw new Error(outcome.message);
      }
    });
    // Larger than one step (1,000 memory lines): the request answers with the job under way, the alarm finishes it.
    const exporting = await call("POST", `/v1/cubes/${srcCube}/export`, { key });
    expect([exporting.status, exporting.body.status]).toEqual([202, "running"]);
    // A download or an import before it is done is refused, saying why and which job to poll.
    const early = await call("GET", exporting.body.download_url, { key });
    expect([early.status, errorOf(early).details]).toMatchObject([409, { job_id: exporting.body.job_id, status: "running" }]);
    const done = await finish(key, stubOf(srcCube), exporting.body.job_id);
    expect(done.status).toBe("done");
    const exported = { body: { ...exporting.body, job: done, ...done.result.export } };
    expect(exported.body.memories).toBe(10_001);
    // Bigger than one multipart part: written in parts, never held whole.
    expect(exported.body.bytes).toBeGreaterThan(2 * PART_BYTES);
    expect(exported.body.parts).toBe(Math.ceil(exported.body.bytes / PART_BYTES));
    const object = await env.ARCHIVE.head(exported.body.key);
    expect(object?.size).toBe(exported.body.bytes);

    const dstCube = await freshCube(key);
    const started = await call("POST", `/v1/cubes/${dstCube}/import`, { key, body: { export_id: exported.body.export_id } });
    const dst = stubOf(dstCube);
    let alarms = 0;
    let job = started.body.job;
    while (job.status !== "done" && job.status !== "failed") {
      await runDurableObjectAlarm(dst);
      alarms += 1;
      job = (await call("GET", `/v1/jobs/${job.id}`, { key })).body;
    }
    expect(job).toMatchObject({ status: "done", progress: { done: 10_001, total: 10_001 }, result: { import: { imported: 10_001, re_embedded: 10_001 } } });
    expect(alarms).toBeGreaterThanOrEqual(50);
    const stats = (await call("GET", `/v1/cubes/${dstCube}/stats`, { key })).body;
    expect(stats).toMatchObject({ states: { activated: 10_001 }, vectors: 10_001 });
    const search = async (cubeId: string) =>
      (await call("POST", "/v1/search", { key, body: { cube_id: cubeId, query: "kitchen plan number 4242", top_k: 5 } })).body.data.map((h: any) => h.content);
    expect(await search(dstCube)).toEqual(await search(srcCube));
  }, 300_000);
});
