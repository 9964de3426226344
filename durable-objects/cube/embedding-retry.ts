/**
 * Memories whose embedding failed (a Workers AI 429, an outage) get their vectors later, with backoff (issue 17,
 * item 7). A failed embedding of a write is stored without a vector and counts as a failure of the cube's
 * "embeddings" backoff (cube/backoff.ts); once the backoff allows, the alarm starts a `reindex` job, which embeds
 * every live memory that lacks a vector in the current space, in batches, with its own per-step retries. A reindex
 * that finishes after the last failure clears the backoff; one that fails for good, or a new failure meanwhile,
 * leaves it, and the next attempt waits twice as long (30 s, 60 s, … 30 min) — until every memory has its vector.
 */
import { Backoff } from "./backoff";
import type { CubeJobs } from "./jobs";
import type { CubeRef } from "./protocol";

export const EMBEDDINGS_BACKOFF = "embeddings";

export class EmbeddingRetry {
  private readonly backoff: Backoff;

  constructor(
    private readonly sql: SqlStorage,
    private readonly jobs: CubeJobs,
  ) {
    this.backoff = new Backoff(sql, EMBEDDINGS_BACKOFF);
  }

  /** The alarm's part: clears a recovered backoff, or starts the retrying reindex once the backoff allows. */
  run(ref: CubeRef, now: number, reindexTotal: () => number): void {
    const state = this.backoff.state();
    if (!state) return;
    const latest = this.sql
      .exec("SELECT status, created_at FROM jobs WHERE type = 'reindex' ORDER BY created_at DESC, rowid DESC LIMIT 1")
      .toArray()[0];
    if (latest && (latest.status === "queued" || latest.status === "running")) return;
    if (latest && latest.status === "done" && Number(latest.created_at) >= state.lastAttemptAt) {
      this.backoff.succeeded();
      return;
    }
    if (!this.backoff.allows(now)) return;
    // Counted as an attempt before it runs: if it does not fix everything, the next one waits longer.
    this.backoff.failed(now);
    this.jobs.start(ref, "reindex", reindexTotal(), now);
  }

  /** When the alarm should next look (the backoff's end), or null when no embedding is waiting for a retry. */
  nextAt(): number | null {
    return this.backoff.notBefore();
  }
}
