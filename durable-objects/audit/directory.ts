/**
 * The directory of a tenant's audit shards, held in the tenant's own audit object (`<tenant>`, which also keeps the
 * entries written before sharding as a legacy shard). One row per shard: its period, what it last reported of its
 * entries (count, oldest and newest `at`), and the SHA-256 of every cube its entries name — or, past
 * {@link MAX_CUBES_PER_SHARD}, a flag that it may name any cube.
 *
 * Off the hot path: a shard reports only when it takes its first entry and when a batch names a cube it has not
 * reported yet (./shard.ts), so at steady state a batch costs its shards' appends and nothing here. The cube sets
 * are what lets an erasure visit only the shards that may name an erased cube; the periods what lets a page skip
 * shards its time range excludes and retention drop whole shards.
 *
 * Retention / cap: a row goes when its shard is archived to R2 (whole shards, `tenants.audit_retention_days`); at
 * most MAX_CUBES_PER_SHARD cube rows per shard and MAX_DIRECTORY_CUBE_ROWS in all (the oldest shards collapse to
 * "any cube" past it).
 */
import type { ShardPeriod } from "./periods";

/** Cube hashes kept per shard; past it the shard is visited by every erasure instead (bounds this object's size). */
export const MAX_CUBES_PER_SHARD = 10_000;

/**
 * Cube hashes kept across all of the tenant's shards (~100 bytes each in use: ≤ ~100 MB). Past it the shards that end
 * first give up their sets and name "any cube" — erasure then visits more shards, never fewer — until the total is
 * back under it. Without it, 365 days of hourly shards naming 10,000 cubes each would keep 87.6M rows (~8.8 GB).
 */
export const MAX_DIRECTORY_CUBE_ROWS = 1_000_000;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS audit_shards (
     name TEXT PRIMARY KEY,
     start INTEGER NOT NULL,
     end INTEGER NOT NULL,
     entries INTEGER NOT NULL DEFAULT 0,
     min_at INTEGER,
     max_at INTEGER,
     any_cube INTEGER NOT NULL DEFAULT 0,
     cubes INTEGER NOT NULL DEFAULT 0,
     reports INTEGER NOT NULL DEFAULT 1
   )`,
  `CREATE INDEX IF NOT EXISTS audit_shards_end ON audit_shards (end)`,
  `CREATE TABLE IF NOT EXISTS audit_shard_cubes (cube_sha256 TEXT NOT NULL, shard TEXT NOT NULL, PRIMARY KEY (cube_sha256, shard)) WITHOUT ROWID`,
  `CREATE INDEX IF NOT EXISTS audit_shard_cubes_shard ON audit_shard_cubes (shard)`,
];

/** What a shard tells the directory: who it is, its entries so far, and the cubes it names that it has not reported. */
export interface ShardReport {
  name: string;
  period: ShardPeriod;
  entries: number;
  minAt: number | null;
  maxAt: number | null;
  /** SHA-256 of cubes named for the first time in this shard. */
  cubes: string[];
}

/** A shard as the directory lists it. */
export type ShardRef = {
  name: string;
  start: number;
  end: number;
};

/** An erased cube, by the SHA-256 of its id (no audit object keeps an erased cube's id). */
export interface Tombstone {
  cubeSha256: string;
  erasedAt: number;
}

/** The answer to a report: erasure tombstones the shard must keep (cube SHA-256 → erased at), and its cube state. */
export interface ReportAnswer {
  tombstones: Tombstone[];
  /** The shard is now listed as naming any cube: it need not report cubes again (every erasure visits it). */
  anyCube: boolean;
}

/** Filters of a page that the directory can apply to whole shards. */
export interface ShardPageFilters {
  cubeSha256?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
  /** The page starts at or before this time (the cursor's). */
  atOrBefore?: number | undefined;
}

export class AuditDirectory {
  constructor(
    private readonly sql: SqlStorage,
    /** Cube rows kept in all (a test sets a tiny one). */
    private readonly maxCubeRows = MAX_DIRECTORY_CUBE_ROWS,
  ) {}

  migrate(): void {
    for (const statement of SCHEMA) this.sql.exec(statement);
  }

  /** Records a shard's report. Tombstones: those of the reported cubes, or all live ones once it names any cube. */
  report(report: ShardReport): ReportAnswer {
    const { name, period } = report;
    this.sql.exec(
      `INSERT INTO audit_shards (name, start, end, entries, min_at, max_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET reports = reports + 1, entries = max(entries, excluded.entries),
         min_at = coalesce(min(min_at, excluded.min_at), min_at, excluded.min_at),
         max_at = coalesce(max(max_at, excluded.max_at), max_at, excluded.max_at)`,
      name, period.start, period.end, report.entries, report.minAt, report.maxAt,
    );
    const row = this.sql.exec<{ any_cube: number; cubes: number }>("SELECT any_cube, cubes FROM audit_shards WHERE name = ?", name).one();
    let anyCube = row.any_cube === 1;
    if (!anyCube && row.cubes + report.cubes.length > MAX_CUBES_PER_SHARD) {
      this.sql.exec("UPDATE audit_shards SET any_cube = 1, cubes = 0 WHERE name = ?", name);
      this.sql.exec("DELETE FROM audit_shard_cubes WHERE shard = ?", name);
      anyCube = true;
    } else if (!anyCube) {
      let added = 0;
      for (const cube of report.cubes) {
        added += this.sql.exec("INSERT INTO audit_shard_cubes (cube_sha256, shard) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING shard", cube, name).toArray().length;
      }
      if (added > 0) this.sql.exec("UPDATE audit_shards SET cubes = cubes + ? WHERE name = ?", added, name);
      if (added > 0) anyCube = this.collapseOldest(name);
    }
    const tombstones = anyCube
      ? this.sql.exec<{ cube_sha256: string; erased_at: number }>("SELECT cube_sha256, erased_at FROM erased_cubes").toArray()
      : report.cubes.flatMap((cube) => this.sql.exec<{ cube_sha256: string; erased_at: number }>("SELECT cube_sha256, erased_at FROM erased_cubes WHERE cube_sha256 = ?", cube).toArray());
    return { tombstones: tombstones.map((t) => ({ cubeSha256: t.cube_sha256, erasedAt: t.erased_at })), anyCube };
  }

  /**
   * While the directory keeps more than `maxCubeRows` cube rows, the shard that ends first (and still keeps a set)
   * names any cube instead. Work per report: the rows it added plus at most one shard's set more. Returns whether
   * `reporting` itself collapsed.
   */
  private collapseOldest(reporting: string): boolean {
    let total = Number(this.sql.exec<{ n: number | null }>("SELECT sum(cubes) AS n FROM audit_shards").one().n ?? 0);
    let collapsedReporting = false;
    while (total > this.maxCubeRows) {
      const oldest = this.sql.exec<{ name: string; cubes: number }>(
        "SELECT name, cubes FROM audit_shards WHERE any_cube = 0 AND cubes > 0 ORDER BY end, start LIMIT 1",
      ).toArray()[0];
      if (!oldest) break;
      this.sql.exec("UPDATE audit_shards SET any_cube = 1, cubes = 0 WHERE name = ?", oldest.name);
      this.sql.exec("DELETE FROM audit_shard_cubes WHERE shard = ?", oldest.name);
      total -= oldest.cubes;
      if (oldest.name === reporting) collapsedReporting = true;
    }
    return collapsedReporting;
  }

  /** Shards a page may need, newest period end first, at most `limit`: those the filters do not exclude whole. */
  shardsForPage(filters: ShardPageFilters, limit: number): ShardRef[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filters.from !== undefined) where.push("end > ?"), params.push(filters.from);
    if (filters.to !== undefined) where.push("start < ?"), params.push(filters.to);
    if (filters.atOrBefore !== undefined) where.push("start <= ?"), params.push(filters.atOrBefore);
    if (filters.cubeSha256 !== undefined) {
      where.push("(any_cube = 1 OR EXISTS (SELECT 1 FROM audit_shard_cubes c WHERE c.cube_sha256 = ? AND c.shard = audit_shards.name))");
      params.push(filters.cubeSha256);
    }
    return this.sql
      .exec<ShardRef>(
        `SELECT name, start, end FROM audit_shards ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY end DESC, start DESC LIMIT ?`,
        ...params,
        limit,
      )
      .toArray();
  }

  /** Shards that may hold entries naming one of these cubes (by SHA-256): those that named one, and those naming any. */
  shardsNaming(cubeHashes: readonly string[]): string[] {
    const names = new Set<string>();
    for (const row of this.sql.exec<{ name: string }>("SELECT name FROM audit_shards WHERE any_cube = 1")) names.add(row.name);
    for (const cube of cubeHashes) {
      for (const row of this.sql.exec<{ shard: string }>("SELECT shard FROM audit_shard_cubes WHERE cube_sha256 = ?", cube)) names.add(row.shard);
    }
    return [...names];
  }

  /** Shards whose whole period ends at or before `cutoff`, oldest first, at most `limit`, with their report count. */
  dueBefore(cutoff: number, limit: number): (ShardRef & { reports: number })[] {
    return this.sql
      .exec<ShardRef & { reports: number }>("SELECT name, start, end, reports FROM audit_shards WHERE end <= ? ORDER BY start, end LIMIT ?", cutoff, limit)
      .toArray();
  }

  /**
   * A shard archived and deleted leaves the directory — unless it reported again meanwhile (a late entry recreated
   * it while its archiving was in flight): then it stays listed and is archived on a later run.
   */
  remove(name: string, reports: number): void {
    const gone = this.sql.exec("DELETE FROM audit_shards WHERE name = ? AND reports = ? RETURNING name", name, reports).toArray().length > 0;
    if (gone) this.sql.exec("DELETE FROM audit_shard_cubes WHERE shard = ?", name);
  }

  /** How many shards are listed (the alarm stays armed while any is). */
  count(): number {
    return Number(this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM audit_shards").one().n);
  }
}
