/**
 * Versioned, idempotent DDL of a cube's SQLite storage. Each migration runs once, in order, inside the
 * constructor's blockConcurrencyWhile; `cube_schema` records how far a cube has come. Never edit an applied
 * migration: append a new one. Tables are documented in ./SCHEMA.md.
 */
export const CUBE_MIGRATIONS: readonly (readonly string[])[] = [
  // 1: memories with the MemOS header, their versions, full-text index, event log, idempotency records.
  [
    `CREATE TABLE IF NOT EXISTS memories (
      seq INTEGER PRIMARY KEY,
      id TEXT NOT NULL UNIQUE,
      owner TEXT NOT NULL,
      type TEXT NOT NULL,
      content TEXT NOT NULL,
      tags TEXT NOT NULL DEFAULT '[]',
      metadata TEXT NOT NULL DEFAULT '{}',
      session_id TEXT,
      source TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      valid_at INTEGER,
      invalid_at INTEGER,
      expires_at INTEGER,
      priority INTEGER NOT NULL,
      importance REAL NOT NULL,
      sensitivity TEXT NOT NULL DEFAULT '[]',
      visibility TEXT NOT NULL DEFAULT 'private',
      frozen INTEGER NOT NULL DEFAULT 0,
      watermark TEXT,
      access_count INTEGER NOT NULL DEFAULT 0,
      last_accessed_at INTEGER,
      version INTEGER NOT NULL,
      state TEXT NOT NULL,
      supersedes TEXT,
      superseded_by TEXT
    )`,
    `CREATE INDEX IF NOT EXISTS memories_created ON memories (created_at DESC, seq DESC)`,
    `CREATE INDEX IF NOT EXISTS memories_session ON memories (session_id) WHERE session_id IS NOT NULL`,
    `CREATE INDEX IF NOT EXISTS memories_expires ON memories (expires_at) WHERE expires_at IS NOT NULL`,
    `CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5(
      content, tags, content='memories', content_rowid='seq', tokenize='porter unicode61'
    )`,
    `CREATE TRIGGER IF NOT EXISTS memories_fts_insert AFTER INSERT ON memories BEGIN
      INSERT INTO memories_fts (rowid, content, tags) VALUES (new.seq, new.content, new.tags);
    END`,
    `CREATE TRIGGER IF NOT EXISTS memories_fts_delete AFTER DELETE ON memories BEGIN
      INSERT INTO memories_fts (memories_fts, rowid, content, tags) VALUES ('delete', old.seq, old.content, old.tags);
    END`,
    `CREATE TRIGGER IF NOT EXISTS memories_fts_update AFTER UPDATE OF content, tags ON memories BEGIN
      INSERT INTO memories_fts (memories_fts, rowid, content, tags) VALUES ('delete', old.seq, old.content, old.tags);
      INSERT INTO memories_fts (rowid, content, tags) VALUES (new.seq, new.content, new.tags);
    END`,
    `CREATE TABLE IF NOT EXISTS memory_versions (
      memory_id TEXT NOT NULL,
      version INTEGER NOT NULL,
      change TEXT NOT NULL,
      changed_at INTEGER NOT NULL,
      actor TEXT NOT NULL,
      request_id TEXT,
      snapshot TEXT NOT NULL,
      PRIMARY KEY (memory_id, version)
    ) WITHOUT ROWID`,
    `CREATE TABLE IF NOT EXISTS events (
      seq INTEGER PRIMARY KEY,
      at INTEGER NOT NULL,
      type TEXT NOT NULL,
      memory_id TEXT,
      version INTEGER,
      actor TEXT NOT NULL,
      request_id TEXT,
      data TEXT NOT NULL DEFAULT '{}'
    )`,
    `CREATE INDEX IF NOT EXISTS events_memory ON events (memory_id) WHERE memory_id IS NOT NULL`,
    `CREATE TABLE IF NOT EXISTS idempotency (
      key TEXT PRIMARY KEY,
      fingerprint TEXT NOT NULL,
      result TEXT NOT NULL,
      created_at INTEGER NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at)`,
  ],
  // 2: conversational context. A turn is often only findable through its neighbours ("Did you paint that?" /
  // "Yes, the lake at sunrise"), so each memory of a session also indexes its neighbours' text in a third,
  // lower-weighted column; results still return only the memory's own content.
  [
    `ALTER TABLE memories ADD COLUMN context TEXT NOT NULL DEFAULT ''`,
    `DROP TRIGGER IF EXISTS memories_fts_insert`,
    `DROP TRIGGER IF EXISTS memories_fts_delete`,
    `DROP TRIGGER IF EXISTS memories_fts_update`,
    `DROP TABLE IF EXISTS memories_fts`,
    `CREATE VIRTUAL TABLE memories_fts USING fts5(
      content, tags, context, content='memories', content_rowid='seq', tokenize='porter unicode61'
    )`,
    `INSERT INTO memories_fts (memories_fts) VALUES ('rebuild')`,
    `CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
      INSERT INTO memories_fts (rowid, content, tags, context) VALUES (new.seq, new.content, new.tags, new.context);
    END`,
    `CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
      INSERT INTO memories_fts (memories_fts, rowid, content, tags, context) VALUES ('delete', old.seq, old.content, old.tags, old.context);
    END`,
    `CREATE TRIGGER memories_fts_update AFTER UPDATE OF content, tags, context ON memories BEGIN
      INSERT INTO memories_fts (memories_fts, rowid, content, tags, context) VALUES ('delete', old.seq, old.content, old.tags, old.context);
      INSERT INTO memories_fts (rowid, content, tags, context) VALUES (new.seq, new.content, new.tags, new.context);
    END`,
    `CREATE INDEX IF NOT EXISTS memories_session_seq ON memories (session_id, seq) WHERE session_id IS NOT NULL`,
  ],
  // 3: the cube's local vector index (durable-objects/vector-store.ts): int8 vectors of one embedding space packed
  // into blocks; `ids` is a JSON array with null for free slots, `scales` a Float32 per slot, `vectors` slots × d.
  [
    `CREATE TABLE IF NOT EXISTS vector_blocks (
      block INTEGER PRIMARY KEY,
      embedder TEXT NOT NULL,
      dimensions INTEGER NOT NULL,
      ids TEXT NOT NULL,
      scales BLOB NOT NULL,
      vectors BLOB NOT NULL
    )`,
  ],
  // 4: background jobs driven by the alarm (reindex today). `ref` is the cube's identity as JSON, because an
  // alarm arrives without the RPC arguments that usually carry it.
  [
    `CREATE TABLE IF NOT EXISTS jobs (
      id TEXT PRIMARY KEY,
      type TEXT NOT NULL,
      status TEXT NOT NULL,
      ref TEXT NOT NULL,
      params TEXT NOT NULL DEFAULT '{}',
      cursor INTEGER NOT NULL DEFAULT 0,
      done INTEGER NOT NULL DEFAULT 0,
      total INTEGER NOT NULL DEFAULT 0,
      attempts INTEGER NOT NULL DEFAULT 0,
      error TEXT,
      run_at INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS jobs_due ON jobs (run_at) WHERE status IN ('queued', 'running')`,
  ],
  // 5: every write reports the cube's live count to the owners directory; without an index that count scanned
  // every row (18 ms at 30k memories, growing linearly), with it the covering index answers in ~2 ms.
  [`CREATE INDEX IF NOT EXISTS memories_state ON memories (state)`],
  // 6: the scheduler and the cold tier. `pinned` holds a memory in working memory; `archive_key` names the R2 object
  // that holds an archived memory's payload and versions (the row keeps a preview so search still finds it), and
  // `archived_bytes` its size for the cube's stats. Pins and recent accesses are indexed because working memory is
  // assembled from them on every search.
  [
    `ALTER TABLE memories ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0`,
    `ALTER TABLE memories ADD COLUMN archive_key TEXT`,
    `ALTER TABLE memories ADD COLUMN archived_bytes INTEGER NOT NULL DEFAULT 0`,
    `CREATE INDEX IF NOT EXISTS memories_pinned ON memories (pinned) WHERE pinned = 1`,
    `CREATE INDEX IF NOT EXISTS memories_accessed ON memories (last_accessed_at DESC) WHERE last_accessed_at IS NOT NULL`,
    // Expiry is now driven by the alarm, which asks "what is due next" after every write that sets a TTL: an index of
    // only the memories that can still expire answers that without walking past every memory that already did.
    `DROP INDEX IF EXISTS memories_expires`,
    `CREATE INDEX IF NOT EXISTS memories_expiring ON memories (expires_at)
      WHERE expires_at IS NOT NULL AND state IN ('generated', 'activated', 'archived') AND frozen = 0`,
    // Which cube this object is, for the alarm (it arrives without RPC arguments); written on the first write.
    `CREATE TABLE IF NOT EXISTS cube_identity (id INTEGER PRIMARY KEY CHECK (id = 1), ref TEXT NOT NULL)`,
  ],
  // 7: MemReader. `episodes` records every ingested conversation (its raw messages are in R2) and the job reading
  // it, so re-sending the same messages finds the same episode and is a no-op. `subject_key` is what a memory is
  // about ("alice|lives_in"): a newer memory with the same key supersedes the older one. `content_hash` finds exact
  // duplicates without comparing every text. `jobs.result` carries what an ingest job produced.
  [
    `CREATE TABLE IF NOT EXISTS episodes (
      id TEXT PRIMARY KEY,
      job_id TEXT NOT NULL,
      r2_key TEXT NOT NULL,
      messages INTEGER NOT NULL,
      received_at INTEGER NOT NULL
    )`,
    `ALTER TABLE memories ADD COLUMN subject_key TEXT`,
    `ALTER TABLE memories ADD COLUMN content_hash TEXT`,
    `CREATE INDEX IF NOT EXISTS memories_subject ON memories (subject_key) WHERE subject_key IS NOT NULL`,
    `CREATE INDEX IF NOT EXISTS memories_content_hash ON memories (content_hash) WHERE content_hash IS NOT NULL`,
    `ALTER TABLE jobs ADD COLUMN result TEXT NOT NULL DEFAULT '{}'`,
  ],
  // 8: the webhook outbox (cube/outbox.ts). `last_seq` is the last event handed to the webhook queue; it starts at
  // the newest event the cube already has, so switching webhooks on never replays a cube's history. `epoch` is drawn
  // once per storage: a cube deleted and created again (same deterministic id) restarts its event seqs, and the
  // epoch keeps its new event ids from colliding with ids receivers have already seen.
  [
    `CREATE TABLE IF NOT EXISTS webhook_outbox (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      last_seq INTEGER NOT NULL,
      epoch TEXT NOT NULL
    )`,
    `INSERT OR IGNORE INTO webhook_outbox (id, last_seq, epoch)
      SELECT 1, coalesce(max(seq), 0), lower(hex(randomblob(4))) FROM events`,
  ],
  // 9: vectors sent to the shared index (Vectorize), cube/remote-vectors.ts. Unconfirmed rows are checked against the
  // index by the alarm; a confirmed vector leaves the cube's own store, and its row keeps the embedder it was made with.
  [
    `CREATE TABLE IF NOT EXISTS remote_vectors (
      id TEXT PRIMARY KEY,
      embedder TEXT NOT NULL,
      pushed_at INTEGER NOT NULL,
      confirmed_at INTEGER
    )`,
    `CREATE INDEX IF NOT EXISTS remote_vectors_unconfirmed ON remote_vectors (pushed_at) WHERE confirmed_at IS NULL`,
  ],
  // 14: per-cube backoff of background calls to a failing platform service (cube/backoff.ts): the shared index's
  // checks and re-sends, and the retry of failed embeddings. One row per kind of work while it keeps failing.
  [
    `CREATE TABLE IF NOT EXISTS retry_backoff (
      name TEXT PRIMARY KEY,
      failures INTEGER NOT NULL,
      last_attempt_at INTEGER NOT NULL
    )`,
  ],
  // 15: activation memory (cube/activation.ts): the compiled standing block, one row per version whose bytes changed;
  // the newest MAX_BLOCK_VERSIONS (50) are kept. `members` is JSON: [{ id, reason, tokens }].
  [
    `CREATE TABLE IF NOT EXISTS activation_blocks (
      version INTEGER PRIMARY KEY,
      etag TEXT NOT NULL,
      text TEXT NOT NULL,
      members TEXT NOT NULL,
      tokens INTEGER NOT NULL,
      created_at INTEGER NOT NULL
    )`,
  ],
  // 12: the cube's own lifecycle schedule (cube/upkeep.ts, issue 14 items 4–5): one row noting the first and last
  // write since upkeep last ran (consolidation waits for the cube to go quiet), when a memory next turns cold, and
  // the event-prune cursor. A cube written before this migration adopts itself as changed at its last write, so its
  // first alarm runs upkeep. `jobs_finished` serves the bounded prune of finished jobs.
  [
    `CREATE TABLE IF NOT EXISTS lifecycle_schedule (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      dirty_since INTEGER,
      last_write_at INTEGER,
      jitter INTEGER NOT NULL DEFAULT 0,
      archive_check_at INTEGER,
      prune_more INTEGER NOT NULL DEFAULT 0,
      prune_cursor INTEGER NOT NULL DEFAULT 0,
      last_run_at INTEGER
    )`,
    `INSERT OR IGNORE INTO lifecycle_schedule (id, dirty_since, last_write_at, jitter)
      SELECT 1, max(updated_at), max(updated_at), abs(random() % 900000) FROM memories HAVING count(*) > 0`,
    `CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (updated_at) WHERE status IN ('done', 'failed') AND type != 'ingest'`,
  ],
  // 11: archived memories' full text, findable by every word (issue 16, D8), and pairs never to merge again (D7). An archived row keeps only a preview, so
  // memories_fts indexes only that; this contentless index keeps the terms of the whole content (no copy of the
  // text, which lives in R2) under the memory's seq, from archive until the memory leaves `archived` or the cube.
  // Memories archived before this migration stay findable by their preview until restored and archived again.
  [
    `CREATE VIRTUAL TABLE IF NOT EXISTS archived_fts USING fts5(
      content, content='', contentless_delete=1, tokenize='porter unicode61'
    )`,
    `CREATE TRIGGER IF NOT EXISTS archived_fts_leave AFTER UPDATE OF state ON memories
      WHEN old.state = 'archived' AND new.state != 'archived' BEGIN
      DELETE FROM archived_fts WHERE rowid = old.seq;
    END`,
    `CREATE TRIGGER IF NOT EXISTS archived_fts_delete AFTER DELETE ON memories WHEN old.state = 'archived' BEGIN
      DELETE FROM archived_fts WHERE rowid = old.seq;
    END`,
    // Pairs a caller unmerged (cube/unmerge.ts): consolidation never merges them again. a < b.
    `CREATE TABLE IF NOT EXISTS merge_exclusions (a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY (a, b)) WITHOUT ROWID`,
  ],
  // 17: a rolled-back activation block held in place (cube/activation.ts `rollback`): at most one row; compiling
  // does not replace the held version until a new pinned memory, instruction or preference arrives or a member of
  // it stops being live. Deleted when the hold ends.
  [
    `CREATE TABLE IF NOT EXISTS activation_hold (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      version INTEGER NOT NULL,
      reason TEXT NOT NULL,
      held_at INTEGER NOT NULL
    )`,
  ],
  // 16: parametric memory's adapter registry (cube/adapters.ts, docs/parametric.md): LoRA adapters uploaded here and
  // Workers AI fine-tunes registered by name, a version per name, at most one `active` (the partial unique index).
  // Capped at 30 rows per cube (LORA_LIMITS.maxPerCube); the weights live in R2 under adapters/<tenant>/<cube>/.
  [
    `CREATE TABLE IF NOT EXISTS adapters (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      version INTEGER NOT NULL,
      kind TEXT NOT NULL,
      state TEXT NOT NULL,
      base_model TEXT NOT NULL,
      finetune TEXT,
      rank INTEGER,
      config TEXT,
      weights_key TEXT,
      weights_bytes INTEGER,
      weights_sha256 TEXT,
      tensors INTEGER,
      description TEXT,
      created_by TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      UNIQUE (name, version)
    )`,
    `CREATE UNIQUE INDEX IF NOT EXISTS adapters_one_active ON adapters (state) WHERE state = 'active'`,
  ],
  // 19: (a) remote_vectors.queued_at: when a vector was queued for the shared index (pushed_at = 0 until the alarm
  // sends the queue in batches, cube/remote-vectors.ts, issue 17 item 8), and mutation_id: the index's mutation that
  // carried it, checked against describe()'s processedUpToMutation; NULL on rows written before.
  // (b) what a destroyed cube left outside its storage (cube/teardown.ts, issue 17 item 5): R2 prefixes to empty of
  // objects uploaded before `cutoff` (listed after `after_key`), and chunks of ≤ 100 memory ids to delete from the
  // shared index namespace `target`. Rows leave as their calls succeed; empty once the teardown is done.
  [
    `CREATE TABLE IF NOT EXISTS teardown (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      kind TEXT NOT NULL CHECK (kind IN ('objects', 'vectors')),
      target TEXT NOT NULL,
      ids TEXT,
      cutoff INTEGER,
      after_key TEXT
    )`,
    `ALTER TABLE remote_vectors ADD COLUMN queued_at INTEGER`,
    `ALTER TABLE remote_vectors ADD COLUMN mutation_id TEXT`,
  ],
  // 21: an export written in steps on the alarm (cube/export-job.ts, issue 17 item 5): per running export job, where
  // it stands (`phase`, the episode cursor `episode_at`/`episode_id`; the memory cursor is the job's), its R2
  // multipart upload (`upload_id`, the committed `parts` as JSON [{partNumber, etag}]) and `step`, bumped by each
  // committed step; `export_buffer` holds the bytes not yet in a part, in chunks under the 2 MB row limit. Both are
  // deleted when the job ends (done or failed), so they hold at most one part (5 MiB) per running export.
  [
    `CREATE TABLE IF NOT EXISTS export_state (
      job_id TEXT PRIMARY KEY,
      export_key TEXT NOT NULL,
      phase TEXT NOT NULL CHECK (phase IN ('episodes', 'memories', 'end', 'complete')),
      episode_at INTEGER NOT NULL DEFAULT -1,
      episode_id TEXT NOT NULL DEFAULT '',
      upload_id TEXT,
      parts TEXT NOT NULL DEFAULT '[]',
      step INTEGER NOT NULL DEFAULT 0
    )`,
    `CREATE TABLE IF NOT EXISTS export_buffer (
      job_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      data BLOB NOT NULL,
      PRIMARY KEY (job_id, seq)
    )`,
  ],
  // 22: remote_vectors.handed_at: when a queued vector (pushed_at = 0) was handed to the vectors queue, whose
  // consumer upserts many cubes' vectors together and reports back (cube/remote-vectors.ts, issue 17 item 8); NULL
  // when not handed. A vector handed REPUSH_AFTER_MS ago without a report is taken back and sent again.
  [`ALTER TABLE remote_vectors ADD COLUMN handed_at INTEGER`],
  // 20: the verbatim turn tier (cube/turn-tier.ts, docs/memreader.md): the turns an infer-mode extraction cites,
  // indexed as said with their neighbours' text as context (contentless: the text stays in the episode in R2), and
  // the memories citing each. A turn stays exactly as long as every memory citing it: the first one purged (DELETE)
  // or expired marks the turn and its tier neighbours (`position` ± 1 in its episode: their context holds its text)
  // `erased`, and the trigger then drops their index entries, citations and rows — so a forgotten memory's words are
  // findable through no turn.
  [
    `CREATE TABLE IF NOT EXISTS turn_tier (
      seq INTEGER PRIMARY KEY,
      episode_id TEXT NOT NULL,
      message_id TEXT NOT NULL,
      position INTEGER NOT NULL,
      erased INTEGER NOT NULL DEFAULT 0,
      UNIQUE (episode_id, message_id)
    )`,
    `CREATE INDEX IF NOT EXISTS turn_tier_position ON turn_tier (episode_id, position)`,
    `CREATE INDEX IF NOT EXISTS turn_tier_erased ON turn_tier (erased) WHERE erased = 1`,
    `CREATE TABLE IF NOT EXISTS turn_citations (
      turn_seq INTEGER NOT NULL,
      memory_id TEXT NOT NULL,
      PRIMARY KEY (turn_seq, memory_id)
    ) WITHOUT ROWID`,
    `CREATE INDEX IF NOT EXISTS turn_citations_memory ON turn_citations (memory_id)`,
    `CREATE VIRTUAL TABLE IF NOT EXISTS turns_fts USING fts5(
      content, context, content='', contentless_delete=1, tokenize='porter unicode61'
    )`,
    ...["turn_tier_purge AFTER DELETE ON memories", "turn_tier_expire AFTER UPDATE OF state ON memories WHEN new.state = 'expired' AND old.state != 'expired'"].map(
      (when) => `CREATE TRIGGER IF NOT EXISTS ${when} BEGIN
        UPDATE turn_tier SET erased = 1 WHERE seq IN (
          SELECT n.seq FROM turn_citations c JOIN turn_tier t ON t.seq = c.turn_seq
            JOIN turn_tier n ON n.episode_id = t.episode_id AND n.position BETWEEN t.position - 1 AND t.position + 1
           WHERE c.memory_id = old.id);
        DELETE FROM turns_fts WHERE rowid IN (SELECT seq FROM turn_tier WHERE erased = 1);
        DELETE FROM turn_citations WHERE turn_seq IN (SELECT seq FROM turn_tier WHERE erased = 1);
        DELETE FROM turn_tier WHERE erased = 1;
      END`,
    ),
  ],
];
