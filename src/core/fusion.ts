/**
 * Weighted reciprocal rank fusion (Cormack et al., 2009): every channel ranks its candidates; a candidate's fused
 * score is Σ weight / (k + rank). Ranks, not raw scores, so BM25 and cosine need no common scale. The result is
 * normalised by the best score any candidate could reach with the channels that answered, so 1.0 means "first
 * in every channel" and a threshold means the same thing for every query and every cube.
 */

export const CHANNELS = ["lexical", "vector", "tag", "recent", "working"] as const;
export type Channel = (typeof CHANNELS)[number];

/** One channel's answer: candidate ids, best first. */
export interface ChannelRanking {
  channel: Channel;
  ids: readonly string[];
  /** This ranking's weight when it is not its channel's (a channel may answer twice, e.g. with an expanded query). */
  weight?: number;
  /**
   * How strongly the channel vouches for each candidate, in [0, 1], parallel to `ids` (absent: 1 for all). A channel
   * that always answers — nearest neighbours exist for any query — says through this how near they are, so a weak
   * neighbour still comes back but with a low score, and a `threshold` can drop it.
   */
  strengths?: readonly number[];
}

/** Where one channel ranked a candidate, and how much of the fused score that earned it. */
export interface ChannelRank {
  channel: Channel;
  /** 1-based position in the channel's ranking. */
  rank: number;
  /** This channel's part of the normalised fused score (the parts sum to `fused`). */
  share: number;
}

export interface FusedCandidate {
  id: string;
  /** Normalised fused score in (0, 1]. */
  fused: number;
  /** Channels that found this candidate, strongest contribution first. */
  channels: Channel[];
  /** The same channels with their ranks and shares, in the same order (the console's "why this hit"). */
  ranks: ChannelRank[];
}

/**
 * Channels that only support: they reorder what the content channels found but never surface a memory alone —
 * "recent" and "working" (the cube's working memory) match every query, and a search must not answer an unrelated
 * question with yesterday's notes or a pinned instruction.
 */
export const SUPPORT_CHANNELS: ReadonlySet<Channel> = new Set(["recent", "working"]);

/** The RRF constant: 60 in the original paper; smaller trusts the top ranks more. */
export const RRF_K = 60;

/**
 * How much each channel counts. Recent items and working memory (what the scheduler keeps hot: pins, frequent and
 * recent reads) are weak priors that only reorder near-ties; lexical and vector evidence dominate. Working memory
 * at 0.3 cost 2 points of LoCoMo recall@10 (0.717 → 0.697): the previous questions' hits became "hot" and crowded
 * the next question's evidence. At 0.1 recall is unchanged. Tags are precise when they hit, so they count as much
 * as a text channel.
 */
export const CHANNEL_WEIGHTS: Readonly<Record<Channel, number>> = { lexical: 1, vector: 1, tag: 0.6, recent: 0.1, working: 0.1 };

/**
 * Fuses the channels' rankings. Support channels reorder near-ties of the content channels, so their weight is
 * relative to the evidence the content channels found for the candidate — the largest weight × strength among them,
 * against the strongest content channel that answered: for a full lexical match they count as listed; for a memory
 * only a weakly weighted vector channel found, and weakly, they shrink with it instead of outvoting it. (Relative to
 * the strongest channel alone, "recent" and "working" decided the order of the meaning-only candidates whenever a
 * single word matched anything lexically: paraphrase bench, issue 12.)
 */
export function fuse(rankings: readonly ChannelRanking[], weights = CHANNEL_WEIGHTS, k = RRF_K): FusedCandidate[] {
  const answered = rankings.filter((r) => r.ids.length > 0);
  const ownWeight = (r: ChannelRanking) => r.weight ?? weights[r.channel];
  const content = Math.max(0, ...answered.filter((r) => !SUPPORT_CHANNELS.has(r.channel)).map(ownWeight));
  const weightOf = (r: ChannelRanking) => (SUPPORT_CHANNELS.has(r.channel) ? weights[r.channel] * content : ownWeight(r));
  const best = answered.reduce((sum, r) => sum + weightOf(r) / (k + 1), 0);
  if (best === 0) return [];
  const byId = new Map<string, { parts: { channel: Channel; part: number; rank: number; evidence: number }[] }>();
  for (const ranking of answered) {
    const { channel, ids, strengths } = ranking;
    const weight = weightOf(ranking);
    ids.forEach((id, index) => {
      const strength = Math.min(1, Math.max(0, strengths?.[index] ?? 1));
      const part = (weight * strength) / (k + index + 1);
      const entry = byId.get(id) ?? { parts: [] };
      // A channel that answered twice (the lexical channel with an expanded query) counts once in the breakdown:
      // its parts add up, and its rank is the better of the two.
      const same = entry.parts.find((p) => p.channel === channel);
      const evidence = ownWeight(ranking) * strength;
      if (same) {
        same.part += part;
        same.rank = Math.min(same.rank, index + 1);
        same.evidence = Math.max(same.evidence, evidence);
      } else entry.parts.push({ channel, part, rank: index + 1, evidence });
      byId.set(id, entry);
    });
  }
  return [...byId]
    .filter(([, { parts }]) => parts.some((p) => !SUPPORT_CHANNELS.has(p.channel)))
    .map(([id, { parts }]) => {
      const evidence = Math.max(...parts.filter((p) => !SUPPORT_CHANNELS.has(p.channel)).map((p) => p.evidence));
      for (const p of parts) if (SUPPORT_CHANNELS.has(p.channel)) p.part *= Math.min(1, evidence / content);
      const score = parts.reduce((sum, p) => sum + p.part, 0);
      parts.sort((a, b) => b.part - a.part);
      return {
        id,
        fused: score / best,
        channels: parts.map((p) => p.channel),
        ranks: parts.map((p) => ({ channel: p.channel, rank: p.rank, share: p.part / best })),
      };
    })
    // Equal scores keep the order the candidates were first ranked in (the first channel's ranks, then the next
    // channel's newcomers): a stable sort, so the order depends on the rankings alone. Ordering ties by id made two
    // runs of the same writes and searches rank differently, because memory ids are random (bench recall, issue 12).
    .sort((a, b) => b.fused - a.fused);
}
