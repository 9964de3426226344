import { describe, expect, it } from "vitest";
import { fitCorpus, fitToSentences } from "../../scripts/build-local-embedder-fit.mjs";

// The build step that trains the local embedder's word table on the teacher's sentence vectors (docs/search.md).

/** A WordNet data line: offset, lex file, pos, word count (hex), words, pointer count 000, then the gloss. */
const synset = (offset: string, pos: string, lemma: string, gloss: string) =>
  `${offset} 03 ${pos} 01 ${lemma} 0 000 | ${gloss}`;
const wordnet = {
  "data.noun": [
    "  1 This software and database is being provided ...",
    synset("00000001", "n", "teacher", 'a person whose occupation is teaching; "she was a teacher for years"'),
    synset("00000002", "n", "city", 'a large and densely populated urban area; "where is the city?"'),
  ].join("\n"),
  "data.verb": synset("00000003", "v", "move", 'change residence; "they moved to the coast"; "go"'),
  "data.adj": "",
  "data.adv": "",
};

describe("the fit's corpus", () => {
  it("takes glosses as 'lemma: gloss' and examples of 3 words or more, questions first, each once", () => {
    const lines = fitCorpus(wordnet, 100);
    expect(lines[0]).toBe("where is the city?");
    expect(new Set(lines)).toEqual(
      new Set([
        "where is the city?",
        "she was a teacher for years",
        "they moved to the coast",
        "teacher: a person whose occupation is teaching",
        "city: a large and densely populated urban area",
        "move: change residence",
      ]),
    );
    expect(fitCorpus(wordnet, 100)).toEqual(lines); // deterministic
    expect(fitCorpus(wordnet, 3)).toHaveLength(3);
  });
});

describe("fitting word vectors to sentence vectors", () => {
  it("moves each sentence's weighted sum towards the teacher's vector of it, pulling same-topic sentences together", () => {
    const dims = 8;
    const words = ["doctor", "nurse", "hospital", "guitar", "drum", "song", "river", "boat", "fish"];
    const index = new Map(words.map((w, i) => [w, i]));
    // Start from vectors that know nothing of the topics (a fixed pseudo-random table).
    const vectors = Float64Array.from({ length: words.length * dims }, (_, k) => Math.sin(k * 12.9898 + 1.7));
    const topics = ["doctor nurse", "nurse hospital", "guitar drum", "drum song", "river boat", "boat fish"];
    const sentences = Array.from({ length: 20 }, () => topics).flat();
    // The teacher puts medical, musical and river sentences on three different axes of its 512 dimensions.
    const teacher = new Float64Array(sentences.length * 512);
    sentences.forEach((_, s) => (teacher[s * 512 + 1 + Math.floor((s % topics.length) / 2)] = 1));
    const sum = (text: string) => {
      const out = new Float64Array(dims);
      for (const w of text.split(" ")) for (let d = 0; d < dims; d++) out[d] = (out[d] ?? 0) + vectors[index.get(w)! * dims + d]!;
      return out;
    };
    const cosine = (a: Float64Array, b: Float64Array) =>
      a.reduce((acc, x, i) => acc + x * b[i]!, 0) / Math.sqrt(a.reduce((acc, x) => acc + x * x, 0) * b.reduce((acc, x) => acc + x * x, 0));
    /** Mean cosine of same-topic sentence pairs minus that of pairs across topics. */
    const separation = () => {
      let same = 0;
      let across = 0;
      topics.forEach((a, i) =>
        topics.forEach((b, j) => {
          if (j <= i) return;
          if (Math.floor(i / 2) === Math.floor(j / 2)) same += cosine(sum(a), sum(b)) / 3;
          else across += cosine(sum(a), sum(b)) / 12;
        }),
      );
      return same - across;
    };
    const separatedBefore = separation();
    const { before, after, sentences: used } = fitToSentences({
      vectors,
      dims,
      weights: new Float64Array(words.length).fill(1),
      index,
      tokens: (text: string) => text.split(" "),
      sentences,
      teacher,
    });
    expect(used).toBe(sentences.length);
    expect(after).toBeGreaterThan(before);
    expect(separation()).toBeGreaterThan(separatedBefore + 0.1);
  });
});
