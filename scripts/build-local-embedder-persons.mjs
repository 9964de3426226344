// Person-shaped fit sentences for scripts/build-local-embedder-fit.mjs: facts and questions about a named person,
// made from WordNet 3.1's own lemmas and glosses (issue 12). WordNet's glosses and examples are dictionary prose; what
// an agent's memory holds is "Ana works as a dentist." and what it is asked is "Does Ana see someone who cares for
// teeth?". Each lemma gives one fact that names it and one question that says it through its gloss, so the fit sees
// person-shaped syntax (names, "does", "her", tense) around words and their definitions. The teacher embeds each
// sentence on its own; the fit does not pair them.
//
// Deterministic: lemmas are the first sense of each single-word WordNet lemma, taken in the order of the sha256 of
// "pos:lemma"; names and templates are fixed lists below (no name of the paraphrase benchmark's owners, and nothing
// read from the benchmark).
import { createHash } from "node:crypto";

/** Given names the sentences are about; any fixed list does: they are not table words that matter. */
const NAMES = ["Ana", "Tom", "Lena", "Omar", "Grace", "Ivan", "Mei", "Diego", "Hana", "Paul", "Nadia", "Sam"];

/** A lemma is used when at least this many of its senses are tagged in WordNet's corpus (SemCor): common words. */
const MIN_TAGGED_SENSES = 2;

/** Templates by part of speech: [fact from the lemma, question from the gloss]. */
const TEMPLATES = {
  noun: [
    ["{name} talked about the {lemma} again.", "What did {name} say about {gloss}?"],
    ["{name} bought a {lemma} last week.", "Did {name} get {gloss}?"],
    ["{name} has a {lemma} at home.", "Does {name} own {gloss}?"],
  ],
  verb: [
    ["{name} {lemma3} on weekends.", "When does {name} {gloss}?"],
    ["{name} used to {lemma} as a child.", "Did {name} {gloss} when young?"],
    ["{name} wants to {lemma} more often.", "How often does {name} {gloss}?"],
  ],
  adj: [
    ["{name} is very {lemma}.", "Is {name} {gloss}?"],
    ["{name} felt {lemma} yesterday.", "How did {name} feel, {gloss}?"],
  ],
};

/** Third person singular of an English verb (regular rules; WordNet's irregular forms are rare among lemmas). */
function thirdPerson(verb) {
  if (/(s|x|z|ch|sh|o)$/.test(verb)) return `${verb}es`;
  if (/[^aeiou]y$/.test(verb)) return `${verb.slice(0, -1)}ies`;
  return `${verb}s`;
}

/**
 * `count` person-shaped sentences (facts and questions alternating) from WordNet's first senses.
 * @param {Record<string, string>} wordnet data.* and index.* files by name @param {number} count
 */
export function personSentences(wordnet, count) {
  if (count <= 0) return [];
  const hash = (s) => createHash("sha256").update(s).digest().readUInt32BE(0);
  /** "pos:offset" → the synset's first gloss part (no examples) */
  const glosses = new Map();
  for (const pos of ["noun", "verb", "adj"]) {
    for (const line of wordnet[`data.${pos}`].split("\n")) {
      if (line === "" || line.startsWith(" ")) continue;
      const [head, gloss] = line.split(" | ");
      if (!gloss) continue;
      const first = gloss.trim().split(/;\s*/)[0].trim();
      if (first.startsWith('"') || first.split(" ").length < 2 || first.split(" ").length > 10) continue;
      glosses.set(`${pos}:${head.trim().split(/\s+/)[0]}`, first.replace(/\(.*?\)/g, "").replace(/\s+/g, " ").trim());
    }
  }
  const lemmas = [];
  for (const pos of ["noun", "verb", "adj"]) {
    for (const line of wordnet[`index.${pos}`].split("\n")) {
      if (line === "" || line.startsWith(" ")) continue;
      const fields = line.trim().split(/\s+/);
      const lemma = fields[0];
      if (!/^[a-z]{3,}$/.test(lemma)) continue;
      const synsetCount = Number(fields[2]);
      // tagsense_cnt: how many of the lemma's senses occur in WordNet's tagged corpus; 2 or more keeps common words.
      if (Number(fields[fields.length - synsetCount - 1]) < MIN_TAGGED_SENSES) continue;
      const gloss = glosses.get(`${pos}:${fields[fields.length - synsetCount]}`);
      if (gloss) lemmas.push({ pos, lemma, gloss, order: hash(`${pos}:${lemma}`) });
    }
  }
  // Array.prototype.sort is stable: equal hashes keep WordNet's order.
  lemmas.sort((a, b) => a.order - b.order);
  const out = [];
  for (let i = 0; out.length < count && i < lemmas.length; i++) {
    const { pos, lemma, gloss } = lemmas[i];
    const templates = TEMPLATES[pos];
    const [fact, question] = templates[i % templates.length];
    const fill = (t) =>
      t
        .replace("{name}", NAMES[i % NAMES.length])
        .replace("{lemma3}", thirdPerson(lemma))
        .replace("a {lemma}", /^[aeiou]/.test(lemma) ? `an ${lemma}` : `a ${lemma}`)
        .replace("{lemma}", lemma)
        .replace("{gloss}", gloss.replace(/^(a|an|the) /, pos === "noun" ? "$1 " : ""));
    out.push(fill(fact));
    if (out.length < count) out.push(fill(question));
  }
  return out;
}
