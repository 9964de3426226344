/**
 * What a group of single-memory writes does once rather than once per write (issue 14, item 7; docs/hot-path.md,
 * "Once per group"). Each write of a group (cube/group-commit.ts) used to run the cube's whole sweep (access counts,
 * due expiries, the idempotency window's DELETE), count the live memories, stamp the lifecycle schedule and rewrite
 * its vector block — sixteen times for sixteen writes that share one commit. Here each becomes the group's:
 *
 * - the sweep runs at the group's root, before the first write's savepoint, in its own nested transaction (so a
 *   write that rolls back does not take it along, and a sweep that fails leaves nothing half done);
 * - vectors are staged by each write once its savepoint has committed, and stored in one upsert before the group's
 *   commit — one block rewrite where there were as many as writes;
 * - the live count and the lifecycle schedule's stamp are taken once after the writes: every caller of the group
 *   gets the count as its group commits it.
 *
 * Every caller keeps its own outcome, idempotent replay and events/outbox rows: those stay in each write's savepoint.
 */
import type { VectorRecord } from "../../src/adapters/types";
import type { Mutation } from "./protocol";
import type { GroupPass } from "./group-commit";

/** The pass to share work through, or null for a group of one: it runs as a lone write did (no extra savepoint). */
export function sharedPass(pass: GroupPass | null): GroupPass | null {
  return pass !== null && pass.size > 1 ? pass : null;
}

/** The cube's lazy sweep, once per group: the first write runs it, the others of its group skip it. */
export function sweepOncePerGroup(pass: GroupPass, sweep: () => void): void {
  pass.once("sweep", sweep);
}

/** The lifecycle schedule's "last write" stamp, once per group, after its writes. */
export function noteWriteOncePerGroup(pass: GroupPass, noteWrite: () => void): void {
  pass.beforeCommit("note-write", noteWrite);
}

/** Gives `mutation` (and every other of the group) the cube's live count taken once after the group's writes. */
export function countLiveOncePerGroup(pass: GroupPass, mutation: Mutation<unknown>, liveCount: () => number): void {
  pass.shared("counted", () => [] as Mutation<unknown>[]).push(mutation);
  pass.beforeCommit("live-count", () => {
    const count = liveCount();
    for (const counted of pass.shared("counted", () => [] as Mutation<unknown>[])) counted.liveCount = count;
  });
}

/**
 * Stages a committed write's vectors for the group's one upsert. Call it after the write's savepoint committed, with
 * records already checked against the vector store (so the group's upsert cannot refuse one write's vectors for all).
 */
export function stageVectors(pass: GroupPass, records: readonly VectorRecord[], upsert: (records: VectorRecord[]) => void): void {
  if (records.length === 0) return;
  const staged = pass.shared("vectors", () => [] as VectorRecord[]);
  staged.push(...records);
  pass.beforeCommit("vectors", () => upsert(staged));
}
