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
  type ActivationVersion,
  activationMoves,
  compileActivation,
} from "../../src/core/activation";
import { sha256Hex } from "../../src/core/hash";
import { type CubeRef, SYSTEM } from "./protocol";
import type { CubeStore } from "./store";

/** Versions of the block a cube keeps (history); older ones are deleted when a new one is written. */
export const MAX_BLOCK_VERSIONS = 50;
/** Candidates read per class: far more lines than the budget can hold. */
const CANDIDATES_PER_CLASS = 200;
/** Reads (search hits, gets, context) after which the block is compiled again even if nothing was written. */
const RECOMPILE_AFTER_ACCESSES = 100;

const HOT = `+state IN ('generated', 'activated')`;

export class CubeActivation {
  private compiled: { generation: number; accesses: number; block: ActivationVersion } | null = null;

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
    const block = compileActivation(this.candidates(ref, previous), previous, ACTIVATION_BUDGET_TOKENS);
    const etag = (await sha256Hex(block.text)).slice(0, 32);
    let version = latest;
    if (!latest || latest.etag !== etag) {
      version = { version: (latest?.version ?? 0) + 1, etag, text: block.text, tokens: block.tokens, members: block.members, createdAt: now };
      this.transaction(() => this.record(latest, version!, now));
    }
    this.compiled = { generation, accesses, block: version! };
    return version!;
  }

  /** Stored versions, newest first. */
  history(limit: number): ActivationVersion[] {
    return this.store
      .exec("SELECT * FROM activation_blocks ORDER BY version DESC LIMIT ?", limit)
      .map(versionOfRow);
  }

  private latest(): ActivationVersion | null {
    const [row] = this.store.exec("SELECT * FROM activation_blocks ORDER BY version DESC LIMIT 1");
    return row ? versionOfRow(row) : null;
  }

  private candidates(ref: CubeRef, previous: ReadonlySet<string>): ActivationCandidate[] {
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
    const candidates: ActivationCandidate[] = [];
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
      });
    }
    return candidates;
  }

  private record(before: ActivationVersion | null, after: ActivationVersion, now: number): void {
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
      this.store.recordEvent("memory.promoted", member.id, null, SYSTEM, now, { reason: member.reason, block_version: after.version });
    }
    for (const member of demoted) {
      this.store.recordEvent("memory.demoted", member.id, null, SYSTEM, now, {
        reason: "no longer live, no longer eligible, or displaced by a higher class over the block's budget",
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
