/**
 * The verbatim turn tier's pure parts (docs/memreader.md, "The turn tier"). Infer mode rewrites a conversation into
 * memories, and a rewrite loses words a later question may use ("I" becomes a name, filler sentences go, a repeated
 * fact is kept once). So the turns an extraction cites stay searchable as they were said, and a search hit on such a
 * turn answers with the memories that cite it: search returns memories only, and a memory's `source.message_ids`
 * name the turn. A turn no memory cites is not kept: the reader judged it to say nothing (a greeting, filler, an
 * assistant's reply), and a search answer must be something a caller can fetch, correct and forget.
 */
import type { ReaderMessage } from "./types";

/** How much of a neighbouring turn a turn indexes as context (as memories do: cube/session-context.ts). */
export const TURN_CONTEXT_CHARS = 1000;

/** What the tier indexes for one turn: its text as said, and its neighbours' text as lower-weighted context. */
export interface TurnDocument {
  messageId: string;
  /** Its place among the episode's messages that say something: turns at ±1 hold its text in their context. */
  position: number;
  text: string;
  context: string;
}

/**
 * The memories each turn is cited by, from one window's candidates and what became of each: the memory written, or
 * the existing memory it duplicated (it holds what the turn said), or null when nothing holds it. Turns in the
 * order they are first cited; each memory once per turn.
 */
export function turnCitations(cited: readonly { messageIds: readonly string[] }[], memoryIds: readonly (string | null)[]): Map<string, string[]> {
  const byTurn = new Map<string, string[]>();
  cited.forEach((candidate, i) => {
    const memoryId = memoryIds[i];
    if (memoryId == null) return;
    for (const messageId of candidate.messageIds) {
      const memories = byTurn.get(messageId) ?? [];
      if (!memories.includes(memoryId)) memories.push(memoryId);
      byTurn.set(messageId, memories);
    }
  });
  return byTurn;
}

/** How a turn reads in the tier: "<speaker>: <text>", the form a verbatim memory of it has. */
export function turnText(message: ReaderMessage): string {
  return `${message.name ?? message.role}: ${message.content}`;
}

/**
 * The documents of the turns `messageIds` of an episode, in the episode's order: each turn's text, and as context
 * the turns just before and after it among those that say something (a reply is often findable only through its
 * question). Unknown ids are skipped.
 */
export function turnDocuments(messages: readonly ReaderMessage[], messageIds: ReadonlySet<string>): TurnDocument[] {
  const said = messages.filter((m) => m.content.trim() !== "");
  return said.flatMap((message, position) => {
    if (!messageIds.has(message.id)) return [];
    const neighbours = [said[position - 1], said[position + 1]].flatMap((m) => (m ? [turnText(m).slice(0, TURN_CONTEXT_CHARS)] : []));
    return [{ messageId: message.id, position, text: turnText(message), context: neighbours.join("\n") }];
  });
}

/**
 * A ranking of memories from a ranking of turn citations (best turn first, one row per memory citing it): each
 * memory at the rank of the best turn that cites it, at most `depth` of them.
 */
export function citedRanking(rows: readonly { memoryId: string }[], depth: number): string[] {
  const ranked: string[] = [];
  const seen = new Set<string>();
  for (const { memoryId } of rows) {
    if (seen.has(memoryId)) continue;
    seen.add(memoryId);
    ranked.push(memoryId);
    if (ranked.length === depth) break;
  }
  return ranked;
}
