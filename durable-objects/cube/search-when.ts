/**
 * The "when" stage of search: when the question asks for a time ("When was Kwame born?", "What year did Farhan
 * graduate?"), the vector channel's candidates are ranked again among only those whose text states a time
 * (core/answer-time.ts), in the vector channel's own order. The ranking joins fusion as one more vector answer, so
 * "Kwame's birthday is November 22." moves up past "Kwame's father is a retired teacher.", which the one content
 * word "born" had put first; nothing is filtered out, and a question that does not ask "when" is searched as before.
 * It reads the text of at most the vector channel's candidates (CHANNEL_DEPTH), and only for such questions.
 */
import type { ChannelRanking } from "../../src/core/fusion";
import { asksWhen, statesTime } from "../../src/core/answer-time";

/**
 * The "when" ranking's weight in fusion (the lexical channel's is 1, the local embedder's vector channel 0.3). Chosen
 * on the paraphrase set's tuning half and LoCoMo conversations 0–2 among 0.15, 0.3, 0.6, 0.9 and 1.5 (0.5–5 times the
 * local vector weight; docs/search.md, "Thirteenth pass"): on the tuning half hit@3 0.850, 0.850, 0.850, 0.863,
 * 0.863; on LoCoMo 0–2 recall@10 0.816 for all but 1.5 (0.813). Checked on the held-out half and conversations 3–4.
 * A fixed weight, not a multiple of the embedder's: with Workers AI's model (vector weight 1), which reads the
 * question word itself, the stage weighs no more than it does here (not measured).
 */
export const WHEN_WEIGHT = 0.9;

/** What the stage needs from the searcher: the text of memories by id (missing ids left out). */
export interface WhenSource {
  contents(ids: readonly string[]): Map<string, string>;
}

/** The "when" ranking, or none when the query does not ask for a time or no candidate states one. */
export function whenRankings(source: WhenSource, query: string, vector: ChannelRanking | undefined): ChannelRanking[] {
  if (!vector || vector.ids.length === 0 || !asksWhen(query)) return [];
  const texts = source.contents(vector.ids);
  const ids: string[] = [];
  const strengths: number[] = [];
  vector.ids.forEach((id, i) => {
    const text = texts.get(id);
    if (text === undefined || !statesTime(text)) return;
    ids.push(id);
    strengths.push(vector.strengths?.[i] ?? 1);
  });
  return ids.length === 0 ? [] : [{ channel: "vector", ids, strengths, weight: WHEN_WEIGHT }];
}
