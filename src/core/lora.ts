/**
 * Parametric memory's rules (docs/parametric.md): Workers AI's published LoRA limits, the checks of an adapter's
 * `adapter_config.json`, and the adapter lifecycle's transition table. Pure.
 *
 * Limits as published at https://developers.cloudflare.com/workers-ai/fine-tunes/loras/ ("Limitations"): LoRAs only
 * for the four non-quantised `-lora` base models below, rank `r` ≤ 8, adapter file < 100 MB, files named exactly
 * `adapter_config.json` and `adapter_model.safetensors`, up to 30 LoRA adapters per account.
 */

/** Workers AI base models that accept a LoRA, each with the Hugging Face model it was made from (PEFT's base name). */
export const WORKERS_AI_LORA_MODELS: Readonly<Record<string, string>> = {
  "@cf/meta-llama/llama-2-7b-chat-hf-lora": "llama-2-7b-chat-hf",
  "@cf/mistral/mistral-7b-instruct-v0.2-lora": "mistral-7b-instruct-v0.2",
  "@cf/google/gemma-2b-it-lora": "gemma-2b-it",
  "@cf/google/gemma-7b-it-lora": "gemma-7b-it",
};

export const LORA_LIMITS = {
  /** Largest rank Workers AI accepts. */
  maxRank: 8,
  /** `adapter_model.safetensors` must be smaller than 100 MB (10^8 bytes: "MB" as the page writes it). */
  maxWeightsBytes: 100_000_000 - 1,
  /** `adapter_config.json` is a few hundred bytes; this bounds what is parsed and kept. */
  maxConfigBytes: 64 * 1024,
  /** Adapters one cube keeps (every version, archived ones included): Workers AI's per-account limit is 30. */
  maxPerCube: 30,
} as const;

/** Lifecycle of an adapter version, like a memory's: `pending` waits for its weights; one `active` per cube. */
export const ADAPTER_STATES = ["pending", "ready", "active", "archived"] as const;
export type AdapterState = (typeof ADAPTER_STATES)[number];

/** Allowed moves, from → to. Activating one adapter moves the active one back to `ready` (not listed: implied). */
const TRANSITIONS: Readonly<Record<AdapterState, readonly AdapterState[]>> = {
  pending: ["ready", "archived"],
  ready: ["active", "archived"],
  active: ["ready", "archived"],
  archived: ["ready"],
};

/** Whether an adapter may move from `from` to `to` (the same state is no move). */
export const canTransition = (from: AdapterState, to: AdapterState): boolean => TRANSITIONS[from].includes(to);

/** The event logged for a move into `to` (the cube's event log, published as webhooks where listed). */
export const ADAPTER_EVENT: Readonly<Record<AdapterState, string>> = {
  pending: "adapter.registered",
  ready: "adapter.ready",
  active: "adapter.activated",
  archived: "adapter.archived",
};

export interface LoraConfig {
  rank: number;
  /** PEFT's `base_model_name_or_path`, when given. */
  baseModelName: string | null;
  /** The config as sent (checked to be small and an object), kept to hand back with the weights. */
  raw: Record<string, unknown>;
}

/**
 * Checks an `adapter_config.json` (PEFT's format) against Workers AI's limits for `baseModel`: a LoRA config, rank
 * `r` an integer 1–8, and a `base_model_name_or_path` (if given) that names the same model. Returns the problems.
 */
export function checkLoraConfig(config: Record<string, unknown>, baseModel: string): { ok: true; config: LoraConfig } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const hfName = WORKERS_AI_LORA_MODELS[baseModel];
  if (!hfName) problems.push(`base_model must be one of ${Object.keys(WORKERS_AI_LORA_MODELS).join(", ")} (Workers AI's LoRA models)`);
  const peftType = config.peft_type;
  if (peftType !== undefined && (typeof peftType !== "string" || peftType.toUpperCase() !== "LORA")) {
    problems.push(`config.peft_type must be "LORA", not ${JSON.stringify(peftType)}`);
  }
  const r = config.r;
  if (!Number.isInteger(r) || (r as number) < 1) problems.push("config.r (the LoRA rank) must be a positive integer");
  else if ((r as number) > LORA_LIMITS.maxRank) problems.push(`config.r is ${r}; Workers AI accepts LoRA ranks up to ${LORA_LIMITS.maxRank}`);
  const name = config.base_model_name_or_path;
  if (name !== undefined && name !== null && typeof name !== "string") problems.push("config.base_model_name_or_path must be a string");
  if (typeof name === "string" && hfName && !name.toLowerCase().replace(/_/g, "-").endsWith(hfName)) {
    problems.push(`config.base_model_name_or_path ${JSON.stringify(name.slice(0, 200))} is not ${hfName}, the model ${baseModel} adapts`);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: { rank: r as number, baseModelName: typeof name === "string" ? name : null, raw: config } };
}

/** Whether a Workers AI model applies adapters made for `baseModel` (the same `-lora` model). */
export const modelTakesAdapter = (model: string, baseModel: string): boolean => model === baseModel && baseModel in WORKERS_AI_LORA_MODELS;
