/**
 * Retrieval inside one cube: every channel ranks candidates under the same filters, the rankings are fused
 * (core/fusion.ts), scored with the scheduler's signals (core/scoring.ts), thresholded and diversified
 * (core/mmr.ts). Synchronous SQL, like the store.
 */
import { type Channel, type ChannelRanking, fuse } from "../src/core/fusion";
import { mmr } from "../src/core/mmr";
import { finalScore } from "../src/core/scoring";
import type { MemoryWire } from "../src/schemas/memory";
import { type SqlFragment, compileFilter, compileWhere, placeholders, validAt } from "./cube-filters";
import type { CubeRef, SearchHit, SearchRequestInternal } from "./cube-protocol";
import type { CubeStore } from "./cube-store";

/** Candidates each channel contributes: enough for fusion to find agreement below each channel's top ten. */
export const CHANNEL_DEPTH = 100;
/** BM25 column weights: content, tags, neighbouring turns' context. */
export const BM25_WEIGHTS = [1.0, 0.6, 0.35] as const;

export class CubeSearch {
  constructor(
    private readonly sql: SqlStorage,
    private readonly store: CubeStore,
  ) {}

  private ids(query: string, params: unknown[]): string[] {
    return this.sql
      .exec(query, ...(params as SqlStorageValue[]))
      .toArray()
      .map((row) => String(row.id));
  }

  search(ref: CubeRef, request: SearchRequestInternal): SearchHit[] {
    const where = this.conditions(request);
    const rankings: ChannelRanking[] = request.channels.map((channel) => ({
      channel,
      ids: this.channel(channel, request, where),
    }));
    const fused = fuse(rankings);
    if (fused.length === 0) return [];

    const memories = this.store.findMany(
      ref,
      fused.map((c) => c.id),
    );
    const scored = fused.flatMap((candidate) => {
      const memory = memories.get(candidate.id);
      if (!memory) return [];
      const score = finalScore(candidate.fused, signalsOf(memory), request.referenceTime);
      return [{ id: memory.id, score, text: memory.content, memory, channels: candidate.channels }];
    });
    const kept = scored
      .filter((hit) => request.threshold === null || hit.score >= request.threshold)
      .sort((a, b) => b.score - a.score);
    return mmr(kept, request.topK, request.mmrLambda).map(({ memory, score, channels }) => ({ memory, score, channels }));
  }

  /** The filter every channel applies: shorthand filters, the typed grammar, and validity at the reference time. */
  private conditions(request: SearchRequestInternal): SqlFragment {
    const parts = [compileFilter(request.filter), validAt(request.referenceTime)];
    if (request.where) parts.push(compileWhere(request.where));
    return { clauses: parts.flatMap((p) => p.clauses), params: parts.flatMap((p) => p.params) };
  }

  private channel(channel: Channel, request: SearchRequestInternal, where: SqlFragment): string[] {
    const filter = where.clauses.join(" AND ");
    switch (channel) {
      case "lexical":
        if (request.match === null) return [];
        return this.ids(
          `SELECT m.id FROM memories_fts JOIN memories m ON m.seq = memories_fts.rowid
            WHERE memories_fts MATCH ? AND ${filter}
            ORDER BY bm25(memories_fts, ${BM25_WEIGHTS.join(", ")}) LIMIT ?`,
          [request.match, ...where.params, CHANNEL_DEPTH],
        );
      case "tag":
        if (request.terms.length === 0) return [];
        return this.ids(
          `SELECT m.id FROM memories m
            WHERE EXISTS (SELECT 1 FROM json_each(m.tags) WHERE lower(json_each.value) IN (${placeholders(request.terms.length)}))
              AND ${filter}
            ORDER BY m.created_at DESC, m.seq DESC LIMIT ?`,
          [...request.terms, ...where.params, CHANNEL_DEPTH],
        );
      case "recent":
        return this.ids(`SELECT m.id FROM memories m WHERE ${filter} ORDER BY m.created_at DESC, m.seq DESC LIMIT ?`, [
          ...where.params,
          request.topK,
        ]);
      case "vector":
        return [];
    }
  }
}

function signalsOf(memory: MemoryWire) {
  const created = Date.parse(memory.created_at);
  const valid = memory.valid_at === null ? created : Date.parse(memory.valid_at);
  return { importance: memory.importance, priority: memory.priority, timestamp: valid, accessCount: memory.access_count };
}
