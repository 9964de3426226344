/**
 * Plaintext → parametric memory as data (docs/parametric.md): one chat-format fine-tuning example per memory, each
 * citing the memory it teaches. Pure and deterministic, so the same memories always give the same dataset.
 *
 * - Knowledge (fact, event, note, task, episode_summary, message): the user asks the question the memory answers, the
 *   assistant answers with the memory's content. The question is a template per type around the memory's topic (its
 *   tags, else its first content words) — no model writes it, so nothing is invented.
 * - Behaviour (instruction, preference): the rules the assistant should follow without being told. The example asks
 *   for the standing rule on its topic and answers with it, so a tuned model states and applies it; `kind` lets a
 *   trainer route them differently (for instance into system messages for context distillation).
 * Every example starts with the same system message, so what the adapter learns is the memories, not the prompt.
 */

export interface DistillMemory {
  id: string;
  type: string;
  content: string;
  tags: readonly string[];
  /** ms: when the memory became true (else its creation), for event questions. */
  at: number;
}

export interface DistillExample {
  messages: { role: "system" | "user" | "assistant"; content: string }[];
  memory_ids: string[];
  kind: "knowledge" | "behaviour";
}

const BEHAVIOUR_TYPES: ReadonlySet<string> = new Set(["instruction", "preference"]);

/** The system message of every example unless the request gives one. */
export function defaultSystemPrompt(owner: string): string {
  return `You are the personal assistant of ${owner}. Answer from what you know about them, briefly and accurately.`;
}

const STOPWORDS = new Set(
  "a an and are as at be been but by can do does for from had has have he her his i if in into is it its me my no not of on or our she so that the their them then there they this to was we were what when where which who will with you your always never should must likes like prefers user".split(
    " ",
  ),
);

/** A short topic for a question: the memory's tags, else its first few content words that carry meaning. */
export function topicOf(memory: Pick<DistillMemory, "content" | "tags">): string {
  if (memory.tags.length > 0) return memory.tags.slice(0, 3).join(", ");
  const words: string[] = [];
  for (const word of memory.content.toLowerCase().match(/[\p{L}\p{N}][\p{L}\p{N}'-]*/gu) ?? []) {
    if (word.length < 3 || STOPWORDS.has(word) || words.includes(word)) continue;
    words.push(word);
    if (words.length === 3) break;
  }
  return words.length > 0 ? words.join(" ") : "this";
}

function questionOf(memory: DistillMemory): string {
  const topic = topicOf(memory);
  const day = new Date(memory.at).toISOString().slice(0, 10);
  switch (memory.type) {
    case "event":
      return `What happened on ${day} regarding ${topic}?`;
    case "task":
      return `What is there to do about ${topic}?`;
    case "episode_summary":
      return `What did we discuss about ${topic}?`;
    case "message":
      return `What was said about ${topic}?`;
    case "preference":
      return `What are my preferences about ${topic}?`;
    case "instruction":
      return `What standing instruction do you follow about ${topic}?`;
    default:
      return `What do you know about ${topic}?`;
  }
}

/** The example a memory teaches. */
export function exampleOf(memory: DistillMemory, system: string): DistillExample {
  return {
    messages: [
      { role: "system", content: system },
      { role: "user", content: questionOf(memory) },
      { role: "assistant", content: memory.content },
    ],
    memory_ids: [memory.id],
    kind: BEHAVIOUR_TYPES.has(memory.type) ? "behaviour" : "knowledge",
  };
}
