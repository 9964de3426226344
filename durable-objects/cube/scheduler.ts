/**
 * MemScheduler's working memory: the small activated set a cube keeps hot and hands to the model first. It is
 * every pinned memory plus the best-scored of the memories most likely to matter now — the recently read, the
 * recently written — by priority, importance, access frequency and recency. Search gives the pinned and the read
 * ones a boost (the "working" channel; liftedBySearch, below) and context assembly puts them all first.
 *
 * Assembled from three index-served candidate lists (pins, last accessed, newest), never from a scan of the cube,
 * and cached until the cube changes or REFRESH_ACCESSES reads have happened. Counting reads rather than seconds
 * keeps search deterministic: with a timed cache, the same sequence of calls ranked differently on a busy machine
 * (bench recall moved by 0.006 between runs).
 */
import type { MemoryWire } from "../../src/schemas/memory";
import type { CubeRef } from "./protocol";
import type { CubeStore } from "./store";

/** Unpinned members of working memory; pins come on top. */
export const WORKING_MEMORY_SIZE = 20;
/** Candidates looked at from each recency list. */
const RECENTLY_ACCESSED = 100;
const RECENTLY_WRITTEN = 50;
/** Memory reads after which a computed working set is recomputed (writes recompute it at once). */
export const REFRESH_ACCESSES = 1000;
const DAY_MS = 86_400_000;

/** A working-memory score in [0, 1]: what the scheduler keeps hot when it has to choose. */
export function workingScore(memory: MemoryWire, now: number): number {
  const touched = Math.max(Date.parse(memory.updated_at), memory.last_accessed_at ? Date.parse(memory.last_accessed_at) : 0);
  const recency = Math.exp(-Math.max(0, now - touched) / (7 * DAY_MS));
  const frequency = Math.min(1, Math.log1p(memory.access_count) / Math.log1p(50));
  return 0.3 * (memory.priority / 100) + 0.25 * memory.importance + 0.2 * frequency + 0.25 * recency;
}

export interface WorkingMemoryItem {
  memory: MemoryWire;
  pinned: boolean;
  score: number;
}

export class CubeScheduler {
  private cached: { accesses: number; generation: number; items: WorkingMemoryItem[] } | null = null;

  constructor(private readonly store: CubeStore) {}

  /** Pinned first (by priority), then the best-scored, at most WORKING_MEMORY_SIZE of those. */
  workingMemory(ref: CubeRef, now: number, generation: number): WorkingMemoryItem[] {
    const cached = this.cached;
    if (cached && cached.generation === generation && this.store.accesses - cached.accesses < REFRESH_ACCESSES) return cached.items;
    const hot = `+state IN ('generated', 'activated')`;
    const ids = new Set<string>();
    const collect = (query: string, ...params: unknown[]) => {
      for (const row of this.store.exec(query, ...params)) ids.add(String(row.id));
    };
    collect(`SELECT id FROM memories WHERE pinned = 1 AND ${hot}`);
    // The recently read with the reads searches counted and the timer has not written yet merged in, not written
    // first: a write here would hold the answer of the search that happens to rebuild (docs/search.md, "Ninth pass").
    for (const id of this.store.lastRead(RECENTLY_ACCESSED, hot)) ids.add(id);
    collect(`SELECT id FROM memories WHERE ${hot} ORDER BY created_at DESC, seq DESC LIMIT ?`, RECENTLY_WRITTEN);
    // In the order collected (pinned, last read, last written): ties of score keep it, so a batch written at once and
    // never read ranks newest first rather than by its random ids (which made the `working` channel differ between
    // two runs of the same searches on the same writes: bench paraphrase, issue 12).
    const found = this.store.findMany(ref, [...ids]);
    const memories = [...ids].flatMap((id) => found.get(id) ?? []);
    const pinned = memories
      .filter((m) => m.pinned)
      .sort((a, b) => b.priority - a.priority || workingScore(b, now) - workingScore(a, now))
      .map((memory) => ({ memory, pinned: true, score: workingScore(memory, now) }));
    const scored = memories
      .filter((m) => !m.pinned)
      .map((memory) => ({ memory, pinned: false, score: workingScore(memory, now) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, WORKING_MEMORY_SIZE);
    const items = [...pinned, ...scored];
    this.cached = { accesses: this.store.accesses, generation, items };
    return items;
  }
}

/**
 * The members of working memory that search's `working` channel lifts: the pinned and those read at least once.
 * A member that is there only for being written lately (or for its importance) is already counted by the `recent`
 * channel and by the final score's recency and importance signals (core/scoring.ts); lifting it a third time put
 * the newest or most important memories above the vector channel's better neighbours (bench paraphrase, issue 12:
 * "Which promotion was Priya offered at her job?" lost its fact to the vector channel's fourth, lifted as working#18;
 * docs/search.md, "Eighth pass"). Context assembly still lists the whole of working memory.
 */
export function liftedBySearch(items: readonly WorkingMemoryItem[]): string[] {
  return items.filter((item) => item.pinned || item.memory.access_count > 0).map((item) => item.memory.id);
}
