/**
 * Undoing a wrong merge (issue 16, D7): rolling a `merged` memory back to a version from before its merge brings it
 * back whole and takes back from its survivor exactly what the merge gave it, in one call. The pair is remembered
 * (`merge_exclusions`, cube migration 11) so the next consolidation does not merge them again.
 *
 * What the survivor gives back: the merged memory (and what it had itself absorbed) leaves `merged_from`; the access
 * count it brought is subtracted; tags and message ids only it brought are removed; importance and priority go back
 * to the highest of the survivor before the merge and the members still merged into it — unless they were changed
 * since the merge, in which case the later choice stands.
 */
import { type Outcome, fail, ok } from "../../src/errors";
import type { MemoryWire } from "../../src/schemas/memory";
import type { CubeRef, WriteMeta } from "./protocol";
import type { CubeStore } from "./store";

const HOT_STATES = new Set(["generated", "activated"]);

/** Never merge these two again: an unordered pair, stored ordered. */
export function excludePair(store: Pick<CubeStore, "exec">, a: string, b: string): void {
  const [x, y] = a < b ? [a, b] : [b, a];
  store.exec("INSERT OR IGNORE INTO merge_exclusions (a, b) VALUES (?, ?)", x, y);
}

/** SQL condition (binding `memoryId` twice) that leaves out look-alikes of `memoryId` it must not merge with. */
export const NOT_EXCLUDED = `NOT EXISTS (SELECT 1 FROM merge_exclusions x WHERE (x.a = ? AND x.b = m.id) OR (x.a = m.id AND x.b = ?))`;

function snapshot(store: CubeStore, id: string, version: number): MemoryWire | null {
  const row = store.exec("SELECT snapshot FROM memory_versions WHERE memory_id = ? AND version = ?", id, version)[0];
  return row ? (JSON.parse(String(row.snapshot)) as MemoryWire) : null;
}

/** Rolls merged memory `id` back to `toVersion` (a hot version from before the merge) and un-absorbs it from its survivor. */
export function unmergeMemory(store: CubeStore, ref: CubeRef, id: string, toVersion: number, meta: WriteMeta, now: number): Outcome<MemoryWire> {
  const current = store.find(ref, id);
  if (!current) return fail("not_found", "memory not found");
  if (current.state !== "merged" || current.superseded_by === null) return fail("conflict", "memory is not merged");
  const target = snapshot(store, id, toVersion);
  if (!target) return fail("not_found", `memory has no version ${toVersion}`);
  if (!HOT_STATES.has(target.state)) return fail("conflict", `version ${toVersion} is not a live version from before the merge: pick one from its history`);
  const survivorId = current.superseded_by;
  // The access count the merge moved to the survivor: the merged memory's count at its merge.
  const mergedRow = store.exec("SELECT snapshot FROM memory_versions WHERE memory_id = ? AND change = 'merged' ORDER BY version DESC LIMIT 1", id)[0];
  const brought = mergedRow ? (JSON.parse(String(mergedRow.snapshot)) as MemoryWire).access_count : current.access_count;

  store.restoreHeader(id, target, target.state, now, true);
  store.refreshSessionContext(id);
  const restored = store.recordVersion(ref, id, "rolled_back", meta, now, {
    reason: `unmerged from ${survivorId}: rolled back to version ${toVersion}`,
    from: "merged",
    to: target.state,
    rolled_back_to: toVersion,
    survivor: survivorId,
  });
  excludePair(store, id, survivorId);
  giveBack(store, ref, survivorId, target, brought, meta, now);
  return ok(restored);
}

/** Takes back from the survivor what the merge of `given` brought it (see the module comment). */
function giveBack(store: CubeStore, ref: CubeRef, survivorId: string, given: MemoryWire, brought: number, meta: WriteMeta, now: number): void {
  const survivor = store.find(ref, survivorId);
  if (!survivor || !(survivor.source.merged_from ?? []).includes(given.id)) return;
  // The survivor just before it absorbed `given`, and just after.
  const absorbed = store
    .exec("SELECT version, snapshot FROM memory_versions WHERE memory_id = ? AND change = 'absorbed' ORDER BY version", survivorId)
    .map((row) => ({ version: Number(row.version), memory: JSON.parse(String(row.snapshot)) as MemoryWire }))
    .find((v) => (v.memory.source.merged_from ?? []).includes(given.id));
  const before = absorbed ? snapshot(store, survivorId, absorbed.version - 1) : null;
  const leaving = new Set([given.id, ...(given.source.merged_from ?? [])]);
  const mergedFrom = (survivor.source.merged_from ?? []).filter((m) => !leaving.has(m));
  const remaining = [...store.findMany(ref, mergedFrom).values()];
  const kept = (pick: (m: MemoryWire) => readonly string[]) => new Set([...(before ? pick(before) : []), ...remaining.flatMap(pick)]);
  const keptTags = kept((m) => m.tags);
  const keptMessages = kept((m) => m.source.message_ids);
  const givenTags = new Set(given.tags.filter((t) => !keptTags.has(t)));
  const givenMessages = new Set(given.source.message_ids.filter((m) => !keptMessages.has(m)));
  const unchangedSince = (field: "importance" | "priority") => absorbed !== undefined && survivor[field] === absorbed.memory[field];
  const recomputed = (field: "importance" | "priority") =>
    before && unchangedSince(field) ? Math.max(before[field], ...remaining.map((m) => m[field])) : survivor[field];
  const { merged_from: _all, ...rest } = survivor.source;
  const source = { ...rest, message_ids: survivor.source.message_ids.filter((m) => !givenMessages.has(m)), ...(mergedFrom.length > 0 ? { merged_from: mergedFrom } : {}) };
  store.exec(
    "UPDATE memories SET source = ?, tags = ?, importance = ?, priority = ?, access_count = ?, updated_at = ?, version = version + 1 WHERE id = ?",
    JSON.stringify(source),
    JSON.stringify(survivor.tags.filter((t) => !givenTags.has(t))),
    recomputed("importance"),
    recomputed("priority"),
    Math.max(0, survivor.access_count - brought),
    now,
    survivorId,
  );
  store.recordVersion(ref, survivorId, "rolled_back", meta, now, { reason: `gave back ${given.id} (unmerged)`, unmerged: given.id });
}
