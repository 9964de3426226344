/** A word-level diff (longest common subsequence) for comparing two versions of a memory's content. */
export interface DiffPart {
  kind: "same" | "added" | "removed";
  text: string;
}

/** Texts beyond this many words are compared as a whole (the table is words² cells). */
const MAX_WORDS = 2000;

export function diffWords(before: string, after: string): DiffPart[] {
  const a = before.split(/(\s+)/).filter(Boolean);
  const b = after.split(/(\s+)/).filter(Boolean);
  if (a.length > MAX_WORDS || b.length > MAX_WORDS) {
    return before === after ? [{ kind: "same", text: after }] : [{ kind: "removed", text: before }, { kind: "added", text: after }];
  }
  const table = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i]![j] = a[i] === b[j] ? table[i + 1]![j + 1]! + 1 : Math.max(table[i + 1]![j]!, table[i]![j + 1]!);
    }
  }
  const parts: DiffPart[] = [];
  const push = (kind: DiffPart["kind"], text: string) => {
    const last = parts[parts.length - 1];
    if (last && last.kind === kind) last.text += text;
    else parts.push({ kind, text });
  };
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      push("same", a[i++]!);
      j++;
    } else if (table[i + 1]![j]! >= table[i]![j + 1]!) push("removed", a[i++]!);
    else push("added", b[j++]!);
  }
  while (i < a.length) push("removed", a[i++]!);
  while (j < b.length) push("added", b[j++]!);
  return parts;
}

/** Top-level fields whose values differ (content aside), as [field, before, after]. */
export function changedFields(before: Record<string, unknown>, after: Record<string, unknown>): [string, string, string][] {
  // The watermark changes with every write (it signs the content), so it is no news in a diff.
  const skip = new Set(["content", "updated_at", "version", "access_count", "last_accessed_at", "watermark"]);
  const fields = new Set([...Object.keys(before), ...Object.keys(after)]);
  const changes: [string, string, string][] = [];
  for (const field of fields) {
    if (skip.has(field)) continue;
    const from = JSON.stringify(before[field] ?? null);
    const to = JSON.stringify(after[field] ?? null);
    if (from !== to) changes.push([field, from, to]);
  }
  return changes;
}
