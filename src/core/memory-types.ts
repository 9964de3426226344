/** The kinds of memory a cube holds (DESIGN.md "The memory header"); the wire enum and context grouping read them. */
export const MEMORY_TYPES = [
  "fact",
  "event",
  "preference",
  "instruction",
  "task",
  "episode_summary",
  "message",
  "note",
] as const;

export type MemoryTypeName = (typeof MEMORY_TYPES)[number];
