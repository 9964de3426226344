/**
 * A shard's copy to R2 (retention, issue 14 item 2): the whole shard becomes one object of its day's folder
 * (`shard-<HH>-<generation>.ndjson`, ./archive.ts), oldest first, written in bounded steps as an R2 multipart upload
 * — a day's shard holds up to ~2 GB of NDJSON, which no Worker could hold. Each step reads entries up to
 * {@link STEP_READ_BYTES}, appends their lines to a buffer kept in the shard's own SQLite (`archive_buffer`, rows of at
 * most 1 MiB), uploads every whole part of exactly {@link PART_BYTES} (R2: all parts but the last the same size,
 * ≥ 5 MiB; ≤ 10,000 parts, so ≤ 50 GiB — a shard is under 10 GB), then commits its cursor, the parts' etags and
 * the rest of the buffer together (no await between those writes: one implicit transaction). A step cut short is
 * redone from the last commit: its parts are uploaded again under the same numbers, with the same bytes.
 *
 * Memory per step is bounded by {@link ARCHIVE_STEP_MAX_BYTES}: the buffer (< one part) plus the entries read (at
 * most STEP_READ_BYTES and one more entry, ≤ 2 MB as a Durable Object row), held at most twice while a part is cut.
 *
 * A generation walks the rows stored when it began (`seq` up to `seq_ceiling`) by (at, seq), so the object is oldest
 * first; entries arriving meanwhile (only a redelivery can be that late) are left for a next generation — its own
 * object, under a new name — so nothing is lost when the shard then deletes itself, and nothing written is rewritten.
 */
import { type AuditArchive, NDJSON_METADATA, shardObjectKey, toArchived } from "./archive";
import type { AuditLogRow } from "./log";

/** R2's multipart part size here: exactly this, all parts but the last (5 MiB, R2's minimum). */
export const PART_BYTES = 5 << 20;
/** Entry bytes (NDJSON lines) a step reads before it stops: one entry past it at most. */
export const STEP_READ_BYTES = 1 << 20;
/** Largest buffer row: under a Durable Object row's 2 MB. */
const BUFFER_ROW_BYTES = 1 << 20;
/** A Durable Object SQLite row's limit, which bounds one entry's line. */
const MAX_ENTRY_BYTES = 2_000_000;
/** What one step holds at most (buffer before, lines read, the two joined): the bound the tests check. */
export const ARCHIVE_STEP_MAX_BYTES = 2 * (PART_BYTES + STEP_READ_BYTES + MAX_ENTRY_BYTES);

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS archive_upload (
     one INTEGER PRIMARY KEY CHECK (one = 1),
     key TEXT NOT NULL,
     upload_id TEXT,
     parts TEXT NOT NULL DEFAULT '[]',
     seq_ceiling INTEGER NOT NULL,
     cursor_at INTEGER,
     cursor_seq INTEGER,
     bytes INTEGER NOT NULL DEFAULT 0,
     completed INTEGER NOT NULL DEFAULT 0
   )`,
  `CREATE TABLE IF NOT EXISTS archive_buffer (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)`,
  // Every generation archived so far: its rows are in R2; a later generation walks only rows stored after.
  `CREATE TABLE IF NOT EXISTS archive_done (seq_ceiling INTEGER PRIMARY KEY, key TEXT NOT NULL)`,
  // Generations an erasure voided (their buffer or parts may hold erased entries): their object is deleted, if a step
  // in flight completed it, before the shard may count as archived.
  `CREATE TABLE IF NOT EXISTS archive_voided (key TEXT PRIMARY KEY, upload_id TEXT)`,
];

type UploadState = {
  key: string;
  upload_id: string | null;
  parts: string;
  seq_ceiling: number;
  cursor_at: number | null;
  cursor_seq: number | null;
  bytes: number;
  completed: number;
};

/** What a run of steps did: `done` when every entry is in R2; `heldBytes` the most one step held in memory. */
export interface ShardArchiveProgress {
  done: boolean;
  entries: number;
  parts: number;
  heldBytes: number;
}

const encoder = new TextEncoder();

export class ShardArchiver {
  constructor(
    private readonly sql: SqlStorage,
    private readonly archive: AuditArchive,
    private readonly tenantId: string,
    private readonly periodStart: number,
  ) {}

  static migrate(sql: SqlStorage): void {
    for (const statement of SCHEMA) sql.exec(statement);
  }

  /**
   * An erasure deleted rows of this shard (./shard.ts): a generation under way may hold some of them in its buffer or
   * in parts already uploaded, so it is dropped (synchronously, with the erasure) and the copy starts again over the
   * rows left. A step in flight meanwhile finds its generation gone and commits nothing; an object it completed is
   * deleted by the next step. A completed generation's object is in R2 already: the archive's erasure rewrites it.
   */
  static voidUpload(sql: SqlStorage): void {
    const state = sql.exec<UploadState>("SELECT * FROM archive_upload").toArray()[0];
    if (state === undefined || state.completed === 1) return;
    sql.exec("INSERT INTO archive_voided (key, upload_id) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", state.key, state.upload_id);
    sql.exec("DELETE FROM archive_upload");
    sql.exec("DELETE FROM archive_buffer");
  }

  /** At most `steps` steps; `done` once every row of the shard is in an R2 object (the caller then deletes it whole). */
  async run(steps: number): Promise<ShardArchiveProgress> {
    const progress: ShardArchiveProgress = { done: false, entries: 0, parts: 0, heldBytes: 0 };
    for (let step = 0; step < steps; step++) {
      await this.dropVoided();
      const state = this.state() ?? this.begin();
      if (state === null) return { ...progress, done: true };
      if (state.completed === 1) {
        this.sql.exec("INSERT INTO archive_done (seq_ceiling, key) VALUES (?, ?) ON CONFLICT DO NOTHING", state.seq_ceiling, state.key);
        this.sql.exec("DELETE FROM archive_upload");
        continue;
      }
      const read = this.read(state);
      const buffer = this.buffer();
      const held = concat([buffer, ...read.lines]);
      progress.heldBytes = Math.max(progress.heldBytes, buffer.length + read.bytes + held.length);
      const parts = JSON.parse(state.parts) as R2UploadedPart[];
      if (read.rows === 0) {
        await this.finish(state, parts, held);
        if (!this.current(state)) continue;
        this.sql.exec("UPDATE archive_upload SET completed = 1");
        progress.parts += (state.upload_id === null ? state.bytes : held.length) > 0 ? 1 : 0;
        continue;
      }
      let uploadId = state.upload_id;
      let offset = 0;
      const uploaded: R2UploadedPart[] = [];
      while (held.length - offset >= PART_BYTES) {
        if (uploadId === null) uploadId = (await this.archive.createMultipartUpload(state.key, NDJSON_METADATA)).uploadId;
        const upload = this.archive.resumeMultipartUpload(state.key, uploadId);
        uploaded.push(await upload.uploadPart(parts.length + uploaded.length + 1, held.subarray(offset, offset + PART_BYTES)));
        offset += PART_BYTES;
      }
      if (!this.current(state)) continue;
      // The step's commit: cursor, parts and the rest of the buffer together (no await in between).
      this.sql.exec(
        "UPDATE archive_upload SET upload_id = ?, parts = ?, cursor_at = ?, cursor_seq = ?, bytes = bytes + ?",
        uploadId, JSON.stringify([...parts, ...uploaded]), read.last!.at, read.last!.seq, read.bytes,
      );
      this.sql.exec("DELETE FROM archive_buffer");
      for (let from = offset, n = 0; from < held.length; from += BUFFER_ROW_BYTES, n++) {
        this.sql.exec("INSERT INTO archive_buffer (seq, data) VALUES (?, ?)", n, held.slice(from, Math.min(held.length, from + BUFFER_ROW_BYTES)));
      }
      progress.entries += read.rows;
      progress.parts += uploaded.length;
    }
    const voided = this.sql.exec("SELECT 1 FROM archive_voided LIMIT 1").toArray().length > 0;
    return { ...progress, done: !voided && this.state() === undefined && this.pendingCeiling() === null };
  }

  /** Whether the step's generation is still the one under way (an erasure may have voided it during an await). */
  private current(state: UploadState): boolean {
    return this.state()?.key === state.key;
  }

  /** Voided generations' uploads aborted and objects deleted (both idempotent), then forgotten. */
  private async dropVoided(): Promise<void> {
    for (const { key, upload_id } of this.sql.exec<{ key: string; upload_id: string | null }>("SELECT key, upload_id FROM archive_voided").toArray()) {
      if (upload_id !== null) await this.archive.resumeMultipartUpload(key, upload_id).abort().catch(() => undefined);
      await this.archive.delete(key);
      this.sql.exec("DELETE FROM archive_voided WHERE key = ?", key);
    }
  }

  private state(): UploadState | undefined {
    return this.sql.exec<UploadState>("SELECT * FROM archive_upload").toArray()[0];
  }

  /** The highest seq already archived (null: none), and whether rows were stored after it. */
  private pendingCeiling(): number | null {
    const floor = this.sql.exec<{ s: number | null }>("SELECT max(seq_ceiling) AS s FROM archive_done").one().s ?? 0;
    const top = this.sql.exec<{ s: number | null }>("SELECT max(seq) AS s FROM audit_log").one().s;
    return top !== null && top > floor ? top : null;
  }

  /** A new generation over the rows stored since the last one, or null when every row is archived. */
  private begin(): UploadState | null {
    const ceiling = this.pendingCeiling();
    if (ceiling === null) return null;
    const generation = `${String(Date.now()).padStart(15, "0")}${crypto.randomUUID().slice(0, 8)}`;
    this.sql.exec(
      "INSERT INTO archive_upload (one, key, seq_ceiling) VALUES (1, ?, ?)",
      shardObjectKey(this.tenantId, this.periodStart, generation), ceiling,
    );
    return this.state()!;
  }

  /** The generation's next entries by (at, seq), NDJSON lines up to STEP_READ_BYTES (read lazily: the cursor stops there). */
  private read(state: UploadState): { lines: Uint8Array[]; bytes: number; rows: number; last: AuditLogRow | undefined } {
    const floor = this.sql.exec<{ s: number | null }>("SELECT max(seq_ceiling) AS s FROM archive_done").one().s ?? 0;
    const after = state.cursor_at === null ? "" : "AND (at > ? OR (at = ? AND seq > ?))";
    const cursor = state.cursor_at === null ? [] : [state.cursor_at, state.cursor_at, state.cursor_seq!];
    const rows = this.sql.exec<AuditLogRow>(
      `SELECT * FROM audit_log INDEXED BY audit_at WHERE seq > ? AND seq <= ? ${after} ORDER BY at, seq`,
      floor, state.seq_ceiling, ...cursor,
    );
    const lines: Uint8Array[] = [];
    let bytes = 0;
    let last: AuditLogRow | undefined;
    for (const row of rows) {
      const line = encoder.encode(`${JSON.stringify(toArchived(row))}\n`);
      lines.push(line);
      bytes += line.length;
      last = row;
      if (bytes >= STEP_READ_BYTES) break;
    }
    return { lines, bytes, rows: lines.length, last };
  }

  private buffer(): Uint8Array {
    return concat(this.sql.exec<{ data: ArrayBuffer }>("SELECT data FROM archive_buffer ORDER BY seq").toArray().map((row) => new Uint8Array(row.data)));
  }

  /**
   * The generation's object: one put when it never filled a part, else the last part and the completion. A
   * completion that an earlier, cut-short attempt already made finds the object there (the name is this
   * generation's alone): done too.
   */
  private async finish(state: UploadState, parts: R2UploadedPart[], rest: Uint8Array): Promise<void> {
    if (state.upload_id === null) {
      if (state.bytes > 0) await this.archive.put(state.key, rest, NDJSON_METADATA);
      return;
    }
    if ((await this.archive.head(state.key)) !== null) return;
    const upload = this.archive.resumeMultipartUpload(state.key, state.upload_id);
    const all = rest.length > 0 ? [...parts, await upload.uploadPart(parts.length + 1, rest)] : parts;
    await upload.complete(all);
  }
}

/** The chunks as one array (the one chunk itself when there is one). */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
