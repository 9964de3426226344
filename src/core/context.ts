/**
 * Context assembly: from working memory and recalled memories, the block of text an agent puts in its prompt,
 * within a token budget, grouped so a model reads standing instructions before preferences, facts and dated
 * events, and with every line citing its memory id. Pure: the cube gathers the candidates.
 */
import type { MemoryTypeName } from "./memory-types";

/** What context assembly reads of a memory; the wire shape (schemas/memory.ts) satisfies it. */
export interface ContextMemory {
  id: string;
  type: MemoryTypeName;
  content: string;
  valid_at: string | null;
  created_at: string;
}

export const CONTEXT_GROUPS = ["instructions", "preferences", "facts", "events"] as const;
export type ContextGroup = (typeof CONTEXT_GROUPS)[number];

const HEADINGS: Record<ContextGroup, string> = {
  instructions: "Instructions",
  preferences: "Preferences",
  facts: "Facts",
  events: "Events",
};

/** Where a candidate came from: pinned or hot in working memory, or recalled for this query. */
export type ContextOrigin = "pinned" | "working_memory" | "recall";

export interface ContextCandidate<M extends ContextMemory = ContextMemory> {
  memory: M;
  origin: ContextOrigin;
  /** Search score for recalled memories; working-memory score otherwise. */
  score: number;
}

export interface ContextItem {
  id: string;
  group: ContextGroup;
  origin: ContextOrigin;
  type: MemoryTypeName;
  content: string;
  /** When it happened or became true (events), else when it was written. */
  date: string;
  score: number;
  tokens: number;
}

export interface AssembledContext {
  text: string;
  items: ContextItem[];
  tokens: number;
  /** Candidates left out because the budget was spent. */
  omitted: number;
}

/** The same estimate as search's `context_tokens`: about four characters per token. */
export const estimateTokens = (text: string) => Math.ceil(text.length / 4);

export function groupOf(memory: Pick<ContextMemory, "type">): ContextGroup {
  switch (memory.type) {
    case "instruction":
      return "instructions";
    case "preference":
      return "preferences";
    case "event":
      return "events";
    default:
      return "facts";
  }
}

const dateOf = (memory: ContextMemory) => memory.valid_at ?? memory.created_at;

function line(item: Pick<ContextItem, "group" | "content" | "date" | "id">): string {
  const text = item.content.replace(/\s+/g, " ").trim();
  return item.group === "events" ? `- ${item.date.slice(0, 10)}: ${text} [${item.id}]` : `- ${text} [${item.id}]`;
}

/**
 * Takes candidates in priority order (pinned, then recalled by score, then the rest of working memory), skips
 * duplicates, and keeps each one whose line still fits the budget — a long memory does not stop shorter ones after
 * it. Renders the kept ones by group; events in date order, the others in priority order.
 */
export function assembleContext(candidates: readonly ContextCandidate[], budgetTokens: number): AssembledContext {
  // A group's heading with the blank line before it; with each line's own newline, the parts' estimates add up to at
  // least the whole text's, so the text never exceeds the budget.
  const headingCost = (group: ContextGroup) => estimateTokens(`\n${HEADINGS[group]}:\n`);
  const seen = new Set<string>();
  const usedGroups = new Set<ContextGroup>();
  const kept: ContextItem[] = [];
  let spent = 0;
  let omitted = 0;
  for (const { memory, origin, score } of candidates) {
    if (seen.has(memory.id)) continue;
    seen.add(memory.id);
    const group = groupOf(memory);
    const item = { id: memory.id, group, origin, type: memory.type, content: memory.content, date: dateOf(memory), score, tokens: 0 };
    item.tokens = estimateTokens(`${line(item)}\n`);
    const cost = item.tokens + (usedGroups.has(group) ? 0 : headingCost(group));
    if (spent + cost > budgetTokens) {
      omitted += 1;
      continue;
    }
    spent += cost;
    usedGroups.add(group);
    kept.push(item);
  }
  const groups = CONTEXT_GROUPS.map((group) => {
    const items = kept.filter((item) => item.group === group);
    if (group === "events") items.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
    return { group, items };
  }).filter(({ items }) => items.length > 0);
  const text = groups.map(({ group, items }) => `${HEADINGS[group]}:\n${items.map(line).join("\n")}`).join("\n\n");
  return { text, items: groups.flatMap(({ items }) => items), tokens: estimateTokens(text), omitted };
}
