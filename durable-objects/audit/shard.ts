/**
 * One audit shard's own bookkeeping (./periods.ts): which tenant and period it holds, how many entries, its split
 * point once a day's shard passes its threshold, which cubes it has reported to the directory (./directory.ts), and
 * how far its archiving got. The entries themselves are the shard's `audit_log` (./log.ts), exactly as in the
 * tenant's legacy object.
 *
 * The directory hears from a shard only on its first append and when a batch names a cube the shard has not
 * reported yet — in the same append, before the entries are stored, so an erasure that the directory ran first
 * comes back as a tombstone and its late entries are dropped, and one that runs later finds the shard listed.
 */
import type { AuditArchive } from "./archive";
import type { ReportAnswer, ShardReport } from "./directory";
import { type AuditLog, type AuditRecord, cubesNamed, sha256Hex } from "./log";
import { DEFAULT_SPLIT_ENTRIES, type ShardPeriod, isDayPeriod, splitPointAfter } from "./periods";
import { type ShardArchiveProgress, ShardArchiver } from "./shard-archive";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS shard_state (
     one INTEGER PRIMARY KEY CHECK (one = 1),
     name TEXT NOT NULL,
     start INTEGER NOT NULL,
     end INTEGER NOT NULL,
     entries INTEGER NOT NULL DEFAULT 0,
     min_at INTEGER,
     max_at INTEGER,
     split_at INTEGER,
     registered INTEGER NOT NULL DEFAULT 0,
     any_cube INTEGER NOT NULL DEFAULT 0,
     archived_seq INTEGER NOT NULL DEFAULT 0
   )`,
  // Cubes (SHA-256) this shard has told the directory it names: a batch naming only these costs no directory call.
  `CREATE TABLE IF NOT EXISTS reported_cubes (cube_sha256 TEXT PRIMARY KEY) WITHOUT ROWID`,
];

type ShardState = {
  name: string;
  start: number;
  end: number;
  entries: number;
  min_at: number | null;
  max_at: number | null;
  split_at: number | null;
  registered: number;
  any_cube: number;
  archived_seq: number;
};

/** What an append did: entries new to the shard, the day's split point, and the entries it left to hourly shards. */
export interface ShardAppendResult {
  added: number;
  splitAt: number | null;
  /** Ids of entries at or past the split point: they belong to their hour's shard. */
  refused: string[];
}

export class AuditShard {
  constructor(
    private readonly sql: SqlStorage,
    private readonly log: AuditLog,
    /** Entries a day's shard holds before its day goes hourly (a test sets a tiny one). */
    private readonly splitEntries = DEFAULT_SPLIT_ENTRIES,
  ) {}

  migrate(): void {
    for (const statement of SCHEMA) this.sql.exec(statement);
    ShardArchiver.migrate(this.sql);
  }

  private state(): ShardState | undefined {
    return this.sql.exec<ShardState>("SELECT * FROM shard_state").toArray()[0];
  }

  /**
   * Stores the entries of `period` this shard holds (idempotent by id), after telling the directory (`report`)
   * whatever it does not know yet. Entries outside the period are a routing bug and fail the whole call.
   */
  async append(name: string, period: ShardPeriod, records: readonly AuditRecord[], report: (report: ShardReport) => Promise<ReportAnswer>): Promise<ShardAppendResult> {
    const outside = records.find((r) => r.at < period.start || r.at >= period.end);
    if (outside) throw new Error(`audit entry ${outside.id} at ${outside.at} is outside shard ${name}`);
    let state = this.state();
    if (!state) {
      this.sql.exec("INSERT INTO shard_state (one, name, start, end) VALUES (1, ?, ?, ?)", name, period.start, period.end);
      state = this.state()!;
    }
    const splitAt = state.split_at;
    const accepted = splitAt === null ? [...records] : records.filter((r) => r.at < splitAt);
    const refused = splitAt === null ? [] : records.filter((r) => r.at >= splitAt).map((r) => r.id);

    const hashes = new Set<string>();
    for (const record of accepted) for (const cubeId of cubesNamed(record)) hashes.add(await sha256Hex(cubeId));
    const unreported = state.any_cube === 1 ? [] : [...hashes].filter((h) => this.sql.exec("SELECT 1 FROM reported_cubes WHERE cube_sha256 = ?", h).toArray().length === 0);
    if (state.registered === 0 || unreported.length > 0) {
      const answer = await report({ name, period, entries: state.entries, minAt: state.min_at, maxAt: state.max_at, cubes: unreported });
      this.log.keepTombstones(answer.tombstones);
      if (answer.anyCube) {
        this.sql.exec("UPDATE shard_state SET registered = 1, any_cube = 1");
        this.sql.exec("DELETE FROM reported_cubes");
      } else {
        this.sql.exec("UPDATE shard_state SET registered = 1");
        for (const h of unreported) this.sql.exec("INSERT INTO reported_cubes (cube_sha256) VALUES (?) ON CONFLICT DO NOTHING", h);
      }
    }

    const added = await this.log.append(accepted);
    if (accepted.length === 0) return { added, splitAt, refused };
    const ats = accepted.map((r) => r.at);
    this.sql.exec(
      "UPDATE shard_state SET entries = entries + ?, min_at = min(coalesce(min_at, ?), ?), max_at = max(coalesce(max_at, ?), ?)",
      added, Math.min(...ats), Math.min(...ats), Math.max(...ats), Math.max(...ats),
    );
    const after = this.state()!;
    let split = after.split_at;
    if (split === null && isDayPeriod(period) && after.max_at !== null) {
      split = splitPointAfter(after.entries, this.splitEntries, after.max_at);
      if (split !== null) this.sql.exec("UPDATE shard_state SET split_at = ?", split);
    }
    return { added, splitAt: split, refused };
  }

  /** Deletes the entries naming these cubes and keeps their tombstones (an erasure the directory sent here). */
  async eraseCubes(cubeIds: readonly string[], erasedAt: number): Promise<number> {
    const deleted = await this.log.eraseCubes(cubeIds, erasedAt);
    if (deleted > 0) this.sql.exec("UPDATE shard_state SET entries = max(0, entries - ?)", deleted);
    // Its copy to R2 under way may hold the deleted rows: it starts again without them.
    if (deleted > 0) ShardArchiver.voidUpload(this.sql);
    return deleted;
  }

  /**
   * Copies the shard to its day's folder in R2 (./shard-archive.ts), at most `steps` bounded steps; `done` when every
   * entry is in R2 — the caller then deletes the whole shard. A crash between steps only redoes a step.
   */
  archiveSteps(archive: AuditArchive, tenantId: string, steps: number): Promise<ShardArchiveProgress> {
    const start = this.state()?.start;
    if (start === undefined) return Promise.resolve({ done: true, entries: 0, parts: 0, heldBytes: 0 });
    return new ShardArchiver(this.sql, archive, tenantId, start).run(steps);
  }
}
