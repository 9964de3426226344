/**
 * Archived memories (issue 16, D8): findable by every word of their whole content, not only the 280-character
 * preview their row keeps; a list marks that preview (`content_preview`); the archive job's result counts what it
 * moved; the whole-text index leaves with the memory (restore, expiry, purge).
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call } from "../helpers";
import { cubeWith, setCubeClock } from "../helpers/cubes";

const DAY = 86_400_000;
// The word "zeppelin" is far past the preview's 280 characters.
const LONG = `The blue bicycle stands in the garden shed. ${"It has a basket, a bell and a worn leather saddle. ".repeat(8)}Grandpa once rode it beside a zeppelin.`;

async function archivedCube(memories: object[]) {
  const { key, user, ref, cubeId, stub, written } = await cubeWith(memories);
  await setCubeClock(stub, 31 * DAY);
  const job = await runInDurableObject(stub, (instance) => instance.startJob(ref, "archive"));
  await runDurableObjectAlarm(stub);
  const archiveIndexRows = () => runInDurableObject(stub, (_i, state) => Number(state.storage.sql.exec("SELECT count(*) AS n FROM archived_fts").one().n));
  return { key, user, cubeId, written, stub, job, archiveIndexRows };
}

describe("archived memories", () => {
  it("are found by words past their preview, marked as previews in a list, and counted by the archive job", async () => {
    const { key, user, written, job, archiveIndexRows } = await archivedCube([
      { content: LONG, importance: 0.1 },
      { content: "A short cold note about the attic.", importance: 0.1 },
      { content: "Important: the passport is in the top drawer", importance: 0.9 },
    ]);
    const [bike, note] = written;
    expect((await call("GET", `/v1/jobs/${job.id}`, { key })).body).toMatchObject({ status: "done", result: { archive: { moved: 2, skipped: 0 } } });
    expect(await archiveIndexRows()).toBe(2);

    // A list shows the preview and says so; the hot memory carries no flag.
    const listed = (await call("GET", `/v1/memories?user_id=${user}&state=archived&state=activated`, { key })).body.data;
    const byId = new Map(listed.map((m: any) => [m.id, m]));
    expect(byId.get(bike.id)).toMatchObject({ state: "archived", content_preview: true });
    expect((byId.get(bike.id) as any).content.length).toBeLessThanOrEqual(280);
    expect((byId.get(bike.id) as any).content).not.toContain("zeppelin");
    expect(byId.get(written[2].id)).not.toHaveProperty("content_preview");

    // A word only in the whole text finds it (lexical channel alone), and the hit restores it whole.
    const hits = (await call("POST", "/v1/search", { key, body: { user_id: user, query: "zeppelin", channels: ["lexical"] } })).body.data;
    expect(hits.map((h: any) => [h.id, h.state, h.content])).toEqual([[bike.id, "activated", LONG]]);
    expect(hits[0]).not.toHaveProperty("content_preview");
    // Restored: its whole-text entry left with the archived state (the FTS row of the hot memory has it all now).
    expect(await archiveIndexRows()).toBe(1);

    // A purge takes the other one's entry with it.
    expect((await call("DELETE", `/v1/memories/${note.id}?hard=true`, { key })).status).toBe(200);
    expect(await archiveIndexRows()).toBe(0);
  }, 30_000);

  it("an archive job with nothing cold says so: moved 0", async () => {
    const { key, job } = await archivedCube([{ content: "Important and hot.", importance: 0.9 }]);
    expect((await call("GET", `/v1/jobs/${job.id}`, { key })).body).toMatchObject({ status: "done", result: { archive: { moved: 0, skipped: 0 } } });
  }, 30_000);
});
