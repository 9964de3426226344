/** Picks the MemReader from configuration: a model through the `Llm` adapter when READER asks for one, else rules. */
import { type LlmConfig, createLlm } from "../../adapters/factory";
import { LlmReader } from "./llm-reader";
import { RuleReader } from "./rules";
import type { MemoryReader } from "./types";

export function createReader(env: LlmConfig): MemoryReader {
  const llm = createLlm(env);
  return llm ? new LlmReader(llm) : new RuleReader();
}
