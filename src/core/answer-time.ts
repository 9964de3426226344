/**
 * Questions that ask for a time, and texts that state one: answer-type matching, a standard step of question
 * answering, for the one answer type a static word embedding cannot see. "When was Kwame born?" has one content word,
 * "born", and a sentence vector built from words is nearer "Kwame's father is a retired teacher." than "Kwame's
 * birthday is November 22.": the question word that says a date is wanted is a stopword to it. Search uses these to
 * rank the vector channel's candidates again among those that state a time (durable-objects/cube/search-when.ts).
 * English only; pure.
 */
import { resolveDates } from "./reader/dates";

/** "When …", "What year / date / day / month / time …", "Which year …", "How long ago …", "Since when …". */
const ASKS_WHEN = /^\s*(?:when\b|since when\b|(?:what|which)\s+(?:year|date|day|month|time)\b|how long ago\b)/iu;

/** True when the question asks for a time ("When did Ingrid get married?", "what year did you graduate?"). */
export function asksWhen(query: string): boolean {
  return ASKS_WHEN.test(query);
}

const MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December";
const WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday";
/**
 * A calendar word: a month or weekday name as a name is written (capitalised, so the verbs "may" and "march" do
 * not count; weekdays also in the plural, "on Saturdays"), or a year of the last or this century standing alone (not
 * part of a phone number, a decimal or a thousands-separated number).
 */
const CALENDAR = new RegExp(`\\b(?:(?:${MONTHS})|(?:${WEEKDAYS})s?)\\b|(?<![\\d.,/:-])\\b(?:19|20)\\d\\d\\b(?![.,/:]\\d)`, "u");

/**
 * True when the text states a time: a calendar word (above), or any time expression MemReader resolves
 * ("yesterday", "last week", "two years ago", "in 2019"; core/reader/dates.ts).
 */
export function statesTime(text: string): boolean {
  return CALENDAR.test(text) || resolveDates(text, 0).dates.length > 0;
}
