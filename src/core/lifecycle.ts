/**
 * Memory lifecycle (shared/DESIGN.md "Lifecycle") as one transition table. Every move of a memory between states
 * goes through {@link transition}; the cube records each as a version and an event with its actor and reason, and
 * refuses an illegal one with 409.
 *
 * - `forgotten` is our name for a soft delete: the memory leaves reads and search but keeps its versions, so the
 *   time machine and audit still work (rollback brings it back). Hard delete (`purged`) removes the row and leaves
 *   only an event: it is not a state because nothing remains to be in it.
 * - `expired` is terminal: TTL exists so that data stops existing, so expiry leaves a stub without payload.
 * - `superseded` and `merged` point to their successor (`superseded_by`) and are terminal too.
 * - `frozen` is a flag on the header, not a state: a frozen memory keeps its state and refuses every transition
 *   (it can still be read and exported) until it is unfrozen.
 */
export const MEMORY_STATES = [
  "generated",
  "activated",
  "archived",
  "expired",
  "superseded",
  "merged",
  "forgotten",
] as const;

export type MemoryState = (typeof MEMORY_STATES)[number];

/** States that reads and search show unless the caller filters on state explicitly. */
export const LIVE_STATES: readonly MemoryState[] = ["generated", "activated", "archived"];

/** What can happen to a memory. */
export const LIFECYCLE_ACTIONS = [
  "update",
  "archive",
  "restore",
  "expire",
  "forget",
  "rollback",
  "supersede",
  "merge",
  "absorb",
] as const;
export type LifecycleAction = (typeof LIFECYCLE_ACTIONS)[number];

/** generated and activated are both hot, and allow the same moves. */
const HOT: Partial<Record<LifecycleAction, MemoryState>> = {
  update: "activated",
  archive: "archived",
  expire: "expired",
  forget: "forgotten",
  rollback: "activated",
  supersede: "superseded",
  merge: "merged",
  absorb: "activated",
};

/**
 * from-state → action → to-state. An absent entry is an illegal transition. Archived memories are restored
 * (transparently, by the cube) before they are updated, rolled back, merged or superseded, so those actions are
 * only listed from the hot states.
 */
const TABLE: Readonly<Record<MemoryState, Partial<Record<LifecycleAction, MemoryState>>>> = {
  generated: HOT,
  activated: HOT,
  archived: { restore: "activated", expire: "expired", forget: "forgotten" },
  forgotten: { rollback: "activated" },
  expired: {},
  superseded: { forget: "forgotten" },
  merged: { forget: "forgotten" },
};

/** The state an action leads to, or null when the table does not allow it. */
export function transition(from: MemoryState, action: LifecycleAction): MemoryState | null {
  return TABLE[from][action] ?? null;
}

/** Why a transition was refused, in words a caller can act on. */
export function refusal(from: MemoryState, action: LifecycleAction): string {
  return `a memory in state ${from} cannot be ${PAST[action]}`;
}

const PAST: Record<LifecycleAction, string> = {
  update: "updated",
  archive: "archived",
  restore: "restored",
  expire: "expired",
  forget: "forgotten",
  rollback: "rolled back",
  supersede: "superseded",
  merge: "merged",
  absorb: "merged into",
};
