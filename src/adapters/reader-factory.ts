/**
 * Picks the MemReader from configuration: a model through the `Llm` adapter when READER asks for one, else rules.
 * Here rather than in core/reader/ because choosing an implementation from config is the adapters' job (core
 * imports no adapter).
 */
import { LlmReader } from "../core/reader/llm-reader";
import { RuleReader } from "../core/reader/rules";
import type { MemoryReader } from "../core/reader/types";
import { type LlmConfig, createLlm } from "./factory";

export function createReader(env: LlmConfig): MemoryReader {
  const llm = createLlm(env);
  return llm ? new LlmReader(llm) : new RuleReader();
}
