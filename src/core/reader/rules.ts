/**
 * The offline MemReader: no model, only rules, so it runs everywhere and the same input always yields the same
 * memories. What it does to each message, in order:
 * 1. Only the user's messages become memories. Assistant messages are skipped: an assistant's claim is not the
 *    user's fact, and a rule cannot tell which statement a bare "yes" confirms, so a confirmation is filler too.
 *    System and tool messages are skipped: they are instructions to the model and machine output, not memories.
 * 2. Greetings, thanks, acknowledgements and emoji are trimmed from the message's edges, with questions put back to
 *    the other party; a message with nothing else left yields nothing ({@link meaningfulSentences}).
 * 3. One memory per message — except that a sentence with a conflict key ("my favorite color is green") or a
 *    standing instruction ("always answer in French") gets a memory of its own when the rest of the message says
 *    more about the speaker: a key makes a newer memory supersede the older one, and that must not take the rest
 *    of the message with it. Sentences are never split further.
 * 4. Relative dates are annotated with absolute ones from the message's time ({@link resolveDates}).
 * 5. The speaker's first person becomes their name ({@link toThirdPerson}); when the text has no first person to
 *    carry the name, it is attributed as "<Name> said: …" ("asked" for a question). Text that is not English keeps
 *    its words and gets the language-neutral "<Name>: …".
 * 6. Type: instruction, else a keyed statement's type, else event when a date was resolved, else preference by
 *    pattern, else fact. validAt is the first date found, else null.
 */
import { resolveDates } from "./dates";
import { meaningfulSentences } from "./filler";
import { classifySentence, type SentenceClass } from "./patterns";
import { tagsOf } from "./tags";
import { hasFirstPerson, looksEnglish, toThirdPerson } from "./third-person";
import type { ExtractedMemory, ExtractedType, MemoryReader, ReaderContext, ReaderMessage } from "./types";

/** The rule-based reader; `id` goes into every memory's provenance. */
export class RuleReader implements MemoryReader {
  readonly id = "rules@1";

  async read(messages: readonly ReaderMessage[], context: ReaderContext): Promise<ExtractedMemory[]> {
    return messages.flatMap((message) => readMessage(message, context));
  }
}

/** Who wrote a message, as memories name them. */
export function speakerOf(message: ReaderMessage, context: ReaderContext): string {
  const name = message.name ?? (message.role === "user" ? context.ownerName : null);
  return name === null ? "assistant" : properName(name);
}

/**
 * An owner named only by its id ("bob", "mary jane") reads as a name in the middle of a sentence too: "Always reply to
 * Bob…", not "…to bob". Only words made of lowercase letters are changed; an id like "u_42" or a name the caller spelt
 * ("deShawn", "McAllister") stays as it is.
 */
export function properName(name: string): string {
  if (!/^\p{Ll}+(?:[ '-]\p{Ll}+)*$/u.test(name)) return name;
  return name.replace(/(^|[ '-])(\p{Ll})/gu, (_, before: string, letter: string) => before + letter.toUpperCase());
}

/** The memories one message yields (none for filler, assistant, system and tool messages). */
export function readMessage(message: ReaderMessage, context: ReaderContext): ExtractedMemory[] {
  if (message.role !== "user") return [];
  const sentences = meaningfulSentences(message.content);
  if (sentences.length === 0) return [];
  const speaker = speakerOf(message, context);
  const reference = message.createdAt ?? context.now;
  const english = looksEnglish(sentences.join(" "));
  const classes = sentences.map((sentence) =>
    english ? classifySentence(sentence, speaker) : { instruction: false, preference: false, key: null },
  );

  // Groups of sentence indexes, one memory each, in the order of their first sentence. A keyed or instruction
  // sentence stands alone when there are several of them (a memory has one key), or when the rest says something
  // of the speaker's own (first person or a date) worth protecting from supersession; "Harry Potter is my favorite
  // book. It's so immersive!" stays one memory.
  const candidate = (index: number): boolean => classes[index]!.key !== null || classes[index]!.instruction;
  const candidates = sentences.filter((_, index) => candidate(index)).length;
  const restMatters = sentences.some(
    (sentence, index) => !candidate(index) && (hasFirstPerson(sentence) || resolveDates(sentence, reference).dates.length > 0),
  );
  const separate = (index: number): boolean => candidate(index) && (candidates > 1 || restMatters);
  const groups: number[][] = [];
  let rest: number[] | null = null;
  for (let index = 0; index < sentences.length; index++) {
    if (separate(index)) {
      groups.push([index]);
    } else if (rest === null) {
      rest = [index];
      groups.push(rest);
    } else {
      rest.push(index);
    }
  }

  return groups.map((group) => {
    const text = group.map((index) => sentences[index]!).join(" ");
    return memoryOf(text, group.map((index) => classes[index]!), { speaker, reference, english, id: message.id });
  });
}

function memoryOf(
  text: string,
  classes: readonly SentenceClass[],
  from: { speaker: string; reference: number; english: boolean; id: string },
): ExtractedMemory {
  const dates = resolveDates(text, from.reference);
  // A group holds at most one keyed sentence (see readMessage); a sentence with two keys keeps the first.
  const key = classes.find((found) => found.key !== null)?.key ?? null;
  let type: ExtractedType = "fact";
  if (classes.some((found) => found.instruction)) type = "instruction";
  else if (key !== null) type = key.type;
  else if (dates.dates.length > 0) type = "event";
  else if (classes.some((found) => found.preference)) type = "preference";
  return {
    content: attribute(dates.text, from.speaker, from.english),
    type,
    tags: tagsOf(text, from.speaker),
    validAt: dates.validAt,
    messageIds: [from.id],
    key: key?.key ?? null,
  };
}

/**
 * The text in the third person, or attributed to `speaker` when it has no first person to carry the name. A name
 * given in lower case (an owner id such as "alice") is capitalised only where it starts the content.
 */
export function attribute(text: string, speaker: string, english: boolean): string {
  if (!english) return `${capitalised(speaker)}: ${text}`;
  const { text: rewritten, changed } = toThirdPerson(text, speaker);
  if (changed) return rewritten;
  return `${capitalised(speaker)} ${/\?["'”’)]*$/u.test(text) ? "asked" : "said"}: ${text}`;
}

const capitalised = (name: string): string => name.charAt(0).toUpperCase() + name.slice(1);
