/**
 * Tags for a rule-read memory: its speaker, the entities the text names (capitalised words and runs of them that do
 * not merely start a sentence, plus acronyms anywhere) and a few keywords (the longest content words), lower-case.
 */
import { STOPWORDS } from "../fts-query";
import { splitSentences } from "./filler";

/** The most tags a memory carries (the contract's limit). */
export const MAX_TAGS = 16;
/** The API's limit on one tag's length; a longer speaker name or word is left out rather than cut. */
const MAX_TAG_CHARS = 64;
/** The most keywords among them: entities say more. */
const MAX_KEYWORDS = 6;
const MAX_ENTITY_WORDS = 4;

/** Capitalised words that are not entities: days, months, greetings, chat words. */
const NOT_ENTITIES: ReadonlySet<string> = new Set(
  ("monday tuesday wednesday thursday friday saturday sunday january february march april may june july august " +
    "september october november december hey hi hello thanks thank yeah yes yep wow oh ok okay lol omg haha btw " +
    "congrats mr mrs ms dr").split(" "),
);

/** Common words too vague to be keywords, beyond the stopwords. */
const NOT_KEYWORDS: ReadonlySet<string> = new Set(
  ("really actually definitely absolutely totally something anything everything nothing someone anyone everyone " +
    "gonna wanna gotta thing things stuff pretty super little great awesome amazing thanks thank always never still " +
    "since though although lately recently yesterday today tomorrow tonight last next week weekend month year years " +
    "went been have made make take took like just also even well much many lots time times good feel felt know " +
    "think thought want wanted going doing said says tell told getting kind sure glad happy cool nice love loved " +
    "wonderful fantastic incredible exciting excited special beautiful lovely keep kept lately ever every back " +
    "away around right maybe hope hoping would could should shall might must yeah oh okay hey wow haha " +
    "got get let put say see saw way lot one two day new big bit far yet via etc lol omg btw cause gonna wanna " +
    "prefer enjoy stand turned please themselves ourselves yourself yourselves himself herself themself everywhere together towards").split(" "),
);

const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}]+)*/gu;

/** The word without a possessive or contraction tail ("Caroline's" → "Caroline", "it's" → "it"). */
const stem = (word: string): string => word.replace(/['’](?:s|re|ve|ll|d|m|t)$/iu, "");

const isAcronym = (word: string): boolean => /^\p{Lu}[\p{Lu}\p{N}]+$/u.test(word) && !NOT_ENTITIES.has(word.toLowerCase());

function isEntityWord(word: string): boolean {
  const lower = word.toLowerCase();
  return /^\p{Lu}/u.test(word) && word !== "I" && !STOPWORDS.has(lower) && !NOT_ENTITIES.has(lower);
}

/** Entities of `text`, in order of first appearance. */
export function entitiesOf(text: string): string[] {
  const entities: string[] = [];
  for (const sentence of splitSentences(text)) {
    let run: string[] = [];
    let runEnd = -1;
    // A capitalised first word is only an entity as an acronym or in a run of them ("Harry Potter is…").
    let runAtStart = false;
    const flush = (): void => {
      if (run.length > 0 && (!runAtStart || run.length > 1 || isAcronym(run[0]!))) {
        entities.push(run.slice(0, MAX_ENTITY_WORDS).join(" ").toLowerCase());
      }
      run = [];
      runAtStart = false;
    };
    let first = true;
    for (const match of sentence.matchAll(WORD)) {
      const word = stem(match[0]);
      const atStart = first;
      first = false;
      const adjoining = run.length > 0 && /^\s+$/u.test(sentence.slice(runEnd, match.index));
      if (isEntityWord(word)) {
        if (!adjoining) flush();
        if (atStart) runAtStart = true;
        run.push(word);
        runEnd = match.index + match[0].length;
        // A possessive ends the name: "Caroline's LGBTQ group" is two entities.
        if (word !== match[0]) flush();
      } else {
        flush();
      }
    }
    flush();
  }
  return entities;
}

/** The longest content words of `text` (ties: first appearance), at most `max`, lower-case, without `exclude`. */
export function keywordsOf(text: string, max: number, exclude: ReadonlySet<string>): string[] {
  const seen = new Map<string, number>();
  for (const match of text.matchAll(WORD)) {
    const word = stem(match[0]).toLowerCase();
    if (word.length < 3 || /^\p{N}+$/u.test(word) || STOPWORDS.has(word) || NOT_KEYWORDS.has(word)) continue;
    if (exclude.has(word) || seen.has(word) || NOT_ENTITIES.has(word)) continue;
    seen.set(word, seen.size);
  }
  return [...seen.keys()].sort((a, b) => b.length - a.length || seen.get(a)! - seen.get(b)!).slice(0, max);
}

/** Tags for a memory `speaker` wrote as `text` (in their own words): speaker, entities, keywords; deduplicated, ≤ 16. */
export function tagsOf(text: string, speaker: string): string[] {
  const tags = new Set<string>();
  const name = speaker.replace(/[\s\p{Cc}]+/gu, " ").trim().toLowerCase();
  if (name !== "" && name.length <= MAX_TAG_CHARS) tags.add(name);
  for (const entity of entitiesOf(text)) {
    if (tags.size >= MAX_TAGS - MAX_KEYWORDS) break;
    tags.add(entity);
  }
  const entityWords = new Set([...tags].flatMap((tag) => tag.split(" ")));
  for (const keyword of keywordsOf(text, MAX_KEYWORDS, entityWords)) tags.add(keyword);
  return [...tags].filter((tag) => tag.length <= MAX_TAG_CHARS).slice(0, MAX_TAGS);
}
