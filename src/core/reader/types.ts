/**
 * MemReader's contract: messages in, candidate memories out. Two readers implement it — the rule-based one that
 * runs offline (the default) and the model-backed one behind the `Llm` adapter — and the cube's ingestion pipeline
 * does not care which produced a candidate: it embeds, indexes and resolves conflicts the same way.
 */

/** One message of a conversation, as the ingestion API received it (validated), with times in ms. */
export interface ReaderMessage {
  /** The caller's message id, or one derived from its position in the episode (`m0`, `m1`, …). */
  id: string;
  role: "user" | "assistant" | "system" | "tool";
  /** The speaker's name when known (OpenAI `name`), else null. */
  name: string | null;
  content: string;
  /** When the message was written (ms), or null: the reader then uses {@link ReaderContext.now}. */
  createdAt: number | null;
}

export interface ReaderContext {
  /**
   * How to name the owner the memories are about, in the third person: the user's display name when the
   * conversation gives one (a `name` on their messages), else the owner's external id (`alice` for `user:alice`).
   */
  ownerName: string;
  /** Ingestion time (ms): the reference for messages without `createdAt`. */
  now: number;
}

export const EXTRACTED_TYPES = ["fact", "event", "preference", "instruction"] as const;
export type ExtractedType = (typeof EXTRACTED_TYPES)[number];

/** A memory a reader proposes. The pipeline decides whether it is new, a duplicate, or supersedes an older one. */
export interface ExtractedMemory {
  /** Self-contained text: third person, names instead of pronouns, absolute dates instead of relative ones. */
  content: string;
  type: ExtractedType;
  /** Entities and keywords, lower-case, deduplicated, at most 16. */
  tags: string[];
  /** When it happened or became true (ms), for events and dated facts; null when unknown. */
  validAt: number | null;
  /** Ids of the messages it came from (at least one). */
  messageIds: string[];
  /**
   * What the memory is about, for conflict resolution: a newer memory with the same key supersedes the older one
   * ("alice|lives_in", "alice|favorite_color"). Null when the memory does not replace anything (most events).
   */
  key: string | null;
}

export interface MemoryReader {
  /** Recorded in every memory's provenance, e.g. `rules@1` or `llm:@cf/meta/llama-3.1-8b-instruct`. */
  readonly id: string;
  read(messages: readonly ReaderMessage[], context: ReaderContext): Promise<ExtractedMemory[]>;
}
