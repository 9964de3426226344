/**
 * All SQL of a cube, behind one exec helper. Synchronous by design: the Durable Object wraps each mutation in
 * `transactionSync`, so a write, its version snapshot and its event commit together or not at all.
 */
import { newMemoryId } from "../../src/core/ids";
import { type MemoryState, refusal, transition } from "../../src/core/lifecycle";
import { ID_LIST_CHUNK } from "../../src/core/sql-limits";
import { toIso, toIsoOrNull } from "../../src/core/time";
import { type Outcome, fail, ok } from "../../src/errors";
import type { MemoryVersionWire, MemoryWire } from "../../src/schemas/memory";
import { compileFilter, compileWhere, placeholders } from "./filters";
import { CUBE_MIGRATIONS } from "./schema";
import type { Watermarker } from "./watermark";
import { SessionContext } from "./session-context";
import type { CubeRef, ListPage, ListRequest, MemoryPatch, NewMemory, WriteMeta } from "./protocol";

type Row = Record<string, SqlStorageValue>;
type VersionChange = MemoryVersionWire["change"];

/** Versions that write a memory's content (or its header) on a caller's behalf: each is signed by that caller. */
const SIGNED_CHANGES: ReadonlySet<VersionChange> = new Set(["updated", "rolled_back"]);

/** Why an event happened; never content. */
export interface EventData {
  reason?: string;
  from?: MemoryState;
  to?: MemoryState;
  [key: string]: unknown;
}

const str = (v: SqlStorageValue | undefined): string => String(v);
const strOrNull = (v: SqlStorageValue | undefined): string | null => (v == null ? null : String(v));
const num = (v: SqlStorageValue | undefined): number => Number(v);
const numOrNull = (v: SqlStorageValue | undefined): number | null => (v == null ? null : Number(v));

export class CubeStore {
  private readonly sessionContext: SessionContext;
  /** Memory reads counted by recordAccess since this object started (the scheduler refreshes working memory by it). */
  accesses = 0;
  /** Reads counted but not written yet, by memory id: how many, and when the latest was (see recordAccess). */
  private readonly unwrittenAccesses = new Map<string, { reads: number; at: number }>();

  /** `watermarks`: signs what a key writes (cube/watermark.ts); null leaves `watermark` null (no ROOT_KEY). */
  constructor(
    private readonly sql: SqlStorage,
    private readonly watermarks: Watermarker | null = null,
  ) {
    this.sessionContext = new SessionContext(sql);
  }

  /** The watermark of `content` written by `actor` as `version` of memory `id`, or null when nothing signs. */
  sign(id: string, version: number, actor: string, content: string): string | null {
    return this.watermarks?.sign(id, version, actor, content) ?? null;
  }

  /** Raw SQL for the cube's other components (lifecycle, search), inside the same transactions. */
  exec(query: string, ...params: unknown[]): Row[] {
    return this.sql.exec(query, ...(params as SqlStorageValue[])).toArray();
  }

  /** Applies the migrations this cube has not seen yet. Safe to call on every start. */
  migrate(): void {
    this.exec("CREATE TABLE IF NOT EXISTS cube_schema (version INTEGER NOT NULL)");
    const current = num(this.exec("SELECT coalesce(max(version), 0) AS v FROM cube_schema")[0]?.v ?? 0);
    CUBE_MIGRATIONS.forEach((statements, index) => {
      const version = index + 1;
      if (version <= current) return;
      for (const statement of statements) this.exec(statement);
      this.exec("INSERT INTO cube_schema (version) VALUES (?)", version);
    });
  }

  schemaVersion(): number {
    return num(this.exec("SELECT max(version) AS v FROM cube_schema")[0]?.v);
  }

  // ── reads ────────────────────────────────────────────────────────────────────────────────────────────────

  /** A memory in any state but purged, or null. */
  find(ref: CubeRef, id: string): MemoryWire | null {
    const row = this.exec("SELECT * FROM memories WHERE id = ?", id)[0];
    return row ? this.withUnwrittenReads(this.toMemory(ref, row)) : null;
  }

  /** Memories by id (any state), keyed by id; unknown ids are absent. */
  findMany(ref: CubeRef, ids: readonly string[]): Map<string, MemoryWire> {
    const found = new Map<string, MemoryWire>();
    // D1 and DO SQLite bind at most 100 parameters per statement (docs/platform-limits.md).
    for (let i = 0; i < ids.length; i += ID_LIST_CHUNK) {
      const chunk = ids.slice(i, i + ID_LIST_CHUNK);
      for (const row of this.exec(`SELECT * FROM memories WHERE id IN (${placeholders(chunk.length)})`, ...chunk)) {
        found.set(str(row.id), this.withUnwrittenReads(this.toMemory(ref, row)));
      }
    }
    return found;
  }

  /**
   * Counts a read of these memories (access frequency and recency feed the scheduler) and returns them as they
   * now stand. The count is written by {@link writeAccesses}, which the Durable Object runs a moment after its
   * answer (many searches' reads in one write) and before anything but a search reads memories again: a read should
   * not wait for a bookkeeping write to become durable. Until then find/findMany and search's scoring rows add the
   * unwritten reads to what they read, so nobody sees the difference.
   */
  recordAccess(memories: readonly MemoryWire[], now: number): MemoryWire[] {
    if (memories.length === 0) return [];
    this.accesses += memories.length;
    for (const memory of memories) {
      const unwritten = this.unwrittenAccesses.get(memory.id);
      this.unwrittenAccesses.set(memory.id, { reads: (unwritten?.reads ?? 0) + 1, at: now });
    }
    const accessedAt = toIso(now);
    return memories.map((memory) => ({ ...memory, access_count: memory.access_count + 1, last_accessed_at: accessedAt }));
  }

  /** Reads of memory `id` counted by {@link recordAccess} and not written yet (search adds them to the stored count). */
  unwrittenReads(id: string): number {
    return this.unwrittenAccesses.get(id)?.reads ?? 0;
  }

  /** How many memories have reads waiting for {@link writeAccesses}. */
  get unwrittenMemories(): number {
    return this.unwrittenAccesses.size;
  }

  /** The memory as it stands with its unwritten reads counted, as it will once {@link writeAccesses} has run. */
  private withUnwrittenReads(memory: MemoryWire): MemoryWire {
    const unwritten = this.unwrittenAccesses.get(memory.id);
    if (!unwritten) return memory;
    return { ...memory, access_count: memory.access_count + unwritten.reads, last_accessed_at: toIso(unwritten.at) };
  }

  /**
   * The ids of the `limit` memories matching `where` (a condition on `memories`) read last, the latest first and ties
   * by seq: what `ORDER BY last_accessed_at DESC, seq` lists once {@link writeAccesses} has run, without running it.
   * The scheduler's working-set rebuild lands inside a search, and a write there holds that search's answer until it
   * is durable (docs/search.md, "Ninth pass"); the unwritten reads are merged here instead, and the timer writes them.
   */
  lastRead(limit: number, where: string): string[] {
    const pending = this.unwrittenAccesses.size;
    // Up to `pending` of the stored list may be memories whose unwritten read moves them: read that many more.
    const stored = this.exec(
      `SELECT id, seq, last_accessed_at FROM memories INDEXED BY memories_accessed
        WHERE last_accessed_at IS NOT NULL AND ${where} ORDER BY last_accessed_at DESC, seq LIMIT ?`,
      limit + pending,
    );
    if (pending === 0) return stored.map((row) => str(row.id));
    const read = (id: string, seq: SqlStorageValue | undefined, at: number) => ({ id, seq: num(seq), at });
    const kept = stored
      .filter((row) => !this.unwrittenAccesses.has(str(row.id)))
      .slice(0, limit)
      .map((row) => read(str(row.id), row.seq, num(row.last_accessed_at)));
    const moved = this.exec(
      `SELECT id, seq FROM memories WHERE id IN (SELECT value FROM json_each(?)) AND ${where}`,
      JSON.stringify([...this.unwrittenAccesses.keys()]),
    ).map((row) => read(str(row.id), row.seq, this.unwrittenAccesses.get(str(row.id))!.at));
    return [...kept, ...moved]
      .sort((a, b) => b.at - a.at || a.seq - b.seq)
      .slice(0, limit)
      .map((entry) => entry.id);
  }

  /** Writes the reads {@link recordAccess} counted since the last call, in one statement; nothing when there are none. */
  writeAccesses(): void {
    if (this.unwrittenAccesses.size === 0) return;
    const rows = [...this.unwrittenAccesses].map(([id, { reads, at }]) => [id, reads, at]);
    this.unwrittenAccesses.clear();
    this.exec(
      `UPDATE memories SET access_count = access_count + (r.value ->> 1), last_accessed_at = r.value ->> 2
       FROM json_each(?) r WHERE memories.id = r.value ->> 0`,
      JSON.stringify(rows),
    );
  }


  list(ref: CubeRef, request: ListRequest): ListPage {
    const where = compileFilter(request.filter);
    if (request.where) {
      const typed = compileWhere(request.where);
      where.clauses.push(...typed.clauses);
      where.params.push(...typed.params);
    }
    const matching = { clauses: [...where.clauses], params: [...where.params] };
    if (request.after) {
      where.clauses.push("(m.created_at < ? OR (m.created_at = ? AND m.seq < ?))");
      where.params.push(request.after.created_at, request.after.created_at, request.after.seq);
    }
    const rows = this.exec(
      `SELECT m.* FROM memories m WHERE ${where.clauses.join(" AND ")} ORDER BY m.created_at DESC, m.seq DESC LIMIT ? OFFSET ?`,
      ...where.params,
      request.limit + 1,
      request.offset ?? 0,
    );
    const page = rows.slice(0, request.limit);
    const last = page.at(-1);
    const listPage: ListPage = {
      memories: page.map((row) => this.toMemory(ref, row)),
      next: rows.length > request.limit && last ? { created_at: num(last.created_at), seq: num(last.seq) } : null,
    };
    if (request.countTotal) {
      const counted = this.exec(`SELECT count(*) AS n FROM memories m WHERE ${matching.clauses.join(" AND ")}`, ...matching.params);
      listPage.total = num(counted[0]?.n);
    }
    return listPage;
  }

  history(id: string): MemoryVersionWire[] {
    return this.exec("SELECT * FROM memory_versions WHERE memory_id = ? ORDER BY version", id).map(versionOfRow);
  }

  /** A live, hot memory of this type whose text equals this one (case, spacing and end punctuation aside). */
  findDuplicate(ref: CubeRef, type: string, content: string): MemoryWire | null {
    const rows = this.exec(
      "SELECT * FROM memories WHERE content_hash = ? AND +state IN ('generated', 'activated') LIMIT 20",
      contentHash(type, content),
    );
    const wanted = normaliseText(content);
    const row = rows.find((r) => normaliseText(str(r.content)) === wanted && str(r.type) === type);
    return row ? this.toMemory(ref, row) : null;
  }

  /** The live, hot memories about this subject key, newest first. */
  findByKey(ref: CubeRef, key: string): MemoryWire[] {
    return this.exec(
      "SELECT * FROM memories WHERE subject_key = ? AND +state IN ('generated', 'activated') ORDER BY seq DESC",
      key,
    ).map((row) => this.toMemory(ref, row));
  }

  /** Memories in a live state, for the owners directory. */
  liveCount(): number {
    return num(this.exec("SELECT count(*) AS n FROM memories WHERE state IN ('generated', 'activated', 'archived')")[0]?.n);
  }

  // ── writes ───────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Writes new memories, each with its first version and its `memory.created` event. The rows of a batch travel as
   * one JSON parameter per table, so a batch of 100 costs three statements instead of three hundred (statements,
   * not rows, are what a write pays for), and each memory is indexed once, with its final session context.
   */
  insert(ref: CubeRef, items: readonly NewMemory[], meta: WriteMeta, now: number): MemoryWire[] {
    if (items.length === 0) return [];
    const session = this.sessionContext.planAppend(items);
    const created = toIso(now);
    const rows: unknown[][] = [];
    const memories = items.map((item, i): MemoryWire => {
      const id = newMemoryId(ref.cubeId);
      const source: MemoryWire["source"] = {
        kind: item.source.kind,
        episode_id: item.source.episodeId,
        message_ids: item.source.messageIds,
        key_id: meta.actor,
        request_id: meta.requestId,
        ...(item.source.reader ? { reader: item.source.reader } : {}),
      };
      const expiresAt = item.ttlSeconds === null ? item.expiresAt : now + item.ttlSeconds * 1000;
      const watermark = this.sign(id, 1, meta.actor, item.content);
      rows.push([
        id,
        item.type,
        item.content,
        JSON.stringify(item.tags),
        JSON.stringify(item.metadata),
        item.sessionId,
        JSON.stringify(source),
        item.validAt,
        item.invalidAt,
        expiresAt,
        item.priority,
        item.importance,
        JSON.stringify(item.sensitivity),
        item.frozen ? 1 : 0,
        session.contexts[i],
        item.subjectKey ?? null,
        contentHash(item.type, item.content),
        watermark,
      ]);
      // The row is written from these values: the memory is built from them directly instead of read back.
      return {
        id,
        cube_id: ref.cubeId,
        owner: ref.owner,
        type: item.type as MemoryWire["type"],
        content: item.content,
        tags: [...item.tags],
        metadata: item.metadata,
        session_id: item.sessionId,
        source,
        created_at: created,
        updated_at: created,
        valid_at: toIsoOrNull(item.validAt),
        invalid_at: toIsoOrNull(item.invalidAt),
        expires_at: toIsoOrNull(expiresAt),
        priority: item.priority,
        importance: item.importance,
        sensitivity: [...item.sensitivity],
        visibility: "private",
        frozen: item.frozen,
        pinned: false,
        watermark,
        access_count: 0,
        last_accessed_at: null,
        version: 1,
        state: "activated",
        supersedes: null,
        superseded_by: null,
      };
    });
    // Rows in array order, so seq (and the session order that contexts assume) follows the batch.
    for (const json of jsonChunks(rows)) {
      this.exec(
        `INSERT INTO memories (id, owner, type, content, tags, metadata, session_id, source, created_at, updated_at,
           valid_at, invalid_at, expires_at, priority, importance, sensitivity, frozen, version, state, context,
           subject_key, content_hash, watermark)
         SELECT r.value ->> 0, ?, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, r.value ->> 5, r.value ->> 6,
           ?, ?, r.value ->> 7, r.value ->> 8, r.value ->> 9, r.value ->> 10, r.value ->> 11, r.value ->> 12, r.value ->> 13,
           1, 'activated', r.value ->> 14, r.value ->> 15, r.value ->> 16, r.value ->> 17
         FROM json_each(?) r ORDER BY r.key`,
        ref.owner,
        now,
        now,
        json,
      );
    }
    session.afterInsert();
    this.recordCreated(memories, meta, now);
    return memories;
  }

  update(ref: CubeRef, id: string, patch: MemoryPatch, meta: WriteMeta, now: number): Outcome<MemoryWire> {
    const current = this.find(ref, id);
    if (!current || current.state === "forgotten") return fail("not_found", "memory not found");
    const onlyUnfreezes = Object.keys(patch).length === 1 && patch.frozen === false;
    if (current.frozen && !onlyUnfreezes) {
      return fail("memory_frozen", "memory is frozen: only { \"frozen\": false } may change it");
    }
    const next = transition(current.state, "update");
    if (!next) return fail("conflict", refusal(current.state, "update"));

    const validAt = patch.validAt !== undefined ? patch.validAt : numOrNullIso(current.valid_at);
    const invalidAt = patch.invalidAt !== undefined ? patch.invalidAt : numOrNullIso(current.invalid_at);
    if (validAt !== null && invalidAt !== null && invalidAt <= validAt) {
      return fail("invalid_request", "invalid_at must be after valid_at");
    }

    const sets: string[] = ["updated_at = ?", "version = version + 1", "state = ?"];
    const params: unknown[] = [now, next];
    const set = (column: string, value: unknown) => {
      sets.push(`${column} = ?`);
      params.push(value);
    };
    if (patch.content !== undefined) set("content", patch.content);
    if (patch.type !== undefined) set("type", patch.type);
    if (patch.tags !== undefined) set("tags", JSON.stringify(patch.tags));
    if (patch.metadata !== undefined) set("metadata", JSON.stringify(patch.metadata));
    if (patch.sessionId !== undefined) set("session_id", patch.sessionId);
    if (patch.validAt !== undefined) set("valid_at", patch.validAt);
    if (patch.invalidAt !== undefined) set("invalid_at", patch.invalidAt);
    if (patch.ttlSeconds !== undefined) set("expires_at", now + patch.ttlSeconds * 1000);
    else if (patch.expiresAt !== undefined) set("expires_at", patch.expiresAt);
    if (patch.priority !== undefined) set("priority", patch.priority);
    if (patch.importance !== undefined) set("importance", patch.importance);
    if (patch.sensitivity !== undefined) set("sensitivity", JSON.stringify(patch.sensitivity));
    if (patch.frozen !== undefined) set("frozen", patch.frozen ? 1 : 0);
    this.exec(`UPDATE memories SET ${sets.join(", ")} WHERE id = ?`, ...params, id);
    if (patch.content !== undefined || patch.sessionId !== undefined) {
      // Old neighbours lose this text (or this memory left their session); new ones gain it.
      if (current.session_id !== null) this.sessionContext.refreshNeighboursOf(current.session_id, id);
      this.sessionContext.refresh(id, "self-and-neighbours");
    }
    return ok(this.recordVersion(ref, id, "updated", meta, now));
  }

  /**
   * Hard delete: removes the memory and every version of it; an event without content remains. Returns the R2
   * key of its archived payload, if it had one, for the caller to delete too.
   */
  purge(ref: CubeRef, id: string, meta: WriteMeta, now: number): Outcome<{ id: string; archiveKey: string | null }> {
    const current = this.find(ref, id);
    if (!current) return fail("not_found", "memory not found");
    if (current.frozen) return fail("memory_frozen", "memory is frozen: unfreeze it before deleting");
    const archiveKey = strOrNull(this.exec("SELECT archive_key FROM memories WHERE id = ?", id)[0]?.archive_key);
    const neighbours = current.session_id === null ? [] : this.sessionContext.neighbours(current.session_id, id);
    this.exec("DELETE FROM memories WHERE id = ?", id);
    // A purge must not leave the text behind in a neighbour's context either.
    for (const neighbour of neighbours) this.sessionContext.refresh(neighbour, "self");
    this.exec("DELETE FROM memory_versions WHERE memory_id = ?", id);
    this.recordEvent("memory.purged", id, null, meta, now, { reason: "hard delete requested" });
    return ok({ id, archiveKey });
  }

  /** The memories just before and after this one in its session (whose context holds its text). */
  sessionNeighbours(memory: MemoryWire): string[] {
    return memory.session_id === null ? [] : this.sessionContext.neighbours(memory.session_id, memory.id);
  }

  /** Recomputes these memories' context from their neighbours' current text (after a neighbour's text changed). */
  refreshContexts(ids: readonly string[]): void {
    for (const id of ids) this.sessionContext.refresh(id, "self");
  }

  /** Recomputes a memory's and its neighbours' context after its text changed outside update(). */
  refreshSessionContext(id: string): void {
    this.sessionContext.refresh(id, "self-and-neighbours");
  }

  /**
   * Puts a memory's header back as a version snapshot holds it (rollback, unmerge): text, type, tags, metadata,
   * session, validity, expiry, priority, importance and sensitivity, in `state`, as a new version. Superseded-by
   * is cleared only when asked (an unmerge ends the merge; a rollback keeps what it points to).
   */
  restoreHeader(id: string, target: MemoryWire, state: MemoryState, now: number, clearSupersededBy: boolean): void {
    const ms = (iso: string | null) => (iso === null ? null : Date.parse(iso));
    this.exec(
      `UPDATE memories SET content = ?, type = ?, tags = ?, metadata = ?, session_id = ?, valid_at = ?, invalid_at = ?,
         expires_at = ?, priority = ?, importance = ?, sensitivity = ?, state = ?,
         superseded_by = CASE WHEN ? THEN NULL ELSE superseded_by END, updated_at = ?, version = version + 1
       WHERE id = ?`,
      target.content,
      target.type,
      JSON.stringify(target.tags),
      JSON.stringify(target.metadata),
      target.session_id,
      ms(target.valid_at),
      ms(target.invalid_at),
      ms(target.expires_at),
      target.priority,
      target.importance,
      JSON.stringify(target.sensitivity),
      state,
      clearSupersededBy ? 1 : 0,
      now,
      id,
    );
  }

  // ── idempotency ──────────────────────────────────────────────────────────────────────────────────────────

  /** The result saved under an Idempotency-Key at or after `notBefore` (a record past its window no longer counts). */
  idempotentResult(key: string, notBefore: number): { fingerprint: string; result: unknown } | null {
    const row = this.exec("SELECT fingerprint, result FROM idempotency WHERE key = ? AND created_at >= ?", key, notBefore)[0];
    return row ? { fingerprint: str(row.fingerprint), result: JSON.parse(str(row.result)) } : null;
  }

  saveIdempotentResult(key: string, fingerprint: string, result: unknown, now: number): void {
    this.exec(
      "INSERT INTO idempotency (key, fingerprint, result, created_at) VALUES (?, ?, ?, ?)",
      key,
      fingerprint,
      JSON.stringify(result),
      now,
    );
  }

  forgetIdempotencyBefore(cutoff: number): void {
    this.exec("DELETE FROM idempotency WHERE created_at < ?", cutoff);
  }

  // ── internals ────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Snapshots the memory (given, or its current row) as a version and logs the change with its reason; returns
   * the memory.
   */
  recordVersion(
    ref: CubeRef,
    memoryOrId: MemoryWire | string,
    change: VersionChange,
    meta: WriteMeta,
    now: number,
    data: EventData = {},
  ): MemoryWire {
    let memory = typeof memoryOrId === "string" ? this.find(ref, memoryOrId) : memoryOrId;
    if (!memory) throw new Error(`memory ${String(memoryOrId)} vanished inside its own transaction`);
    const id = memory.id;
    if (SIGNED_CHANGES.has(change)) {
      const watermark = this.sign(id, memory.version, meta.actor, memory.content);
      this.exec("UPDATE memories SET watermark = ? WHERE id = ?", watermark, id);
      memory = { ...memory, watermark };
    }
    this.exec(
      `INSERT INTO memory_versions (memory_id, version, change, changed_at, actor, request_id, snapshot)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      id,
      memory.version,
      change,
      now,
      meta.actor,
      meta.requestId || null,
      JSON.stringify(memory),
    );
    this.recordEvent(`memory.${change}`, id, memory.version, meta, now, data);
    return memory;
  }

  /** Appends to the cube's event log. `data` says why (and from which state to which); it never holds content. */
  recordEvent(type: string, memoryId: string | null, version: number | null, meta: WriteMeta, now: number, data: EventData = {}): void {
    this.exec(
      "INSERT INTO events (at, type, memory_id, version, actor, request_id, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
      now,
      type,
      memoryId,
      version,
      meta.actor,
      meta.requestId || null,
      JSON.stringify(data),
    );
  }

  /** The first version and the `memory.created` event of each new memory (what recordVersion writes, batched). */
  private recordCreated(memories: readonly MemoryWire[], meta: WriteMeta, now: number): void {
    const requestId = meta.requestId || null;
    for (const json of jsonChunks(memories.map((memory) => [memory.id, JSON.stringify(memory)]))) {
      this.exec(
        `INSERT INTO memory_versions (memory_id, version, change, changed_at, actor, request_id, snapshot)
         SELECT r.value ->> 0, 1, 'created', ?, ?, ?, r.value ->> 1 FROM json_each(?) r ORDER BY r.key`,
        now,
        meta.actor,
        requestId,
        json,
      );
    }
    for (const json of jsonChunks(memories.map((memory) => memory.id))) {
      this.exec(
        `INSERT INTO events (at, type, memory_id, version, actor, request_id, data)
         SELECT ?, 'memory.created', r.value, 1, ?, ?, '{}' FROM json_each(?) r ORDER BY r.key`,
        now,
        meta.actor,
        requestId,
        json,
      );
    }
  }

  /** The event log of one memory, oldest first (tests and the provenance API read it). */
  events(memoryId: string): { type: string; version: number | null; actor: string; data: EventData }[] {
    return this.exec("SELECT type, version, actor, data FROM events WHERE memory_id = ? ORDER BY seq", memoryId).map((row) => ({
      type: str(row.type),
      version: numOrNull(row.version),
      actor: str(row.actor),
      data: JSON.parse(str(row.data)) as EventData,
    }));
  }

  private toMemory(ref: CubeRef, row: Row): MemoryWire {
    const source = JSON.parse(str(row.source)) as MemoryWire["source"];
    return {
      id: str(row.id),
      cube_id: ref.cubeId,
      owner: str(row.owner),
      type: str(row.type) as MemoryWire["type"],
      content: str(row.content),
      tags: JSON.parse(str(row.tags)) as string[],
      metadata: JSON.parse(str(row.metadata)) as MemoryWire["metadata"],
      session_id: strOrNull(row.session_id),
      source,
      created_at: toIso(num(row.created_at)),
      updated_at: toIso(num(row.updated_at)),
      valid_at: toIsoOrNull(numOrNull(row.valid_at)),
      invalid_at: toIsoOrNull(numOrNull(row.invalid_at)),
      expires_at: toIsoOrNull(numOrNull(row.expires_at)),
      priority: num(row.priority),
      importance: num(row.importance),
      sensitivity: JSON.parse(str(row.sensitivity)) as string[],
      visibility: str(row.visibility) as MemoryWire["visibility"],
      frozen: num(row.frozen) === 1,
      pinned: num(row.pinned) === 1,
      watermark: strOrNull(row.watermark),
      access_count: num(row.access_count),
      last_accessed_at: toIsoOrNull(numOrNull(row.last_accessed_at)),
      version: num(row.version),
      state: str(row.state) as MemoryState,
      supersedes: strOrNull(row.supersedes),
      superseded_by: strOrNull(row.superseded_by),
      // The row of an archived memory keeps a preview of its content; the whole text is in R2 (issue 16, D8).
      ...(str(row.state) === "archived" ? { content_preview: true as const } : {}),
    };
  }
}

/** A `memory_versions` row as the wire shape (history, export). */
export function versionOfRow(row: Row): MemoryVersionWire {
  return {
    version: num(row.version),
    change: str(row.change) as VersionChange,
    changed_at: toIso(num(row.changed_at)),
    actor: str(row.actor),
    request_id: strOrNull(row.request_id),
    memory: JSON.parse(str(row.snapshot)) as MemoryWire,
  };
}

const numOrNullIso = (iso: string | null) => (iso === null ? null : Date.parse(iso));

/**
 * Characters of JSON one statement's rows parameter holds at most: a batch's rows (up to 100 memories of 16 KB, and
 * their snapshots escaped once more) could otherwise pass the 2 MB that Durable Object SQLite accepts in one value.
 */
export const ROWS_JSON_CHARS = 256 * 1024;

/** `rows` as JSON arrays of at most ROWS_JSON_CHARS characters each (a longer row goes alone), in order. */
export function jsonChunks(rows: readonly unknown[]): string[] {
  const chunks: string[] = [];
  let parts: string[] = [];
  let chars = 0;
  for (const row of rows) {
    const part = JSON.stringify(row);
    if (parts.length > 0 && chars + part.length + 1 > ROWS_JSON_CHARS) {
      chunks.push(`[${parts.join(",")}]`);
      parts = [];
      chars = 0;
    }
    parts.push(part);
    chars += part.length + 1;
  }
  if (parts.length > 0) chunks.push(`[${parts.join(",")}]`);
  return chunks;
}

/** Lower-cased, spaces collapsed, end punctuation dropped: how exact duplicates are compared. */
export const normaliseText = (text: string) =>
  text
    .toLowerCase()
    .replace(/\s+/g, " ")
    .trim()
    .replace(/[.!?…]+$/u, "");

/**
 * A 53-bit hash (cyrb53) of a memory's type and normalised text, for the duplicate index. Not cryptographic:
 * candidates it finds are compared in full. Synchronous, because it runs inside transactions.
 */
export function contentHash(type: string, content: string): string {
  const text = `${type}\u0000${normaliseText(content)}`;
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}
