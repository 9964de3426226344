/**
 * Activation memory at the edge (MemOS's second memory type): a compiled block of standing context per cube —
 * pinned memories, instructions, preferences and often-used facts — whose bytes stay identical until its content
 * changes, so an LLM provider's prompt cache (Workers AI prefix caching, Anthropic `cache_control`, OpenAI's
 * automatic prefix caching) keeps it warm across requests.
 *
 * Stability is the point, so the selection has memory: a member stays while it is live and still fits, and the
 * block is rendered in a fixed order (by group, then by when each memory was written), never by score. What enters:
 * - every pinned memory (the caller said so), then every instruction, then every preference — newest first when the
 *   budget cannot hold them all, so a new standing instruction always reaches the block;
 * - facts and events read at least ACTIVATION_MIN_ACCESSES times (promoted by use), most used first.
 * A candidate of a higher class displaces members of lower ones when the budget is short; a member of the same
 * class is never displaced by a newcomer (often-used facts), which is what keeps the bytes still.
 * Pure: the cube gathers candidates and keeps the previous members.
 */
import { estimateTokens } from "./context";

/** Tokens the block may take (estimated as characters / 4, like context). */
export const ACTIVATION_BUDGET_TOKENS = 400;
/** Reads after which a fact or event is promoted into the block. */
export const ACTIVATION_MIN_ACCESSES = 5;

export const ACTIVATION_REASONS = ["pinned", "instruction", "preference", "often_used"] as const;
export type ActivationReason = (typeof ACTIVATION_REASONS)[number];

/** What the block needs to know of a memory. */
export interface ActivationCandidate {
  id: string;
  type: string;
  content: string;
  pinned: boolean;
  accessCount: number;
  /** ms; orders the rendered block and breaks ties. */
  createdAt: number;
  priority: number;
}

export interface ActivationMember {
  id: string;
  reason: ActivationReason;
  tokens: number;
}

export interface ActivationBlock {
  text: string;
  tokens: number;
  members: ActivationMember[];
}

/** Why a memory belongs in the block, or null when it does not. */
export function activationReason(candidate: ActivationCandidate, minAccesses = ACTIVATION_MIN_ACCESSES): ActivationReason | null {
  if (candidate.pinned) return "pinned";
  if (candidate.type === "instruction") return "instruction";
  if (candidate.type === "preference") return "preference";
  if (candidate.accessCount >= minAccesses) return "often_used";
  return null;
}

const RANK: Record<ActivationReason, number> = { pinned: 0, instruction: 1, preference: 2, often_used: 3 };
const HEADING: Record<ActivationReason, string> = {
  pinned: "Pinned",
  instruction: "Instructions",
  preference: "Preferences",
  often_used: "Facts",
};

const lineOf = (candidate: ActivationCandidate) => `- ${candidate.content.replace(/\s+/g, " ").trim()} [${candidate.id}]`;

/**
 * The block for these candidates (the cube's live memories that have a reason), given the previous members' ids.
 * Deterministic: the same candidates and previous members give the same bytes.
 */
export function compileActivation(
  candidates: readonly ActivationCandidate[],
  previous: ReadonlySet<string>,
  budgetTokens = ACTIVATION_BUDGET_TOKENS,
): ActivationBlock {
  const withReason = candidates
    .map((candidate) => ({ candidate, reason: activationReason(candidate) }))
    .filter((c): c is { candidate: ActivationCandidate; reason: ActivationReason } => c.reason !== null);
  // Selection order: class first; inside pinned, by priority; inside instructions and preferences, newest first;
  // inside often-used, previous members first (they stay), then the most used.
  withReason.sort((a, b) => {
    const byRank = RANK[a.reason] - RANK[b.reason];
    if (byRank !== 0) return byRank;
    if (a.reason === "pinned" && a.candidate.priority !== b.candidate.priority) return b.candidate.priority - a.candidate.priority;
    if (a.reason === "often_used") {
      const stayed = Number(previous.has(b.candidate.id)) - Number(previous.has(a.candidate.id));
      if (stayed !== 0) return stayed;
      if (a.candidate.accessCount !== b.candidate.accessCount) return b.candidate.accessCount - a.candidate.accessCount;
      return a.candidate.createdAt - b.candidate.createdAt || (a.candidate.id < b.candidate.id ? -1 : 1);
    }
    return b.candidate.createdAt - a.candidate.createdAt || (a.candidate.id < b.candidate.id ? 1 : -1);
  });
  const headingCost = (reason: ActivationReason) => estimateTokens(`\n${HEADING[reason]}:\n`);
  const used = new Set<ActivationReason>();
  const kept: { candidate: ActivationCandidate; reason: ActivationReason; tokens: number }[] = [];
  let spent = 0;
  for (const { candidate, reason } of withReason) {
    const tokens = estimateTokens(`${lineOf(candidate)}\n`);
    const cost = tokens + (used.has(reason) ? 0 : headingCost(reason));
    if (spent + cost > budgetTokens) continue;
    spent += cost;
    used.add(reason);
    kept.push({ candidate, reason, tokens });
  }
  const sections = ACTIVATION_REASONS.map((reason) => {
    const items = kept
      .filter((k) => k.reason === reason)
      .sort((a, b) => a.candidate.createdAt - b.candidate.createdAt || (a.candidate.id < b.candidate.id ? -1 : 1));
    return { reason, items };
  }).filter(({ items }) => items.length > 0);
  const text = sections.map(({ reason, items }) => `${HEADING[reason]}:\n${items.map((k) => lineOf(k.candidate)).join("\n")}`).join("\n\n");
  return {
    text,
    tokens: estimateTokens(text),
    members: sections.flatMap(({ items }) => items.map((k) => ({ id: k.candidate.id, reason: k.reason, tokens: k.tokens }))),
  };
}

/** A stored version of a cube's block. */
export interface ActivationVersion {
  version: number;
  /** The text's content hash (hex, 32 characters). */
  etag: string;
  text: string;
  tokens: number;
  members: ActivationMember[];
  /** ms */
  createdAt: number;
}

/** Who entered and who left between two member lists: the scheduler's promotions and demotions. */
export function activationMoves(before: readonly ActivationMember[], after: readonly ActivationMember[]) {
  const was = new Map(before.map((m) => [m.id, m]));
  const now = new Map(after.map((m) => [m.id, m]));
  return {
    promoted: after.filter((m) => !was.has(m.id)),
    demoted: before.filter((m) => !now.has(m.id)),
  };
}
