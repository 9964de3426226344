/**
 * The cube's side of the vectors queue (issue 17, item 8; src/adapters/vector-queue.ts, src/services/vector-queue.ts):
 * a cube with only a few vectors to send hands them to the queue instead of upserting them (`handed_at`, cube
 * migration 22); the consumer upserts many cubes' vectors together and reports back, after which the rows are
 * `pushed_at`/`mutation_id` rows like any other (cube/remote-vectors.ts checks them). Rows handed with no report for
 * REPUSH_AFTER_MS are taken back.
 */
import type { VectorRecord } from "../../src/adapters/types";
import { type VectorQueue, fitsOneSend, handVectors, vectorMessages } from "../../src/adapters/vector-queue";
import type { Backoff } from "./backoff";
import type { VectorStore } from "./vector-store";

/** Where a cube may hand its vectors instead of upserting them itself (src/adapters/vector-queue.ts). */
export interface VectorHandoff {
  queue: VectorQueue;
  tenantId: string;
}

/** What a cube made of the consumer's report (see `report`). */
export interface HandedReport {
  recorded: number;
  orphans: string[];
}

/** See the file comment. */
export class HandedVectors {
  constructor(
    private readonly sql: SqlStorage,
    private readonly vectors: VectorStore,
    private readonly backoff: Backoff,
  ) {}

  /**
   * Hands a few vectors of one embedding space to the vectors queue, whose consumer upserts them with other cubes'
   * (src/adapters/vector-queue.ts); false, sending nothing, when they would take more than one `sendBatch` — the cube
   * then upserts them itself. A failed send backs off and throws, like a failed upsert.
   */
  async hand(handoff: VectorHandoff, namespace: string, embedder: string, records: VectorRecord[], now: number): Promise<boolean> {
    const ids = records.map((r) => r.id);
    if (ids.some((id) => this.vectors.get(id)?.embedder !== embedder)) return false;
    const messages = vectorMessages({ tenant_id: handoff.tenantId, cube_id: namespace, embedder, handed_at: now }, records);
    if (!fitsOneSend(messages)) return false;
    try {
      await handVectors(handoff.queue, messages);
    } catch (error) {
      this.backoff.failed(now);
      throw error;
    }
    // Only rows still queued as they were (as in RemoteVectors.send: a write meanwhile queued a newer vector).
    this.sql.exec(
      "UPDATE remote_vectors SET handed_at = ? WHERE pushed_at = 0 AND handed_at IS NULL AND id IN (SELECT value FROM json_each(?))",
      now,
      JSON.stringify(ids),
    );
    this.backoff.succeeded();
    return true;
  }

  /**
   * The vectors queue's consumer upserted vectors this cube handed it at `handedAt`: they count as sent at `sentAt` by
   * mutation `mutationId` from now on, and are checked as if the cube had sent them. A vector re-queued since (a
   * newer write) or already taken back is left alone. Returns how many rows it moved, and the ids whose memory the
   * cube no longer holds (purged or destroyed while the message waited): the consumer deletes those again, since its
   * upsert may have come after the cube's own delete.
   */
  report(ids: readonly string[], handedAt: number, sentAt: number, mutationId: string | null): HandedReport {
    if (ids.length === 0) return { recorded: 0, orphans: [] };
    const list = JSON.stringify(ids);
    const recorded = this.sql.exec(
      `UPDATE remote_vectors SET pushed_at = ?, mutation_id = ?, handed_at = NULL
       WHERE handed_at = ? AND pushed_at = 0 AND confirmed_at IS NULL AND id IN (SELECT value FROM json_each(?))`,
      sentAt,
      mutationId,
      handedAt,
      list,
    ).rowsWritten;
    const orphans = this.sql
      .exec("SELECT value AS id FROM json_each(?) WHERE value NOT IN (SELECT id FROM memories)", list)
      .toArray()
      .map((row) => String(row.id));
    return { recorded, orphans };
  }

  /**
   * Vectors handed to the queue `after` ms ago with no report are queued again (lost message, dead letter); returns
   * how many.
   */
  takeBack(now: number, after: number): number {
    return this.sql.exec("UPDATE remote_vectors SET handed_at = NULL WHERE handed_at IS NOT NULL AND handed_at <= ? AND pushed_at = 0", now - after).rowsWritten;
  }
}
