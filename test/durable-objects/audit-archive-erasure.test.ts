/**
 * Erasure reaches the cold audit archive (issue 14 item 2, governance; durable-objects/audit/archive-erasure.ts): an
 * archive of several days and objects of every kind (an old single-object day, d1 and legacy chunks, a multipart
 * shard, an hour's shard) loses exactly the erased cube's entries from before its erasure, whatever the other owners
 * had; run one step at a time — with a fresh job each step, and with R2 failing after its effect and before the
 * step's commit — every day reads complete and in order after every step; a second run changes nothing. Real R2 and
 * Durable Objects (miniflare).
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ArchiveErasure, ERASURE_CUBES_PER_PASS, ERASURE_READ_BYTES, ERASURE_STEP_MAX_BYTES, type ArchiveErasureProgress } from "../../durable-objects/audit/archive-erasure";
import { type ArchivedEntry, type AuditArchive, DAY_MS, auditArchiveKey, chunkKey, rewrittenKey, shardObjectKey, tenantArchivePrefix } from "../../durable-objects/audit/archive";
import { AuditLog, type AuditRecord, sha256Hex } from "../../durable-objects/audit/log";
import { auditShardName, dayStart } from "../../durable-objects/audit/periods";
import { AuditShard } from "../../durable-objects/audit/shard";
import { PART_BYTES, ShardArchiver } from "../../durable-objects/audit/shard-archive";
import { archivedEntries, wrappedArchive } from "../audit-helpers";
import { call, newTenant, remember, uniqueUser } from "../helpers";

const bindings = env as unknown as Env;
const HOUR_MS = 3_600_000;

type Seeded = { days: number[]; expected: Map<number, string[]>; erased: Set<string>; erasedAt: number; bytes: number };

const line = (e: ArchivedEntry) => `${JSON.stringify(e)}\n`;

/** One archived entry: `cube` is its cube (or null), `spans` more cubes of the request, `pad` bytes of detail. */
function entry(seq: number, at: number, cube: string | null, spans: string[] = [], pad = 0): ArchivedEntry {
  const detail: Record<string, unknown> = spans.length > 0 ? { cube_ids: [cube, ...spans].filter((c) => c !== null) } : {};
  if (pad > 0) detail.pad = "x".repeat(pad);
  return { seq, id: `aud_${seq}`, at: new Date(at).toISOString(), actor: "key_0123456789abcdef", action: `act.${seq}`, cube_id: cube, memory_ids: [`mem_${seq}`], request_id: `req_${seq}`, status: 200, detail };
}

/**
 * An archive of three days for `tenantId`, the erased cube's entries mixed with another cube's and with entries
 * naming no cube: day 0 an old single object plus a d1 chunk; day 1 a shard past one part (its rewrite is multipart)
 * and a legacy chunk naming only others; day 2 a day's shard naming only the erased cube, and an hour's shard with
 * a request spanning both cubes and the erased cube's id made again after the erasure.
 */
async function seedArchive(tenantId: string, erasedCube: string, otherCube: string): Promise<Seeded> {
  const base = Math.floor(Date.now() / DAY_MS) * DAY_MS - 400 * DAY_MS;
  const days = [base, base + DAY_MS, base + 2 * DAY_MS];
  const erasedAt = Date.now();
  const expected = new Map<number, string[]>(days.map((d) => [d, []]));
  const erased = new Set<string>();
  let seq = 0;
  let bytes = 0;
  const put = async (key: string, day: number, entries: ArchivedEntry[]) => {
    for (const e of entries) {
      const names = [e.cube_id, ...(((e.detail as { cube_ids?: string[] }).cube_ids) ?? [])];
      if (names.includes(erasedCube) && Date.parse(e.at) <= erasedAt) erased.add(e.id!);
      else expected.get(day)!.push(e.id!);
    }
    const body = entries.map(line).join("");
    bytes += body.length;
    await bindings.ARCHIVE.put(key, body);
  };
  const mix = (day: number, from: number, n: number, pad = 0) =>
    Array.from({ length: n }, (_, i) => entry(++seq, day + from + i * 1_000, [erasedCube, otherCube, null][i % 3]!, [], pad));

  await put(auditArchiveKey(tenantId, days[0]!), days[0]!, mix(days[0]!, 1_000, 9));
  const chunk = mix(days[0]!, HOUR_MS, 6);
  await put(chunkKey(tenantId, "d1", { at: Date.parse(chunk[0]!.at), seq: chunk[0]!.seq }), days[0]!, chunk);

  // ~1.7 × PART_BYTES with a third of it erased: the kept lines still fill one whole part, so the rewrite is multipart.
  const big = mix(days[1]!, 1_000, Math.ceil((1.7 * PART_BYTES) / 4_200), 4_000);
  await put(shardObjectKey(tenantId, days[1]!, "000000000000001aaaaaaaa"), days[1]!, big);
  const others = [entry(++seq, days[1]! + 20 * HOUR_MS, otherCube), entry(++seq, days[1]! + 20 * HOUR_MS + 1, null)];
  await put(chunkKey(tenantId, "legacy", { at: Date.parse(others[0]!.at), seq: others[0]!.seq }), days[1]!, others);

  await put(shardObjectKey(tenantId, days[2]!, "000000000000002bbbbbbbb"), days[2]!, [entry(++seq, days[2]! + 5, erasedCube), entry(++seq, days[2]! + 6, erasedCube)]);
  const hour = days[2]! + 3 * HOUR_MS;
  // The last entry names a cube of the erased id made again after the erasure (a default cube's id is deterministic).
  await put(shardObjectKey(tenantId, hour, "000000000000003cccccccc"), days[2]!, [
    entry(++seq, hour + 1, null, [otherCube, erasedCube]),
    entry(++seq, hour + 2, otherCube),
    entry(++seq, erasedAt + 1, erasedCube),
  ]);
  return { days, expected, erased, erasedAt, bytes };
}

/** After any step: every day holds every kept entry exactly once, oldest first, and nothing but kept or erased ones. */
async function expectConsistent(tenantId: string, seeded: Seeded): Promise<number> {
  let erasedLeft = 0;
  for (const day of seeded.days) {
    const entries = await archivedEntries(tenantId, day);
    const ids = entries.map((e) => e.id!);
    expect(ids.filter((id) => !seeded.erased.has(id))).toEqual(seeded.expected.get(day));
    expect(new Set(ids).size).toBe(ids.length);
    const order = entries.map((e) => [e.at, e.seq] as const);
    expect([...order].sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1))).toEqual(order);
    erasedLeft += ids.filter((id) => seeded.erased.has(id)).length;
  }
  return erasedLeft;
}

const directory = (tenantId: string) => bindings.AUDIT.getByName(tenantId);

/** Records the erasure in the tenant's directory, as DELETE /v1/cubes or /v1/owners does. */
const recordErasure = async (tenantId: string, cube: string, erasedAt: number) => {
  const hash = await sha256Hex(cube);
  await runInDurableObject(directory(tenantId), (_o, state) => new ArchiveErasure(state.storage.sql, bindings.ARCHIVE, 0).record([hash], erasedAt));
};

/** Runs the job in the directory's storage: a fresh instance each call, so nothing is carried in memory between steps. */
const runJob = (tenantId: string, steps: number, archive: AuditArchive = bindings.ARCHIVE) =>
  runInDurableObject(directory(tenantId), (_o, state) => new ArchiveErasure(state.storage.sql, archive, 0).run(tenantId, Date.now(), steps));

const passes = (tenantId: string) => runInDurableObject(directory(tenantId), (_o, state) => new ArchiveErasure(state.storage.sql, bindings.ARCHIVE, 0).passes());

const listing = async (tenantId: string) =>
  (await bindings.ARCHIVE.list({ prefix: tenantArchivePrefix(tenantId) })).objects.map((o) => `${o.key} ${o.etag}`);

/** The real bucket, but every `every`th change (put, part, completion, deletion) dies right after it took effect. */
function dyingAfterEffect(every: number): AuditArchive {
  let changes = 0;
  const after = async <T>(work: () => Promise<T>): Promise<T> => {
    const result = await work();
    if (++changes % every === 0) throw new Error("the object was evicted right after R2 answered");
    return result;
  };
  return wrappedArchive(bindings.ARCHIVE, { put: after, delete: after, uploadPart: after, complete: after });
}

describe("erasure in the audit archive", { timeout: 180_000 }, () => {
  it("removes the erased cube's archived entries and keeps every other one, in order, whole after every single step", async () => {
    const tenantId = `t-${crypto.randomUUID()}`;
    const seeded = await seedArchive(tenantId, "cube-erased", "cube-other");
    expect(await expectConsistent(tenantId, seeded)).toBe(seeded.erased.size);
    await recordErasure(tenantId, "cube-erased", seeded.erasedAt);

    let steps = 0;
    let held = 0;
    for (;;) {
      const progress: ArchiveErasureProgress = await runJob(tenantId, 1);
      held = Math.max(held, progress.heldBytes);
      steps += 1;
      await expectConsistent(tenantId, seeded);
      if (progress.nextAt === null) break;
      expect(steps).toBeLessThan(200);
    }
    expect(await expectConsistent(tenantId, seeded)).toBe(0);
    expect(held).toBeGreaterThan(ERASURE_READ_BYTES);
    expect(held).toBeLessThanOrEqual(ERASURE_STEP_MAX_BYTES);
    // The shard of only erased entries is gone, not rewritten; the legacy chunk naming only others was read, not rewritten.
    const keys = await listing(tenantId);
    expect(keys.filter((k) => k.includes("000000000000002bbbbbbbb"))).toEqual([]);
    expect(keys.filter((k) => k.includes("/legacy-")).every((k) => !k.includes("~r"))).toBe(true);
    expect(keys.filter((k) => k.includes("~r000001")).length).toBe(4);
    const [pass] = await passes(tenantId);
    expect(pass).toMatchObject({ pass: 1, cubes: 1, objects_read: 6, objects_rewritten: 5, entries_removed: seeded.erased.size });
    expect(pass!.bytes_read).toBeGreaterThanOrEqual(seeded.bytes);

    // A second erasure of the same cube at the same time: a whole pass that finds nothing and writes nothing.
    const before = await listing(tenantId);
    await recordErasure(tenantId, "cube-erased", seeded.erasedAt);
    expect((await runJob(tenantId, 1_000)).nextAt).toBeNull();
    expect(await listing(tenantId)).toEqual(before);
    expect((await passes(tenantId))[0]).toMatchObject({ pass: 2, objects_rewritten: 0, entries_removed: 0 });
    // Nothing recorded: no pass at all.
    expect(await runJob(tenantId, 10)).toEqual({ steps: 0, heldBytes: 0, nextAt: null });
  });

  it("a step that dies after R2 took its put, part, completion or deletion is redone to the same end, consistent throughout", async () => {
    // Every step changes R2 at most four times, so a step redone after a failure at the fifth change succeeds.
    for (const every of [5, 7]) {
      const tenantId = `t-${crypto.randomUUID()}`;
      const seeded = await seedArchive(tenantId, "cube-erased", "cube-other");
      await recordErasure(tenantId, "cube-erased", seeded.erasedAt);
      const archive = dyingAfterEffect(every);
      let failures = 0;
      for (let steps = 0; ; steps++) {
        expect(steps).toBeLessThan(400);
        const progress = await runJob(tenantId, 1, archive).catch(() => null);
        if (progress === null) failures += 1;
        await expectConsistent(tenantId, seeded);
        if (progress?.nextAt === null) break;
      }
      expect(failures).toBeGreaterThan(0);
      expect(await expectConsistent(tenantId, seeded)).toBe(0);
      // No orphan: every stored object is a day's newest version, and the pass counted each removal once.
      const keys = (await listing(tenantId)).map((k) => k.split(" ")[0]!.replace(/~r\d{6}\.ndjson$/, ".ndjson"));
      expect(new Set(keys).size).toBe(keys.length);
      expect((await passes(tenantId))[0]).toMatchObject({ objects_rewritten: 5 });
    }
  });

  it("the directory's alarm runs the pass once the erasure settled, in runs of bounded steps, re-arming until it is done", async () => {
    const tenantId = `t-${crypto.randomUUID()}`;
    const seeded = await seedArchive(tenantId, "cube-erased", "cube-other");
    // 40 more objects of another cube's entries: more steps than one alarm run takes (32).
    for (let k = 0; k < 40; k++) {
      const e = entry(100_000 + k, seeded.days[1]! + 21 * HOUR_MS + k * 1_000, "cube-other");
      await bindings.ARCHIVE.put(chunkKey(tenantId, "d1", { at: Date.parse(e.at), seq: e.seq }), line(e));
      seeded.expected.get(seeded.days[1]!)!.push(e.id!);
    }
    const hash = await sha256Hex("cube-erased");
    // Erased 17 minutes ago (past the settle time), as the directory records it, with its alarm due.
    await runInDurableObject(directory(tenantId), async (_o, state) => {
      state.storage.kv.put("tenant", tenantId);
      new ArchiveErasure(state.storage.sql, bindings.ARCHIVE).record([hash], Date.now() - 17 * 60_000);
      await state.storage.setAlarm(Date.now());
    });
    let runs = 0;
    while (await runDurableObjectAlarm(directory(tenantId))) {
      runs += 1;
      expect(runs).toBeLessThan(20);
      await expectConsistent(tenantId, seeded);
    }
    expect(runs).toBeGreaterThan(1);
    expect(await expectConsistent(tenantId, seeded)).toBe(0);
    expect((await passes(tenantId))[0]).toMatchObject({ pass: 1, objects_read: 46, objects_rewritten: 5 });
    expect(await runInDurableObject(directory(tenantId), (_o, state) => state.storage.getAlarm())).toBeNull();
  });

  it("the reader reads each name's newest upload: a rewritten version over its original, a chunk written again later over both", async () => {
    const tenantId = `t-${crypto.randomUUID()}`;
    const day = Math.floor(Date.now() / DAY_MS) * DAY_MS - 500 * DAY_MS;
    const [a, b, c] = [entry(1, day + 1, "cube-other"), entry(2, day + 2, "cube-erased"), entry(3, day + 3, "cube-other")];
    const key = chunkKey(tenantId, "d1", { at: day + 1, seq: 1 });
    await bindings.ARCHIVE.put(key, [a, b].map(line).join(""));
    await new Promise((resolve) => setTimeout(resolve, 5));
    await bindings.ARCHIVE.put(rewrittenKey(key, 1), line(a));
    expect((await archivedEntries(tenantId, day)).map((e) => e.id)).toEqual(["aud_1"]);
    // A writer's retried step puts the chunk again from its store's rows (the erased one gone, a later one in).
    await new Promise((resolve) => setTimeout(resolve, 5));
    await bindings.ARCHIVE.put(key, [a, c].map(line).join(""));
    expect((await archivedEntries(tenantId, day)).map((e) => e.id)).toEqual(["aud_1", "aud_3"]);
  });

  it("through DELETE /v1/owners: the directory arms its alarm for the pass, and the archived day then exports none of the owner's entries", async () => {
    const { tenantId, key } = await newTenant(["read", "write", "admin"]);
    const alice = uniqueUser();
    const bob = uniqueUser();
    await remember(key, alice, [{ content: "alice writes" }]);
    await remember(key, bob, [{ content: "bob writes" }]);
    const deleted = await call("DELETE", `/v1/owners/${encodeURIComponent(`user:${alice}`)}`, { key });
    expect(deleted.status).toBe(200);
    const [aliceCube] = deleted.body.cubes as string[];
    // Her entries archived earlier (as the retention would have put them), mixed with another owner's.
    const seeded = await seedArchive(tenantId, aliceCube!, "cube-of-bob");
    const armed = await runInDurableObject(directory(tenantId), (_o, state) => state.storage.getAlarm());
    expect(armed).not.toBeNull();
    expect(armed!).toBeLessThanOrEqual(Date.now() + 16 * 60_000);
    // Before it settled, the alarm leaves the archive alone (a writer may still be putting an entry it read before) and stays armed.
    expect(await runDurableObjectAlarm(directory(tenantId))).toBe(true);
    expect(await passes(tenantId)).toEqual([]);
    expect(await expectConsistent(tenantId, seeded)).toBe(seeded.erased.size);
    expect(await runInDurableObject(directory(tenantId), (_o, state) => state.storage.getAlarm())).not.toBeNull();

    const progress = await runInDurableObject(directory(tenantId), (_o, state) =>
      new ArchiveErasure(state.storage.sql, bindings.ARCHIVE, 0).run(tenantId, Date.now(), 1_000),
    );
    expect(progress.nextAt).toBeNull();
    for (const day of seeded.days) {
      const response = await call("GET", `/v1/audit/archive/${new Date(day).toISOString().slice(0, 10)}`, { key });
      if (seeded.expected.get(day)!.length === 0) {
        expect(response.status).toBe(404);
        continue;
      }
      expect(response.status).toBe(200);
      const text = typeof response.body === "string" ? response.body : JSON.stringify(response.body);
      // Her cube's id stays only on the one entry of a cube made again under it after the erasure.
      expect(text.split("\n").filter((l) => l.includes(aliceCube!)).length).toBe(day === seeded.days[2] ? 1 : 0);
      for (const id of seeded.erased) expect(text).not.toContain(`"${id}"`);
      for (const id of seeded.expected.get(day)!) expect(text).toContain(`"${id}"`);
    }
    const days = await call("GET", "/v1/audit/archive", { key });
    expect((days.body.data as { day: string }[]).map((d) => d.day)).toEqual(seeded.days.map((d) => new Date(d).toISOString().slice(0, 10)));
  });
});

/** A shard of ~1.4 parts' worth of entries, alternating between two cubes; the ids of the second cube's. */
async function fillShard(tenantId: string, ago: number): Promise<{ name: string; day: number; kept: string[] }> {
  const day = dayStart(Date.now()) - ago * DAY_MS;
  const period = { start: day, end: day + DAY_MS };
  const name = auditShardName(tenantId, period);
  const records: AuditRecord[] = Array.from({ length: Math.ceil((1.4 * PART_BYTES) / 4_200) }, (_, i) => ({
    id: `aud_${i}`, at: day + 1_000 + i, actor: "key_0123456789abcdef", action: `act.${i}`, cubeId: i % 2 === 0 ? "cube-erased" : "cube-other",
    memoryIds: "[]", requestId: null, status: 200, detail: JSON.stringify({ pad: "x".repeat(4_000) }),
  }));
  await runInDurableObject(bindings.AUDIT.getByName(name), (_o, state) =>
    new AuditShard(state.storage.sql, new AuditLog(state.storage.sql)).append(name, period, records, async () => ({ tombstones: [], anyCube: false })),
  );
  return { name, day, kept: records.filter((r) => r.cubeId === "cube-other").map((r) => r.id) };
}

/** The real bucket; `cue` runs once, inside the named call, before R2 is reached (an erasure interleaving there). */
function interleaving(on: "uploadPart" | "complete", cue: () => Promise<unknown>): AuditArchive {
  let fired = false;
  const once = async () => {
    if (!fired) {
      fired = true;
      await cue();
    }
  };
  return wrappedArchive(bindings.ARCHIVE, {
    uploadPart: async (work) => (on === "uploadPart" ? once() : undefined, work()),
    complete: async (work) => {
      const object = await work();
      if (on === "complete") await once();
      return object;
    },
  });
}

describe("a pass's cubes", () => {
  it("one pass takes exactly ERASURE_CUBES_PER_PASS waiting cubes; one more waits for the next pass", async () => {
    const passCubes = async (waiting: number) => {
      const tenantId = `t-${crypto.randomUUID()}`;
      const hashes = Array.from({ length: waiting }, (_, i) => i.toString(16).padStart(64, "0"));
      return runInDurableObject(directory(tenantId), async (_o, state) => {
        const job = new ArchiveErasure(state.storage.sql, bindings.ARCHIVE, 0);
        job.record(hashes, Date.now() - 1);
        // Nothing is archived for this tenant, so each pass ends at its first step; run until nothing waits.
        for (let runs = 0; runs < 4 && (await job.run(tenantId, Date.now(), 10)).nextAt !== null; runs++);
        return job.passes().map((pass) => pass.cubes).reverse();
      });
    };
    expect(await passCubes(ERASURE_CUBES_PER_PASS)).toEqual([ERASURE_CUBES_PER_PASS]);
    expect(await passCubes(ERASURE_CUBES_PER_PASS + 1)).toEqual([ERASURE_CUBES_PER_PASS, 1]);
  });
});

describe("a shard's copy to R2 under an erasure", { timeout: 180_000 }, () => {
  it("a copy under way when the erasure runs starts again without the erased entries; its parts never reach the day", async () => {
    const tenantId = `t-${crypto.randomUUID()}`;
    const { name, day, kept } = await fillShard(tenantId, 300);
    const shard = bindings.AUDIT.getByName(name);
    // Six steps of 1 MiB: one whole part (holding erased entries) is uploaded, the rest buffered.
    const first = await runInDurableObject(shard, (_o, state) => new ShardArchiver(state.storage.sql, bindings.ARCHIVE, tenantId, day).run(6));
    expect([first.done, first.parts]).toEqual([false, 1]);
    expect(await shard.eraseInShard(["cube-erased"], Date.now())).toBeGreaterThan(0);
    const rest = await runInDurableObject(shard, (_o, state) => new ShardArchiver(state.storage.sql, bindings.ARCHIVE, tenantId, day).run(1_000));
    expect(rest.done).toBe(true);
    expect((await archivedEntries(tenantId, day)).map((e) => e.id)).toEqual(kept);
    expect((await bindings.ARCHIVE.list({ prefix: `${tenantArchivePrefix(tenantId)}` })).objects.length).toBe(1);
  });

  for (const on of ["uploadPart", "complete"] as const) {
    it(`an erasure that runs while a step awaits R2 (${on}): that step commits nothing, an object it completed is deleted, the copy ends without the erased entries`, async () => {
      const tenantId = `t-${crypto.randomUUID()}`;
      const { name, day, kept } = await fillShard(tenantId, on === "uploadPart" ? 301 : 302);
      const progress = await runInDurableObject(bindings.AUDIT.getByName(name), async (_o, state) => {
        const sql = state.storage.sql;
        const erase = () => new AuditShard(sql, new AuditLog(sql)).eraseCubes(["cube-erased"], Date.now());
        return new ShardArchiver(sql, interleaving(on, erase), tenantId, day).run(1_000);
      });
      expect(progress.done).toBe(true);
      expect((await archivedEntries(tenantId, day)).map((e) => e.id)).toEqual(kept);
      expect((await bindings.ARCHIVE.list({ prefix: `${tenantArchivePrefix(tenantId)}` })).objects.length).toBe(1);
    });
  }
});
