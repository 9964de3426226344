/**
 * MemReader's write side inside a cube: episodes, and the conflict policy that turns a reader's candidates into
 * memories — append and supersede, never destroy. Per candidate:
 *
 * 1. an exact duplicate of a hot memory (same type, same text up to case, spacing and end punctuation) is a no-op,
 *    logged as an event on the existing memory;
 * 2. otherwise it is written; when it has a subject key and hot memories share that key, the one observed later
 *    wins: the earlier one moves to `superseded`, gets `invalid_at` and a pointer to its successor;
 * 3. every decision is an event with its reason. No model decision deletes anything.
 *
 * Synchronous SQL inside the Durable Object's transactions; the reader and the embedder run before.
 */
import { transition } from "../../src/core/lifecycle";
import type { ExtractedMemory, ExtractedType, ReaderMessage } from "../../src/core/reader/types";
import type { MemoryWire } from "../../src/schemas/memory";
import type { CubeRef, NewMemory, WriteMeta } from "./protocol";
import type { CubeStore } from "./store";
import { recordTurns } from "./turn-tier";
import type { VectorStore } from "./vector-store";

/** Messages one ingest step reads: a model call's worth, and one transaction. */
export const INGEST_WINDOW = 40;

/** An episode as kept in R2: the raw input, exactly as received (with the message ids it was given or got). */
export interface StoredEpisode {
  format: "memos-episode/1";
  id: string;
  cube_id: string;
  owner: string;
  owner_name: string;
  session_id: string | null;
  metadata: Record<string, unknown>;
  infer: boolean;
  received_at: number;
  messages: ReaderMessage[];
}

/** A reader's candidate, or (without inference) a message stored as it is. */
export type Candidate = Omit<ExtractedMemory, "type"> & { type: ExtractedType | "message" };

export interface WindowOutcome {
  /** Per candidate: the memory written, or null for a duplicate. */
  written: (MemoryWire | null)[];
  duplicates: string[];
  superseded: string[];
}

/** How much each kind matters by default: standing instructions and preferences shape every later answer. */
const IMPORTANCE: Record<Candidate["type"], number> = { instruction: 0.8, preference: 0.7, fact: 0.5, event: 0.5, message: 0.5 };

/** Without inference: one memory per message that says something, verbatim. */
export function verbatimCandidates(messages: readonly ReaderMessage[], receivedAt: number): Candidate[] {
  return messages
    .filter((m) => (m.role === "user" || m.role === "assistant") && m.content.trim() !== "")
    .map((m) => ({ content: m.content, type: "message", tags: [], validAt: m.createdAt ?? receivedAt, messageIds: [m.id], key: null }));
}

export class CubeIngest {
  constructor(
    private readonly store: CubeStore,
    private readonly vectors: VectorStore,
  ) {}

  /** The job that read an episode, if it was received before. */
  episodeJob(episodeId: string): string | null {
    const row = this.store.exec("SELECT job_id FROM episodes WHERE id = ?", episodeId)[0];
    return row ? String(row.job_id) : null;
  }

  recordEpisode(episode: StoredEpisode, r2Key: string, jobId: string): void {
    this.store.exec(
      "INSERT INTO episodes (id, job_id, r2_key, messages, received_at) VALUES (?, ?, ?, ?, ?)",
      episode.id,
      jobId,
      r2Key,
      episode.messages.length,
      episode.received_at,
    );
  }

  /** Applies the conflict policy to one window's candidates (see the module comment). */
  apply(ref: CubeRef, episode: StoredEpisode, reader: string, candidates: readonly Candidate[], meta: WriteMeta, now: number): WindowOutcome {
    const outcome: WindowOutcome = { written: [], duplicates: [], superseded: [] };
    const times = new Map(episode.messages.map((m) => [m.id, m.createdAt ?? episode.received_at]));
    /** Per candidate, the memory holding what it says (written, or the duplicate it repeated): what its turns cite. */
    const holders: (string | null)[] = [];
    for (const candidate of candidates) {
      const duplicate = this.store.findDuplicate(ref, candidate.type, candidate.content);
      if (duplicate) {
        this.store.recordEvent("memory.duplicate_ignored", duplicate.id, duplicate.version, meta, now, {
          reason: "an extracted memory repeated it exactly",
          episode: episode.id,
          message_ids: candidate.messageIds,
        });
        outcome.duplicates.push(duplicate.id);
        outcome.written.push(null);
        holders.push(duplicate.id);
        continue;
      }
      const observed = Math.max(...candidate.messageIds.map((id) => times.get(id) ?? episode.received_at));
      const item: NewMemory = {
        content: candidate.content,
        type: candidate.type,
        tags: [...new Set(candidate.tags)],
        metadata: { ...episode.metadata },
        sessionId: episode.session_id,
        validAt: candidate.validAt ?? observed,
        invalidAt: null,
        expiresAt: null,
        ttlSeconds: null,
        priority: 50,
        importance: IMPORTANCE[candidate.type],
        sensitivity: [],
        frozen: false,
        source: { kind: "extraction", episodeId: episode.id, messageIds: candidate.messageIds, reader },
        subjectKey: candidate.key,
      };
      let [memory] = this.store.insert(ref, [item], meta, now) as [MemoryWire];
      if (candidate.key !== null) memory = this.resolveKey(ref, memory, candidate.key, meta, now, outcome);
      outcome.written.push(memory);
      holders.push(memory.id);
    }
    // Infer mode rewrote the turns: keep the ones cited searchable as said (cube/turn-tier.ts). Verbatim
    // memories are the turns already.
    if (episode.infer) recordTurns(this.store, episode, candidates, holders);
    return outcome;
  }

  /**
   * The memories about the same subject: whichever was observed later (valid_at, else created_at) stays live and
   * the other is superseded by it — so ingesting old conversations after new ones never turns back the clock.
   */
  private resolveKey(ref: CubeRef, memory: MemoryWire, key: string, meta: WriteMeta, now: number, outcome: WindowOutcome): MemoryWire {
    const observedAt = (m: MemoryWire) => Date.parse(m.valid_at ?? m.created_at);
    let current = memory;
    for (const other of this.store.findByKey(ref, key)) {
      if (other.id === memory.id) continue;
      const [older, newer] = observedAt(other) <= observedAt(current) ? [other, current] : [current, other];
      if (older.frozen) {
        this.store.recordEvent("memory.conflict_kept", older.id, older.version, meta, now, {
          reason: `frozen: not superseded by ${newer.id} (same subject ${key})`,
        });
        continue;
      }
      this.supersede(ref, older, newer, key, meta, now, newer.id === memory.id);
      outcome.superseded.push(older.id);
      if (older.id === current.id) break;
    }
    return this.store.find(ref, memory.id)!;
  }

  /** `fresh`: the successor was written in this transaction (so its `supersedes` is part of its creation). */
  private supersede(ref: CubeRef, older: MemoryWire, newer: MemoryWire, key: string, meta: WriteMeta, now: number, fresh: boolean): void {
    const to = transition(older.state, "supersede")!;
    const invalidAt = Date.parse(newer.valid_at ?? newer.created_at);
    this.store.exec(
      `UPDATE memories SET state = ?, superseded_by = ?, invalid_at = coalesce(invalid_at, ?), updated_at = ?, version = version + 1
        WHERE id = ?`,
      to,
      newer.id,
      invalidAt,
      now,
      older.id,
    );
    this.store.recordVersion(ref, older.id, "superseded", meta, now, {
      reason: `same subject (${key}), observed later in ${newer.id}`,
      from: older.state,
      to,
      successor: newer.id,
    });
    // A successor written in this transaction names what it replaced, in its creation snapshot too. (An existing
    // successor — when the incoming memory was older news — keeps its header; the older one points to it.)
    if (fresh) {
      this.store.exec("UPDATE memories SET supersedes = ? WHERE id = ?", older.id, newer.id);
      this.store.exec(
        "UPDATE memory_versions SET snapshot = ? WHERE memory_id = ? AND version = 1",
        JSON.stringify(this.store.find(ref, newer.id)),
        newer.id,
      );
    }
    this.store.recordEvent("memory.supersedes", newer.id, newer.version, meta, now, { reason: `same subject (${key})`, superseded: older.id });
    this.vectors.delete([older.id]);
  }
}
