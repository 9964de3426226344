import { describe, expect, it } from "vitest";
import { isFillerMessage } from "../../src/core/reader/filler";
import { RuleReader } from "../../src/core/reader/rules";
import { toThirdPerson } from "../../src/core/reader/third-person";
import type { ExtractedMemory, ExtractedType, ReaderContext, ReaderMessage } from "../../src/core/reader/types";

const reader = new RuleReader();
const NOW = Date.UTC(2026, 10, 25, 12);
const CONTEXT: ReaderContext = { ownerName: "alice", now: NOW };
const day = (iso: string): number => Date.parse(`${iso}T00:00:00Z`);

function message(content: string, extra: Partial<ReaderMessage> = {}): ReaderMessage {
  return { id: "m0", role: "user", name: null, content, createdAt: null, ...extra };
}

async function readOne(content: string, extra: Partial<ReaderMessage> = {}): Promise<ExtractedMemory[]> {
  return reader.read([message(content, extra)], CONTEXT);
}

interface Expected {
  type: ExtractedType;
  key: string | null;
  validAt: string | null;
  /** The whole content, or pieces it must contain (long messages). */
  content: string | readonly string[];
  tags: readonly string[];
}

/**
 * Turns of LoCoMo (conversations conv-26, conv-30, conv-41, conv-42, conv-43 of ../shared/bench/locomo-dev.json),
 * each read on its own at its session's time, as the benchmark sends them: speaker as the name, dia_id as the id.
 */
const LOCOMO: readonly [string, string, string, string, readonly Expected[]][] = [
  // [dia_id, speaker, session time, text, expected memories]
  ["D1:1", "Caroline", "2023-05-08T13:56:00Z", "Hey Mel! Good to see you! How have you been?", []],
  [
    "D1:3", "Caroline", "2023-05-08T13:56:00Z",
    "I went to a LGBTQ support group yesterday and it was so powerful.",
    [{
      type: "event", key: null, validAt: "2023-05-07",
      content: "Caroline went to a LGBTQ support group yesterday (2023-05-07) and it was so powerful.",
      tags: ["caroline", "lgbtq", "support", "group"],
    }],
  ],
  [
    "D1:14", "Melanie", "2023-05-08T13:56:00Z",
    "Yeah, I painted that lake sunrise last year! It's special to me.",
    [{
      type: "event", key: null, validAt: "2022-01-01",
      content: "Melanie painted that lake sunrise last year (2022)! It's special to Melanie.",
      tags: ["melanie", "painted", "sunrise", "lake"],
    }],
  ],
  [
    "D2:1", "Melanie", "2023-05-25T13:14:00Z",
    "Hey Caroline, since we last chatted, I've had a lot of things happening to me. I ran a charity race for mental health last Saturday – it was really rewarding. Really made me think about taking care of our minds.",
    [{
      type: "event", key: null, validAt: "2023-05-20",
      content: [
        "Since we last chatted, Melanie has had a lot of things happening to Melanie.",
        "Melanie ran a charity race for mental health last Saturday (2023-05-20)",
        "Really made Melanie think about taking care of our minds.",
      ],
      tags: ["melanie", "charity", "mental", "health"],
    }],
  ],
  [
    "D3:1", "Caroline", "2023-06-09T19:55:00Z",
    "Hey Melanie! How's it going? I wanted to tell you about my school event last week. It was awesome! I talked about my transgender journey and encouraged students to get involved in the LGBTQ community. It was great to see their reactions. It made me reflect on how far I've come since I started transitioning three years ago.",
    [{
      type: "event", key: null, validAt: "2023-05-29",
      content: [
        "Caroline wanted to tell you about Caroline's school event last week (the week of 2023-05-29).",
        "since Caroline started transitioning three years ago (2020).",
      ],
      tags: ["caroline", "lgbtq", "transgender", "students"],
    }],
  ],
  [
    "D4:13", "Caroline", "2023-06-27T10:37:00Z",
    "I'm still figuring out the details, but I'm thinking of working with trans people, helping them accept themselves and supporting their mental health. Last Friday, I went to an LGBTQ+ counseling workshop and it was really enlightening. They talked about different therapeutic methods and how to best work with trans people. Seeing how passionate these pros were about making a safe space for people like me was amazing.",
    [{
      type: "event", key: null, validAt: "2023-06-23",
      content: [
        "Caroline is still figuring out the details, but Caroline is thinking of working with trans people",
        "Last Friday (2023-06-23), Caroline went to an LGBTQ+ counseling workshop",
        "a safe space for people like Caroline was amazing.",
      ],
      tags: ["caroline", "lgbtq", "counseling", "therapeutic"],
    }],
  ],
  [
    "D8:9", "Caroline", "2023-07-15T13:51:00Z",
    "That photo is stunning! So glad you bonded over our love of nature. Last Friday I went to a council meeting for adoption. It was inspiring and emotional - so many people wanted to create loving homes for children in need. It made me even more determined to adopt.",
    [{
      type: "event", key: null, validAt: "2023-07-14",
      content: ["Last Friday (2023-07-14) Caroline went to a council meeting for adoption.", "It made Caroline even more determined to adopt."],
      tags: ["caroline", "adoption"],
    }],
  ],
  [
    "D9:2", "Caroline", "2023-07-17T14:31:00Z",
    "Hey Melanie! That sounds great! Last weekend I joined a mentorship program for LGBTQ youth - it's really rewarding to help the community.",
    [{
      type: "event", key: null, validAt: "2023-07-15",
      content: "Last weekend (the weekend of 2023-07-15) Caroline joined a mentorship program for LGBTQ youth - it's really rewarding to help the community.",
      tags: ["caroline", "lgbtq", "mentorship", "youth"],
    }],
  ],
  [
    "D11:1", "Melanie", "2023-08-14T14:24:00Z",
    "Hey Caroline! Last night was amazing! We celebrated my daughter's birthday with a concert surrounded by music, joy and the warm summer breeze. Seeing my kids' smiles was so awesome, and I'm so thankful for our special moments together.",
    [{
      type: "event", key: null, validAt: "2023-08-13",
      content: ["Last night (2023-08-13) was amazing! We celebrated Melanie's daughter's birthday with a concert", "Melanie is so thankful"],
      tags: ["melanie", "birthday", "daughter", "concert"],
    }],
  ],
  [
    "D14:30", "Melanie", "2023-08-25T13:33:00Z",
    "Painting landscapes and still life is my favorite! Nature's amazing, here's a painting I did recently.",
    [{
      type: "preference", key: null, validAt: null,
      content: "Painting landscapes and still life is Melanie's favorite! Nature's amazing, here's a painting Melanie did recently.",
      tags: ["melanie", "landscapes", "painting"],
    }],
  ],
  [
    "D15:21", "Caroline", "2023-08-28T15:19:00Z",
    "I started playing acoustic guitar about five years ago; it's been a great way to express myself and escape into my emotions.",
    [{
      type: "event", key: null, validAt: "2018-01-01",
      content: "Caroline started playing acoustic guitar about five years ago (2018); it's been a great way to express themself and escape into Caroline's emotions.",
      tags: ["caroline", "acoustic", "guitar"],
    }],
  ],
  [
    "D17:8", "Melanie", "2023-10-13T10:31:00Z",
    "Thanks for the tip, Caroline. Doing research and readying myself emotionally makes sense. I'll do that. BTW, recently I had a setback. Last month I got hurt and had to take a break from pottery, which I use for self-expression and peace.",
    [{
      type: "event", key: null, validAt: "2023-09-01",
      content: [
        "Doing research and readying themself emotionally makes sense.",
        "Last month (September 2023) Melanie got hurt and had to take a break from pottery, which Melanie uses for self-expression",
      ],
      tags: ["melanie", "pottery", "setback"],
    }],
  ],
  [
    "D18:19", "Melanie", "2023-10-20T18:55:00Z",
    "Absolutely! It really helps me reset and recharge. I love camping trips with my fam, 'cause nature brings such peace and serenity.",
    [{
      type: "preference", key: null, validAt: null,
      content: "It really helps Melanie reset and recharge. Melanie loves camping trips with Melanie's fam, 'cause nature brings such peace and serenity.",
      tags: ["melanie", "camping", "nature"],
    }],
  ],
  [
    "D1:2", "Jon", "2023-01-20T16:04:00Z",
    "Hey Gina! Good to see you too. Lost my job as a banker yesterday, so I'm gonna take a shot at starting my own business.",
    [{
      type: "event", key: null, validAt: "2023-01-19",
      content: "Lost Jon's job as a banker yesterday (2023-01-19), so Jon is gonna take a shot at starting Jon's own business.",
      tags: ["jon", "banker", "business", "job"],
    }],
  ],
  [
    "D1:5", "Gina", "2023-01-20T16:04:00Z",
    "That's cool, Jon! What got you into this biz?",
    [{ type: "fact", key: null, validAt: null, content: "Gina asked: What got you into this biz?", tags: ["gina", "biz"] }],
  ],
  [
    "D1:8", "Jon", "2023-01-20T16:04:00Z",
    "Cool, Gina! I love all dances, but contemporary is my top pick. It's so expressive and powerful! What's your fave?",
    [{
      type: "preference", key: null, validAt: null,
      content: "Jon loves all dances, but contemporary is Jon's top pick. It's so expressive and powerful!",
      tags: ["jon", "contemporary", "dances"],
    }],
  ],
  [
    "D1:13", "Gina", "2023-01-20T16:04:00Z",
    "Sounds great, Jon! Next Friday works. Let's boogie!",
    [{ type: "event", key: null, validAt: "2023-01-27", content: "Gina said: Next Friday (2023-01-27) works. Let's boogie!", tags: ["gina", "boogie"] }],
  ],
  [
    "D15:5", "Jon", "2023-06-19T10:04:00Z",
    "The official opening night is tomorrow. I'm working hard to make everything just right. Can't wait to see it all come together!",
    [{
      type: "event", key: null, validAt: "2023-06-20",
      content: "The official opening night is tomorrow (2023-06-20). Jon is working hard to make everything just right. Can't wait to see it all come together!",
      tags: ["jon", "opening", "night"],
    }],
  ],
  ["D15:17", "Jon", "2023-06-19T10:04:00Z", "Agreed!", []],
  [
    "D1:6", "John", "2022-12-17T11:01:00Z",
    "Yeah Maria, I'm really hoping to get into local politics. I love helping the community and making it a better place.",
    [{
      type: "preference", key: null, validAt: null,
      content: "John is really hoping to get into local politics. John loves helping the community and making it a better place.",
      tags: ["john", "politics", "community"],
    }],
  ],
  ["D1:16", "John", "2022-12-17T11:01:00Z", "Got it! Thanks, Maria. I definitely will.", []],
  [
    "D21:4", "Nate", "2022-09-14T13:43:00Z",
    "Hey Joanna, I'm no writer like you, but something pretty awesome happened. Last Monday I got to teach people vegan ice cream recipes on my own cooking show! It was a bit nerve-wracking to put myself out there, but it was a blast. Plus, I picked up a few new recipes!",
    [{
      type: "event", key: null, validAt: "2022-09-12",
      content: [
        "Nate is no writer like you",
        "Last Monday (2022-09-12) Nate got to teach people vegan ice cream recipes on Nate's own cooking show!",
        "Plus, Nate picked up a few new recipes!",
      ],
      tags: ["nate", "recipes", "cooking"],
    }],
  ],
  [
    "D27:19", "Tim", "2024-01-02T17:26:00Z",
    "Harry Potter is my favorite book. It's so immersive!",
    [{
      type: "preference", key: "tim|favorite_book", validAt: null,
      content: "Harry Potter is Tim's favorite book. It's so immersive!",
      tags: ["tim", "harry potter", "book"],
    }],
  ],
  [
    "D27:24", "John", "2024-01-02T17:26:00Z",
    "Thanks! I've watched a bunch of them and they're inspiring. My favorite character is Aragorn, he grows so much throughout the story.",
    [
      { type: "fact", key: null, validAt: null, content: "John has watched a bunch of them and they're inspiring.", tags: ["john", "watched"] },
      {
        type: "preference", key: "john|favorite_character", validAt: null,
        content: "John's favorite character is Aragorn, he grows so much throughout the story.",
        tags: ["john", "aragorn", "character"],
      },
    ],
  ],
];

describe("rule reader on LoCoMo turns", () => {
  it.each(LOCOMO)("%s (%s)", async (id, speaker, time, text, expected) => {
    const memories = await reader.read(
      [{ id, role: "user", name: speaker, content: text, createdAt: Date.parse(time) }],
      { ownerName: "someone-else", now: 0 },
    );
    expect(memories).toHaveLength(expected.length);
    memories.forEach((memory, index) => {
      const want = expected[index]!;
      expect(memory.type).toBe(want.type);
      expect(memory.key).toBe(want.key);
      expect(memory.validAt).toBe(want.validAt === null ? null : day(want.validAt));
      expect(memory.messageIds).toEqual([id]);
      if (typeof want.content === "string") expect(memory.content).toBe(want.content);
      else for (const piece of want.content) expect(memory.content).toContain(piece);
      expect(memory.content.startsWith(`${speaker}: `)).toBe(false);
      expect(memory.tags).toEqual(expect.arrayContaining([...want.tags]));
    });
  });

  it("reads a stretch of a session in order, skipping the filler turns", async () => {
    const at = Date.parse("2023-06-19T10:04:00Z");
    const turns: [string, string, string][] = [
      ["D15:1", "Jon", "Hey Gina, hope you're doing great! Still working on my biz. Took a short trip last week to Rome to clear my mind a little."],
      ["D15:2", "Gina", "Hi! Good for you! It definitely will help you to concentrate on your biz better."],
      ["D15:3", "Jon", "Thanks, Gina. Still working on opening a dance studio."],
      ["D15:4", "Gina", "When are you opening the studio?"],
      ["D15:17", "Jon", "Agreed!"],
      ["D15:22", "Gina", "See you tomorrow. Bye!"],
    ];
    const memories = await reader.read(
      turns.map(([id, name, content]) => ({ id, role: "user", name, content, createdAt: at })),
      CONTEXT,
    );
    expect(memories.map((memory) => memory.messageIds[0])).toEqual(["D15:1", "D15:2", "D15:3", "D15:4"]);
    expect(memories[0]).toMatchObject({
      type: "event",
      validAt: day("2023-06-12"),
      content: "Still working on Jon's biz. Took a short trip last week (the week of 2023-06-12) to Rome to clear Jon's mind a little.",
    });
    expect(memories[0]!.tags).toEqual(expect.arrayContaining(["jon", "rome", "trip"]));
    expect(memories[2]!.content).toBe("Jon said: Still working on opening a dance studio.");
    expect(memories[3]!.content).toBe("Gina asked: When are you opening the studio?");
  });
});

describe("rule reader", () => {
  it("is rules@1", () => {
    expect(reader.id).toBe("rules@1");
  });

  it.each([
    "hi", "Hello!", "hey there", "thanks!", "Thank you so much, Bob!", "ok", "OK 👍", "🎉🎉", "lol", "haha", "bye",
    "How are you?", "how's it going?", "Good morning!", "Sounds good.", "Yes", "that's right", "Correct.", "np",
    "Hey Mel! Good to see you! How have you been?", "Got it! Thanks, Maria. I definitely will.",
  ])("skips filler: %j", async (content) => {
    expect(await readOne(content)).toEqual([]);
  });

  it.each(["hi", "Thanks, Mel!", "ok 👍", "😂😂😂", "How are you doing today?"])("%j is filler", (content) => {
    expect(isFillerMessage(content)).toBe(true);
  });

  it.each(["I'm vegan", "No meat for me", "Paris!", "ok, I moved to Lisbon"])("%j is not filler", (content) => {
    expect(isFillerMessage(content)).toBe(false);
  });

  it.each([
    ["I'm vegan", "Alice is vegan", "preference", "alice|diet"],
    ["i'm 32.", "Alice is 32.", "fact", "alice|age"],
    ["I live in Berlin", "Alice lives in Berlin", "fact", "alice|lives_in"],
    ["I work at Acme Corp.", "Alice works at Acme Corp.", "fact", "alice|works_at"],
    ["I hate cilantro", "Alice hates cilantro", "preference", null],
    ["Paris!", "Alice said: Paris!", "fact", null],
  ] as const)("keeps short facts: %j", async (content, expected, type, key) => {
    expect(await readOne(content)).toMatchObject([{ content: expected, type, key }]);
  });

  it("attributes to the owner when a user message has no name, and reads its time from context.now", async () => {
    const [memory] = await readOne("I went hiking yesterday");
    expect(memory).toEqual({
      content: "Alice went hiking yesterday (2026-11-24)",
      type: "event",
      tags: ["alice", "hiking"],
      validAt: day("2026-11-24"),
      messageIds: ["m0"],
      key: null,
    });
  });

  it("uses the message's own time over context.now", async () => {
    const [memory] = await readOne("I went hiking yesterday", { createdAt: Date.parse("2024-03-01T08:00:00Z") });
    expect(memory!.validAt).toBe(day("2024-02-29"));
  });

  it("skips assistant, system and tool messages, and a bare confirmation of an assistant's claim", async () => {
    const memories = await reader.read(
      [
        message("You are a helpful assistant. The user lives in Paris.", { id: "s", role: "system" }),
        message("So you live in Berlin and love jazz, right?", { id: "a", role: "assistant" }),
        message("yes", { id: "u1" }),
        message('{"temperature": 3, "city": "Berlin"}', { id: "t", role: "tool" }),
        message("I love jazz", { id: "u2" }),
      ],
      CONTEXT,
    );
    expect(memories).toEqual([expect.objectContaining({ content: "Alice loves jazz", type: "preference", messageIds: ["u2"] })]);
  });

  it.each([
    ["My favorite color is green", "preference", "alice|favorite_color"],
    ["Blue is my favourite colour", "preference", "alice|favorite_colour"],
    ["My favorite kind of music is jazz", "preference", "alice|favorite_music"],
    ["Bob's favorite band is Queen", "preference", "bob|favorite_band"],
    ["My favorite part was the parade", "preference", null],
    ["I really enjoy hiking in the Alps", "preference", null],
    ["I prefer tea over coffee", "preference", null],
    ["I can't stand loud restaurants", "preference", null],
    ["I'm a huge fan of sci-fi", "preference", null],
    ["I love how you explain things", "fact", null],
    ["I love it!", "fact", null],
    ["Please always answer in French.", "instruction", null],
    ["Never use emojis when you reply to me", "instruction", null],
    ["From now on, keep your answers short.", "instruction", null],
    ["Don't mention my ex again", "instruction", null],
    ["Remember to ask me about my exam", "instruction", null],
    ["I want you to remind me to stretch", "instruction", null],
    ["Call me Al", "instruction", "alice|name"],
    ["My name is Alice Smith", "fact", "alice|name"],
    ["Never give up!", "fact", null],
    ["Never say never!", "fact", null],
    ["I'm always here for you", "fact", null],
    ["I'm 100% behind you!", "fact", null],
    ["I moved to Lisbon last year", "fact", "alice|lives_in"],
    ["I got a new job at Google two weeks ago", "fact", "alice|works_at"],
    ["I work as a nurse", "fact", "alice|job"],
    ["I just turned 40!", "fact", "alice|age"],
    ["We went to the beach last Saturday", "event", null],
    ["The sky was grey", "fact", null],
  ] as const)("%j is a %s with key %s", async (content, type, key) => {
    const [memory] = await readOne(content);
    expect(memory).toMatchObject({ type, key });
  });

  it("gives a keyed or instruction sentence its own memory when the rest is about the speaker too", async () => {
    const memories = await readOne("Hi! My favorite color is green now. Also, I went hiking yesterday. Always reply in French.");
    expect(memories.map(({ content, type, key, validAt }) => ({ content, type, key, validAt }))).toEqual([
      { content: "Alice's favorite color is green now.", type: "preference", key: "alice|favorite_color", validAt: null },
      { content: "Also, Alice went hiking yesterday (2026-11-24).", type: "event", key: null, validAt: day("2026-11-24") },
      { content: "Alice said: Always reply in French.", type: "instruction", key: null, validAt: null },
    ]);
    expect(memories.every((memory) => memory.messageIds[0] === "m0")).toBe(true);
  });

  it("gives each of several keyed sentences its own memory", async () => {
    const memories = await readOne("My favorite color is green. My favorite food is sushi.");
    expect(memories.map(({ content, key }) => ({ content, key }))).toEqual([
      { content: "Alice's favorite color is green.", key: "alice|favorite_color" },
      { content: "Alice's favorite food is sushi.", key: "alice|favorite_food" },
    ]);
  });

  it("keeps other languages verbatim, attributed with a language-neutral prefix", async () => {
    expect(await readOne("Ich war gestern mit meiner Schwester im Kino.")).toMatchObject([
      { content: "Alice: Ich war gestern mit meiner Schwester im Kino.", type: "fact", key: null, validAt: null },
    ]);
    expect(await readOne("Me gusta mucho la playa y el sol", { name: "Lucía" })).toMatchObject([
      { content: "Lucía: Me gusta mucho la playa y el sol" },
    ]);
    expect(await readOne("I bambini dormono già, non è così?")).toMatchObject([{ content: "Alice: I bambini dormono già, non è così?" }]);
  });

  it("tags are lower-case, deduplicated and at most 16", async () => {
    const long =
      "Last week I flew from New York to San Francisco with Maria Lopez, then drove to Los Angeles, San Diego, " +
      "Las Vegas, Phoenix, Denver, Salt Lake City, Portland, Seattle, Vancouver and Boise with Tom, Ana, Kim and " +
      "Raj, visiting Google, Microsoft, Amazon, Netflix and NASA, photographing extraordinary landscapes.";
    const [memory] = await readOne(long);
    expect(memory!.tags.length).toBeLessThanOrEqual(16);
    expect(new Set(memory!.tags).size).toBe(memory!.tags.length);
    for (const tag of memory!.tags) expect(tag).toBe(tag.toLowerCase());
    expect(memory!.tags.slice(0, 3)).toEqual(["alice", "new york", "san francisco"]);
    expect(memory!.tags).toContain("maria lopez");
  });
});

describe("third-person substitution", () => {
  it.each([
    ["I am tired", "Alice is tired"],
    ["I'm tired and I'm hungry", "Alice is tired and alice is hungry"],
    ["I have two cats", "Alice has two cats"],
    ["I've been to Rome", "Alice has been to Rome"],
    ["I haven't seen it", "Alice hasn't seen it"],
    ["I love jazz", "Alice loves jazz"],
    ["I really enjoy it", "Alice really enjoys it"],
    ["I go there, I try hard, I watch TV", "Alice goes there, alice tries hard, alice watches TV"],
    ["I went home", "Alice went home"],
    ["I read a book", "Alice read a book"],
    ["I don't like it", "Alice doesn't like it"],
    ["I do not like it", "Alice does not like it"],
    ["I'll call", "Alice will call"],
    ["I'd love to", "Alice would love to"],
    ["I'd gone", "Alice'd gone"],
    ["My dog likes me", "Alice's dog likes alice"],
    ["that one is mine", "that one is alice's"],
    ["I did it myself", "Alice did it themself"],
    ["some me-time", "some me-time"],
    ["It reminds me. My kids agree.", "It reminds alice. Alice's kids agree."],
    ["We love our home", "We love our home"],
  ] as const)("%j → %j", (text, expected) => {
    expect(toThirdPerson(text, "alice").text).toBe(expected);
  });
});

describe("names keep the case of a name", () => {
  it.each([
    ["Always reply to me in French.", {}, "Always reply to Alice in French."],
    ["I love skiing.", { name: "dave" }, "Dave loves skiing."],
    ["My sister visits me on Sundays.", { name: "mary jane" }, "Mary Jane's sister visits Mary Jane on Sundays."],
    ["Always reply to me in French.", { name: "deShawn" }, "Always reply to deShawn in French."],
    ["Always reply to me in French.", { name: "u_42" }, "Always reply to u_42 in French."],
  ])("%j from %j → %j", async (content, extra, expected) => {
    const [memory] = await readOne(content, extra as Partial<ReaderMessage>);
    expect(memory?.content).toBe(expected);
  });
});
