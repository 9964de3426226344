/**
 * Reading a tenant's archived audit days (`GET /v1/audit/archive[/{day}]`). A day is the folder
 * `audit/<tenant>/<day>/` of NDJSON objects from three writers, plus, for days archived before folders, the one object
 * `audit/<tenant>/<day>.ndjson` (durable-objects/audit/archive.ts). Each writer's objects follow one another in time
 * in key order, so the day reads as a merge of four sequences (one more per extra archiving generation of a shard,
 * which only an entry arriving later than the retention period causes) — each read one object after another, so
 * one R2 body per sequence is open at once (a Worker may hold six connections) — by (at, seq): oldest first, as one
 * object was. Memory: one line per sequence and the ids of the entries sharing the current millisecond, by which an
 * entry stored twice (redelivered after its shard was archived) is written once.
 */
import { type ArchivedEntry, type AuditArchive, identity, originalKey, tenantArchivePrefix } from "../../durable-objects/audit/archive";
import { toIso } from "../core/time";
import { ApiError } from "../errors";
import type { AuditArchiveDayWire, AuditArchiveQueryWire } from "../schemas/audit";

/** Keys listed per R2 call (R2's maximum). */
const LIST_PAGE = 1_000;
/** Characters of NDJSON handed on at a time. */
const CHUNK_CHARS = 64 << 10;
/** Ids of one millisecond's entries kept for de-duplication; past it duplicates of that millisecond may pass (never an entry lost). */
const SAME_MS_IDS_KEPT = 10_000;

/** The day (`YYYY-MM-DD`) an archive key belongs to, or null for a key of no day. */
function dayOf(prefix: string, key: string): string | null {
  const rest = key.slice(prefix.length);
  return /^\d{4}-\d{2}-\d{2}(\/|\.ndjson$|~r\d{6}\.ndjson$)/.test(rest) ? rest.slice(0, 10) : null;
}

/**
 * The tenant's archived days, oldest first, a page at a time, each with the bytes of all its objects and when the
 * last was written. The cursor is the last day listed: it can only move within the tenant's own prefix.
 */
export async function listArchivedDays(
  archive: AuditArchive,
  tenantId: string,
  query: AuditArchiveQueryWire,
): Promise<{ data: AuditArchiveDayWire[]; next_cursor: string | null }> {
  const prefix = tenantArchivePrefix(tenantId);
  const days: { day: string; bytes: number; uploaded: number }[] = [];
  // "~" sorts after both "/" and ".": past every object of the cursor's day, before the next day.
  let startAfter = query.cursor === undefined ? undefined : `${prefix}${query.cursor}~`;
  for (;;) {
    const listed = await archive.list({ prefix, limit: LIST_PAGE, ...(startAfter === undefined ? {} : { startAfter }) });
    for (const object of listed.objects) {
      const day = dayOf(prefix, object.key);
      if (day === null) continue;
      const last = days.at(-1);
      if (last?.day === day) {
        last.bytes += object.size;
        last.uploaded = Math.max(last.uploaded, object.uploaded.getTime());
        continue;
      }
      if (days.length === query.limit) return { data: days.map(toWire), next_cursor: last!.day };
      days.push({ day, bytes: object.size, uploaded: object.uploaded.getTime() });
    }
    if (!listed.truncated || listed.objects.length === 0) return { data: days.map(toWire), next_cursor: null };
    startAfter = listed.objects.at(-1)!.key;
  }
}

const toWire = (d: { day: string; bytes: number; uploaded: number }): AuditArchiveDayWire => ({ day: d.day, bytes: d.bytes, archived_at: toIso(d.uploaded) });

/** One archived day's NDJSON (`GET /v1/audit/archive/{day}`), merged from its objects as it streams; 404 when there is none. */
export async function openArchivedDay(archive: AuditArchive, tenantId: string, day: string): Promise<{ body: ReadableStream<Uint8Array> }> {
  const prefix = tenantArchivePrefix(tenantId);
  // Every name's newest version by upload time (an erasure writes `<name>~r<pass>.ndjson` whole, then deletes the
  // older one: while both exist, the newer is the one without the erased entries; and a chunk written again under
  // its first name after that — a writer retrying a step, from store rows the erasure already cleaned — is newer still).
  const newest = new Map<string, string>();
  const uploaded = new Map<string, number>();
  const single = (await archive.head(`${prefix}${day}.ndjson`))?.key;
  const singleRewritten = (await archive.list({ prefix: `${prefix}${day}~r` })).objects.at(-1)?.key;
  if (singleRewritten !== undefined || single !== undefined) newest.set("single", (singleRewritten ?? single)!);
  let cursor: string | undefined;
  do {
    const listed = await archive.list({ prefix: `${prefix}${day}/`, limit: LIST_PAGE, ...(cursor === undefined ? {} : { cursor }) });
    for (const object of listed.objects) {
      const name = originalKey(object.key);
      if ((uploaded.get(name) ?? -Infinity) > object.uploaded.getTime()) continue;
      newest.set(name, object.key);
      uploaded.set(name, object.uploaded.getTime());
    }
    cursor = listed.truncated ? listed.cursor : undefined;
  } while (cursor !== undefined);
  const sequences = new Map<string, string[]>();
  const generations = new Map<string, number>();
  for (const [name, key] of newest) {
    if (name === "single") {
      sequences.set("single", [key]);
      continue;
    }
    const [kind, hour] = name.slice(`${prefix}${day}/`.length).split("-");
    // A shard archived again (a late entry recreated it) overlaps its earlier object: the nth generation of each
    // hour makes its own sequence, ordered in time across hours like the first.
    const rank = kind === "shard" ? (generations.get(hour!) ?? 0) : 0;
    if (kind === "shard") generations.set(hour!, rank + 1);
    const source = `${kind}#${rank}`;
    const keys = sequences.get(source);
    if (keys) keys.push(key);
    else sequences.set(source, [key]);
  }
  if (sequences.size === 0) throw new ApiError("not_found", `no archived audit entries for ${day}`);
  return { body: mergedDay(archive, [...sequences.values()]) };
}

type Line = { text: string; at: string; seq: number; id: string };

/** The lines of several objects read one after another. */
async function* linesOf(archive: AuditArchive, keys: readonly string[]): AsyncGenerator<Line> {
  for (const listedKey of keys) {
    // Deleted since the listing: an erasure rewrote it, and its newest version (written first) is read instead.
    const object = (await archive.get(listedKey)) ?? (await newestVersionOf(archive, listedKey));
    if (object === null) continue; // every entry of it was erased
    let pending = "";
    const reader = object.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending += value;
      // One cut per decoded chunk, not per line: a day is GBs.
      let start = 0;
      let end: number;
      while ((end = pending.indexOf("\n", start)) >= 0) {
        const text = pending.slice(start, end);
        start = end + 1;
        if (text.trim() !== "") yield parse(text);
      }
      pending = pending.slice(start);
    }
    if (pending.trim() !== "") yield parse(pending);
  }
}

/** The newest version of an object's name still stored, or null. */
async function newestVersionOf(archive: AuditArchive, key: string): Promise<R2ObjectBody | null> {
  const original = originalKey(key);
  const versions = (await archive.list({ prefix: original.slice(0, -".ndjson".length) + "~r" })).objects;
  const newest = versions.at(-1)?.key;
  return newest === undefined || newest <= key ? null : archive.get(newest);
}

function parse(text: string): Line {
  const entry = JSON.parse(text) as ArchivedEntry;
  return { text, at: entry.at, seq: entry.seq, id: identity(entry) };
}

const before = (a: Line, b: Line) => (a.at === b.at ? a.seq < b.seq : a.at < b.at);

/** The sequences merged oldest first (ISO times of one format compare as strings), each entry once. */
function mergedDay(archive: AuditArchive, sequences: readonly string[][]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const sources = sequences.map((keys) => linesOf(archive, keys));
  const heads: (Line | null)[] = [];
  let started = false;
  let currentAt = "";
  const seen = new Set<string>();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!started) {
        for (const source of sources) heads.push((await source.next()).value ?? null);
        started = true;
      }
      let out = "";
      for (;;) {
        let pick = -1;
        for (let i = 0; i < heads.length; i++) if (heads[i] && (pick < 0 || before(heads[i]!, heads[pick]!))) pick = i;
        if (pick < 0) {
          if (out !== "") controller.enqueue(encoder.encode(out));
          return controller.close();
        }
        const line = heads[pick]!;
        heads[pick] = (await sources[pick]!.next()).value ?? null;
        if (line.at !== currentAt) {
          currentAt = line.at;
          seen.clear();
        }
        if (seen.has(line.id)) continue;
        if (seen.size < SAME_MS_IDS_KEPT) seen.add(line.id);
        out += `${line.text}\n`;
        if (out.length >= CHUNK_CHARS) return controller.enqueue(encoder.encode(out));
      }
    },
    async cancel() {
      await Promise.all(sources.map((source) => source.return(undefined)));
    },
  });
}
