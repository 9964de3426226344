/**
 * Provenance of one memory: where it came from (source, the episode's cited messages), who wrote it (the watermark,
 * checked), where an imported one was before, and how it got to its state (its events, oldest first).
 */
import { toIso } from "../../src/core/time";
import type { MemoryState } from "../../src/core/lifecycle";
import type { MemoryWire } from "../../src/schemas/memory";
import type { DerivationStepWire, ProvenanceWire } from "../../src/schemas/portability";
import { episodeKey } from "./r2-keys";
import type { StoredEpisode } from "./ingest";
import type { CubeRef } from "./protocol";
import type { CubeStore } from "./store";
import { parseWatermark, type Watermarker } from "./watermark";

/** Events a provenance answer lists at most (a memory pinned and unpinned all day has many). */
const MAX_EVENTS = 1000;

export class CubeProvenance {
  constructor(
    private readonly store: CubeStore,
    private readonly bucket: R2Bucket,
    private readonly watermarks: Watermarker | null,
  ) {}

  /** The provenance of a memory in any state but purged, or null. Archived memories must be restored first. */
  async of(ref: CubeRef, id: string): Promise<ProvenanceWire | null> {
    const memory = this.store.find(ref, id);
    if (!memory) return null;
    const events = this.store
      .exec("SELECT at, type, version, actor, request_id, data FROM events WHERE memory_id = ? ORDER BY seq LIMIT ?", id, MAX_EVENTS)
      .map((row) => ({
        at: Number(row.at),
        type: String(row.type),
        version: row.version == null ? null : Number(row.version),
        actor: String(row.actor),
        requestId: row.request_id == null ? null : String(row.request_id),
        data: JSON.parse(String(row.data)) as Record<string, unknown>,
      }));
    const signed = memory.watermark === null ? null : parseWatermark(memory.watermark);
    const imported = [...events].reverse().find((e) => e.type === "memory.imported");
    return {
      memory_id: id,
      cube_id: ref.cubeId,
      state: memory.state,
      version: memory.version,
      source: memory.source,
      writer: {
        key_id: signed?.keyId ?? memory.source.key_id,
        version: signed?.version ?? null,
        watermark: memory.watermark,
        // The watermark vouches for the text the row holds now: state changes after it (forget, supersede, merge)
        // never touch the content, so any difference is a change made outside the API.
        verified: this.verify(memory.watermark, memory.state === "expired" ? null : () => memory.content, id),
      },
      imported_from: imported ? this.importedFrom(memory, imported.at, imported.data) : null,
      episode: await this.episode(ref, memory),
      links: { supersedes: memory.supersedes, superseded_by: memory.superseded_by, merged_from: memory.source.merged_from ?? [] },
      derivation: events.map((event) => step(event)),
    };
  }

  /** true / false: the watermark is / is not this server's for the content; null: nothing can be checked. */
  private verify(watermark: string | null, contentAt: ((version: number) => string | null) | null, memoryId: string): boolean | null {
    if (watermark === null || contentAt === null || this.watermarks === null) return null;
    const parsed = parseWatermark(watermark);
    if (!parsed) return false;
    const content = contentAt(parsed.version);
    return content === null ? null : this.watermarks.verify(parsed, memoryId, content);
  }

  /** The memory's text at `version`: its current text, or the version's snapshot (null when that is gone). */
  private contentAt(memory: MemoryWire, version: number): string | null {
    if (version === memory.version) return memory.content;
    const row = this.store.exec("SELECT snapshot FROM memory_versions WHERE memory_id = ? AND version = ?", memory.id, version)[0];
    return row ? (JSON.parse(String(row.snapshot)) as MemoryWire).content : null;
  }

  private importedFrom(memory: MemoryWire, at: number, data: Record<string, unknown>): ProvenanceWire["imported_from"] {
    const text = (value: unknown) => (typeof value === "string" ? value : null);
    const sourceMemory = text(data.source_memory) ?? "";
    const watermark = text(data.source_watermark);
    return {
      export_id: text(data.export_id) ?? "",
      cube_id: text(data.source_cube) ?? "",
      memory_id: sourceMemory,
      kind: text(data.source_kind) ?? "api",
      key_id: text(data.source_key_id),
      watermark,
      // Versions keep their numbers through an import, so the original signature is checked against the same version.
      verified: this.verify(watermark, memory.state === "expired" ? null : (v) => this.contentAt(memory, v), sourceMemory),
      imported_at: toIso(at),
    };
  }

  private async episode(ref: CubeRef, memory: MemoryWire): Promise<ProvenanceWire["episode"]> {
    const id = memory.source.episode_id;
    if (id === null) return null;
    const object = /^ep_[0-9a-f]{32}$/.test(id) ? await this.bucket.get(episodeKey(ref, id)) : null;
    if (!object) return { id, found: false, session_id: null, received_at: null, messages: [] };
    const episode = await object.json<StoredEpisode>();
    const cited = new Set(memory.source.message_ids);
    return {
      id,
      found: true,
      session_id: episode.session_id,
      received_at: toIso(episode.received_at),
      messages: episode.messages
        .filter((m) => cited.has(m.id))
        .map((m) => ({ id: m.id, role: m.role, name: m.name, content: m.content, created_at: m.createdAt === null ? null : toIso(m.createdAt) })),
    };
  }
}

const STATES = new Set<string>(["generated", "activated", "archived", "expired", "superseded", "merged", "forgotten"]);

function step(event: { at: number; type: string; version: number | null; actor: string; requestId: string | null; data: Record<string, unknown> }): DerivationStepWire {
  const { data } = event;
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  const state = (value: unknown) => (typeof value === "string" && STATES.has(value) ? (value as MemoryState) : null);
  const merged = Array.isArray(data.merged) ? data.merged.filter((m): m is string => typeof m === "string") : undefined;
  const result: DerivationStepWire = {
    event: event.type,
    at: toIso(event.at),
    version: event.version,
    actor: event.actor,
    request_id: event.requestId,
    reason: text(data.reason) ?? null,
    from: state(data.from),
    to: state(data.to),
  };
  const successor = text(data.successor);
  const superseded = text(data.superseded);
  const survivor = text(data.survivor);
  const exportId = text(data.export_id);
  const sourceMemory = text(data.source_memory);
  if (successor) result.successor = successor;
  if (superseded) result.superseded = superseded;
  if (survivor) result.survivor = survivor;
  if (merged) result.merged = merged;
  if (typeof data.rolled_back_to === "number") result.rolled_back_to = data.rolled_back_to;
  if (exportId) result.export_id = exportId;
  if (sourceMemory) result.source_memory = sourceMemory;
  const fromExport = text(data.imported_from);
  if (fromExport) result.from_export = fromExport;
  return result;
}
