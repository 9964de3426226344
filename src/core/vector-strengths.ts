/**
 * The vector channel's strengths in fusion, relative to its nearest neighbour (issue 12, paraphrase recall).
 */
import type { ChannelRanking } from "./fusion";

/**
 * The vector ranking with its strengths divided by its nearest neighbour's when that is above full strength. A
 * strength is a cosine over the embedder's confidentSimilarity, capped at 1 in fusion, so every neighbour past that
 * cosine counted the same; and reciprocal-rank fusion (k = 60) makes ranks 1 to 4 near-equal votes. The support
 * channels (recent and working: in a cube written in one batch, merely the order of writing) and the scheduler's
 * signals then decided the order among the nearest — the nearest neighbour of "Does Priya have a homepage for
 * teaching materials?" came fourth behind the recent memories. Relative to the nearest, the channel keeps its own
 * spread and a support channel only breaks near-ties again. A ranking whose nearest neighbour is below full strength
 * already has its spread and is returned as it is, as is every other channel. Fusion only: whether a hit is a weak
 * neighbour (SearchHit.weak) is still judged on the absolute strengths.
 */
export function relativeToNearest(ranking: ChannelRanking): ChannelRanking {
  const { channel, strengths } = ranking;
  const nearest = strengths?.[0];
  if (channel !== "vector" || !strengths || nearest === undefined || !(nearest > 1)) return ranking;
  return { ...ranking, strengths: strengths.map((s) => s / nearest) };
}
