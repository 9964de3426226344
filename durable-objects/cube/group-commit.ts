/**
 * Group commit for a cube's single-memory writes (issue 14, item 7; docs/hot-path.md, "Group commit").
 *
 * In a SQLite-backed Durable Object every root `transactionSync` is one SQLite commit (workerd's `ActorSqlite`:
 * a root `ExplicitTxn` ends with `RELEASE`, and it first commits any implicit transaction still open); locally each
 * commit is a WAL `fsync` on the object's one thread, and the object's answer waits for it (the output gate). A
 * transaction nested in another is a `SAVEPOINT`: it rolls back alone and commits with its parent.
 *
 * So writes that arrive together are applied in ONE root transaction, each in its own nested one: the first
 * caller yields once (a macrotask, which lets RPC calls already queued for the object in) and then runs every
 * write queued meanwhile in one synchronous pass. A write that throws rolls back its own savepoint only and its
 * caller gets the error; the others commit and each caller gets its own result once the group's commit is done.
 * A write that returns a refusal (`Outcome` not ok) is its own business: the group does not look at results.
 *
 * Work that is the group's rather than each write's (the cube's sweep, its vector-block rewrite) goes through the
 * {@link GroupPass} every write is handed: `once` runs at the group's root level the first time a write asks, and
 * `beforeCommit` runs after the writes, in the root transaction, once per key (docs/hot-path.md, "Once per group").
 */

import { isProbeOn, noteGroupCommit } from "../../src/scale-probe";

/** What the object learns about its groups, for the bench and the scale model (counted since the object started). */
export interface GroupCommitStats {
  /** Root transactions (commits) the groups took. */
  groups: number;
  /** Writes applied in them. */
  writes: number;
  /** The largest group. */
  largest: number;
  /** Wall time of the groups' passes, commit included, ms (locally the clock runs during CPU work and the fsync). */
  passMs: number;
  /** Of it, the root commits alone (locally the WAL write and its fsync). */
  commitMs: number;
}

/**
 * The group a write runs in: what it shares with the other writes of the same root transaction. Both hooks run in
 * that root transaction, never in a write's own savepoint, so a write that rolls back does not take them with it.
 */
export class GroupPass {
  /** `size`: the writes in the group. A group of one may do its work as a lone write would (nothing to share). */
  constructor(readonly size: number) {}

  private readonly done = new Set<string>();
  private readonly finishers = new Map<string, () => void>();
  private readonly state = new Map<string, unknown>();

  /** What the group's writes gather under `key` (created by `create` for the first), e.g. the vectors they wrote. */
  shared<T>(key: string, create: () => T): T {
    if (!this.state.has(key)) this.state.set(key, create());
    return this.state.get(key) as T;
  }

  /**
   * Runs `work` for the first write of the group that asks (called before the write opens its savepoint); later
   * writes skip it. A `work` that throws is not marked done (the next write runs it again) and must leave nothing
   * behind: give it its own nested transaction.
   */
  once(key: string, work: () => void): void {
    if (this.done.has(key)) return;
    work();
    this.done.add(key);
  }

  /** Runs `work` once after the group's writes, before its commit; the first registration of a key wins. A throw fails the whole group. */
  beforeCommit(key: string, work: () => void): void {
    if (!this.finishers.has(key)) this.finishers.set(key, work);
  }

  /** @internal The group's end: runs the registered work in order of registration. */
  finish(): void {
    for (const work of this.finishers.values()) work();
    this.finishers.clear();
  }
}

interface Pending {
  write: (pass: GroupPass) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Writes per group: the write batch limit, so a group's pass is no longer than one batched request's. */
export const GROUP_COMMIT_MAX = 100;

export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;
  private readonly stats_: GroupCommitStats = { groups: 0, writes: 0, largest: 0, passMs: 0, commitMs: 0 };

  /**
   * `transaction`: the object's root synchronous transaction (`ctx.storage.transactionSync`); `yieldTurn`: resolves
   * after the RPC calls already queued for the object have run up to their own `submit`; `onGroup`: told each
   * group's size and pass time (the scale probe's tally).
   */
  constructor(
    private readonly transaction: (pass: () => void) => void,
    private readonly yieldTurn: () => Promise<void> = () => new Promise((resolve) => setTimeout(resolve, 0)),
    private readonly onGroup: (size: number, passMs: number, commitMs: number) => void = () => {},
    private readonly max = GROUP_COMMIT_MAX,
  ) {}

  /**
   * Queues a write (which must open its own transaction, nested in the group's) and answers its result once the
   * group it joined has committed, or its own error. Nothing of a write that throws is stored.
   */
  submit<T>(write: (pass: GroupPass) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ write, resolve: resolve as (value: unknown) => void, reject });
      if (this.pending.length >= this.max) this.flush();
      else this.schedule();
    });
  }

  stats(): GroupCommitStats {
    return { ...this.stats_ };
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    void this.yieldTurn().then(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const group = this.pending.splice(0, this.max);
    if (group.length === 0) return;
    const started = performance.now();
    let applied = started;
    const settled: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    const pass = new GroupPass(group.length);
    try {
      this.transaction(() => {
        for (const { write } of group) {
          try {
            settled.push({ ok: true, value: write(pass) });
          } catch (error) {
            settled.push({ ok: false, error });
          }
        }
        pass.finish();
        applied = performance.now();
      });
    } catch (error) {
      // The root commit (or the group's own work before it) failed: nothing of the group is stored, so every
      // caller gets the error.
      for (const entry of group) entry.reject(error);
      this.schedulePending();
      return;
    }
    const ended = performance.now();
    this.stats_.groups += 1;
    this.stats_.writes += group.length;
    this.stats_.largest = Math.max(this.stats_.largest, group.length);
    this.stats_.passMs += ended - started;
    this.stats_.commitMs += ended - applied;
    this.onGroup(group.length, ended - started, ended - applied);
    group.forEach((entry, i) => {
      const outcome = settled[i]!;
      if (outcome.ok) entry.resolve(outcome.value);
      else entry.reject(outcome.error);
    });
    this.schedulePending();
  }

  /** Writes queued beyond a full group go in the next one. */
  private schedulePending(): void {
    if (this.pending.length > 0) this.schedule();
  }
}

/**
 * The cube's group commit over its storage: a group whose root commit fails stored nothing, so `onAbort` resets
 * what the object keeps in memory ahead of SQL (the vector store). With the scale probe on, each group is tallied.
 */
export function groupCommitFor(ctx: DurableObjectState, env: object, onAbort: () => void): GroupCommit {
  const probe = isProbeOn(env);
  return new GroupCommit(
    (pass) => {
      try {
        ctx.storage.transactionSync(pass);
      } catch (error) {
        onAbort();
        throw error;
      }
    },
    undefined,
    probe ? noteGroupCommit : undefined,
  );
}
