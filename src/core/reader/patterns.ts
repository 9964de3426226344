/**
 * What a first-person English sentence is, by pattern: a preference ("I love hiking", "my favorite color is
 * green"), a standing instruction ("always answer in French", "call me Al") and, for the few statements a newer one
 * should replace, a conflict key ("alice|lives_in"). Patterns are narrow on purpose: a missed preference is still
 * stored as a fact, while a wrong key would let an unrelated memory supersede it.
 */
import type { ExtractedType } from "./types";

/** What {@link classifySentence} found. */
export interface SentenceClass {
  instruction: boolean;
  preference: boolean;
  /** The conflict key and the type a keyed statement has, or null. */
  key: { key: string; type: ExtractedType } | null;
}

const ADVERB = "(?:really|also|just|absolutely|totally|truly|do|still|so|genuinely|especially|definitely|actually|always|seriously|kinda|kind of|now|currently|recently|finally)";
const I = "\\b[Ii]";
const AM = "(?:'m| am)";
const NAME = "(\\p{Lu}[\\p{L}'.-]*(?:\\s+\\p{Lu}[\\p{L}'.-]*){0,2})";
/** Patterns with a capitalised name in them cannot ignore case, so the opening capital is spelled out. */
const CALL_ME = "(?:[Cc]all me|[Aa]ddress me as|[Rr]efer to me as)";
/** A place or an organisation: capitalised words, optionally joined by "of", "&", "and" or a comma ("Portland, Oregon"). */
const PROPER = "(\\p{Lu}[\\p{L}\\p{N}&'.-]*(?:(?:,\\s*|\\s+(?:of\\s+|&\\s+|and\\s+|de\\s+)?)\\p{Lu}[\\p{L}\\p{N}&'.-]*){0,4})";

/** "I live", "I'm living", "I have been living"… (the verb forms after "I" and its adverbs). */
const LIVE = "(?:\\s+(?:live|reside)|'m\\s+(?:living|based)|\\s+am\\s+(?:living|based)|(?:'ve|\\s+have)\\s+(?:lived|been living|been based))";
const WORK = "(?:\\s+work|'m\\s+working|\\s+am\\s+working|(?:'ve|\\s+have)\\s+(?:worked|been working))";

/** Objects after "I love" that make it a compliment or reaction, not a taste: "I love how you…", "I love it". */
const NOT_A_TASTE = "(?!(?:how|that|what|when|where|the way|it|this|these|those|you|your|yours|seeing|hearing|having you|to hear|to see)\\b)";

const PREFERENCE_PATTERNS: readonly RegExp[] = [
  new RegExp(
    `${I}(?:\\s+${ADVERB})*\\s+(?:love|like|adore|prefer|enjoy|hate|dislike|detest|loathe|don't (?:really )?(?:like|enjoy|eat|drink)|do not (?:like|enjoy|eat|drink)|can't stand|cannot stand|can't get enough of)\\s+${NOT_A_TASTE}`,
    "u",
  ),
  new RegExp(`${I}${AM}(?:\\s+${ADVERB})*\\s+(?:a\\s+)?(?:huge\\s+|big\\s+)?(?:fan of|into|obsessed with|passionate about|crazy about|not a fan of)\\s+${NOT_A_TASTE}`, "u"),
  /\b(?:my|is my)\s+(?:all[- ]time\s+)?(?:favou?rite|fave|fav|top pick|go-to)\b/iu,
  /\b[\p{L}]+'s\s+(?:all[- ]time\s+)?(?:favou?rite|fave)\s+[\p{L}-]+\s+(?:is|are)\b/iu,
];

const FAVORITE_THING = "((?:[\\p{L}-]+\\s+){0,3}?[\\p{L}-]+)";
/** "kind of music" → "music"; a favourite "part" or "moment" is about one event, not a standing taste. */
const NOT_A_KEYED_FAVORITE = /^(?:part|parts|moment|moments|thing|things|bit|memory|memories|day|time|one|ones)\b/u;
/** Capitalised words before "'s favorite" that are not a person: "It's favorite…" is a typo, not an owner. */
const NOT_AN_OWNER: ReadonlySet<string> = new Set("it that what here there he she who everyone everybody this".split(" "));

interface KeyPattern {
  pattern: RegExp;
  type: ExtractedType;
  /** The key's suffix: fixed, or computed from the match (null: no key after all). */
  suffix: string | ((match: RegExpExecArray) => string | null);
  /** Group holding the owner's name when it is not the speaker ("Bob's favorite…"). */
  ownerGroup?: number;
}

const KEY_PATTERNS: readonly KeyPattern[] = [
  { pattern: new RegExp(`\\b${CALL_ME}\\s+${NAME}`, "u"), type: "instruction", suffix: "name" },
  { pattern: new RegExp(`\\b[Mm]y (?:first )?name is\\s+${NAME}`, "u"), type: "fact", suffix: "name" },
  {
    pattern: new RegExp(`${I}${AM}\\s+(\\d{1,3})(?:\\s*(?:years?|yrs?) old\\b|\\s*y/?o\\b|(?=\\s*(?:[.,!;]|$|now\\b|today\\b|this year\\b)))`, "u"),
    type: "fact",
    suffix: (match) => (Number(match[1]) > 0 && Number(match[1]) < 130 ? "age" : null),
  },
  { pattern: new RegExp(`${I}(?:\\s+just)?\\s+turned\\s+(\\d{1,3})\\b(?!\\s*(?:%|percent|minutes|hours|days|weeks|months))`, "u"), type: "fact", suffix: "age" },
  {
    pattern: new RegExp(`${I}(?:\\s+${ADVERB})*${LIVE}\\s+in\\s+${PROPER}`, "u"),
    type: "fact",
    suffix: "lives_in",
  },
  { pattern: new RegExp(`${I}(?:'ve|\\s+have)?(?:\\s+${ADVERB})*\\s+(?:moved|relocated)\\s+to\\s+${PROPER}`, "u"), type: "fact", suffix: "lives_in" },
  {
    pattern: new RegExp(`${I}(?:\\s+${ADVERB})*${WORK}\\s+(?:at|for)\\s+${PROPER}`, "u"),
    type: "fact",
    suffix: "works_at",
  },
  {
    pattern: new RegExp(`${I}(?:\\s+${ADVERB})*\\s+(?:got|landed|accepted|started)\\s+(?:a\\s+)?(?:new\\s+)?(?:job|position|role)\\s+(?:at|with)\\s+${PROPER}`, "u"),
    type: "fact",
    suffix: "works_at",
  },
  { pattern: new RegExp(`${I}(?:\\s+${ADVERB})*${WORK}\\s+as\\s+an?\\s+[\\p{L}-]+`, "u"), type: "fact", suffix: "job" },
  {
    pattern: new RegExp(`${I}${AM}(?:\\s+${ADVERB})*\\s+(?:an?\\s+)?(?:strict\\s+|full\\s+)?(vegan|vegetarian|pescatarian|pescetarian|flexitarian)\\b`, "iu"),
    type: "preference",
    suffix: "diet",
  },
  {
    pattern: new RegExp(`\\b[Mm]y\\s+(?:all[- ]time\\s+)?(?:favou?rite|fave|fav)\\s+${FAVORITE_THING}\\s+(?:is|are|has to be|would be)\\b`, "u"),
    type: "preference",
    suffix: (match) => favoriteSuffix(match[1]!),
  },
  {
    pattern: new RegExp(`\\bis\\s+my\\s+(?:all[- ]time\\s+)?(?:favou?rite|fave|fav)\\s+([\\p{L}-]+)\\b`, "u"),
    type: "preference",
    suffix: (match) => favoriteSuffix(match[1]!),
  },
  {
    pattern: new RegExp(`\\b(\\p{Lu}[\\p{L}-]*)'s\\s+(?:all[- ]time\\s+)?(?:favou?rite|fave|fav)\\s+${FAVORITE_THING}\\s+(?:is|are)\\b`, "u"),
    type: "preference",
    suffix: (match) => favoriteSuffix(match[2]!),
    ownerGroup: 1,
  },
];

/** Verbs that, after "always" / "never" / "don't", make a sentence an instruction to an assistant. */
const ASSISTANT_VERBS =
  "answer|reply|respond|use|write|format|include|mention|remind|ask|call|address|speak|talk|greet|sign|send|suggest|" +
  "recommend|say|tell|explain|check|confirm|double-check|cite|add|put|avoid|start|end|begin|translate|summari[sz]e|" +
  "list|schedule|book|email|text|contact|share|round|spell|capitali[sz]e|sort|show|assume|bring up|wake|notify";

const INSTRUCTION_PATTERNS: readonly RegExp[] = [
  // "Never say never" is a saying, not a rule for the assistant.
  new RegExp(`^(?:please\\s+)?(?!never say never)(?:always|never|don't ever|do not ever|don't|do not)\\s+(?:${ASSISTANT_VERBS})\\b`, "iu"),
  /^(?:please\s+)?(?:always|never|don't|do not)\s+(?:give|let|make|keep|send|wake)\s+me\b/iu,
  /^please\s+(?:don't|do not|never|always|stop)\b/iu,
  new RegExp(`^(?:from now on|going forward|in future),?\\s+(?:please\\b|you\\b|always\\b|never\\b|don't\\b|do not\\b|(?:${ASSISTANT_VERBS})\\b)`, "iu"),
  /^(?:from now on|going forward|in future)\b.*\byour?\b/iu,
  /^(?:please\s+)?remember to\b/iu,
  /\bplease remember (?:to|that)\b/iu,
  new RegExp(`\\b${CALL_ME}\\s+\\p{Lu}`, "u"),
  /\b[Ii](?:\s+(?:want|need|would like)|'d\s+like)\s+you\s+to\b/u,
  /\b[Ii](?:'d|\s+would)\s+(?:prefer|rather)\s+(?:it\s+)?(?:if\s+)?you\b/u,
];

/** Classifies one sentence, written in the first person by `speaker`. */
export function classifySentence(sentence: string, speaker: string): SentenceClass {
  const text = sentence.replace(/[’‘]/gu, "'");
  const opening = text.replace(/^(?:(?:and|also|oh|so|btw|ok|okay)[,\s]+)+/iu, "");
  const instruction = INSTRUCTION_PATTERNS.some((pattern) => pattern.test(opening));
  const preference = PREFERENCE_PATTERNS.some((pattern) => pattern.test(text));
  return { instruction, preference, key: keyOf(text, speaker) };
}

function keyOf(text: string, speaker: string): SentenceClass["key"] {
  for (const { pattern, type, suffix, ownerGroup } of KEY_PATTERNS) {
    const match = pattern.exec(text);
    if (match === null) continue;
    const name = typeof suffix === "string" ? suffix : suffix(match);
    if (name === null) continue;
    const owner = ownerGroup === undefined ? speaker : match[ownerGroup]!;
    if (NOT_AN_OWNER.has(owner.toLowerCase())) continue;
    return { key: `${owner.toLowerCase()}|${name}`, type };
  }
  return null;
}

/** "favorite color" → "favorite_color", "favorite kind of music" → "favorite_music"; null for a one-off favourite. */
function favoriteSuffix(thing: string): string | null {
  const words = thing.toLowerCase().replace(/^(?:kind|type|sort|genre|style) of\s+/u, "");
  if (NOT_A_KEYED_FAVORITE.test(words)) return null;
  return `favorite_${words.replace(/[^\p{L}\p{N}]+/gu, "_")}`;
}
