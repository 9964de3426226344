/**
 * Picks the MemReader from configuration: a model through the `Llm` adapter when READER asks for one, else rules.
 * Composition, not memory logic: it lives with the adapters so core/reader/ imports none (CONVENTIONS habit 15).
 */
import { LlmReader } from "../core/reader/llm-reader";
import { RuleReader } from "../core/reader/rules";
import type { MemoryReader } from "../core/reader/types";
import { type LlmConfig, createLlm } from "./factory";

export function createReader(env: LlmConfig): MemoryReader {
  const llm = createLlm(env);
  return llm ? new LlmReader(llm) : new RuleReader();
}
