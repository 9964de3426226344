/**
 * MemStore snapshots (docs/memstore.md): what a cube publishes, written to R2 in the export format
 * (docs/export-format.md) so the snapshot cube and every fork load it with the ordinary importer (cube/import.ts).
 * The file is written by the export job's machinery (cube/export-job.ts, a `snapshot` job): the same bounded R2
 * calls per step, the same resumption after eviction, the same part writer; this module says which lines it holds.
 *
 * A snapshot is not an export: it carries only what a stranger may read. Of each publishable memory it keeps the
 * current content and header, as one `created` version; never episodes (raw conversations), older versions, events,
 * session context (its neighbours' text), provenance (keys, requests, episodes), watermarks or access counters — any
 * of those could carry what a sensitive memory said, or who wrote what. Sensitive memories are left out entirely.
 */
import type { CubeDurableObject } from "../cube";
import { PermanentError } from "./job-steps";
import type { MemoryToExport } from "./portability";
import { encodeVector, withoutPreviewFlag } from "./portability";
import type { CubeRef } from "./protocol";
import type { CubeStore } from "./store";
import type { VectorStore } from "./vector-store";
import { cubeObjectName } from "../../src/core/ids";
import { toIso } from "../../src/core/time";
import type { MemoryWire } from "../../src/schemas/memory";
import { EXPORT_FORMAT, EXPORT_VERSION, type ExportHeaderLineWire, type ExportMemoryLineWire } from "../../src/schemas/portability";

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

/** Where the snapshot is written and whose it becomes: a snapshot job's params (with the export job's own). */
export interface SnapshotTarget {
  /** The R2 key of the snapshot file (under the snapshot cube's exports/ prefix, so destroying that cube deletes it). */
  key: string;
  /** Names the file (the header's `export_id`) and both jobs: the writing one here, the loading one in the snapshot cube. */
  snapshotId: string;
  /** The snapshot cube: the header names it, not the live source cube; it loads the file once it is written. */
  cubeId: string;
  /** The owner every published memory gets. */
  owner: string;
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

/** The lines of a snapshot, read from the source cube a batch at a time; the cube itself is not changed. */
export class CubeSnapshots {
  constructor(
    private readonly store: CubeStore,
    private readonly vectors: VectorStore,
  ) {}

  /** The header: the publishable memories as the snapshot starts (the end line counts what the file holds). */
  headerLine(target: SnapshotTarget, embedderId: string, now: number): ExportHeaderLineWire {
    return {
      type: "header",
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      export_id: target.snapshotId,
      cube_id: target.cubeId,
      owner: target.owner,
      exported_at: toIso(now),
      embedder: embedderId,
      vectors: true,
      counts: { memories: Number(this.store.exec(`SELECT count(*) AS n FROM memories WHERE ${PUBLISHABLE}`)[0]?.n ?? 0), episodes: 0 },
    };
  }

  /** Up to `limit` publishable memories after `cursor` (seq), each a line once its archived payload (if any) is read. */
  memoriesAfter(ref: CubeRef, cursor: number, limit: number, owner: string): MemoryToExport[] {
    const rows = this.store.exec(`SELECT seq, id, archive_key, state FROM memories WHERE seq > ? AND ${PUBLISHABLE} ORDER BY seq LIMIT ?`, cursor, limit);
    const memories = this.store.findMany(ref, rows.map((row) => String(row.id)));
    return rows.map((row) => {
      const id = String(row.id);
      return {
        seq: Number(row.seq),
        id,
        archiveKey: row.state === "archived" && row.archive_key != null ? String(row.archive_key) : null,
        line: (payload) => {
          const stored = memories.get(id);
          if (!stored) return null;
          // Without its payload only the preview is left: publishing a truncated memory would misquote it.
          if (stored.state === "archived" && !payload) return null;
          const memory = publishedMemory(payload ? { ...stored, content: payload.content } : stored, owner);
          if (!memory) return null;
          const line: ExportMemoryLineWire = {
            type: "memory",
            memory,
            subject_key: null,
            context: null,
            versions: [{ version: memory.version, change: "created", changed_at: memory.updated_at, actor: "memstore", request_id: null, memory }],
            events: [],
          };
          const vector = this.vectors.get(id);
          if (vector) line.vector = { embedder: vector.embedder, dimensions: vector.vector.length, encoding: "f32le-base64", data: encodeVector(vector.vector) };
          return line;
        },
      };
    });
  }
}

/** The snapshot cube's reference: the publisher's tenant, a cube no route shows, every memory the snapshot owner's. */
export const snapshotCubeRef = (ref: Pick<CubeRef, "tenantId">, target: SnapshotTarget): CubeRef => ({ tenantId: ref.tenantId, cubeId: target.cubeId, owner: target.owner });

/**
 * Hands a written snapshot file to its snapshot cube: an import job there named `jobId` (the writing job's id), so the
 * listing's version finds it. A file the cube already loads answers its job; a refusal is the job's failure.
 */
export async function handSnapshotToCube(cubes: DurableObjectNamespace<CubeDurableObject>, ref: CubeRef, target: SnapshotTarget, jobId: string): Promise<void> {
  const snapshotRef = snapshotCubeRef(ref, target);
  const outcome = await cubes.getByName(cubeObjectName(snapshotRef.tenantId, snapshotRef.cubeId)).importFile(snapshotRef, { key: target.key, jobId }, { actor: "memstore", requestId: "" });
  if (!outcome.ok) throw new PermanentError(`the snapshot cube refused the snapshot file: ${outcome.message}`);
}

/** Destroys snapshot cubes, one call each (MemStore erasure's coordinator); a failure is logged and the rest go on. */
export async function destroySnapshotCubes(cubes: DurableObjectNamespace<CubeDurableObject>, refs: readonly CubeRef[]): Promise<void> {
  for (const ref of refs) {
    await cubes
      .getByName(cubeObjectName(ref.tenantId, ref.cubeId))
      .destroy(ref)
      .catch((error: unknown) => console.error(`memstore erasure: snapshot cube ${ref.cubeId} not destroyed`, error));
  }
}
