/**
 * Puts a speaker's own words in the third person by safe substitutions only, keeping everything else verbatim:
 * - "I am" / "I'm" → "<Name> is", "I have" / "I've" → "<Name> has", "I'll" → "<Name> will", "I don't" → "<Name>
 *   doesn't", "I do" → "<Name> does", "I haven't" → "<Name> hasn't";
 * - "I <verb>" → "<Name> <verb>s" only for a listed present-tense verb ("I love" → "Alice loves", "I really
 *   enjoy" → "Alice really enjoys"); any other word after "I" is left alone ("I went" → "Alice went"), because
 *   past tenses and modals need no change and an unknown word is safer unconjugated than wrongly conjugated;
 * - "my" / "mine" → "<Name>'s", "me" → "<Name>", "myself" → "themself" (the one form right whatever the gender).
 * "we", "our", "us" and "you" stay: who they are is not in the message. Only English text is rewritten (a text
 * in another language may use "I" or "me" as words of its own: Italian "I bambini", Spanish "me gusta"; an Italian
 * text too short to show its language is the known miss).
 */

/** Present-tense verbs that take an -s in the third person and look different in the past, so "I <verb>" is present. */
const PRESENT_VERBS: ReadonlySet<string> = new Set(
  ("love like adore prefer enjoy hate dislike detest want need think feel live work know hope mean plan try wish " +
    "believe guess miss remember forget agree appreciate understand see hear find get go do make take keep play paint " +
    "write cook bake run teach volunteer use own study mentor practice practise care look seem spend visit help support " +
    "watch listen collect draw dance sing swim hike bike travel wonder admire crave struggle tend belong drive ride eat " +
    "drink grow raise worry cry speak talk attend come become lose win feel sleep wake walk train coach lead manage " +
    "organize organise celebrate relax dream imagine expect recommend suggest").split(" "),
);

/** Adverbs that may sit between "I" and its verb: "I really love", "I just don't". */
const ADVERBS: ReadonlySet<string> = new Set(
  ("really also just still totally always never usually often sometimes actually definitely absolutely truly even " +
    "only mostly generally kinda honestly seriously literally personally rarely already especially genuinely " +
    "sincerely simply certainly").split(" "),
);

/** "I'd love" reads as "would"; elsewhere "I'd" may be "had", so it becomes "<Name>'d". */
const WOULD_VERBS: ReadonlySet<string> = new Set(
  "love like prefer rather say be want hate enjoy imagine recommend suggest appreciate need really".split(" "),
);

/**
 * Frequent words of English and of the other languages most often mixed with it (de, fr, es, it, pt, nl), to tell
 * which one a text is in. Words several languages share ("a", "in", "me", "no", "die", "son", "per", "as") count for
 * none of them.
 */
const ENGLISH_MARKERS: ReadonlySet<string> = new Set(
  ("the and is are was were be been to of it that this with for you your have has had not but what my i'm i've " +
    "i'll i'd it's don't can't didn't at from they we our will would can could should just really so very about " +
    "like love went got get going go yesterday today tomorrow last next week year month want think know time good " +
    "great new work day also make made take took see saw feel felt lot much many kids family friend friends " +
    "since when there here all some more one two an on as by or if do did does am still working").split(" "),
);
const OTHER_MARKERS: ReadonlySet<string> = new Set(
  ("der das den dem und ist ich nicht ein eine mit zu auf für mein meine wir bin habe hat sehr auch " +
    "le la les et est je tu vous nous pas une des du au aux avec pour sur dans mon ma mes sa ses qui que c'est j'ai " +
    "el los las y del por para una muy pero yo mi es está estoy " +
    "il lo gli che non sono di della ho mio mia è " +
    "não eu um uma com meu minha " +
    "het een ik niet van zijn").split(" "),
);

/**
 * True when `text` reads as English: mostly Latin letters, and no more frequent words of another language than of
 * English (a text with neither counts as English).
 */
export function looksEnglish(text: string): boolean {
  const letters = text.match(/\p{L}/gu)?.length ?? 0;
  const latin = text.match(/[A-Za-z]/gu)?.length ?? 0;
  if (letters > 0 && latin < letters * 0.8) return false;
  const words = text.toLowerCase().replace(/’/gu, "'").match(/[\p{L}\p{N}]+(?:'[\p{L}]+)?/gu) ?? [];
  let english = 0;
  let other = 0;
  for (const word of words) {
    if (ENGLISH_MARKERS.has(word)) english++;
    else if (OTHER_MARKERS.has(word)) other++;
  }
  return english >= other;
}

/** True when `text` has a first-person word of its speaker (what {@link toThirdPerson} would rewrite). */
export function hasFirstPerson(text: string): boolean {
  return /(?:^|[^\p{L}\p{N}'’-])(?:I|i|I['’](?:m|ve|ll|d)|[Mm]y|[Mm]e|[Mm]ine|[Mm]yself)(?![\p{L}\p{N}'’-])/u.test(text);
}

/** The third-person form of a present-tense verb: love → loves, go → goes, try → tries, have → has. */
export function conjugate(verb: string): string {
  if (verb === "have") return "has";
  if (/(?:s|sh|ch|x|z|o)$/u.test(verb)) return `${verb}es`;
  if (/[^aeiou]y$/u.test(verb)) return `${verb.slice(0, -1)}ies`;
  return `${verb}s`;
}

/** Third-person forms for the word right after "I" (or after "I" and adverbs); "I do not" → "<Name> does not". */
const AFTER_I: Readonly<Record<string, string>> = {
  am: "is", have: "has", "haven't": "hasn't", do: "does", "don't": "doesn't", wanna: "wants to", gotta: "has to",
};

const TOKENS = /[\p{L}\p{N}]+(?:['’][\p{L}]+)*|[^\p{L}\p{N}]+/gu;

/**
 * `text` with the speaker's first-person words replaced by `name` as described above, and whether anything changed.
 * The caller decides about non-English text (see {@link looksEnglish}); this function assumes English.
 */
export function toThirdPerson(text: string, name: string): { text: string; changed: boolean } {
  const tokens = text.match(TOKENS) ?? [];
  const out: string[] = [];
  let changed = false;
  // A name given in lower case (an owner id such as "alice") still starts a sentence with a capital.
  const capitalised = name.charAt(0).toUpperCase() + name.slice(1);
  let sentenceStart = true;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (!/[\p{L}\p{N}]/u.test(token)) {
      if (/[.!?…]/u.test(token)) sentenceStart = true;
      out.push(token);
      continue;
    }
    const who = sentenceStart ? capitalised : name;
    sentenceStart = false;
    const word = token.replace(/’/gu, "'");
    // Part of a compound ("me-time", "my-space") or of "i.e.", not a pronoun of its own.
    const compound = /^-/u.test(tokens[i + 1] ?? "") || /-$/u.test(tokens[i - 1] ?? "");
    if (compound || (word === "i" && tokens[i + 1] === "." && tokens[i + 2] === "e")) {
      out.push(token);
      continue;
    }
    const lower = word.toLowerCase();
    if (word === "I" || word === "i") {
      changed = true;
      out.push(who);
      i = rewriteVerbAfterI(tokens, i, out);
      continue;
    }
    const contraction = /^[Ii]'(m|ve|ll|d)$/u.exec(word);
    if (contraction !== null) {
      changed = true;
      const kind = contraction[1]!;
      if (kind === "m") out.push(`${who} is`);
      else if (kind === "ve") out.push(`${who} has`);
      else if (kind === "ll") out.push(`${who} will`);
      else out.push(WOULD_VERBS.has(nextWord(tokens, i)?.toLowerCase() ?? "") ? `${who} would` : `${who}'d`);
      continue;
    }
    if (lower === "my" || lower === "mine") {
      changed = true;
      out.push(`${who}'s`);
    } else if (lower === "me" && word !== "ME") {
      changed = true;
      out.push(who);
    } else if (lower === "myself") {
      changed = true;
      out.push("themself");
    } else {
      out.push(token);
    }
  }
  return { text: out.join(""), changed };
}

/** The word after the whitespace that follows token `i`, or undefined when punctuation comes first. */
function nextWord(tokens: readonly string[], i: number): string | undefined {
  return /^\s+$/u.test(tokens[i + 1] ?? "") ? tokens[i + 2] : undefined;
}

/**
 * Having written the name for the "I" at `i`, conjugates the verb after it (and any adverbs) when that is safe,
 * writing the tokens it consumes; returns the index of the last token consumed.
 */
function rewriteVerbAfterI(tokens: readonly string[], i: number, out: string[]): number {
  let at = i;
  const skipped: string[] = [];
  for (;;) {
    const next = nextWord(tokens, at);
    if (next === undefined) break;
    const lower = next.replace(/’/gu, "'").toLowerCase();
    if (ADVERBS.has(lower)) {
      skipped.push(tokens[at + 1]!, next);
      at += 2;
      continue;
    }
    const replacement = AFTER_I[lower] ?? (PRESENT_VERBS.has(lower) ? conjugate(lower) : undefined);
    if (replacement === undefined) break;
    out.push(...skipped, tokens[at + 1]!, replacement);
    return at + 2;
  }
  return i;
}
