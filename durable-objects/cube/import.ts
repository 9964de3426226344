/**
 * MemLoader: loads an export file (docs/export-format.md) into a cube, as the steps of an `import` job on the
 * cube's alarm. Each step reads a byte range of the file (the job's cursor is a byte offset), prepares up to
 * IMPORT_BATCH memories and commits them in one transaction — an evicted object resumes at the first line not
 * committed.
 *
 * Imported memories get ids of their new cube derived from their old ids (importedMemoryId), so importing the same
 * memory twice finds it already there and writes nothing, and links between memories (supersedes, superseded_by,
 * merged_from, event references) are rewritten without reading ahead. Where a memory came from is kept in a
 * `memory.imported` event (export, cube and memory ids, the original writer and watermark).
 */
import { Buffer } from "node:buffer";
import type { VectorRecord } from "../../src/adapters/types";
import type { MemoryVersionWire, MemoryWire } from "../../src/schemas/memory";
import {
  EXPORT_FORMAT,
  type ExportEpisodeLineWire,
  type ExportHeaderLineWire,
  ExportLine,
  type ExportLineWire,
  type ExportMemoryLineWire,
} from "../../src/schemas/portability";
import { archiveKey, episodeKey } from "./r2-keys";
import type { StoredEpisode } from "./ingest";
import { type ArchivedPayload, MAX_PINS, indexArchivedText, preview } from "./lifecycle";
import { importedMemoryId } from "./portability";
import type { CubeRef, WriteMeta } from "./protocol";
import { type CubeStore, contentHash } from "./store";

/** Memories one import step commits. */
export const IMPORT_BATCH = 200;
/** Bytes an import step reads first; doubled while a line does not fit, up to MAX_LINE_BYTES. */
const READ_BYTES = 1 << 20;
const MAX_LINE_BYTES = 64 << 20;
/**
 * States whose memories have a vector in their cube (superseded, merged and expired ones gave theirs up). A forgotten
 * memory keeps its vector — a rollback brings it back into search — so an import embeds it too (issue 16, D9).
 */
const INDEXED_STATES = new Set(["generated", "activated", "archived", "forgotten"]);

/** A file an import cannot load (malformed, truncated, inconsistent): no retry helps, the job fails with this. */
export class ImportFileError extends Error {
  readonly retryable = false;
}

/** The parameters an import job keeps (jobs.params). */
export interface ImportParams {
  key: string;
  export_id: string;
  source_cube: string;
  actor: string;
  request_id: string;
}

/** An import job's counters (its `result.import`). */
export interface ImportProgress {
  export_id: string;
  lines: number;
  imported: number;
  skipped: number;
  episodes: number;
  vectors_reused: number;
  re_embedded: number;
}

interface PreparedMemory {
  id: string;
  line: ExportMemoryLineWire;
  /** The memory as it will stand in this cube (full content). */
  memory: MemoryWire;
  versions: MemoryVersionWire[];
  /** Already in the cube (an earlier import of the same memory): skipped. */
  exists: boolean;
  /** A vector of the configured embedder taken from the file, or null. */
  vector: Float32Array | null;
  /** Whether it needs a vector from the configured embedder. */
  embed: boolean;
  /** For an archived memory: its payload's R2 object, written before the transaction. */
  archive: { key: string; bytes: number } | null;
}

/** One import step's reading: memories to commit, episodes copied, where the next step starts. */
export interface ImportBatch {
  memories: PreparedMemory[];
  episodes: { id: string; key: string; messages: number; receivedAt: number }[];
  lines: number;
  cursor: number;
  finished: boolean;
}

export class CubeImport {
  constructor(
    private readonly store: CubeStore,
    private readonly bucket: R2Bucket,
  ) {}

  /** The header of an import file, or why it is not one this version can load. */
  async readHeader(key: string): Promise<{ ok: true; header: ExportHeaderLineWire } | { ok: false; missing: boolean; message: string }> {
    const object = await this.bucket.head(key);
    if (!object) return { ok: false, missing: true, message: "export not found" };
    try {
      const { lines } = await this.readLines(key, 0);
      const first = lines[0];
      const line = first ? parseLine(first.text, 1) : null;
      if (line?.type !== "header") throw new ImportFileError(`line 1: the file must start with a ${EXPORT_FORMAT} header`);
      return { ok: true, header: line };
    } catch (error) {
      if (error instanceof ImportFileError) return { ok: false, missing: false, message: error.message };
      throw error;
    }
  }

  /**
   * Reads the lines after byte `cursor` up to IMPORT_BATCH memories and prepares them: ids mapped into this cube,
   * vectors decoded when the file's embedder is the configured one. Writes what must be in R2 before the rows that
   * point to it (episodes, archived payloads). It only reads SQL; applyBatch() commits.
   */
  async readBatch(
    ref: CubeRef,
    params: ImportParams,
    cursor: number,
    progress: ImportProgress,
    embedder: { id: string; dimensions: number },
    meta: WriteMeta,
  ): Promise<ImportBatch> {
    const { lines, eof, size } = await this.readLines(params.key, cursor);
    const batch: ImportBatch = { memories: [], episodes: [], lines: 0, cursor, finished: false };
    let full = false;
    for (const { text, end } of lines) {
      const number = progress.lines + batch.lines + 1;
      batch.lines += 1;
      batch.cursor = end;
      if (text.trim() === "") continue;
      const line = parseLine(text, number);
      if (line.type === "header") {
        if (number !== 1) throw new ImportFileError(`line ${number}: a second header`);
      } else if (number === 1) {
        throw new ImportFileError(`line 1: the file must start with a ${EXPORT_FORMAT} header`);
      } else if (line.type === "episode") {
        batch.episodes.push(await this.copyEpisode(ref, line));
      } else if (line.type === "memory") {
        batch.memories.push(await this.prepare(ref, line, embedder, meta));
        full = batch.memories.length === IMPORT_BATCH;
        if (full) break;
      } else {
        const memories = progress.imported + progress.skipped + batch.memories.length;
        const episodes = progress.episodes + batch.episodes.length;
        if (line.counts.memories !== memories || line.counts.episodes !== episodes) {
          throw new ImportFileError(
            `line ${number}: the end line counts ${line.counts.memories} memories and ${line.counts.episodes} episodes, the file holds ${memories} and ${episodes}`,
          );
        }
        batch.finished = true;
        break;
      }
    }
    // Every line up to the end of the file was read, and none was the end line.
    if (!batch.finished && eof && (!full || batch.cursor >= size)) {
      throw new ImportFileError("the file ends without its end line: it was cut short");
    }
    return batch;
  }

  /**
   * Commits a prepared batch: rows, versions, events and the `memory.imported` event; episodes it copied. Memories
   * already in the cube are skipped. Returns the vectors to store (reused or embedded by the caller).
   */
  applyBatch(ref: CubeRef, batch: ImportBatch, embedded: ReadonlyMap<string, Float32Array>, params: ImportParams, meta: WriteMeta, now: number) {
    const outcome = { imported: 0, skipped: 0, reused: 0, embedded: 0, records: [] as VectorRecord[] };
    let pins = Number(this.store.exec("SELECT count(*) AS n FROM memories WHERE pinned = 1")[0]?.n ?? 0);
    for (const episode of batch.episodes) {
      this.store.exec(
        "INSERT OR IGNORE INTO episodes (id, job_id, r2_key, messages, received_at) VALUES (?, ?, ?, ?, ?)",
        episode.id,
        `import:${params.export_id}`,
        episode.key,
        episode.messages,
        episode.receivedAt,
      );
    }
    for (const prepared of batch.memories) {
      const { id, memory, line } = prepared;
      if (prepared.exists || this.store.exec("SELECT 1 FROM memories WHERE id = ?", id).length > 0) {
        outcome.skipped += 1;
        continue;
      }
      const pinned = memory.pinned && pins < MAX_PINS;
      if (pinned) pins += 1;
      this.store.exec(
        `INSERT INTO memories (id, owner, type, content, tags, metadata, session_id, source, created_at, updated_at, valid_at,
           invalid_at, expires_at, priority, importance, sensitivity, visibility, frozen, watermark, access_count,
           last_accessed_at, version, state, supersedes, superseded_by, context, pinned, archive_key, archived_bytes,
           subject_key, content_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        id,
        ref.owner,
        memory.type,
        prepared.archive ? preview(memory.content) : memory.content,
        JSON.stringify(memory.tags),
        JSON.stringify(memory.metadata),
        memory.session_id,
        JSON.stringify(memory.source),
        ms(memory.created_at),
        ms(memory.updated_at),
        msOrNull(memory.valid_at),
        msOrNull(memory.invalid_at),
        msOrNull(memory.expires_at),
        memory.priority,
        memory.importance,
        JSON.stringify(memory.sensitivity),
        memory.visibility,
        memory.frozen ? 1 : 0,
        memory.watermark,
        memory.access_count,
        msOrNull(memory.last_accessed_at),
        memory.version,
        memory.state,
        memory.supersedes,
        memory.superseded_by,
        line.context ?? "",
        pinned ? 1 : 0,
        prepared.archive?.key ?? null,
        prepared.archive?.bytes ?? 0,
        line.subject_key,
        memory.state === "expired" ? null : contentHash(memory.type, memory.content),
      );
      // An archived memory's versions live in its R2 payload, like any archived memory's.
      if (prepared.archive) indexArchivedText(this.store, id, memory.content);
      if (!prepared.archive) {
        for (const version of prepared.versions) {
          this.store.exec(
            `INSERT OR IGNORE INTO memory_versions (memory_id, version, change, changed_at, actor, request_id, snapshot)
             VALUES (?, ?, ?, ?, ?, ?, ?)`,
            id,
            version.version,
            version.change,
            ms(version.changed_at),
            version.actor,
            version.request_id,
            JSON.stringify(version.memory),
          );
        }
      }
      for (const event of line.events) {
        this.store.exec(
          "INSERT INTO events (at, type, memory_id, version, actor, request_id, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
          ms(event.at),
          event.type,
          id,
          event.version,
          event.actor,
          event.request_id,
          // Marked as copied history, so readers of the log (the webhook outbox) can tell it from what happens here.
          JSON.stringify({ ...(mapIds(event.data, (sourceId) => importedMemoryId(ref.cubeId, sourceId)) as object), imported_from: params.export_id }),
        );
      }
      this.store.recordEvent("memory.imported", id, memory.version, meta, now, {
        reason: `imported from ${params.export_id}`,
        export_id: params.export_id,
        source_cube: params.source_cube,
        source_memory: line.memory.id,
        source_kind: line.memory.source.kind,
        source_key_id: line.memory.source.key_id,
        source_watermark: line.memory.watermark,
      });
      if (line.context === null) this.store.refreshSessionContext(id);
      const vector = prepared.vector ?? embedded.get(id);
      if (vector) outcome.records.push({ id, vector });
      if (prepared.vector) outcome.reused += 1;
      else if (vector) outcome.embedded += 1;
      outcome.imported += 1;
    }
    return outcome;
  }

  private async prepare(
    ref: CubeRef,
    line: ExportMemoryLineWire,
    embedder: { id: string; dimensions: number },
    meta: WriteMeta,
  ): Promise<PreparedMemory> {
    const id = importedMemoryId(ref.cubeId, line.memory.id);
    const exists = this.store.exec("SELECT 1 FROM memories WHERE id = ?", id).length > 0;
    const rewrite = (snapshot: MemoryWire): MemoryWire => {
      const map = (other: string | null) => (other === null ? null : importedMemoryId(ref.cubeId, other));
      const { merged_from: mergedFrom, reader } = snapshot.source;
      const source: MemoryWire["source"] = {
        kind: "import",
        episode_id: snapshot.source.episode_id,
        message_ids: snapshot.source.message_ids,
        key_id: meta.actor,
        request_id: meta.requestId,
        ...(reader ? { reader } : {}),
        ...(mergedFrom ? { merged_from: mergedFrom.map((m) => map(m)!) } : {}),
      };
      const expired = snapshot.state === "expired";
      return {
        ...snapshot,
        id,
        cube_id: ref.cubeId,
        owner: ref.owner,
        source,
        supersedes: map(snapshot.supersedes),
        superseded_by: map(snapshot.superseded_by),
        // The importing key wrote this memory here: it signs each version (the original watermark stays in the
        // memory.imported event).
        watermark: expired ? null : this.store.sign(id, snapshot.version, meta.actor, snapshot.content),
      };
    };
    const memory = rewrite(line.memory);
    const versions = line.versions.map((v) => ({ ...v, memory: rewrite(v.memory) }));
    const reusable = line.vector && line.vector.embedder === embedder.id && line.vector.dimensions === embedder.dimensions;
    const vector = reusable ? decodeVector(line.vector!.data, line.vector!.dimensions) : null;
    let archive: PreparedMemory["archive"] = null;
    if (!exists && memory.state === "archived") {
      const key = archiveKey(ref, id);
      const payload: ArchivedPayload = { format: "memos-archive/1", memory_id: id, version: memory.version, content: memory.content, versions };
      const body = JSON.stringify(payload);
      await this.bucket.put(key, body, { httpMetadata: { contentType: "application/json" } });
      archive = { key, bytes: new TextEncoder().encode(body).length };
    }
    return {
      id,
      line,
      memory,
      versions,
      exists,
      vector,
      embed: !exists && !vector && INDEXED_STATES.has(memory.state) && memory.content.trim() !== "",
      archive,
    };
  }

  private async copyEpisode(ref: CubeRef, line: ExportEpisodeLineWire): Promise<ImportBatch["episodes"][number]> {
    const { episode } = line;
    const stored: StoredEpisode = {
      format: "memos-episode/1",
      id: episode.id,
      cube_id: ref.cubeId,
      owner: ref.owner,
      owner_name: episode.owner_name,
      session_id: episode.session_id,
      metadata: episode.metadata,
      infer: episode.infer,
      received_at: ms(episode.received_at),
      messages: episode.messages.map((m) => ({ id: m.id, role: m.role, name: m.name, content: m.content, createdAt: msOrNull(m.created_at) })),
    };
    const key = episodeKey(ref, episode.id);
    await this.bucket.put(key, JSON.stringify(stored), { httpMetadata: { contentType: "application/json" } });
    return { id: episode.id, key, messages: stored.messages.length, receivedAt: stored.received_at };
  }

  /**
   * Complete lines from byte `offset`: a range read, doubled while not even one line fits. `eof`: the read reached
   * the end of the file.
   */
  private async readLines(key: string, offset: number): Promise<{ lines: { text: string; end: number }[]; eof: boolean; size: number }> {
    const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
    for (let length = READ_BYTES; ; length *= 2) {
      const object = await this.bucket.get(key, { range: { offset, length } });
      // Deleted under a running import (its export was deleted, or the MemStore listing it forks was unpublished).
      if (!object) throw new ImportFileError("the import file is gone (its export was deleted, or the MemStore listing it came from was unpublished); the memories imported so far stay");
      const bytes = new Uint8Array(await object.arrayBuffer());
      const eof = offset + bytes.length >= object.size;
      const lines: { text: string; end: number }[] = [];
      let start = 0;
      for (let newline = bytes.indexOf(10); newline !== -1; newline = bytes.indexOf(10, start)) {
        lines.push({ text: decode(decoder, bytes.subarray(start, newline), offset + start), end: offset + newline + 1 });
        start = newline + 1;
      }
      if (eof && start < bytes.length) lines.push({ text: decode(decoder, bytes.subarray(start), offset + start), end: offset + bytes.length });
      if (lines.length > 0 || eof) return { lines, eof, size: object.size };
      if (length >= MAX_LINE_BYTES) throw new ImportFileError(`the line at byte ${offset} is longer than ${MAX_LINE_BYTES} bytes`);
    }
  }
}

/** One line, validated; the error names the line and every problem. */
function parseLine(text: string, number: number): ExportLineWire {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ImportFileError(`line ${number}: not JSON`);
  }
  const parsed = ExportLine.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join(".") || "(line)"}: ${issue.message}`);
    throw new ImportFileError(`line ${number}: ${problems.join("; ")}`);
  }
  return parsed.data;
}

function decode(decoder: TextDecoder, bytes: Uint8Array, at: number): string {
  try {
    return decoder.decode(bytes).replace(/\r$/, "");
  } catch {
    throw new ImportFileError(`the line at byte ${at} is not UTF-8`);
  }
}

/** Rewrites every memory id in an event's data (successor, survivor, merged, …) into this cube's ids. */
function mapIds(value: unknown, map: (id: string) => string): unknown {
  if (typeof value === "string") return /^mem_[0-9a-z]{32}$/.test(value) ? map(value) : value;
  if (Array.isArray(value)) return value.map((v) => mapIds(v, map));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapIds(v, map)]));
  return value;
}

function decodeVector(data: string, dimensions: number): Float32Array {
  const bytes = Buffer.from(data, "base64");
  if (bytes.length !== dimensions * 4) throw new ImportFileError("a vector's data does not match its dimensions");
  // Copied into its own buffer: Float32Array needs 4-byte alignment, which a Buffer slice does not promise.
  const vector = new Float32Array(dimensions);
  new Uint8Array(vector.buffer).set(bytes);
  for (const x of vector) if (!Number.isFinite(x)) throw new ImportFileError("a vector holds a value that is not finite");
  return vector;
}

const ms = (iso: string) => Date.parse(iso);
const msOrNull = (iso: string | null) => (iso === null ? null : Date.parse(iso));
