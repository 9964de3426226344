/** Our memories, versions and jobs in mem0's shapes. Pure. */
import type { JobWire } from "../schemas/jobs";
import type { MemoryVersionWire, MemoryWire } from "../schemas/memory";
import type { SearchResultWire } from "../schemas/search";
import { MEM0_AGENT_KEY, MEM0_APP_KEY } from "./filters";
import type { Mem0MemoryWire } from "./schemas";

const ownerId = (owner: string, kind: "user" | "agent") => (owner.startsWith(`${kind}:`) ? owner.slice(kind.length + 1) : null);
const stringOrNull = (value: unknown) => (typeof value === "string" ? value : null);

/** A memory as mem0 shows one: the reserved metadata keys come back as agent_id and app_id. */
export function toMem0Memory(memory: MemoryWire): Mem0MemoryWire {
  const { [MEM0_AGENT_KEY]: agentId, [MEM0_APP_KEY]: appId, ...metadata } = memory.metadata;
  return {
    id: memory.id,
    memory: memory.content,
    user_id: ownerId(memory.owner, "user"),
    agent_id: ownerId(memory.owner, "agent") ?? stringOrNull(agentId),
    app_id: stringOrNull(appId),
    run_id: memory.session_id,
    metadata,
    categories: memory.tags,
    immutable: memory.frozen,
    expiration_date: memory.expires_at?.slice(0, 10) ?? null,
    created_at: memory.created_at,
    updated_at: memory.updated_at,
  };
}

/** A search hit's session neighbours (SearchResult.neighbours) in mem0's words: `memory` is the text. Absent when none. */
export function toMem0Neighbours(neighbours: SearchResultWire["neighbours"]) {
  if (!neighbours) return {};
  return { neighbours: neighbours.map(({ id, content, position }) => ({ id, memory: content, position })) };
}

/** Our job statuses as mem0's event statuses. */
export const EVENT_STATUS = { queued: "PENDING", running: "RUNNING", done: "SUCCEEDED", failed: "FAILED" } as const;

/** An ingest job as mem0's add event. */
export function toMem0Event(job: JobWire) {
  return {
    id: job.id,
    event_type: "ADD" as const,
    status: EVENT_STATUS[job.status],
    results: [
      ...(job.result.memory_ids ?? []).map((id) => ({ id, event: "ADD" as const })),
      ...(job.result.duplicates ?? []).map((id) => ({ id, event: "NOOP" as const })),
    ],
    error: job.error,
    created_at: job.created_at,
    updated_at: job.updated_at,
  };
}

/** How each kind of version reads in mem0's history: a write, a change, or a deletion. */
const HISTORY_EVENT = {
  created: "ADD",
  updated: "UPDATE",
  rolled_back: "UPDATE",
  merged: "UPDATE",
  absorbed: "UPDATE",
  superseded: "UPDATE",
  forgotten: "DELETE",
  expired: "DELETE",
} as const;

/** A memory's versions (oldest first) as mem0's history entries, each with the text before and after. */
export function toMem0History(versions: readonly MemoryVersionWire[]) {
  return versions.map((version, i) => {
    const event = HISTORY_EVENT[version.change];
    const before = i > 0 ? versions[i - 1]!.memory.content : null;
    return {
      id: `${version.memory.id}:v${version.version}`,
      memory_id: version.memory.id,
      input: [] as unknown[],
      old_memory: event === "ADD" ? null : before,
      new_memory: event === "DELETE" ? null : version.memory.content,
      user_id: ownerId(version.memory.owner, "user"),
      categories: version.memory.tags,
      event,
      created_at: version.changed_at,
      updated_at: version.changed_at,
    };
  });
}
