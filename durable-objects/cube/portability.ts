/**
 * MemDumper: the lines of the versioned JSONL format of docs/export-format.md, read from a cube, and the cube's
 * footprint in R2 (what deleting it must empty). Writing them to R2 in bounded steps is cube/export-job.ts — the one
 * writer of NDJSON into R2 parts, for exports and MemStore snapshots (cube/snapshot.ts) alike; the loading side is
 * cube/import.ts.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { toIso } from "../../src/core/time";
import type { MemoryVersionWire } from "../../src/schemas/memory";
import {
  EXPORT_FORMAT,
  EXPORT_VERSION,
  type ExportEpisodeLineWire,
  type ExportEventWire,
  type ExportHeaderLineWire,
  type ExportMemoryLineWire,
} from "../../src/schemas/portability";
import type { StoredEpisode } from "./ingest";
import type { ArchivedPayload } from "./lifecycle";
import type { CubeRef } from "./protocol";
import { type CubeStore, versionOfRow } from "./store";
import type { VectorStore } from "./vector-store";

/** R2 multipart: every part but the last must have the same size, at least 5 MiB (docs/platform-limits.md). */
export const PART_BYTES = 5 << 20;

/** Where an export lives in R2. */
export const exportKey = (ref: Pick<CubeRef, "tenantId" | "cubeId">, exportId: string) =>
  `exports/${ref.tenantId}/${ref.cubeId}/${exportId}.jsonl`;

/** Where an uploaded import file (a JSONL request body) is kept while its job runs. */
export const uploadKey = (ref: CubeRef, uploadId: string) => `imports/${ref.tenantId}/${ref.cubeId}/${uploadId}.jsonl`;

/** Every R2 prefix holding a cube's objects: archived memories, episodes, exports, uploaded imports, adapters, distill datasets. */
export const cubePrefixes = (ref: CubeRef) =>
  ["archive", "episodes", "exports", "imports", "adapters", "distills"].map((kind) => `${kind}/${ref.tenantId}/${ref.cubeId}/`);

/**
 * The id a memory gets when imported into `cubeId`: the cube's body and 16 base32 characters of a hash of its id
 * in the exporting cube. Deterministic, so a re-import finds it and links can be rewritten before their target is.
 */
export function importedMemoryId(cubeId: string, sourceId: string): string {
  const digest = createHash("sha256").update(`memos-import/1\n${sourceId}`).digest();
  let body = "";
  for (let i = 0; i < 16; i++) body += "0123456789abcdefghjkmnpqrstvwxyz"[digest[i]! & 31];
  return `mem_${cubeId.slice("cube_".length)}${body}`;
}

export interface ExportOptions {
  exportId: string;
  includeVectors: boolean;
  /** The configured embedder: the space the exported vectors are in. */
  embedderId: string;
  now: number;
}

/** An episode still to export, in file order (received_at, id). */
export interface EpisodeToExport {
  id: string;
  r2Key: string;
  receivedAt: number;
}

/** A memory still to export: its line, once its archived payload (if any) is read from R2. */
export interface MemoryToExport {
  seq: number;
  id: string;
  /** The R2 object with an archived memory's full content and versions; null for a hot memory. */
  archiveKey: string | null;
  /** Its line; null when it was purged since its row was read. */
  line(payload: ArchivedPayload | undefined): ExportMemoryLineWire | null;
}

export class CubePortability {
  constructor(
    private readonly store: CubeStore,
    private readonly vectors: VectorStore,
    private readonly bucket: R2Bucket,
  ) {}

  // ── export (MemDumper) ─────────────────────────────────────────────────────────────────────────────────────

  /**
   * The first line: the memories and episodes the cube holds as the export starts. Not a snapshot: the cube keeps
   * serving while the file is written, so a memory changed meanwhile is exported as it stood when its batch was read;
   * the end line counts exactly what the file holds.
   */
  headerLine(ref: CubeRef, options: ExportOptions): ExportHeaderLineWire {
    return {
      type: "header",
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      export_id: options.exportId,
      cube_id: ref.cubeId,
      owner: ref.owner,
      exported_at: toIso(options.now),
      embedder: options.embedderId,
      vectors: options.includeVectors,
      counts: {
        memories: Number(this.store.exec("SELECT count(*) AS n FROM memories")[0]?.n ?? 0),
        episodes: Number(this.store.exec("SELECT count(*) AS n FROM episodes")[0]?.n ?? 0),
      },
    };
  }

  /** Up to `limit` episodes after (`at`, `id`) in file order. */
  episodesAfter(at: number, id: string, limit: number): EpisodeToExport[] {
    return this.store
      .exec(
        "SELECT id, r2_key, received_at FROM episodes WHERE received_at > ? OR (received_at = ? AND id > ?) ORDER BY received_at, id LIMIT ?",
        at,
        at,
        id,
        limit,
      )
      .map((row) => ({ id: String(row.id), r2Key: String(row.r2_key), receivedAt: Number(row.received_at) }));
  }

  /** Up to `limit` memories after `cursor` (seq), with their versions, events and (when asked) vectors read now. */
  memoriesAfter(ref: CubeRef, cursor: number, limit: number, includeVectors: boolean, exportId: string): MemoryToExport[] {
    const rows = this.store.exec(
      "SELECT seq, id, subject_key, context, archive_key, state FROM memories WHERE seq > ? ORDER BY seq LIMIT ?",
      cursor,
      limit,
    );
    const ids = rows.map((row) => String(row.id));
    const memories = this.store.findMany(ref, ids);
    const versions = this.versionsOf(ids);
    const events = this.eventsOf(ids);
    return rows.map((row) => {
      const id = String(row.id);
      const archived = row.state === "archived" && row.archive_key != null;
      return {
        seq: Number(row.seq),
        id,
        archiveKey: archived ? String(row.archive_key) : null,
        line: (payload) => {
          const memory = memories.get(id);
          if (!memory) return null;
          if (memory.state === "archived" && !payload) console.error(`export ${exportId}: archived payload of ${id} is missing; exporting its preview`);
          const line: ExportMemoryLineWire = {
            type: "memory",
            memory: payload ? withoutPreviewFlag({ ...memory, content: payload.content }) : memory,
            subject_key: row.subject_key == null ? null : String(row.subject_key),
            context: String(row.context ?? ""),
            versions: payload ? payload.versions : (versions.get(id) ?? []),
            events: events.get(id) ?? [],
          };
          const vector = includeVectors ? this.vectors.get(id) : null;
          if (vector) line.vector = { embedder: vector.embedder, dimensions: vector.vector.length, encoding: "f32le-base64", data: encodeVector(vector.vector) };
          return line;
        },
      };
    });
  }

  /** The export file's body, or null when there is none. */
  async exportFile(ref: CubeRef, exportId: string): Promise<{ body: ReadableStream; bytes: number } | null> {
    const object = await this.bucket.get(exportKey(ref, exportId));
    return object ? { body: object.body, bytes: object.size } : null;
  }

  private versionsOf(ids: readonly string[]): Map<string, MemoryVersionWire[]> {
    const byMemory = new Map<string, MemoryVersionWire[]>();
    const rows = this.store.exec(
      "SELECT * FROM memory_versions WHERE memory_id IN (SELECT value FROM json_each(?)) ORDER BY memory_id, version",
      JSON.stringify(ids),
    );
    for (const row of rows) {
      const id = String(row.memory_id);
      const list = byMemory.get(id) ?? [];
      list.push(versionOfRow(row));
      byMemory.set(id, list);
    }
    return byMemory;
  }

  private eventsOf(ids: readonly string[]): Map<string, ExportEventWire[]> {
    const byMemory = new Map<string, ExportEventWire[]>();
    const rows = this.store.exec(
      "SELECT memory_id, at, type, version, actor, request_id, data FROM events WHERE memory_id IN (SELECT value FROM json_each(?)) ORDER BY seq",
      JSON.stringify(ids),
    );
    for (const row of rows) {
      const id = String(row.memory_id);
      const list = byMemory.get(id) ?? [];
      list.push({
        at: toIso(Number(row.at)),
        type: String(row.type),
        version: row.version == null ? null : Number(row.version),
        actor: String(row.actor),
        request_id: row.request_id == null ? null : String(row.request_id),
        data: JSON.parse(String(row.data)) as Record<string, unknown>,
      });
      byMemory.set(id, list);
    }
    return byMemory;
  }

  // ── deletion ───────────────────────────────────────────────────────────────────────────────────────────────

  /** Every memory id the cube holds and every id its vector index holds (the shared index may have any of them). */
  memoryAndVectorIds(): string[] {
    const ids = new Set(this.store.exec("SELECT id FROM memories").map((row) => String(row.id)));
    for (const embedder of this.vectors.embedderIds()) for (const id of this.vectors.ids(embedder)) ids.add(id);
    return [...ids];
  }
}

/** An episode's line, from its raw messages in R2. */
export function episodeLine(episode: StoredEpisode): ExportEpisodeLineWire {
  return {
    type: "episode",
    episode: {
      id: episode.id,
      owner_name: episode.owner_name,
      session_id: episode.session_id,
      metadata: episode.metadata,
      infer: episode.infer,
      received_at: toIso(episode.received_at),
      messages: episode.messages.map((m) => ({ id: m.id, role: m.role, name: m.name, content: m.content, created_at: m.createdAt === null ? null : toIso(m.createdAt) })),
    },
  };
}


export function encodeVector(vector: Float32Array): string {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64");
}

/** An archived memory exported with its whole content from R2: its content is no longer a preview. */
export function withoutPreviewFlag<T extends { content_preview?: true }>(memory: T): T {
  const { content_preview: _preview, ...rest } = memory;
  return rest as T;
}
