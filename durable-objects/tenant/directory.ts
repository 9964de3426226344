/**
 * What the tenant's directory object holds (issue 14, items 1 and 3; docs/scale.md "The tenant directory"): the
 * tenant's webhook subscribers and the grants on the cubes asked about, read from D1 once and then served from
 * memory, so the isolates that refresh their caches every few seconds ask this object instead of the one D1.
 *
 * D1 stays the source of truth. Every writer brackets its D1 write with {@link TenantDirectory.begin} and
 * {@link TenantDirectory.end} (src/services/tenant-directory.ts): `begin` drops the held copy and marks its scope
 * *changing* — reads of it go to D1 and install nothing — and `end` drops it again once the write committed. Each
 * scope carries a generation, bumped by both: a load that started before a change finishes after it and is not
 * installed, so a load racing a change can never put back the list the change replaced. A lost `end` (the writer's
 * isolate died) costs at most {@link CHANGE_WINDOW_MS} of uncached reads, after which the next read loads the
 * committed rows.
 */

/** How long a change that never reported its end keeps its scope uncached: well past any D1 write's duration. */
export const CHANGE_WINDOW_MS = 60_000;
/** Cubes whose grants are held at once (oldest first out); a cube without grants is held too, as an empty set. */
export const MAX_CUBES_HELD = 10_000;
/** Grant rows held at once across cubes (each cube has ≤ 1,000: MAX_GRANTS_PER_CUBE). */
export const MAX_GRANTS_HELD = 100_000;
/** Cubes whose owner is held at once (oldest first out): ~100 bytes each. */
export const MAX_CUBE_OWNERS_HELD = 100_000;

/** One subscribed webhook: what the fan-out needs to match an event. */
export interface Subscriber {
  id: string;
  /** The event types it asked for. */
  events: string[];
  createdAt: number;
}

export type Permission = "read" | "write";

/** A cube's grants: principal → permission. */
export type CubeGrants = Map<string, Permission>;

/**
 * What a change touches: the webhook list, or the grants of some cubes or of every cube (`cubeIds` null). A cube's
 * deletion is a `grants` change of that cube (its grants go with it), so it drops the cube's held owner too.
 */
export type TenantChange = { kind: "webhooks" } | { kind: "grants"; cubeIds: string[] | null };

/** The D1 reads behind the object (./rows.ts), injected so the race can be tested with a load held open. */
export interface TenantRows {
  webhooks(): Promise<Subscriber[]>;
  /** Every grant on these cubes, by cube (cubes without grants may be absent). */
  grants(cubeIds: readonly string[]): Promise<Map<string, CubeGrants>>;
  /** The owner of each of these cubes that exists (absent: no such cube of the tenant). */
  cubeOwners(cubeIds: readonly string[]): Promise<Map<string, string>>;
}

interface Slot<T> {
  value: T | undefined;
  generation: number;
  /** Changes begun and not ended. */
  inFlight: number;
  /** Until when the changes in flight keep the scope uncached. */
  changingUntil: number;
}

const newSlot = <T>(): Slot<T> => ({ value: undefined, generation: 0, inFlight: 0, changingUntil: 0 });

export class TenantDirectory {
  private readonly webhooks = newSlot<Subscriber[]>();
  /** By cube id, in use order (a Map keeps insertion order: re-inserted on use). */
  private readonly grants = new Map<string, Slot<CubeGrants>>();
  /** Changes to every cube's grants (an owner erased as a grantee): a generation over all of them. */
  private readonly everyCube = newSlot<never>();
  private grantRowsHeld = 0;
  /** Owners of existing cubes by cube id, in use order. A cube found absent is not held: one created later is found. */
  private readonly cubeOwnersHeld = new Map<string, Slot<string>>();

  constructor(
    private readonly rows: TenantRows,
    private readonly clock: () => number = Date.now,
  ) {}

  private changing(slot: Slot<unknown>): boolean {
    return slot.inFlight > 0 && this.clock() < slot.changingUntil;
  }

  /** The tenant's webhooks: held, or read from D1 (and held unless a change began meanwhile). `fresh` reads D1 anyway. */
  async subscribers(fresh = false): Promise<Subscriber[]> {
    const slot = this.webhooks;
    if (!fresh && slot.value && !this.changing(slot)) return slot.value;
    const generation = slot.generation;
    const list = await this.rows.webhooks();
    if (slot.generation === generation && !this.changing(slot)) slot.value = list;
    return list;
  }

  /** The best permission any of `principals` holds on each cube (absent: none). Held cubes answer without D1. */
  async permissions(cubeIds: readonly string[], principals: readonly string[]): Promise<Record<string, Permission>> {
    const answer: Record<string, Permission> = {};
    const decide = (cubeId: string, grants: CubeGrants) => {
      let best: Permission | undefined;
      for (const principal of principals) {
        const permission = grants.get(principal);
        if (permission === "write") best = "write";
        else if (permission === "read" && best === undefined) best = "read";
      }
      if (best) answer[cubeId] = best;
    };
    await this.throughSlots(this.grants, cubeIds, (ids) => this.rows.grants(ids), (cubeId, grants, slot, installable) => {
      const held = grants ?? new Map<string, Permission>();
      decide(cubeId, held);
      if (installable) this.hold(slot, held);
    }, decide);
    this.evict();
    return answer;
  }

  /**
   * The owner of each cube that exists (absent: none). Held cubes answer without D1; a cube's owner never changes, so
   * only its deletion (a `grants` change naming it, or of every cube) drops what is held.
   */
  async owners(cubeIds: readonly string[]): Promise<Record<string, string>> {
    const answer: Record<string, string> = {};
    await this.throughSlots(this.cubeOwnersHeld, cubeIds, (ids) => this.rows.cubeOwners(ids), (cubeId, owner, slot, installable) => {
      if (owner === undefined) {
        // Absent cubes are not held: one created since is found on the next ask.
        if (this.cubeOwnersHeld.get(cubeId) === slot && slot.inFlight === 0) this.cubeOwnersHeld.delete(cubeId);
        return;
      }
      answer[cubeId] = owner;
      if (installable) slot.value = owner;
    }, (cubeId, owner) => (answer[cubeId] = owner));
    for (const [cubeId, slot] of this.cubeOwnersHeld) {
      if (this.cubeOwnersHeld.size <= MAX_CUBE_OWNERS_HELD) break;
      slot.value = undefined;
      if (slot.inFlight === 0) this.cubeOwnersHeld.delete(cubeId);
    }
    return answer;
  }

  /**
   * The per-cube lookup both held maps share, through the generation guard: each cube's slot moves to the end of
   * `held` (most recently used last out); a current value goes to `fromHeld`; the rest are loaded in one call and each
   * goes to `loaded`, told whether it may be held — only if no change touched its cube, or every cube, since the load
   * began and its slot is still the one in `held`.
   */
  private async throughSlots<T>(
    held: Map<string, Slot<T>>,
    cubeIds: readonly string[],
    load: (cubeIds: string[]) => Promise<Map<string, T>>,
    loaded: (cubeId: string, value: T | undefined, slot: Slot<T>, installable: boolean) => void,
    fromHeld: (cubeId: string, value: T) => void,
  ): Promise<void> {
    const everyCubeChanging = this.changing(this.everyCube);
    const missing: { cubeId: string; slot: Slot<T>; generation: number }[] = [];
    for (const cubeId of new Set(cubeIds)) {
      const slot = held.get(cubeId) ?? newSlot<T>();
      held.delete(cubeId);
      held.set(cubeId, slot);
      if (slot.value !== undefined && !everyCubeChanging && !this.changing(slot)) fromHeld(cubeId, slot.value);
      else missing.push({ cubeId, slot, generation: slot.generation });
    }
    if (missing.length === 0) return;
    const epoch = this.everyCube.generation;
    const values = await load(missing.map((m) => m.cubeId));
    for (const { cubeId, slot, generation } of missing) {
      const unchanged = slot.generation === generation && this.everyCube.generation === epoch;
      const installable = unchanged && held.get(cubeId) === slot && !this.changing(slot) && !this.changing(this.everyCube);
      loaded(cubeId, values.get(cubeId), slot, installable);
    }
  }

  private hold(slot: Slot<CubeGrants>, grants: CubeGrants): void {
    this.grantRowsHeld += grants.size - (slot.value?.size ?? 0);
    slot.value = grants;
  }

  private drop(slot: Slot<CubeGrants>): void {
    this.grantRowsHeld -= slot.value?.size ?? 0;
    slot.value = undefined;
  }

  /** Oldest cubes out past the bounds; a cube with a change in flight keeps its slot (its generation guards loads). */
  private evict(): void {
    for (const [cubeId, slot] of this.grants) {
      if (this.grants.size <= MAX_CUBES_HELD && this.grantRowsHeld <= MAX_GRANTS_HELD) return;
      this.drop(slot);
      if (slot.inFlight === 0) this.grants.delete(cubeId);
    }
  }

  /** A writer is about to change D1: the scope's copies go, and it stays uncached until {@link end}. */
  begin(change: TenantChange): void {
    const until = this.clock() + CHANGE_WINDOW_MS;
    for (const slot of [...this.slotsOf(change), ...this.ownerSlotsOf(change)]) {
      this.bump(slot);
      slot.inFlight += 1;
      slot.changingUntil = until;
    }
  }

  /** The writer's D1 write is over (committed or not): the scope is read afresh from D1 on its next use. */
  end(change: TenantChange): void {
    for (const slot of [...this.slotsOf(change), ...this.ownerSlotsOf(change)]) {
      this.bump(slot);
      slot.inFlight = Math.max(0, slot.inFlight - 1);
      if (slot.inFlight === 0) slot.changingUntil = 0;
    }
  }

  private bump(slot: Slot<unknown>): void {
    slot.generation += 1;
    // A held owner is a string, held grants a Map (counted in grantRowsHeld, so dropped through drop()).
    if (slot === this.webhooks || slot === this.everyCube || typeof slot.value === "string") slot.value = undefined;
    else this.drop(slot as Slot<CubeGrants>);
  }

  /** The held owners a change touches: its cubes' (a change of every cube drops them all; everyCube guards loads). */
  private ownerSlotsOf(change: TenantChange): Slot<string>[] {
    if (change.kind !== "grants") return [];
    if (change.cubeIds === null) {
      for (const slot of this.cubeOwnersHeld.values()) slot.value = undefined;
      return [];
    }
    return change.cubeIds.map((cubeId) => {
      let slot = this.cubeOwnersHeld.get(cubeId);
      if (!slot) this.cubeOwnersHeld.set(cubeId, (slot = newSlot()));
      return slot;
    });
  }

  private slotsOf(change: TenantChange): Slot<unknown>[] {
    if (change.kind === "webhooks") return [this.webhooks];
    if (change.cubeIds === null) {
      for (const slot of this.grants.values()) this.drop(slot);
      return [this.everyCube];
    }
    return change.cubeIds.map((cubeId) => {
      let slot = this.grants.get(cubeId);
      if (!slot) this.grants.set(cubeId, (slot = newSlot()));
      return slot;
    });
  }
}
