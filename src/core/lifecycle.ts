/**
 * Memory lifecycle states (shared/DESIGN.md) and the transitions the API can cause today.
 *
 * `forgotten` is our name for a soft delete: the memory leaves reads and search but keeps its versions, so the
 * time machine and audit still work. Hard delete (`purged`) removes the row and leaves only an event behind.
 * `frozen` is a flag on the header rather than a state: a frozen memory still has a lifecycle state.
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

/** What an API call may do to a memory. */
export type LifecycleAction = "update" | "forget" | "expire";

const ALLOWED_FROM: Record<LifecycleAction, readonly MemoryState[]> = {
  update: ["generated", "activated", "archived"],
  forget: ["generated", "activated", "archived", "expired", "superseded", "merged"],
  expire: ["generated", "activated", "archived"],
};

/** The state an action leads to, or null when the action is not allowed from `from`. */
export function transition(from: MemoryState, action: LifecycleAction): MemoryState | null {
  if (!ALLOWED_FROM[action].includes(from)) return null;
  switch (action) {
    case "update":
      return from === "generated" ? "activated" : from;
    case "forget":
      return "forgotten";
    case "expire":
      return "expired";
  }
}
