import { describe, expect, it } from "vitest";
import { type ActivationCandidate, activationMoves, activationReason, compileActivation } from "../../src/core/activation";

let clock = 0;
function memory(id: string, type: string, content: string, extra: Partial<ActivationCandidate> = {}): ActivationCandidate {
  clock += 1000;
  return { id, type, content, pinned: false, accessCount: 0, createdAt: clock, priority: 50, ...extra };
}

describe("activationReason", () => {
  it.each([
    [{ pinned: true, type: "fact" }, "pinned"],
    [{ type: "instruction" }, "instruction"],
    [{ type: "preference" }, "preference"],
    [{ type: "fact", accessCount: 5 }, "often_used"],
    [{ type: "event", accessCount: 4 }, null],
    [{ type: "fact" }, null],
  ])("%j → %s", (extra, expected) => {
    const { type, ...rest } = extra as Partial<ActivationCandidate> & { type: string };
    expect(activationReason(memory("m", type, "x", rest))).toBe(expected);
  });
});

describe("compileActivation", () => {
  const base = [
    memory("m_fact", "fact", "Ada lives in Lyon."),
    memory("m_pref", "preference", "Ada prefers tea to coffee."),
    memory("m_inst", "instruction", "Always answer Ada in French."),
    memory("m_used", "fact", "Ada's daughter is called Zoe.", { accessCount: 9 }),
    memory("m_pin", "event", "Ada's wedding is on 2027-06-12.", { pinned: true }),
  ];

  it("renders pinned, instructions, preferences and often-used facts in a fixed order, citing ids", () => {
    const block = compileActivation(base, new Set(), 400);
    expect(block.text).toBe(
      [
        "Pinned:",
        "- Ada's wedding is on 2027-06-12. [m_pin]",
        "",
        "Instructions:",
        "- Always answer Ada in French. [m_inst]",
        "",
        "Preferences:",
        "- Ada prefers tea to coffee. [m_pref]",
        "",
        "Facts:",
        "- Ada's daughter is called Zoe. [m_used]",
      ].join("\n"),
    );
    expect(block.members.map((m) => [m.id, m.reason])).toEqual([
      ["m_pin", "pinned"],
      ["m_inst", "instruction"],
      ["m_pref", "preference"],
      ["m_used", "often_used"],
    ]);
    expect(block.tokens).toBeLessThanOrEqual(400);
  });

  it("gives the same bytes whatever order the candidates come in", () => {
    const once = compileActivation(base, new Set(), 400).text;
    expect(compileActivation([...base].reverse(), new Set(), 400).text).toBe(once);
  });

  it("stays within the budget, keeping the newest instructions when they cannot all fit", () => {
    const instructions = Array.from({ length: 30 }, (_, i) => memory(`m_i${i}`, "instruction", `Rule number ${i} for the agent, stated at some length.`));
    const block = compileActivation(instructions, new Set(), 120);
    expect(block.tokens).toBeLessThanOrEqual(120);
    const ids = block.members.map((m) => m.id);
    expect(ids).toContain("m_i29");
    expect(ids).not.toContain("m_i0");
  });

  it("keeps an often-used member in place when a more-used newcomer arrives and the budget is full", () => {
    const old = memory("m_old", "fact", "An old fact that has been read often enough.", { accessCount: 6 });
    const newcomer = memory("m_new", "fact", "A newer fact that was read even more often.", { accessCount: 50 });
    const budget = 20;
    const first = compileActivation([old], new Set(), budget);
    expect(first.members.map((m) => m.id)).toEqual(["m_old"]);
    const second = compileActivation([old, newcomer], new Set(first.members.map((m) => m.id)), budget);
    expect(second.text).toBe(first.text);
    // Without the memory of who was there, the most used would win: the hysteresis is what keeps the bytes.
    expect(compileActivation([old, newcomer], new Set(), budget).members.map((m) => m.id)).toEqual(["m_new"]);
  });

  it("lets a new instruction displace often-used facts when the budget is short", () => {
    const used = memory("m_used2", "fact", "A fact read many times over the weeks.", { accessCount: 7 });
    const first = compileActivation([used], new Set(), 20);
    const rule = memory("m_rule", "instruction", "Never call before 9 am.");
    const second = compileActivation([used, rule], new Set(first.members.map((m) => m.id)), 20);
    expect(second.members.map((m) => m.id)).toEqual(["m_rule"]);
    expect(activationMoves(first.members, second.members)).toEqual({
      promoted: [expect.objectContaining({ id: "m_rule", reason: "instruction" })],
      demoted: [expect.objectContaining({ id: "m_used2", reason: "often_used" })],
    });
  });

  it("is empty for a cube with nothing standing", () => {
    expect(compileActivation([memory("m_plain", "fact", "Just a fact.")], new Set(), 400)).toEqual({ text: "", tokens: 0, members: [] });
  });
});
