/**
 * Query centring for the cube's own vector store: every memory of a cube shares some direction — above all its
 * owner's name, which the owner's memories all contain, and which a question about the owner contains too. In cosine
 * similarity that shared part counts as agreement with every memory, most with the shortest ("Priya agrees." came
 * first for every question about Priya). Taking the cube's mean direction out of the query removes that agreement
 * and leaves what the query says beyond it (issue 12: paraphrase hit@3, see docs/search.md).
 *
 * Only the query changes, so stored vectors and the store's scan stay as they are; the mean is estimated from a
 * sample and remembered for one generation of the cube.
 */
import type { VectorStore } from "./vector-store";

/** Vectors the mean is estimated from: the direction of a mean converges long before this many. */
const CENTROID_SAMPLE = 1_000;

export class QueryCentring {
  private cached: { generation: number; embedder: string; direction: Float32Array | null; share: number } | null = null;

  constructor(private readonly vectors: VectorStore) {}

  /**
   * `query` without its component along the cube's mean direction, NOT renormalised: its length says how much of the
   * query was more than the common direction, so the store's cosine times that length is the similarity of what
   * remains (a query that was nearly all common direction must not have its residue blown up to full strength).
   * `query` itself when the cube has no vectors of this space. Of a mean over n memories, 1 / n is each memory's own
   * direction rather than what they share, so only (1 − 1/n) of the component goes: a cube of one memory keeps the
   * query as it is, and the cosine to that memory with it.
   */
  centre(embedder: string, query: Float32Array, generation: number): Float32Array {
    this.refresh(embedder, generation);
    const { direction, share } = this.cached!;
    if (!direction || direction.length !== query.length || share === 0) return query;
    let projection = 0;
    for (let i = 0; i < query.length; i++) projection += (query[i] as number) * (direction[i] as number);
    projection *= share;
    const out = query.map((x, i) => x - projection * (direction[i] as number));
    // Nothing but the common direction ("Priya?"): then the common direction is all the query says.
    return Math.sqrt(out.reduce((acc, x) => acc + x * x, 0)) < 1e-3 ? query : out;
  }

  /** Remembers the unit mean direction of the cube's vectors of `embedder` and the share of it to remove. */
  private refresh(embedder: string, generation: number): void {
    if (this.cached?.generation === generation && this.cached.embedder === embedder) return;
    const centroid = this.vectors.centroid(embedder, CENTROID_SAMPLE);
    let direction: Float32Array | null = null;
    if (centroid) {
      const norm = Math.sqrt(centroid.mean.reduce((acc, x) => acc + x * x, 0));
      if (norm > 0) direction = centroid.mean.map((x) => x / norm);
    }
    this.cached = { generation, embedder, direction, share: centroid ? 1 - 1 / centroid.count : 0 };
  }
}
