/**
 * Consolidation: near-duplicate memories merge into one survivor that keeps the provenance of all; the merged
 * ones move to `merged` and point to it (`superseded_by`). Nothing is deleted and every move is a version, so a
 * wrong merge is undone by rolling the merged memory back to a version from before it (cube/unmerge.ts): both sides
 * are restored and the pair is never merged again.
 *
 * "Near-duplicate" is deliberately strict, because merging two memories that differ in a fact is data loss:
 * same type, word sets at least 85% alike (Jaccard), the same numbers and the same negations. "Alice is 30" and
 * "Alice is 31" never merge; "Alice likes tea" and "Alice doesn't like tea" never merge.
 */
import { matchAny, searchTerms } from "../../src/core/fts-query";
import { transition } from "../../src/core/lifecycle";
import type { MemoryWire } from "../../src/schemas/memory";
import type { Outcome } from "../../src/errors";
import { type CubeRef, SYSTEM, type WriteMeta } from "./protocol";
import type { CubeStore } from "./store";
import { NOT_EXCLUDED, unmergeMemory } from "./unmerge";
import type { VectorStore } from "./vector-store";

/** Memories one consolidation step examines. */
export const CONSOLIDATE_BATCH = 100;
/** Lexical look-alikes compared with each examined memory. */
const CANDIDATES = 20;
export const MIN_JACCARD = 0.85;

const NEGATIONS = new Set(
  "not no never nor none nothing nobody cannot without t dont doesnt didnt isnt wasnt wont cant couldnt shouldnt wouldnt arent werent havent hasnt hadnt".split(" "),
);

/** Lower-cased words (letters and digits); "doesn't" yields "doesn" and "t", so negations stay visible. */
export function words(text: string): Set<string> {
  return new Set(text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
}

/** Whether two texts say the same thing in nearly the same words (see the module comment). */
export function nearDuplicate(a: string, b: string): boolean {
  const wa = words(a);
  const wb = words(b);
  if (wa.size === 0 || wb.size === 0) return false;
  const same = (pick: (w: string) => boolean) => {
    const pa = [...wa].filter(pick).sort().join(" ");
    const pb = [...wb].filter(pick).sort().join(" ");
    return pa === pb;
  };
  if (!same((w) => /\p{N}/u.test(w)) || !same((w) => NEGATIONS.has(w))) return false;
  let shared = 0;
  for (const w of wa) if (wb.has(w)) shared += 1;
  return shared / (wa.size + wb.size - shared) >= MIN_JACCARD;
}


export class CubeConsolidation {
  constructor(
    private readonly store: CubeStore,
    private readonly vectors: VectorStore,
  ) {}

  /**
   * Examines the memories after `cursor` (seq) and merges each one's near-duplicates into a survivor. Returns the
   * last seq examined, how many were examined, and the ids merged away.
   */
  step(ref: CubeRef, cursor: number, now: number): { cursor: number; examined: number; merged: string[] } {
    const batch = this.store.exec(
      `SELECT seq, id FROM memories WHERE seq > ? AND +state IN ('generated', 'activated') AND frozen = 0 ORDER BY seq LIMIT ?`,
      cursor,
      CONSOLIDATE_BATCH,
    );
    const merged: string[] = [];
    for (const row of batch) {
      const memory = this.store.find(ref, String(row.id));
      // Merged away earlier in this step, or changed meanwhile.
      if (!memory || (memory.state !== "generated" && memory.state !== "activated") || memory.frozen) continue;
      const group = [memory, ...this.lookAlikes(ref, memory)];
      if (group.length > 1) merged.push(...this.merge(ref, group, now));
    }
    const last = batch.at(-1);
    return { cursor: last ? Number(last.seq) : cursor, examined: batch.length, merged };
  }

  private lookAlikes(ref: CubeRef, memory: MemoryWire): MemoryWire[] {
    const match = matchAny(searchTerms(memory.content));
    if (match === null) return [];
    const ids = this.store
      .exec(
        `SELECT m.id FROM memories_fts JOIN memories m ON m.seq = memories_fts.rowid
          WHERE memories_fts MATCH ? AND m.id != ? AND m.type = ? AND +m.state IN ('generated', 'activated') AND m.frozen = 0
            AND ${NOT_EXCLUDED}
          ORDER BY bm25(memories_fts) LIMIT ?`,
        match,
        memory.id,
        memory.type,
        memory.id,
        memory.id,
        CANDIDATES,
      )
      .map((row) => String(row.id));
    return [...this.store.findMany(ref, ids).values()].filter((other) => nearDuplicate(memory.content, other.content));
  }

  /** Undoes the merge of `id` (a `merged` memory) by rolling it back to `toVersion`: cube/unmerge.ts. */
  unmerge(ref: CubeRef, id: string, toVersion: number, meta: WriteMeta, now: number): Outcome<MemoryWire> {
    return unmergeMemory(this.store, ref, id, toVersion, meta, now);
  }

  /**
   * The survivor is the most used memory of the group (then the most important, then the oldest): it is the one
   * callers already cite. It absorbs the others' provenance, tags, accesses and importance — and their sensitivity
   * labels: the survivor says what they said, so it is as sensitive as the most sensitive of them (a near duplicate
   * of a `pii` memory is `pii` too, and never published: cube/snapshot.ts).
   */
  private merge(ref: CubeRef, group: MemoryWire[], now: number): string[] {
    const [survivor, ...others] = [...group].sort(
      (a, b) =>
        b.access_count - a.access_count || b.importance - a.importance || Date.parse(a.created_at) - Date.parse(b.created_at) || (a.id < b.id ? -1 : 1),
    ) as [MemoryWire, ...MemoryWire[]];
    const mergedFrom = new Set(survivor.source.merged_from ?? []);
    const messageIds = new Set(survivor.source.message_ids);
    const tags = new Set(survivor.tags);
    const sensitivity = new Set(survivor.sensitivity);
    for (const other of others) {
      const to = transition(other.state, "merge")!;
      this.store.exec(
        "UPDATE memories SET state = ?, superseded_by = ?, pinned = 0, updated_at = ?, version = version + 1 WHERE id = ?",
        to,
        survivor.id,
        now,
        other.id,
      );
      this.store.recordVersion(ref, other.id, "merged", SYSTEM, now, {
        reason: `near-duplicate of ${survivor.id}`,
        from: other.state,
        to,
        survivor: survivor.id,
      });
      mergedFrom.add(other.id);
      for (const id of other.source.merged_from ?? []) mergedFrom.add(id);
      for (const id of other.source.message_ids) messageIds.add(id);
      for (const tag of other.tags) tags.add(tag);
      for (const label of other.sensitivity) sensitivity.add(label);
    }
    this.vectors.delete(others.map((o) => o.id));
    const source = { ...survivor.source, message_ids: [...messageIds], merged_from: [...mergedFrom] };
    this.store.exec(
      `UPDATE memories SET source = ?, tags = ?, sensitivity = ?, importance = ?, priority = ?, access_count = ?, state = ?, updated_at = ?,
         version = version + 1 WHERE id = ?`,
      JSON.stringify(source),
      JSON.stringify([...tags]),
      JSON.stringify([...sensitivity]),
      Math.max(survivor.importance, ...others.map((o) => o.importance)),
      Math.max(survivor.priority, ...others.map((o) => o.priority)),
      survivor.access_count + others.reduce((sum, o) => sum + o.access_count, 0),
      transition(survivor.state, "absorb")!,
      now,
      survivor.id,
    );
    this.store.recordVersion(ref, survivor.id, "absorbed", SYSTEM, now, {
      reason: `absorbed ${others.length} near-duplicate(s)`,
      merged: others.map((o) => o.id),
    });
    return others.map((o) => o.id);
  }
}
