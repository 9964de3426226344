/**
 * Erasure in the cold audit archive (issue 14 item 2, governance; docs/audit.md "Erasure and the archive"). An erased
 * cube's entries leave the hot log at once (./log.ts); this job removes those already archived to R2. It is held by
 * the tenant's directory object and driven by its alarm, in bounded steps with a cursor:
 *
 * - `record` keeps each erased cube by SHA-256 (never its id) with its erasure time. Cubes wait
 *   {@link ARCHIVE_ERASURE_SETTLE_MS} first: every archive writer (the directory's alarm, the cron) runs inside one
 *   invocation of at most 15 minutes, so one that read an erased entry just before the erasure has written it by
 *   then; a shard's multi-step copy is voided by the erasure instead (./shard-archive.ts).
 * - A **pass** takes the waiting cubes (at most {@link ERASURE_CUBES_PER_PASS}) and walks every object under
 *   `audit/<tenant>/` in key order, one at a time. A step reads at most {@link ERASURE_READ_BYTES} of the object (an
 *   R2 range read, cut at the last whole line): first a read-only **scan**; an object with no entry to remove is left
 *   alone. At the first entry to remove the object is **rewritten** from its start: the kept lines go to a buffer in
 *   this object's SQLite and out as R2 multipart parts of exactly PART_BYTES, like a shard's copy. When the new object
 *   is complete, the old is deleted, then the cursor moves past both (one commit, no await inside).
 * - An entry is removed when it names an erased cube (`cube_id`, or `detail.cube_ids`) and happened at or before that
 *   cube's erasure — the same rule as the hot log's tombstones, so a cube made again later (a default cube's id is
 *   deterministic) keeps its new entries.
 *
 * Crash safety: every step commits its state (cursor, offset, parts, buffer) without an await in between, and a step
 * cut short is redone from the last commit with the same bytes under the same part numbers. The new object's name is
 * the old one's with `~r<pass>` (./archive.ts `rewrittenKey`): written whole before the old is deleted, and the reader
 * reads only the newest version of a name, so it sees the old object or the new one, never half of either, and never
 * loses another owner's entry. A second pass finds nothing to remove and writes nothing.
 */
import { type AuditArchive, NDJSON_METADATA, rewrittenKey, tenantArchivePrefix } from "./archive";
import { sha256Hex } from "./log";
import { PART_BYTES, concat } from "./shard-archive";

/** How long an erased cube waits before a pass: longer than any archive writer's invocation (15 minutes). */
export const ARCHIVE_ERASURE_SETTLE_MS = 16 * 60_000;
/** Bytes of an archived object read per step: above the longest line (an entry is ≤ 2 MB as a Durable Object row). */
export const ERASURE_READ_BYTES = 4 << 20;
/** Erased cubes one pass removes (the rest wait for the next): the set a step holds in memory. */
export const ERASURE_CUBES_PER_PASS = 10_000;
/** What one step holds at most: the buffer (< a part), the range read, the kept lines and the two joined. */
export const ERASURE_STEP_MAX_BYTES = 2 * (PART_BYTES + 2 * ERASURE_READ_BYTES);
/** Finished passes kept for inspection. */
const PASSES_KEPT = 30;
const BUFFER_ROW_BYTES = 1 << 20;
const HASHES_CACHED = 10_000;

const SCHEMA = [
  // Erased cubes still to remove from R2; `pass` is the pass removing them (null: waiting). Gone when their pass ends.
  `CREATE TABLE IF NOT EXISTS archive_erasure_cubes (cube_sha256 TEXT PRIMARY KEY, erased_at INTEGER NOT NULL, pass INTEGER) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS archive_erasure_pass (
     one INTEGER PRIMARY KEY CHECK (one = 1),
     pass INTEGER NOT NULL,
     started_at INTEGER NOT NULL,
     cursor TEXT,
     object TEXT,
     etag TEXT,
     size INTEGER,
     rewriting INTEGER NOT NULL DEFAULT 0,
     offset INTEGER NOT NULL DEFAULT 0,
     upload_id TEXT,
     parts TEXT NOT NULL DEFAULT '[]',
     written INTEGER NOT NULL DEFAULT 0,
     objects_read INTEGER NOT NULL DEFAULT 0,
     bytes_read INTEGER NOT NULL DEFAULT 0,
     objects_rewritten INTEGER NOT NULL DEFAULT 0,
     entries_removed INTEGER NOT NULL DEFAULT 0
   )`,
  `CREATE TABLE IF NOT EXISTS archive_erasure_buffer (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)`,
  // The last PASSES_KEPT passes' counts (the cost of an erasure, for operators and tests).
  `CREATE TABLE IF NOT EXISTS archive_erasure_passes (
     pass INTEGER PRIMARY KEY, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL, cubes INTEGER NOT NULL,
     objects_read INTEGER NOT NULL, bytes_read INTEGER NOT NULL, objects_rewritten INTEGER NOT NULL, entries_removed INTEGER NOT NULL
   )`,
];

type PassState = {
  pass: number;
  started_at: number;
  cursor: string | null;
  object: string | null;
  etag: string | null;
  size: number | null;
  rewriting: number;
  offset: number;
  upload_id: string | null;
  parts: string;
  written: number;
  objects_read: number;
  bytes_read: number;
  objects_rewritten: number;
  entries_removed: number;
};

/** A finished pass's counts. */
export type ArchiveErasurePass = {
  pass: number;
  cubes: number;
  objects_read: number;
  bytes_read: number;
  objects_rewritten: number;
  entries_removed: number;
};

/** What a run did: steps taken, the most one step held, and when the job wants to run next (null: nothing left). */
export interface ArchiveErasureProgress {
  steps: number;
  heldBytes: number;
  nextAt: number | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class ArchiveErasure {
  private readonly hashes = new Map<string, string>();

  constructor(
    private readonly sql: SqlStorage,
    private readonly archive: AuditArchive,
    /** Wait before a pass (a test sets 0). */
    private readonly settleMs = ARCHIVE_ERASURE_SETTLE_MS,
  ) {}

  static migrate(sql: SqlStorage): void {
    for (const statement of SCHEMA) sql.exec(statement);
  }

  /** Erased cubes (SHA-256) whose archived entries must go; a cube erased again waits for a new pass. */
  record(cubeHashes: readonly string[], erasedAt: number): void {
    for (const hash of cubeHashes) {
      this.sql.exec(
        `INSERT INTO archive_erasure_cubes (cube_sha256, erased_at, pass) VALUES (?, ?, NULL)
         ON CONFLICT (cube_sha256) DO UPDATE SET erased_at = max(erased_at, excluded.erased_at), pass = NULL`,
        hash, erasedAt,
      );
    }
  }

  /** When the job wants to run: now while a pass is under way, else when the first waiting cube has settled. */
  nextAt(now: number): number | null {
    if (this.state() !== undefined) return now;
    const first = this.sql.exec<{ at: number | null }>("SELECT min(erased_at) AS at FROM archive_erasure_cubes WHERE pass IS NULL").one().at;
    return first === null ? null : Math.max(now, first + this.settleMs);
  }

  /** The finished passes kept, newest first. */
  passes(): ArchiveErasurePass[] {
    return this.sql.exec<ArchiveErasurePass>("SELECT pass, cubes, objects_read, bytes_read, objects_rewritten, entries_removed FROM archive_erasure_passes ORDER BY pass DESC").toArray();
  }

  /** At most `steps` bounded steps over the tenant's archive. */
  async run(tenantId: string, now: number, steps: number): Promise<ArchiveErasureProgress> {
    const progress: ArchiveErasureProgress = { steps: 0, heldBytes: 0, nextAt: null };
    let cubes: Map<string, number> | null = null;
    for (; progress.steps < steps; progress.steps++) {
      const state = this.state() ?? this.begin(now);
      if (state === null) break;
      cubes ??= this.cubesOf(state.pass);
      if (state.object === null) {
        const next = (await this.archive.list({ prefix: tenantArchivePrefix(tenantId), limit: 1, ...(state.cursor === null ? {} : { startAfter: state.cursor }) })).objects[0];
        if (next === undefined) {
          this.finishPass(state, cubes.size, now);
          cubes = null;
          continue;
        }
        // This pass's own version of an object it rewrote holds nothing to remove: passed over unread.
        if (next.key === rewrittenKey(next.key, state.pass)) {
          this.sql.exec("UPDATE archive_erasure_pass SET cursor = ?", next.key);
          continue;
        }
        this.sql.exec("UPDATE archive_erasure_pass SET object = ?, etag = ?, size = ?, rewriting = 0, offset = 0, objects_read = objects_read + 1", next.key, next.etag, next.size);
        continue;
      }
      progress.heldBytes = Math.max(progress.heldBytes, await this.step(state, cubes));
    }
    progress.nextAt = this.nextAt(now);
    return progress;
  }

  /** One bounded step on the pass's current object; returns the bytes it held. */
  private async step(state: PassState, cubes: Map<string, number>): Promise<number> {
    const object = state.object!;
    const size = state.size!;
    const last = state.offset + ERASURE_READ_BYTES >= size;
    // A completion whose commit was lost: the new object is whole, only the old one's deletion is left.
    if (state.rewriting === 1 && last && state.upload_id !== null && (await this.archive.head(rewrittenKey(object, state.pass))) !== null) {
      return this.replaced(state, 0);
    }
    const read = size === 0 ? null : await this.archive.get(object, { range: { offset: state.offset, length: Math.min(ERASURE_READ_BYTES, size - state.offset) }, onlyIf: { etagMatches: state.etag! } });
    // The last step's replacement went through but its commit was lost: the old object is gone already.
    if (size > 0 && read === null && state.rewriting === 1 && last) return this.replaced(state, 0);
    if (size > 0 && (read === null || !("body" in read))) {
      // Gone (an operator deleted it) or replaced under the same name: start on the next key, or on this one afresh.
      this.restartObject(state, read !== null);
      return 0;
    }
    const bytes = read === null ? new Uint8Array(0) : new Uint8Array(await (read as R2ObjectBody).arrayBuffer());
    // Whole lines only, unless this is the end (a line is ≤ 2 MB, under a read: a read with no newline is copied as is).
    const newline = bytes.lastIndexOf(10);
    const cut = last || newline < 0 ? bytes.length : newline + 1;
    const lines = decoder.decode(bytes.subarray(0, cut)).split("\n");
    if (lines.at(-1) === "") lines.pop();
    if (state.rewriting === 0) {
      let found = false;
      for (const line of lines) if ((found = await this.erased(line, cubes))) break;
      if (!found) {
        this.sql.exec("UPDATE archive_erasure_pass SET offset = offset + ?, bytes_read = bytes_read + ?", cut, cut);
        if (last) this.sql.exec("UPDATE archive_erasure_pass SET cursor = object, object = NULL, etag = NULL, size = NULL, offset = 0");
        return bytes.length;
      }
      // Found past the object's first read: the rewrite starts again from its first byte.
      if (state.offset > 0) {
        this.sql.exec("UPDATE archive_erasure_pass SET rewriting = 1, offset = 0, bytes_read = bytes_read + ?", cut);
        return bytes.length;
      }
      // Found in the first read: these bytes start the rewrite, without reading them again (committed below).
      this.sql.exec("UPDATE archive_erasure_pass SET rewriting = 1");
    }
    const kept: string[] = [];
    let removed = 0;
    for (const line of lines) {
      if (line.trim() !== "" && (await this.erased(line, cubes))) removed += 1;
      else kept.push(line);
    }
    const keptBytes = encoder.encode(kept.length === 0 ? "" : `${kept.join("\n")}\n`);
    const buffer = this.buffer();
    const held = concat([buffer, keptBytes]);
    const heldBytes = buffer.length + bytes.length + keptBytes.length + held.length;
    const key = rewrittenKey(object, state.pass);
    const parts = JSON.parse(state.parts) as R2UploadedPart[];
    let uploadId = state.upload_id;
    let offset = 0;
    const uploaded: R2UploadedPart[] = [];
    while (held.length - offset >= PART_BYTES) {
      if (uploadId === null) uploadId = (await this.archive.createMultipartUpload(key, NDJSON_METADATA)).uploadId;
      uploaded.push(await this.archive.resumeMultipartUpload(key, uploadId).uploadPart(parts.length + uploaded.length + 1, held.subarray(offset, offset + PART_BYTES)));
      offset += PART_BYTES;
    }
    const rest = held.subarray(offset);
    if (last) {
      const all = [...parts, ...uploaded];
      if (uploadId === null) {
        if (rest.length > 0) await this.archive.put(key, rest, NDJSON_METADATA);
      } else {
        const upload = this.archive.resumeMultipartUpload(key, uploadId);
        await upload.complete(rest.length > 0 ? [...all, await upload.uploadPart(all.length + 1, rest)] : all);
      }
      this.sql.exec("UPDATE archive_erasure_pass SET entries_removed = entries_removed + ?, bytes_read = bytes_read + ?", removed, cut);
      return this.replaced(state, heldBytes);
    }
    // The step's commit: offset, parts, counts and the rest of the buffer together (no await in between).
    this.sql.exec(
      "UPDATE archive_erasure_pass SET offset = offset + ?, upload_id = ?, parts = ?, entries_removed = entries_removed + ?, bytes_read = bytes_read + ?",
      cut, uploadId, JSON.stringify([...parts, ...uploaded]), removed, cut,
    );
    this.keepBuffer(rest);
    return heldBytes;
  }

  /** The new version is whole (or nothing was left to keep): the old goes, and the cursor moves past both. */
  private async replaced(state: PassState, heldBytes: number): Promise<number> {
    await this.archive.delete(state.object!);
    // The cursor stays at the old name, not the new one: an old single-object day (`<day>.ndjson`) sorts before its
    // folder (`<day>/…`), its new version (`<day>~r…`) after it — moving to the new name would skip the folder.
    this.sql.exec(
      `UPDATE archive_erasure_pass SET cursor = object, object = NULL, etag = NULL, size = NULL, rewriting = 0, offset = 0,
         upload_id = NULL, parts = '[]', objects_rewritten = objects_rewritten + 1`,
    );
    this.sql.exec("DELETE FROM archive_erasure_buffer");
    return heldBytes;
  }

  /** The object changed under the pass (`present`) or went: its upload is dropped, and it is read again or skipped. */
  private restartObject(state: PassState, present: boolean): void {
    if (state.upload_id !== null) {
      // Best effort: an upload never completed costs nothing once R2 expires it.
      void this.archive.resumeMultipartUpload(rewrittenKey(state.object!, state.pass), state.upload_id).abort().catch(() => undefined);
    }
    if (present) this.sql.exec("UPDATE archive_erasure_pass SET object = NULL, etag = NULL, size = NULL, rewriting = 0, offset = 0, upload_id = NULL, parts = '[]', cursor = ?", previousKey(state.object!));
    else this.sql.exec("UPDATE archive_erasure_pass SET cursor = object, object = NULL, etag = NULL, size = NULL, rewriting = 0, offset = 0, upload_id = NULL, parts = '[]'");
    this.sql.exec("DELETE FROM archive_erasure_buffer");
  }

  /** Whether an archived line names an erased cube at or before its erasure (not JSON: kept, as the reader would fail it anyway). */
  private async erased(line: string, cubes: Map<string, number>): Promise<boolean> {
    let entry: { at?: unknown; cube_id?: unknown; detail?: { cube_ids?: unknown } | null };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      return false;
    }
    const ids: unknown[] = [entry.cube_id, ...(Array.isArray(entry.detail?.cube_ids) ? entry.detail.cube_ids : [])];
    const at = typeof entry.at === "string" ? Date.parse(entry.at) : Number.NaN;
    for (const id of ids) {
      if (typeof id !== "string") continue;
      const erasedAt = cubes.get(this.hashes.get(id) ?? (await this.hash(id)));
      if (erasedAt !== undefined && !(at > erasedAt)) return true;
    }
    return false;
  }

  private async hash(id: string): Promise<string> {
    if (this.hashes.size >= HASHES_CACHED) this.hashes.clear();
    const hash = await sha256Hex(id);
    this.hashes.set(id, hash);
    return hash;
  }

  private state(): PassState | undefined {
    return this.sql.exec<PassState>("SELECT * FROM archive_erasure_pass").toArray()[0];
  }

  /** A new pass over the cubes that have settled, or null when none has. */
  private begin(now: number): PassState | null {
    const settled = now - this.settleMs;
    if (this.sql.exec("SELECT 1 FROM archive_erasure_cubes WHERE pass IS NULL AND erased_at <= ? LIMIT 1", settled).toArray().length === 0) return null;
    const pass = (this.sql.exec<{ n: number | null }>("SELECT max(pass) AS n FROM archive_erasure_passes").one().n ?? 0) + 1;
    this.sql.exec(
      `UPDATE archive_erasure_cubes SET pass = ? WHERE cube_sha256 IN
         (SELECT cube_sha256 FROM archive_erasure_cubes WHERE pass IS NULL AND erased_at <= ? ORDER BY erased_at LIMIT ?)`,
      pass, settled, ERASURE_CUBES_PER_PASS,
    );
    this.sql.exec("INSERT INTO archive_erasure_pass (one, pass, started_at) VALUES (1, ?, ?)", pass, now);
    return this.state()!;
  }

  private cubesOf(pass: number): Map<string, number> {
    const rows = this.sql.exec<{ cube_sha256: string; erased_at: number }>("SELECT cube_sha256, erased_at FROM archive_erasure_cubes WHERE pass = ?", pass);
    return new Map([...rows].map((row) => [row.cube_sha256, row.erased_at]));
  }

  private finishPass(state: PassState, cubes: number, now: number): void {
    this.sql.exec("DELETE FROM archive_erasure_cubes WHERE pass = ?", state.pass);
    this.sql.exec(
      "INSERT INTO archive_erasure_passes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      state.pass, state.started_at, now, cubes, state.objects_read, state.bytes_read, state.objects_rewritten, state.entries_removed,
    );
    this.sql.exec("DELETE FROM archive_erasure_passes WHERE pass <= ?", state.pass - PASSES_KEPT);
    this.sql.exec("DELETE FROM archive_erasure_pass");
  }

  private buffer(): Uint8Array {
    return concat(this.sql.exec<{ data: ArrayBuffer }>("SELECT data FROM archive_erasure_buffer ORDER BY seq").toArray().map((row) => new Uint8Array(row.data)));
  }

  private keepBuffer(rest: Uint8Array): void {
    this.sql.exec("DELETE FROM archive_erasure_buffer");
    for (let from = 0, n = 0; from < rest.length; from += BUFFER_ROW_BYTES, n++) {
      this.sql.exec("INSERT INTO archive_erasure_buffer (seq, data) VALUES (?, ?)", n, rest.slice(from, Math.min(rest.length, from + BUFFER_ROW_BYTES)));
    }
  }
}

/** A key just before `key` in listing order, so a listing after it starts at `key` again. */
function previousKey(key: string): string {
  return key.slice(0, -1);
}

