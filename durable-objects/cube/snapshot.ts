/**
 * MemStore snapshots (docs/memstore.md): what a cube publishes, written to R2 in the export format
 * (docs/export-format.md) so the snapshot cube and every fork load it with the ordinary importer (cube/import.ts).
 *
 * A snapshot is not an export: it carries only what a stranger may read. Of each publishable memory it keeps the
 * current content and header, as one `created` version; never episodes (raw conversations), older versions, events,
 * session context (its neighbours' text), provenance (keys, requests, episodes), watermarks or access counters — any
 * of those could carry what a sensitive memory said, or who wrote what. Sensitive memories are left out entirely.
 */
import type { ArchivedPayload } from "./lifecycle";
import { R2LineWriter, encodeVector, withoutPreviewFlag } from "./portability";
import type { CubeRef } from "./protocol";
import type { CubeStore } from "./store";
import type { VectorStore } from "./vector-store";
import { toIso } from "../../src/core/time";
import type { MemoryWire } from "../../src/schemas/memory";
import { EXPORT_FORMAT, EXPORT_VERSION, type ExportMemoryLineWire } from "../../src/schemas/portability";

/** Memories one snapshot read takes from SQL. */
const SNAPSHOT_BATCH = 200;

/**
 * The states a snapshot publishes: the live ones. Forgotten, expired, superseded and merged memories are history
 * the publisher kept for themselves.
 */
export const PUBLISHED_STATES = ["generated", "activated", "archived"] as const;

/**
 * A memory is sensitive when it carries any sensitivity label (`sensitivity: ["pii"]`, `["health"]`, …): the one
 * marker the memory header has for it. Sensitive memories are never published.
 */
export function isSensitive(memory: Pick<MemoryWire, "sensitivity">): boolean {
  return memory.sensitivity.length > 0;
}

/** The SQL twin of {@link isSensitive} and {@link PUBLISHED_STATES}: which rows a snapshot reads. */
const PUBLISHABLE = `state IN (${PUBLISHED_STATES.map((s) => `'${s}'`).join(", ")}) AND json_array_length(sensitivity) = 0`;

/** Where the snapshot is written and whose it becomes. */
export interface SnapshotTarget {
  /** The R2 key of the snapshot file (under the snapshot cube's exports/ prefix, so destroying that cube deletes it). */
  key: string;
  /** Names the file (the header's `export_id`): a fork or the snapshot cube recognises a file it loaded. */
  snapshotId: string;
  /** The snapshot cube: the header names it, not the live source cube. */
  cubeId: string;
  /** The owner every published memory gets. */
  owner: string;
  embedderId: string;
  now: number;
}

export interface SnapshotSummary {
  key: string;
  bytes: number;
  memories: number;
  vectors: number;
}

/**
 * A memory as published: the current header and content, its links to memories that may not be published cut,
 * provenance and counters reset. Null when it must not be published (sensitive, or not live).
 */
export function publishedMemory(memory: MemoryWire, owner: string): MemoryWire | null {
  if (isSensitive(memory) || !(PUBLISHED_STATES as readonly string[]).includes(memory.state)) return null;
  return {
    ...withoutPreviewFlag(memory),
    owner,
    session_id: null,
    source: { kind: "import", episode_id: null, message_ids: [], key_id: null, request_id: null },
    watermark: null,
    access_count: 0,
    last_accessed_at: null,
    supersedes: null,
    superseded_by: null,
  };
}

/** Writes the cube's publishable memories to R2 as one snapshot file; the cube itself is not changed. */
export async function writeSnapshot(
  store: CubeStore,
  vectors: VectorStore,
  bucket: R2Bucket,
  ref: CubeRef,
  target: SnapshotTarget,
): Promise<SnapshotSummary> {
  const writer = new R2LineWriter(bucket, target.key);
  const counts = { memories: 0, versions: 0, episodes: 0, vectors: 0 };
  try {
    const total = Number(store.exec(`SELECT count(*) AS n FROM memories WHERE ${PUBLISHABLE}`)[0]?.n ?? 0);
    await writer.write({
      type: "header",
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      export_id: target.snapshotId,
      cube_id: target.cubeId,
      owner: target.owner,
      exported_at: toIso(target.now),
      embedder: target.embedderId,
      vectors: true,
      counts: { memories: total, episodes: 0 },
    });
    for (let cursor = 0; ; ) {
      const rows = store.exec(
        `SELECT seq, id, archive_key, state FROM memories WHERE seq > ? AND ${PUBLISHABLE} ORDER BY seq LIMIT ?`,
        cursor,
        SNAPSHOT_BATCH,
      );
      if (rows.length === 0) break;
      cursor = Number(rows.at(-1)!.seq);
      const memories = store.findMany(ref, rows.map((row) => String(row.id)));
      for (const row of rows) {
        const stored = memories.get(String(row.id));
        if (!stored) continue;
        let content = stored.content;
        if (stored.state === "archived" && row.archive_key != null) {
          const payload = await bucket.get(String(row.archive_key)).then((object) => object?.json<ArchivedPayload>());
          // Without its payload only the preview is left: publishing a truncated memory would misquote it.
          if (!payload) continue;
          content = payload.content;
        }
        const memory = publishedMemory({ ...stored, content }, target.owner);
        if (!memory) continue;
        const line: ExportMemoryLineWire = {
          type: "memory",
          memory,
          subject_key: null,
          context: null,
          versions: [{ version: memory.version, change: "created", changed_at: memory.updated_at, actor: "memstore", request_id: null, memory }],
          events: [],
        };
        const vector = vectors.get(memory.id);
        if (vector) {
          line.vector = { embedder: vector.embedder, dimensions: vector.vector.length, encoding: "f32le-base64", data: encodeVector(vector.vector) };
          counts.vectors += 1;
        }
        await writer.write(line);
        counts.memories += 1;
        counts.versions += 1;
      }
    }
    await writer.write({ type: "end", counts });
    const bytes = await writer.close();
    return { key: target.key, bytes, memories: counts.memories, vectors: counts.vectors };
  } catch (error) {
    await writer.abort();
    throw error;
  }
}
