/**
 * MemLifecycle inside a cube: every move of a memory between states (core/lifecycle.ts decides which are legal),
 * each recorded as a version and/or an event with its actor and reason. Synchronous SQL inside the Durable
 * Object's transactions, like the store; R2 and model calls happen in the Durable Object around them.
 */
import { type LifecycleAction, type MemoryState, refusal, transition } from "../../src/core/lifecycle";
import { type Outcome, fail, ok } from "../../src/errors";
import { LIMITS } from "../../src/schemas/limits";
import type { MemoryVersionWire, MemoryWire } from "../../src/schemas/memory";
import { type CubeRef, SYSTEM, type WriteMeta } from "./protocol";
import type { CubeStore } from "./store";
import type { VectorStore } from "./vector-store";

/**
 * Memories that can still expire, through the partial index of exactly those (migration 6). The terms repeat the
 * index's WHERE literally, which a partial index needs, and INDEXED BY holds the plan there: left to itself,
 * SQLite picks the state index and sorts the whole cube. Exported so a test can check the plans.
 */
const EXPIRING = `memories INDEXED BY memories_expiring
  WHERE expires_at IS NOT NULL AND state IN ('generated', 'activated', 'archived') AND frozen = 0`;
export const EXPIRE_DUE_SQL = `SELECT id FROM ${EXPIRING} AND expires_at <= ? ORDER BY expires_at LIMIT ?`;
export const NEXT_EXPIRY_SQL = `SELECT min(expires_at) AS t FROM ${EXPIRING}`;

/** Archive candidates: hot, not frozen or pinned, importance ≤ ?, untouched (read or written) since ?. */
const COLD = `+state IN ('generated', 'activated') AND frozen = 0 AND pinned = 0 AND importance <= ?
  AND max(updated_at, coalesce(last_accessed_at, 0)) < ?`;

/** Memories one expiry pass handles; the alarm comes straight back for the rest. */
export const EXPIRE_BATCH = 200;
/** Pins per cube: a documented limit, so it lives with the others (src/schemas/limits.ts). */
export const MAX_PINS = LIMITS.pinsPerCube;
/** Characters of an archived memory that stay in the cube, so search still finds it (and restores it on a hit). */
export const ARCHIVE_PREVIEW_CHARS = 280;


/** An archived memory's R2 object: everything the row gave up, to be put back on restore. */
export interface ArchivedPayload {
  format: "memos-archive/1";
  memory_id: string;
  version: number;
  content: string;
  versions: MemoryVersionWire[];
}

/** Which memories are cold enough to archive (README "Configuration": ARCHIVE_AFTER_DAYS, ARCHIVE_MAX_IMPORTANCE). */
export interface ArchivePolicy {
  /** ms: neither read nor written since then. */
  coldBefore: number;
  maxImportance: number;
}

export interface CubeStats {
  states: Record<MemoryState, number>;
  pinned: number;
  bytes: { hot: number; cold: number };
}

export class CubeLifecycle {
  constructor(
    private readonly store: CubeStore,
    private readonly vectors: VectorStore,
  ) {}

  /** Soft delete: the memory leaves reads and search, its versions stay (rollback brings it back). */
  forget(ref: CubeRef, id: string, meta: WriteMeta, now: number): Outcome<MemoryWire> {
    const current = this.store.find(ref, id);
    if (!current || current.state === "forgotten") return fail("not_found", "memory not found");
    if (current.frozen) return fail("memory_frozen", "memory is frozen: unfreeze it before deleting");
    return this.move(ref, current, "forget", meta, now, "deleted on request");
  }

  // ── expiry ─────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Expires up to `limit` memories whose time has come (overdue ones included). TTL exists so that data stops
   * existing: the payload, tags, metadata, versions and vectors go; a stub (id, type, times, provenance ids, state)
   * and an event remain for audit. Returns the ids expired.
   */
  expireDue(ref: CubeRef, now: number, limit = EXPIRE_BATCH): string[] {
    const due = this.store.exec(EXPIRE_DUE_SQL, now, limit).map((row) => String(row.id));
    for (const id of due) {
      const current = this.store.find(ref, id)!;
      const to = transition(current.state, "expire")!;
      const neighbours = this.store.sessionNeighbours(current);
      // archive_key stays until the alarm has deleted the R2 object (archivesToDelete), so a restart cannot orphan it.
      this.store.exec(
        `UPDATE memories SET state = ?, content = '', tags = '[]', metadata = '{}', context = '', archived_bytes = 0,
           pinned = 0, updated_at = ?, version = version + 1 WHERE id = ?`,
        to,
        now,
        id,
      );
      // Its neighbours' indexed context must not keep the expired text either.
      this.store.refreshContexts(neighbours);
      this.store.exec("DELETE FROM memory_versions WHERE memory_id = ?", id);
      this.store.recordVersion(ref, id, "expired", SYSTEM, now, { reason: "ttl elapsed", from: current.state, to });
    }
    if (due.length > 0) this.vectors.delete(due);
    return due;
  }

  /** R2 objects of memories that expired while archived: the alarm deletes them, then forgets the key. */
  archivesToDelete(limit = EXPIRE_BATCH): { id: string; key: string }[] {
    return this.store
      .exec("SELECT id, archive_key FROM memories WHERE archive_key IS NOT NULL AND +state != 'archived' LIMIT ?", limit)
      .map((row) => ({ id: String(row.id), key: String(row.archive_key) }));
  }

  archiveDeleted(id: string): void {
    this.store.exec("UPDATE memories SET archive_key = NULL WHERE id = ? AND state != 'archived'", id);
  }

  /** When the next memory expires (possibly already overdue), or null. */
  nextExpiry(): number | null {
    const t = this.store.exec(NEXT_EXPIRY_SQL)[0]?.t;
    return t == null ? null : Number(t);
  }

  // ── time machine ───────────────────────────────────────────────────────────────────────────────────────────

  /** The snapshot of a memory's version, or null. */
  version(id: string, version: number): MemoryWire | null {
    const row = this.store.exec("SELECT snapshot FROM memory_versions WHERE memory_id = ? AND version = ?", id, version)[0];
    return row ? (JSON.parse(String(row.snapshot)) as MemoryWire) : null;
  }

  /** The memory as it stood at `asOf` (ms): its latest version written then, or null if it did not exist yet. */
  asOf(id: string, asOf: number): MemoryWire | null {
    const row = this.store.exec(
      "SELECT snapshot FROM memory_versions WHERE memory_id = ? AND changed_at <= ? ORDER BY version DESC LIMIT 1",
      id,
      asOf,
    )[0];
    return row ? (JSON.parse(String(row.snapshot)) as MemoryWire) : null;
  }

  /**
   * Rolls a memory back to an earlier version's payload and header. Nothing is overwritten: the rollback is a new
   * version, so it can itself be rolled back. Also undoes a soft delete.
   */
  rollback(ref: CubeRef, id: string, toVersion: number, meta: WriteMeta, now: number): Outcome<MemoryWire> {
    const current = this.store.find(ref, id);
    if (!current) return fail("not_found", "memory not found");
    if (current.frozen) return fail("memory_frozen", "memory is frozen: unfreeze it before rolling it back");
    const to = transition(current.state, "rollback");
    if (!to) return fail("conflict", refusal(current.state, "rollback"));
    const target = this.version(id, toVersion);
    if (!target) return fail("not_found", `memory has no version ${toVersion}`);
    if (toVersion === current.version) return fail("conflict", `version ${toVersion} is the current version`);

    const formerNeighbours = this.store.sessionNeighbours(current);
    this.store.restoreHeader(id, target, to, now, false);
    // Old neighbours lose the replaced text (or this memory left their session); new ones gain the restored text.
    this.store.refreshContexts(formerNeighbours);
    this.store.refreshSessionContext(id);
    return ok(
      this.store.recordVersion(ref, id, "rolled_back", meta, now, {
        reason: `rolled back to version ${toVersion}`,
        from: current.state,
        to,
        rolled_back_to: toVersion,
      }),
    );
  }

  // ── working memory pins ────────────────────────────────────────────────────────────────────────────────────

  /**
   * Pins (or unpins) a live memory into working memory. A pin is scheduling state, like an access count: it is an
   * event, not a new version, and it is allowed on frozen memories.
   */
  pin(ref: CubeRef, id: string, pinned: boolean, meta: WriteMeta, now: number): Outcome<MemoryWire> {
    const current = this.store.find(ref, id);
    if (!current || current.state === "forgotten") return fail("not_found", "memory not found");
    if (current.state !== "generated" && current.state !== "activated" && current.state !== "archived") {
      return fail("conflict", `a memory in state ${current.state} cannot be ${pinned ? "pinned" : "unpinned"}`);
    }
    if (current.pinned === pinned) return ok(current);
    if (pinned && this.pinCount() >= MAX_PINS) {
      return fail("conflict", `a cube holds at most ${MAX_PINS} pins: unpin one first`);
    }
    this.store.exec("UPDATE memories SET pinned = ? WHERE id = ?", pinned ? 1 : 0, id);
    this.store.recordEvent(pinned ? "memory.pinned" : "memory.unpinned", id, current.version, meta, now, {
      reason: pinned ? "pinned into working memory" : "unpinned",
    });
    return ok({ ...current, pinned });
  }

  pinCount(): number {
    return Number(this.store.exec("SELECT count(*) AS n FROM memories WHERE pinned = 1")[0]?.n ?? 0);
  }

  // ── archive ────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Memories cold enough to archive: hot, not frozen or pinned, of low importance, and neither read nor written
   * since `coldBefore`. Oldest first.
   */
  archiveCandidates(policy: ArchivePolicy, afterSeq: number, limit: number): { id: string; seq: number }[] {
    return this.store
      .exec(`SELECT id, seq FROM memories WHERE seq > ? AND ${COLD} ORDER BY seq LIMIT ?`, afterSeq, policy.maxImportance, policy.coldBefore, limit)
      .map((row) => ({ id: String(row.id), seq: Number(row.seq) }));
  }

  archiveCandidateCount(policy: ArchivePolicy): number {
    return Number(this.store.exec(`SELECT count(*) AS n FROM memories WHERE ${COLD}`, policy.maxImportance, policy.coldBefore)[0]?.n ?? 0);
  }

  /** What goes to R2 when `id` is archived: its full content and every version. */
  archivePayload(id: string): ArchivedPayload | null {
    const row = this.store.exec("SELECT content, version, state FROM memories WHERE id = ?", id)[0];
    if (!row) return null;
    return {
      format: "memos-archive/1",
      memory_id: id,
      version: Number(row.version),
      content: String(row.content),
      versions: this.store.history(id),
    };
  }

  /**
   * After the payload is safely in R2: the row keeps a preview (still searchable), its versions leave the cube.
   * Refused when the memory changed since the payload was read (its version moved on), so nothing written in
   * between is lost.
   */
  markArchived(ref: CubeRef, payload: ArchivedPayload, key: string, bytes: number, now: number): Outcome<MemoryWire> {
    const current = this.store.find(ref, payload.memory_id);
    if (!current || current.version !== payload.version) return fail("conflict", "memory changed while it was archived");
    if (current.frozen || current.pinned) return fail("conflict", "memory is frozen or pinned");
    const to = transition(current.state, "archive");
    if (!to) return fail("conflict", refusal(current.state, "archive"));
    this.store.exec(
      "UPDATE memories SET content = ?, state = ?, archive_key = ?, archived_bytes = ? WHERE id = ?",
      preview(payload.content),
      to,
      key,
      bytes,
      current.id,
    );
    indexArchivedText(this.store, current.id, payload.content);
    this.store.exec("DELETE FROM memory_versions WHERE memory_id = ?", current.id);
    this.store.recordEvent("memory.archived", current.id, current.version, SYSTEM, now, {
      reason: "cold and of low importance",
      from: current.state,
      to,
      bytes,
    });
    return ok({ ...current, content: preview(payload.content), state: to, content_preview: true });
  }

  /** The R2 key of an archived memory, or null when it is not archived. */
  archiveKey(id: string): string | null {
    const key = this.store.exec("SELECT archive_key FROM memories WHERE id = ? AND state = 'archived'", id)[0]?.archive_key;
    return key == null ? null : String(key);
  }

  /** Puts an archived memory's payload and versions back; it is hot again. */
  restore(ref: CubeRef, payload: ArchivedPayload, key: string, meta: WriteMeta, now: number): Outcome<MemoryWire> {
    const current = this.store.find(ref, payload.memory_id);
    if (!current || current.state !== "archived" || this.archiveKey(current.id) !== key) {
      return fail("conflict", "memory is no longer archived");
    }
    const to = transition(current.state, "restore")!;
    this.store.exec(
      "UPDATE memories SET content = ?, state = ?, archive_key = NULL, archived_bytes = 0 WHERE id = ?",
      payload.content,
      to,
      current.id,
    );
    for (const v of payload.versions) {
      this.store.exec(
        `INSERT OR IGNORE INTO memory_versions (memory_id, version, change, changed_at, actor, request_id, snapshot)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        current.id,
        v.version,
        v.change,
        Date.parse(v.changed_at),
        v.actor,
        v.request_id,
        JSON.stringify(v.memory),
      );
    }
    this.store.recordEvent("memory.restored", current.id, current.version, meta, now, {
      reason: "read while archived",
      from: current.state,
      to,
    });
    const { content_preview: _preview, ...hot } = current;
    return ok({ ...hot, content: payload.content, state: to });
  }

  // ── stats ──────────────────────────────────────────────────────────────────────────────────────────────────

  /** Counts by state and bytes by tier: hot is what the cube's SQLite holds for memories, cold what R2 holds. */
  stats(): CubeStats {
    const states = Object.fromEntries(
      ["generated", "activated", "archived", "expired", "superseded", "merged", "forgotten"].map((s) => [s, 0]),
    ) as Record<MemoryState, number>;
    for (const row of this.store.exec("SELECT state, count(*) AS n FROM memories GROUP BY state")) {
      states[String(row.state) as MemoryState] = Number(row.n);
    }
    const memories = this.store.exec(
      `SELECT coalesce(sum(length(CAST(content AS BLOB)) + length(CAST(metadata AS BLOB)) + length(CAST(tags AS BLOB))), 0) AS hot,
              coalesce(sum(archived_bytes), 0) AS cold, coalesce(sum(pinned), 0) AS pinned FROM memories`,
    )[0]!;
    const versions = this.store.exec("SELECT coalesce(sum(length(CAST(snapshot AS BLOB))), 0) AS n FROM memory_versions")[0]!;
    return {
      states,
      pinned: Number(memories.pinned),
      bytes: { hot: Number(memories.hot) + Number(versions.n), cold: Number(memories.cold) },
    };
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────────────────────

  /** A state change without a payload change: a new version with its reason. */
  private move(
    ref: CubeRef,
    current: MemoryWire,
    action: LifecycleAction,
    meta: WriteMeta,
    now: number,
    reason: string,
  ): Outcome<MemoryWire> {
    const to = transition(current.state, action);
    if (!to) return fail("conflict", refusal(current.state, action));
    this.store.exec("UPDATE memories SET state = ?, updated_at = ?, version = version + 1 WHERE id = ?", to, now, current.id);
    const change = action === "forget" ? "forgotten" : action === "expire" ? "expired" : "updated";
    return ok(this.store.recordVersion(ref, current.id, change, meta, now, { reason, from: current.state, to }));
  }
}

/**
 * Keeps an archived memory findable by every word of its whole content: its terms go into the contentless
 * `archived_fts` (cube migration 11) under its seq; triggers remove them when it leaves `archived` or the cube.
 */
export function indexArchivedText(store: Pick<CubeStore, "exec">, id: string, content: string): void {
  store.exec("INSERT INTO archived_fts (rowid, content) SELECT seq, ? FROM memories WHERE id = ?", content, id);
}

export const preview = (content: string) =>
  content.length <= ARCHIVE_PREVIEW_CHARS ? content : `${content.slice(0, ARCHIVE_PREVIEW_CHARS - 1)}…`;
