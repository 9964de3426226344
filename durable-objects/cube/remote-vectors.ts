/**
 * Vectors in the shared index (Vectorize, in production) leave the cube's own vector store once the index serves them.
 *
 * Why: the cube's store keeps every vector in memory, and at bge-m3's 1,024 dimensions 100,000 memories would take
 * ~114 MB of the isolate's 128 MB (vector-store.ts). Vectorize shows a write only seconds later, so a new vector
 * stays local for read-your-writes, and search merges both. Here a row per vector sent records when it went and with
 * which embedder; the alarm fetches unconfirmed ones back from the index, and each that comes back equal to the local
 * copy is deleted locally. A vector the index still lacks after REPUSH_AFTER_MS (or whose send failed) is sent again.
 *
 * A confirmed row stays as the record of the vector's embedding space, so a reindex knows which memories to re-embed
 * without the vector itself. An export with vectors carries only the vectors still local; the import re-embeds the
 * rest. Local mode (no shared index) never writes here.
 *
 * While the index fails or has not yet shown what was sent, checks back off per cube (cube/backoff.ts): a check
 * that confirms nothing, or fails, waits 30 s, 60 s, … up to 30 min for the next; a send the index accepts resets the
 * wait. Without this the alarm re-armed for a check "due" in the past and fired again at once, forever (issue 17, 3).
 *
 * A cube with only a few vectors to send hands them to the vectors queue instead (`handed_at`, cube migration 22),
 * whose consumer upserts many cubes' vectors together and reports back (`handedSent`); from then on they are checked
 * as if the cube had sent them. Without a report REPUSH_AFTER_MS later, the cube takes them back and upserts them
 * itself (src/adapters/vector-queue.ts, src/services/vector-queue.ts; issue 17, item 8).
 */
import type { IndexProgress, UpsertReceipt, VectorIndex, VectorRecord } from "../../src/adapters/types";
import { Backoff } from "./backoff";
import { type HandedReport, HandedVectors, type VectorHandoff } from "./handed-vectors";
import type { VectorStore } from "./vector-store";

/**
 * How long new vectors wait to be sent, so that the writes of a busy cube go to the index together (issue 17, item 8):
 * one upsert per write request, across all cubes, made the index's mutation queue — and so the "seconds" of
 * eventual consistency — grow with write volume. Until sent, the cube's own store serves them.
 */
export const SEND_DELAY_MS = 2_000;
/** Vectors one alarm sends at most: 5 upserts of Vectorize's 1,000 per call (VECTORIZE_LIMITS.upsertBatch). */
export const SEND_BATCH = 5_000;
/** How long after a send the first check waits: Vectorize shows writes within seconds. */
export const CONFIRM_DELAY_MS = 30_000;
/** A vector the index still does not serve this long after its send is sent again. */
export const REPUSH_AFTER_MS = 15 * 60_000;
/** Vectors checked per alarm: 50 getByIds calls, well inside one invocation's subrequests. */
export const CONFIRM_BATCH = 1_000;
/** The index's copy counts as the local one at this cosine (the local store keeps int8, the index floats). */
const SAME_VECTOR = 0.99;

interface PendingRow {
  id: string;
  embedder: string;
  pushedAt: number;
}

export interface ConfirmResult {
  confirmed: number;
  resent: number;
}

/** See the file comment. */
export class RemoteVectors {
  /** The backoff of checks and re-sends while the index fails or lags. */
  readonly backoff: Backoff;
  private readonly handed: HandedVectors;

  constructor(
    private readonly sql: SqlStorage,
    private readonly vectors: VectorStore,
  ) {
    this.backoff = new Backoff(sql, "remote-vectors");
    this.handed = new HandedVectors(sql, vectors, this.backoff);
  }

  /** See HandedVectors.report (cube/handed-vectors.ts). */
  handedSent(ids: readonly string[], handedAt: number, sentAt: number, mutationId: string | null): HandedReport {
    return this.handed.report(ids, handedAt, sentAt, mutationId);
  }

  /**
   * Queues new vectors for the index: the alarm sends them, SEND_DELAY_MS after the oldest, with every other vector
   * queued meanwhile (`pushed_at` = 0 is "not sent": queued, or a send that failed).
   */
  queue(ids: readonly string[], embedder: string, now: number): void {
    if (ids.length === 0) return;
    this.sql.exec(
      `INSERT OR REPLACE INTO remote_vectors (id, embedder, pushed_at, confirmed_at, queued_at)
       SELECT value, ?, 0, NULL, ? FROM json_each(?)`,
      embedder,
      now,
      JSON.stringify(ids),
    );
  }

  /**
   * Sends the oldest queued vectors (up to SEND_BATCH) in as few upserts as the index allows; returns how many.
   * A failure leaves them queued and backs off. Vectors no longer in the cube's own store (deleted, or re-embedded
   * into another space, which queued its own) are dropped from the queue instead.
   */
  async send(index: VectorIndex, namespace: string, now: number, handoff: VectorHandoff | null = null): Promise<number> {
    if (!this.backoff.allows(now)) return 0;
    const rows = this.sql
      .exec(
        "SELECT id, embedder FROM remote_vectors WHERE pushed_at = 0 AND handed_at IS NULL AND confirmed_at IS NULL ORDER BY queued_at, id LIMIT ?",
        SEND_BATCH,
      )
      .toArray();
    if (rows.length === 0) return 0;
    const records: VectorRecord[] = [];
    for (const row of rows) {
      const local = this.vectors.get(String(row.id));
      if (local && local.embedder === String(row.embedder)) records.push({ id: String(row.id), vector: local.vector });
      else this.dropped([String(row.id)]);
    }
    if (records.length === 0) return 0;
    if (handoff && (await this.handed.hand(handoff, namespace, String(rows[0]!.embedder), records, now))) return records.length;
    let receipt: UpsertReceipt | void;
    try {
      receipt = await index.upsert(namespace, records);
    } catch (error) {
      this.backoff.failed(now);
      throw error;
    }
    // Only rows still queued as they were: a write during the upsert queued a newer vector, which goes next time.
    this.sql.exec(
      "UPDATE remote_vectors SET pushed_at = ?, mutation_id = ? WHERE pushed_at = 0 AND id IN (SELECT value FROM json_each(?))",
      now,
      receipt?.mutationId ?? null,
      JSON.stringify(records.map((r) => r.id)),
    );
    this.backoff.succeeded();
    return records.length;
  }

  /** Records vectors sent to the index at `at`, or not sent (`at` = 0: the next check sends them again). */
  sent(ids: readonly string[], embedder: string, at: number, mutationId: string | null = null): void {
    if (ids.length === 0) return;
    // One statement per batch (ids are short, so a write batch's JSON stays far below SQLite's value limit).
    this.sql.exec(
      `INSERT OR REPLACE INTO remote_vectors (id, embedder, pushed_at, confirmed_at, mutation_id)
       SELECT value, ?, ?, NULL, ? FROM json_each(?)`,
      embedder,
      at,
      mutationId,
      JSON.stringify(ids),
    );
  }

  /** Forgets vectors deleted from the index. */
  dropped(ids: readonly string[]): void {
    if (ids.length === 0) return;
    this.sql.exec("DELETE FROM remote_vectors WHERE id IN (SELECT value FROM json_each(?))", JSON.stringify(ids));
  }

  /** The embedder of a vector that lives only in the index now, or null. */
  confirmedEmbedder(id: string): string | null {
    const row = this.sql.exec("SELECT embedder FROM remote_vectors WHERE id = ? AND confirmed_at IS NOT NULL", id).toArray()[0];
    return row ? String(row.embedder) : null;
  }

  confirmedCount(): number {
    return Number(this.sql.exec("SELECT count(*) AS n FROM remote_vectors WHERE confirmed_at IS NOT NULL").one().n);
  }

  /** When the next check is due (ms), never before the backoff allows; null when every vector sent is confirmed. */
  nextCheck(): number | null {
    const sent = this.sql.exec("SELECT min(pushed_at) AS at FROM remote_vectors WHERE confirmed_at IS NULL AND pushed_at > 0").one();
    const queued = this.sql
      .exec("SELECT min(coalesce(queued_at, 0)) AS at FROM remote_vectors WHERE confirmed_at IS NULL AND pushed_at = 0 AND handed_at IS NULL")
      .one();
    const handed = this.sql.exec("SELECT min(handed_at) AS at FROM remote_vectors WHERE confirmed_at IS NULL AND pushed_at = 0").one();
    const times = [
      sent.at === null ? null : Number(sent.at) + CONFIRM_DELAY_MS,
      queued.at === null ? null : Number(queued.at) + SEND_DELAY_MS,
      handed.at === null ? null : Number(handed.at) + REPUSH_AFTER_MS,
    ];
    const due = times.filter((t) => t !== null);
    if (due.length === 0) return null;
    const notBefore = this.backoff.notBefore();
    return Math.max(Math.min(...due), notBefore ?? 0);
  }

  /**
   * Checks the oldest unconfirmed vectors against the index: confirmed ones leave the local store, lost ones go again.
   * Does nothing while backing off; a check that confirms nothing, or fails, backs off further.
   */
  async check(index: VectorIndex, namespace: string, now: number, handoff: VectorHandoff | null = null): Promise<ConfirmResult> {
    if (!this.backoff.allows(now)) return { confirmed: 0, resent: 0 };
    // Vectors taken back from the queue go to the index directly, under the cube's own backoff: handing them again
    // while the consumer cannot write would only pile up copies in the queue.
    const tookBack = this.handed.takeBack(now, REPUSH_AFTER_MS) > 0;
    // What is queued goes first, in batches; a failed send backs off and ends this check (one call per attempt).
    if (this.queuedDue(now)) await this.send(index, namespace, now, tookBack ? null : handoff);
    if (this.due(now - CONFIRM_DELAY_MS).length === 0) return { confirmed: 0, resent: 0 };
    let due: PendingRow[];
    try {
      // One describe() tells which sends the index has applied; only those are fetched back (20 ids a call), so a
      // lagging index costs one call per check, not up to 50.
      due = this.applied(this.due(now - CONFIRM_DELAY_MS), index.progress ? await index.progress() : null, now);
    } catch (error) {
      this.backoff.failed(now);
      throw error;
    }
    if (due.length === 0) {
      this.backoff.failed(now);
      return { confirmed: 0, resent: 0 };
    }
    try {
      const result = await this.checkDue(index, namespace, due, now);
      if (result.confirmed === 0 && result.resent === 0) this.backoff.failed(now);
      else this.backoff.succeeded();
      return result;
    } catch (error) {
      this.backoff.failed(now);
      throw error;
    }
  }

  private async checkDue(index: VectorIndex, namespace: string, due: PendingRow[], now: number): Promise<ConfirmResult> {
    const served = new Map((await index.fetch(namespace, due.map((row) => row.id))).map((r) => [r.id, r.vector]));

    let confirmed = 0;
    const resend: (VectorRecord & { embedder: string })[] = [];
    for (const row of due) {
      // Re-read after the await: a write may have replaced the vector (and its row) meanwhile.
      const current = this.row(row.id);
      const local = this.vectors.get(row.id);
      if (!current || current.pushedAt !== row.pushedAt) continue;
      if (!local || local.embedder !== row.embedder) {
        // Deleted, or re-embedded into another space (which sent, and recorded, its own vector).
        this.dropped([row.id]);
        continue;
      }
      const remote = served.get(row.id);
      if (remote && cosine(remote, local.vector) >= SAME_VECTOR) {
        this.vectors.delete([row.id]);
        this.sql.exec("UPDATE remote_vectors SET confirmed_at = ? WHERE id = ?", now, row.id);
        confirmed++;
      } else if (row.pushedAt <= now - REPUSH_AFTER_MS) {
        resend.push({ id: row.id, vector: local.vector, embedder: local.embedder });
      }
    }
    if (resend.length > 0) {
      const receipt = await index.upsert(namespace, resend);
      for (const record of resend) this.sent([record.id], record.embedder, now, receipt?.mutationId ?? null);
    }
    return { confirmed, resent: resend.length };
  }

  /**
   * The rows the index has applied: sent no later than the mutation `describe()` names as processed (mutations apply
   * in order), or than its processed time. An index without progress reports (or one that names none yet) is read
   * back as before; rows sent REPUSH_AFTER_MS ago are always read back, so a lost vector is found and sent again.
   */
  private applied(rows: PendingRow[], progress: IndexProgress | null, now: number): PendingRow[] {
    if (progress === null) return rows;
    const byMutation =
      progress.mutationId === null
        ? null
        : this.sql.exec("SELECT max(pushed_at) AS at FROM remote_vectors WHERE mutation_id = ?", progress.mutationId).one().at;
    const upTo = Math.max(byMutation == null ? 0 : Number(byMutation), progress.processedAt ?? 0);
    return rows.filter((row) => row.pushedAt <= upTo || row.pushedAt <= now - REPUSH_AFTER_MS);
  }

  /** Whether the oldest queued vector has waited SEND_DELAY_MS (the others go with it). */
  private queuedDue(now: number): boolean {
    const row = this.sql
      .exec("SELECT min(coalesce(queued_at, 0)) AS at FROM remote_vectors WHERE confirmed_at IS NULL AND pushed_at = 0 AND handed_at IS NULL")
      .one();
    return row.at !== null && Number(row.at) + SEND_DELAY_MS <= now;
  }

  private due(sentBefore: number): PendingRow[] {
    return this.sql
      .exec(
        "SELECT id, embedder, pushed_at FROM remote_vectors WHERE confirmed_at IS NULL AND pushed_at > 0 AND pushed_at <= ? ORDER BY pushed_at LIMIT ?",
        sentBefore,
        CONFIRM_BATCH,
      )
      .toArray()
      .map((row) => ({ id: String(row.id), embedder: String(row.embedder), pushedAt: Number(row.pushed_at) }));
  }

  private row(id: string): PendingRow | null {
    const row = this.sql.exec("SELECT id, embedder, pushed_at FROM remote_vectors WHERE id = ? AND confirmed_at IS NULL", id).toArray()[0];
    return row ? { id: String(row.id), embedder: String(row.embedder), pushedAt: Number(row.pushed_at) } : null;
  }
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
