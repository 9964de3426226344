/**
 * What is left of a destroyed cube outside its own storage — its vectors in the shared index and its R2 objects —
 * deleted in bounded steps (issue 17, item 5). A cube's storage goes at once (destroy()); the calls to other
 * services it takes to clean up after it (one Vectorize delete per 100 ids, an R2 list and a delete per 1,000
 * objects) can outgrow one invocation's subrequest budget (50 on Workers Free, 1,000 on older Paid pages), so each
 * invocation — destroy() itself, then each alarm — makes at most `budget` calls and keeps the rest in `teardown`
 * (cube migration 19), which survives an eviction. A failing service backs off (cube/backoff.ts).
 *
 * The rows hold the cube's id (a namespace, R2 prefixes) and memory ids, never content or the owner. A cube made
 * again under the same id meanwhile keeps what it writes: objects uploaded after the destruction and vectors of
 * memories it holds are skipped.
 *
 * A hard forget (cube.ts `forget`) plans its memory's archive key and vector here in the purge's own transaction and
 * runs a step right after the commit, so a failing service delays the deletion to the alarm instead of failing the
 * answer (issue 16, item 3).
 */
import type { VectorIndex } from "../../src/adapters/types";
import { Backoff } from "./backoff";

/** Calls to other services one invocation spends on a teardown: under Workers Free's 50 subrequests, with room to spare. */
export const TEARDOWN_CALLS_PER_STEP = 40;
/** Ids per shared-index delete: Vectorize's deleteByIds takes at most 100 (docs/platform-limits.md). */
export const TEARDOWN_VECTOR_BATCH = 100;
/**
 * When a destruction's alarm is set, before its storage goes: the teardown resumes then if the invocation dies after
 * the erasure. Far longer than one step, so it never runs a step beside destroy()'s own.
 */
export const TEARDOWN_RESUME_MS = 60_000;
/** Objects per R2 list (its maximum) and so per delete (R2 deletes up to 1,000 keys per call). */
const OBJECT_PAGE = 1000;

type Row = Record<string, SqlStorageValue>;

/** What one step deleted, and whether anything is left. */
export interface TeardownStep {
  vectors: number;
  objects: number;
  calls: number;
  done: boolean;
}

export class CubeTeardown {
  readonly backoff: Backoff;
  /** Calls per step; tests make it small to drive a cube bigger than one step. */
  budget = TEARDOWN_CALLS_PER_STEP;

  constructor(
    private readonly sql: SqlStorage,
    private readonly bucket: R2Bucket,
  ) {
    this.backoff = new Backoff(sql, "teardown");
  }

  private exec(query: string, ...params: unknown[]): Row[] {
    return this.sql.exec(query, ...(params as SqlStorageValue[])).toArray();
  }

  /**
   * Records what must go: `ids` from the shared index namespace `namespace` (when there is one), and every object
   * under `prefixes` uploaded before `before`. Call inside the transaction that starts from the emptied storage.
   */
  plan(namespace: string | null, ids: readonly string[], prefixes: readonly string[], before: number): void {
    for (const prefix of prefixes) this.exec("INSERT INTO teardown (kind, target, cutoff) VALUES ('objects', ?, ?)", prefix, before);
    if (namespace === null) return;
    for (let i = 0; i < ids.length; i += TEARDOWN_VECTOR_BATCH) {
      this.exec("INSERT INTO teardown (kind, target, ids) VALUES ('vectors', ?, ?)", namespace, JSON.stringify(ids.slice(i, i + TEARDOWN_VECTOR_BATCH)));
    }
  }

  /**
   * Erases the cube's storage and writes the teardown plan in ONE transaction, so no crash can leave the data gone and
   * the plan unwritten (issue 17: `deleteAll()` followed by the plan's transaction lost the plan — and with it the
   * cube's vectors in the shared index — if the invocation died in between). Every table but `teardown` (which may
   * hold an earlier destruction's unfinished plan) is dropped and `migrate` builds the schema again, as it did after
   * `deleteAll()`. Virtual tables go first: dropping one drops its shadow tables. The platform's own tables (`_cf_*`,
   * `sqlite_*`) stay; the cube keeps nothing in the key-value API. Unlike `deleteAll()` the database file keeps its
   * freed pages, which SQLite reuses for what the cube writes next.
   */
  eraseAndPlan(migrate: () => void, namespace: string | null, ids: readonly string[], prefixes: readonly string[], before: number): void {
    for (;;) {
      const [table] = this.exec(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'teardown'
           AND substr(name, 1, 7) != 'sqlite_' AND substr(name, 1, 4) != '_cf_'
         ORDER BY (sql LIKE 'CREATE VIRTUAL TABLE%') DESC, name LIMIT 1`,
      );
      if (!table) break;
      this.exec(`DROP TABLE "${String(table.name).replaceAll('"', '""')}"`);
    }
    migrate();
    this.plan(namespace, ids, prefixes, before);
  }

  /** Whether anything is left to delete. */
  pending(): boolean {
    return this.exec("SELECT 1 FROM teardown LIMIT 1").length > 0;
  }

  /** When the alarm should run the next step, or null when nothing is left. */
  nextDue(now: number): number | null {
    if (!this.pending()) return null;
    return this.backoff.notBefore() ?? now;
  }

  /**
   * Deletes as much as `budget` calls allow: R2 objects first (a page of 1,000 costs two calls), then vectors (100 ids
   * a call). Progress is recorded after every call, so a step cut short resumes where it stopped. A failure ends
   * the step and backs off; the rest waits for the alarm.
   */
  async step(index: VectorIndex | null, now: number): Promise<TeardownStep> {
    const result: TeardownStep = { vectors: 0, objects: 0, calls: 0, done: false };
    try {
      for (const row of this.exec("SELECT seq, target, cutoff, after_key FROM teardown WHERE kind = 'objects' ORDER BY seq")) {
        let after = row.after_key == null ? undefined : String(row.after_key);
        for (;;) {
          if (result.calls + 2 > this.budget) return this.finish(result);
          const page = await this.bucket.list({ prefix: String(row.target), limit: OBJECT_PAGE, ...(after === undefined ? {} : { startAfter: after }) });
          result.calls += 1;
          // Objects written after the destruction belong to a cube made again under the same id.
          const old = page.objects.filter((object) => object.uploaded.getTime() <= Number(row.cutoff)).map((object) => object.key);
          if (old.length > 0) {
            await this.bucket.delete(old);
            result.calls += 1;
            result.objects += old.length;
          }
          if (!page.truncated || page.objects.length === 0) {
            this.exec("DELETE FROM teardown WHERE seq = ?", row.seq);
            break;
          }
          after = page.objects.at(-1)!.key;
          this.exec("UPDATE teardown SET after_key = ? WHERE seq = ?", after, row.seq);
        }
      }
      for (const row of this.exec("SELECT seq, target, ids FROM teardown WHERE kind = 'vectors' ORDER BY seq")) {
        if (result.calls + 1 > this.budget) return this.finish(result);
        // A memory the cube holds again (re-imported under its deterministic id) keeps its vector.
        const ids = (JSON.parse(String(row.ids)) as string[]).filter((id) => this.exec("SELECT 1 FROM memories WHERE id = ?", id).length === 0);
        if (ids.length > 0 && index) {
          await index.delete(String(row.target), ids);
          result.calls += 1;
          result.vectors += ids.length;
        }
        this.exec("DELETE FROM teardown WHERE seq = ?", row.seq);
      }
    } catch (error) {
      console.error("deleting a destroyed cube's or a purged memory's vectors or R2 objects failed; the alarm tries again with backoff", error);
      this.backoff.failed(now);
      return result;
    }
    return this.finish(result);
  }

  private finish(result: TeardownStep): TeardownStep {
    this.backoff.succeeded();
    result.done = !this.pending();
    return result;
  }
}
