/**
 * The cube's activation block (core/activation.ts): compiled from the cube's live memories when it is asked for and
 * the cube changed, stored as a new version only when its bytes change, each promotion and demotion an event with
 * its reason. `activation_blocks` keeps the newest MAX_BLOCK_VERSIONS versions (older ones are pruned as new ones land).
 */
import {
  ACTIVATION_BUDGET_TOKENS,
  ACTIVATION_MIN_ACCESSES,
  type ActivationCandidate,
  type ActivationMember,
  type ActivationReason,
  type ActivationVersion,
  activationMoves,
  compileActivation,
} from "../../src/core/activation";
import { sha256Hex } from "../../src/core/hash";
import { type Outcome, fail, ok } from "../../src/errors";
import { type CubeRef, SYSTEM, type WriteMeta } from "./protocol";
import type { CubeStore } from "./store";

/** Versions of the block a cube keeps (history); older ones are deleted when a new one is written. */
export const MAX_BLOCK_VERSIONS = 50;
/** Candidates read per class: far more lines than the budget can hold. */
const CANDIDATES_PER_CLASS = 200;
/** Reads (search hits, gets, context) after which the block is compiled again even if nothing was written. */
const RECOMPILE_AFTER_ACCESSES = 100;

const HOT = `+state IN ('generated', 'activated')`;
const isLive = (state: string | undefined) => state === "generated" || state === "activated";
/** Agents whose views are kept compiled (an LRU): views are cheap to compile again. */
const MAX_CACHED_VIEWS = 32;
/** Classes whose newcomers end a rollback's hold: a new standing instruction must reach the block within one request. */
const HOLD_BREAKING: ReadonlySet<ActivationReason> = new Set(["pinned", "instruction", "preference"]);

/** The block as one agent sees it (see {@link CubeActivation.view}), with the cube's block it was derived from. */
export interface ActivationView {
  text: string;
  tokens: number;
  members: ActivationMember[];
  etag: string;
  cube: ActivationVersion;
}

/** The agent a memory was written for: metadata `agent_id`, or the mem0 facade's reserved key; null when shared. */
function agentOf(metadata: Record<string, unknown>): string | null {
  const agent = metadata.agent_id ?? metadata.mem0_agent_id;
  return typeof agent === "string" && agent !== "" ? agent : null;
}

/**
 * Why a held (rolled-back) block must give way to the compiled one, or null while it holds: a member no longer live
 * (its text must not outlive it), or a pinned memory, instruction or preference written after the hold began.
 */
function holdBreaker(
  hold: { heldAt: number },
  held: ActivationVersion,
  compiled: { members: readonly ActivationMember[] },
  candidates: readonly ActivationCandidate[],
): { reason: string; memory_ids: string[] } | null {
  const live = new Set(candidates.map((c) => c.id));
  const gone = held.members.filter((m) => !live.has(m.id)).map((m) => m.id);
  if (gone.length > 0) return { reason: "a member of the held block is no longer live", memory_ids: gone };
  const createdAt = new Map(candidates.map((c) => [c.id, c.createdAt]));
  const inHeld = new Set(held.members.map((m) => m.id));
  const newcomers = compiled.members
    .filter((m) => HOLD_BREAKING.has(m.reason) && !inHeld.has(m.id) && (createdAt.get(m.id) ?? 0) > hold.heldAt)
    .map((m) => m.id);
  if (newcomers.length > 0) return { reason: "a new pinned memory, instruction or preference was written after the rollback", memory_ids: newcomers };
  return null;
}

export class CubeActivation {
  private compiled: { generation: number; accesses: number; block: ActivationVersion } | null = null;
  private readonly views = new Map<string, { generation: number; view: ActivationView }>();

  constructor(
    private readonly store: CubeStore,
    private readonly transaction: (write: () => void) => void,
  ) {}

  /** The current block: the cached one while the cube is unchanged, else compiled (and versioned if it changed). */
  async current(ref: CubeRef, now: number, generation: number): Promise<ActivationVersion> {
    const cached = this.compiled;
    if (cached && cached.generation === generation && this.store.accesses - cached.accesses < RECOMPILE_AFTER_ACCESSES) return cached.block;
    const accesses = this.store.accesses;
    const latest = this.latest();
    const previous = new Set((latest?.members ?? []).map((m) => m.id));
    const candidates = this.candidates(ref, previous);
    const block = compileActivation(candidates, previous, ACTIVATION_BUDGET_TOKENS);
    const hold = this.hold();
    if (hold && latest) {
      const release = holdBreaker(hold, latest, block, candidates);
      if (release === null) {
        this.compiled = { generation, accesses, block: latest };
        return latest;
      }
      this.transaction(() => {
        this.store.exec("DELETE FROM activation_hold");
        this.store.recordEvent("activation.hold_released", null, null, SYSTEM, now, { block_version: latest.version, ...release });
      });
    }
    const etag = (await sha256Hex(block.text)).slice(0, 32);
    let version = latest;
    if (!latest || latest.etag !== etag) {
      version = { version: (latest?.version ?? 0) + 1, etag, text: block.text, tokens: block.tokens, members: block.members, createdAt: now };
      this.transaction(() => this.record(latest, version!, now));
    }
    this.compiled = { generation, accesses, block: version! };
    return version!;
  }

  /**
   * Puts a stored version back as the current block — as a new version with the old one's bytes, so history stays
   * append-only — and holds it: compiling does not replace it until a new pinned memory, instruction or preference
   * arrives, or one of its members stops being live (its text must not outlive the memory). Promotions, demotions
   * and the rollback itself are events with the caller's reason.
   */
  async rollback(ref: CubeRef, target: number, reason: string, meta: WriteMeta, now: number, generation: number): Promise<Outcome<ActivationVersion>> {
    const [row] = this.store.exec("SELECT * FROM activation_blocks WHERE version = ?", target);
    if (!row) return fail("not_found", `no stored version ${target} of the activation block (the newest ${MAX_BLOCK_VERSIONS} are kept)`);
    const wanted = versionOfRow(row);
    const live = this.store.findMany(ref, wanted.members.map((m) => m.id));
    const gone = wanted.members.filter((m) => !isLive(live.get(m.id)?.state));
    if (gone.length > 0) {
      return fail("conflict", `version ${target} holds memories that are no longer live (${gone.map((m) => m.id).join(", ")}); it cannot come back`);
    }
    const latest = this.latest()!;
    const version: ActivationVersion = { ...wanted, version: latest.version + 1, createdAt: now };
    this.transaction(() => {
      this.record(latest, version, now, meta);
      this.store.exec("DELETE FROM activation_hold");
      this.store.exec("INSERT INTO activation_hold (id, version, reason, held_at) VALUES (1, ?, ?, ?)", version.version, reason, now);
      this.store.recordEvent("activation.rolled_back", null, null, meta, now, {
        reason,
        from_version: latest.version,
        to_version: target,
        block_version: version.version,
      });
    });
    this.compiled = { generation, accesses: this.store.accesses, block: version };
    return ok(version);
  }

  /**
   * The block as one agent sees it: compiled from the memories written for that agent (metadata `agent_id`, or
   * `mem0_agent_id` from the mem0 facade) and the cube's shared ones (no agent named), never another agent's.
   * Not versioned: it is derived, deterministically, from the same memories as the cube's block (whose members it
   * keeps first, for stable bytes), so its `etag` changes only when its text does. Cached until the cube changes.
   */
  async view(ref: CubeRef, agentId: string, now: number, generation: number): Promise<ActivationView> {
    const cached = this.views.get(agentId);
    if (cached && cached.generation === generation) return cached.view;
    const cube = await this.current(ref, now, generation);
    const previous = new Set(cube.members.map((m) => m.id));
    const candidates = this.candidates(ref, previous).filter((c) => c.agentId === null || c.agentId === agentId);
    const block = compileActivation(candidates, previous, ACTIVATION_BUDGET_TOKENS);
    const view: ActivationView = { ...block, etag: (await sha256Hex(`${agentId}\n${block.text}`)).slice(0, 32), cube };
    if (this.views.size >= MAX_CACHED_VIEWS) this.views.delete(this.views.keys().next().value!);
    this.views.set(agentId, { generation, view });
    return view;
  }

  /** Stored versions, newest first. */
  history(limit: number): ActivationVersion[] {
    return this.store
      .exec("SELECT * FROM activation_blocks ORDER BY version DESC LIMIT ?", limit)
      .map(versionOfRow);
  }

  private hold(): { version: number; reason: string; heldAt: number } | null {
    const [row] = this.store.exec("SELECT version, reason, held_at FROM activation_hold WHERE id = 1");
    return row ? { version: Number(row.version), reason: String(row.reason), heldAt: Number(row.held_at) } : null;
  }

  private latest(): ActivationVersion | null {
    const [row] = this.store.exec("SELECT * FROM activation_blocks ORDER BY version DESC LIMIT 1");
    return row ? versionOfRow(row) : null;
  }

  private candidates(ref: CubeRef, previous: ReadonlySet<string>): (ActivationCandidate & { agentId: string | null })[] {
    const ids = new Set<string>(previous);
    const collect = (query: string, ...params: unknown[]) => {
      for (const row of this.store.exec(query, ...params)) ids.add(String(row.id));
    };
    collect(`SELECT id FROM memories WHERE pinned = 1 AND ${HOT} LIMIT ?`, CANDIDATES_PER_CLASS);
    for (const type of ["instruction", "preference"]) {
      collect(`SELECT id FROM memories WHERE type = ? AND ${HOT} ORDER BY created_at DESC, seq DESC LIMIT ?`, type, CANDIDATES_PER_CLASS);
    }
    collect(
      `SELECT id FROM memories WHERE access_count >= ? AND ${HOT} ORDER BY access_count DESC, seq LIMIT ?`,
      ACTIVATION_MIN_ACCESSES,
      CANDIDATES_PER_CLASS,
    );
    const candidates: (ActivationCandidate & { agentId: string | null })[] = [];
    for (const memory of this.store.findMany(ref, [...ids]).values()) {
      if (memory.state !== "generated" && memory.state !== "activated") continue;
      candidates.push({
        id: memory.id,
        type: memory.type,
        content: memory.content,
        pinned: memory.pinned,
        accessCount: memory.access_count,
        createdAt: Date.parse(memory.created_at),
        priority: memory.priority,
        agentId: agentOf(memory.metadata),
      });
    }
    return candidates;
  }

  private record(before: ActivationVersion | null, after: ActivationVersion, now: number, meta: WriteMeta = SYSTEM): void {
    this.store.exec(
      "INSERT INTO activation_blocks (version, etag, text, members, tokens, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      after.version,
      after.etag,
      after.text,
      JSON.stringify(after.members),
      after.tokens,
      now,
    );
    this.store.exec("DELETE FROM activation_blocks WHERE version <= ?", after.version - MAX_BLOCK_VERSIONS);
    const { promoted, demoted } = activationMoves(before?.members ?? [], after.members);
    for (const member of promoted) {
      this.store.recordEvent("memory.promoted", member.id, null, meta, now, { reason: member.reason, block_version: after.version });
    }
    for (const member of demoted) {
      this.store.recordEvent("memory.demoted", member.id, null, meta, now, {
        reason:
          meta === SYSTEM
            ? "no longer live, no longer eligible, or displaced by a higher class over the block's budget"
            : "the block was rolled back to a version without it",
        block_version: after.version,
      });
    }
  }
}

function versionOfRow(row: Record<string, SqlStorageValue>): ActivationVersion {
  return {
    version: Number(row.version),
    etag: String(row.etag),
    text: String(row.text),
    tokens: Number(row.tokens),
    members: JSON.parse(String(row.members)) as ActivationMember[],
    createdAt: Number(row.created_at),
  };
}
