/**
 * What in a chat message is not worth remembering: greetings, thanks, acknowledgements, emoji, and the questions a
 * speaker asks back. A message made only of these yields no memory; a message with something more loses them at its
 * edges. Judged by what the words are, never by length, so "I'm vegan" is kept and "Thanks so much!" is not.
 */

/** Splits on sentence-final punctuation followed by space, and on line breaks ("3.5" and "e.g. x" stay whole). */
export function splitSentences(text: string): string[] {
  const sentences: string[] = [];
  for (const match of text.matchAll(/[^\n]*?(?:[.!?…]+["'”’)\]]*(?=\s|$)|(?=\n)|$)/gu)) {
    const sentence = match[0].trim();
    if (sentence !== "") sentences.push(sentence);
  }
  return sentences;
}

const FILLER_CORE = [
  "hi", "hey", "hello", "hiya", "heya", "howdy", "yo", "good (?:morning|afternoon|evening|night|day)",
  "bye", "bye bye", "goodbye", "good ?night", "later", "cheers", "take care", "see (?:you|ya)(?: (?:later|soon|tomorrow|then|there|around))?",
  "talk (?:to you )?(?:later|soon)", "ttyl",
  "thanks?(?: you)?(?: (?:so|very) much)?(?: again)?(?: for (?:asking|sharing|that|this|everything|listening|the (?:tip|support|help|advice|kind words)|your (?:support|help|advice|kind words)))?",
  "thank u", "thx", "ty", "tysm", "many thanks", "much appreciated", "appreciate it",
  "you're welcome", "no problem", "no prob", "np", "no worries", "anytime", "my pleasure",
  "ok(?:ay)?", "k+", "alright", "all right", "got it", "gotcha", "i see", "makes sense", "noted", "understood", "fair enough",
  "cool", "nice", "great", "awesome", "amazing", "wow", "sweet", "perfect", "lovely", "wonderful", "fantastic", "brilliant",
  "yes", "yeah", "yep", "yup", "yea", "ya", "no", "nope", "nah", "sure", "right", "exactly", "correct", "true", "indeed",
  "absolutely", "definitely", "totally", "of course", "for sure", "agreed", "i agree", "me too", "same", "same here",
  "that's (?:so |really |very |totally |absolutely )?(?:great|awesome|cool|nice|amazing|wonderful|fantastic|good|true|right|correct|fair|sweet|lovely|perfect|exciting|impressive|incredible)",
  "(?:that |this )?sounds (?:so |really )?(?:good|great|fun|awesome|amazing|cool|lovely|nice|perfect|like a plan|exciting)",
  "i (?:definitely |surely |totally )?will", "will do", "i'll (?:do that|try|keep that in mind|let you know)", "i will (?:do that|try)",
  "how are you(?: doing)?(?: today)?", "how's it going", "how are things", "how have you been", "how've you been", "how was your day",
  "what's up(?: with you)?", "sup", "wassup", "what's new(?: with you)?", "anything new", "any news", "how about you", "what about you", "and you", "you",
  "long time no (?:see|chat|talk)", "good to (?:see|hear from) you(?: too| again)?", "nice to (?:meet|see|hear from) you(?: too| again)?",
  "great to (?:see|hear from) you(?: too| again)?", "hope you're (?:doing )?(?:well|good|great|ok|okay)", "hope all is well",
  "congrat(?:s|ulations)(?: on [^.!?]+| to you)?", "good luck(?: with [^.!?]+)?", "well done", "good job", "you got this",
  "way to go", "nice one", "sure thing", "yum+", "m+", "have a (?:great|good|nice|wonderful|lovely) (?:day|night|evening|weekend|one|time)",
  "woah", "whoa", "woo+hoo+", "yay", "lol", "lmao", "rofl", "ha(?:ha)+h?", "he(?:he)+", "omg", "oh my god", "oh my gosh", "hm+", "um+", "uh+", "oh", "ah", "aw+", "ooh+",
];

const INTERJECTION = "(?:oh|ah|aw+|wow|woah|whoa|woo+hoo+|yay|well|hey|yeah|yes|yep|yup|ok|okay|sure|haha+|lol|so|omg|hm+|mm+|yum+|ooh+)";

const FILLER = new RegExp(
  `^(?:${INTERJECTION}[\\s,!]+)*(?:${FILLER_CORE.join("|")})(?: (?:there|again|too|guys|buddy|friend|man|mate|dude|so much|everyone|all))?$`,
  "u",
);

/** Words that open a sentence without adding to it: "Yeah, …", "Wow, Caroline, …", "Thanks, Mel! …". */
const LEADING_INTERJECTIONS: ReadonlySet<string> = new Set(
  ("oh ah aw aww wow well hey hi hello yeah yes yep yup yea ok okay sure haha lol so omg hmm um absolutely definitely " +
    "totally cool nice great awesome thanks btw anyway anyways honestly ooh woohoo yay whoa woah mm mmm yum").split(" "),
);

const EMOJI = /[\p{Extended_Pictographic}\u{1F3FB}-\u{1F3FF}\u{FE0F}\u{200D}\u{20E3}]/gu;

/** The sentence reduced to its words: apostrophes straightened, emoji and edge punctuation gone. */
function bare(sentence: string): string {
  return sentence
    .replace(/[’‘]/gu, "'")
    .replace(EMOJI, " ")
    .replace(/^[\s\p{P}\p{S}]+|[\s\p{P}\p{S}]+$/gu, "")
    .replace(/\s+/gu, " ");
}

/** True for a greeting, thanks, acknowledgement or emoji-only sentence, with or without a name: "Thanks, Mel!". */
export function isFillerSentence(sentence: string): boolean {
  const words = bare(sentence);
  if (words === "") return true;
  if (FILLER.test(words.toLowerCase())) return true;
  // A trailing vocative: "Hey Caroline", "Sounds great, Jon", "Thanks Mel".
  const withoutName = words.replace(/,?\s+\p{Lu}[\p{L}'-]*(?:\s+\p{Lu}[\p{L}'-]*)?$/u, "");
  return withoutName !== words && withoutName !== "" && FILLER.test(withoutName.toLowerCase());
}

/**
 * A question that asks rather than tells ("How about you?", "Did you hear any inspiring stories?"): without a word
 * of the speaker's own first person it says nothing about the speaker.
 */
export function isQuestionBack(sentence: string): boolean {
  return (
    /\?["'”’)]*$/u.test(sentence.replace(EMOJI, "").trimEnd()) &&
    !/\b(?:I|i|I'm|I've|I'd|I'll|my|me|mine|myself|we|our|us)\b/u.test(sentence.replace(/’/gu, "'"))
  );
}

/** True when no sentence of `text` carries anything but filler. */
export function isFillerMessage(text: string): boolean {
  return splitSentences(text).every(isFillerSentence);
}

/**
 * Strips opening interjections and vocatives from a sentence ("Yeah, I painted it" → "I painted it",
 * "Hey Caroline, since we last chatted, …" → "Since we last chatted, …").
 */
export function stripLeadIn(sentence: string): string {
  let text = sentence;
  for (;;) {
    const match = /^([\p{L}']+)(?:,?\s+\p{Lu}[\p{L}'-]*)?\s*[,!:;–—-]+(?:\s+|$)/u.exec(text);
    if (match === null || !LEADING_INTERJECTIONS.has(match[1]!.toLowerCase())) break;
    text = text.slice(match[0].length);
  }
  return text === sentence ? text : text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * The sentences worth keeping: filler trimmed from both ends, lead-ins stripped from the first, and questions put
 * back to the other party trimmed from the ends too — unless nothing else is left, so a message that is only a
 * question ("Can you recommend a vegan place in Berlin?") is kept. Filler in the middle stays: it is part of the story.
 */
export function meaningfulSentences(text: string): string[] {
  const sentences = splitSentences(text);
  const hasStatement = sentences.some((sentence) => {
    const core = stripLeadIn(sentence);
    return !isFillerSentence(core) && !isQuestionBack(core);
  });
  const droppable = (sentence: string): boolean =>
    isFillerSentence(sentence) || (hasStatement && isQuestionBack(sentence));
  let first = 0;
  let last = sentences.length - 1;
  for (;;) {
    while (first <= last && droppable(sentences[first]!)) first++;
    if (first > last) return [];
    const stripped = stripLeadIn(sentences[first]!);
    if (stripped === sentences[first]) break;
    sentences[first] = stripped;
  }
  while (last > first && droppable(sentences[last]!)) last--;
  return sentences.slice(first, last + 1);
}
