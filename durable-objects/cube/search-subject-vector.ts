/**
 * The vector channel asked again among the memories of the person a question names (core/subject.ts). A multi-hop
 * question ("What activities does Melanie partake in?") is answered by several of that person's turns, most of which
 * share no word with it ("I took the kids to the museum"); the lexical sub-queries cannot find those, and the
 * vector channel ranks them among the other speaker's look-alikes. Keeping only the subject's memories of the
 * nearest neighbours the channel already looked at lifts theirs without another scan of the cube's vectors: the
 * ranking joins fusion as a second vector answer. Synchronous SQL, like the rest of search.
 */
import type { ChannelRanking } from "../../src/core/fusion";
import { opensWith } from "../../src/core/subject";

/**
 * The subject's vector ranking's weight in fusion, as a multiple of the vector channel's own weight (the embedder's
 * fusionWeight): chosen on LoCoMo conversations 0–2 (bench recall --tuned 0-2; docs/retrieval-multihop.md).
 */
export const SUBJECT_VECTOR_WEIGHT = 1;

/** The vector channel's candidates before its filter, nearest first, with their similarity strengths. */
export interface VectorCandidates {
  ordered: readonly string[];
  strength(id: string): number;
}

/**
 * The SQL condition (on the memories row `m`) of memories whose content opens with one of `subjects`. Terms hold
 * only \p{L}\p{N} (core/fts-query.ts), so they are safe inside the literal; a literal rather than a parameter keeps
 * the condition one key in the filter verdicts' cache.
 */
export function opensWithCondition(subjects: readonly string[]): string {
  const match = subjects.map((s) => opensWith(s)).join(" OR ");
  return `m.seq IN (SELECT rowid FROM memories_fts WHERE memories_fts MATCH '${match}')`;
}

/**
 * The vector candidates that open with one of `subjects` and pass the request's filter (`passing`), nearest first,
 * at SUBJECT_VECTOR_WEIGHT × `vectorWeight`; none when there is no subject or no candidate of theirs.
 */
export function subjectVectorRanking(
  subjects: readonly string[],
  candidates: VectorCandidates | null,
  vectorWeight: number,
  passing: (ordered: readonly string[], condition: string) => string[],
): ChannelRanking[] {
  if (subjects.length === 0 || !candidates || candidates.ordered.length === 0) return [];
  const ids = passing(candidates.ordered, opensWithCondition(subjects));
  if (ids.length === 0) return [];
  return [{ channel: "vector", ids, strengths: ids.map((id) => candidates.strength(id)), weight: SUBJECT_VECTOR_WEIGHT * vectorWeight }];
}
