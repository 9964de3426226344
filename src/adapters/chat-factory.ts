/**
 * Picks the chat model `POST /v1/chat/completions` forwards to, from validated configuration:
 * - `CHAT` unset or `off` (the default, and `npm start` offline): no model; the endpoint answers 503
 *   `chat_model_not_configured`. Not an echo model: an answer that looks like a model's but is not one would hide a
 *   misconfiguration from the person wondering why their assistant is dull.
 * - `CHAT=workers-ai`: the AI binding, model `CHAT_MODEL` (a Workers AI id; default {@link DEFAULT_WORKERS_AI_LLM_MODEL}).
 * - `CHAT=openai`: any OpenAI-compatible server at `LLM_BASE_URL` with the `LLM_API_KEY` secret (shared with the
 *   model-backed MemReader), model `CHAT_MODEL` (required: the name that server knows).
 * A missing binding or variable that the configuration asks for is a {@link ConfigError}, never a silent fallback.
 */
import type { ChatModel } from "../core/llm";
import { ConfigError } from "../errors";
import { OpenAiChatModel } from "./openai-chat";
import { type WorkersAiChatBinding, WorkersAiChatModel } from "./workers-ai-chat";
import { DEFAULT_WORKERS_AI_LLM_MODEL } from "./workers-ai-llm";

/** The configuration variables the chat model reads. */
export interface ChatConfig {
  CHAT?: string;
  CHAT_MODEL?: string;
  LLM_BASE_URL?: string;
  LLM_API_KEY?: string;
  AI?: unknown;
}

export const CHAT_PROVIDERS = ["off", "workers-ai", "openai"] as const;

/** See the file comment. Null when no chat model is configured. */
export function createChatModel(env: ChatConfig): ChatModel | null {
  const provider = (env.CHAT?.trim() || "off") as (typeof CHAT_PROVIDERS)[number];
  if (!CHAT_PROVIDERS.includes(provider)) throw new ConfigError(`CHAT must be one of ${CHAT_PROVIDERS.join(", ")}; got ${env.CHAT}`);
  const model = env.CHAT_MODEL?.trim() || undefined;
  if (provider === "off") return null;
  if (provider === "workers-ai") {
    if (model !== undefined && !/^@(cf|hf)\/\S+$/.test(model)) {
      throw new ConfigError(`CHAT=workers-ai needs CHAT_MODEL to be a Workers AI model id (@cf/… or @hf/…); got ${model}`);
    }
    if (!env.AI) throw new ConfigError("CHAT=workers-ai needs the AI binding (see wrangler.toml)");
    return new WorkersAiChatModel(env.AI as WorkersAiChatBinding, model ?? DEFAULT_WORKERS_AI_LLM_MODEL);
  }
  const baseUrl = env.LLM_BASE_URL?.trim();
  if (!baseUrl) throw new ConfigError("CHAT=openai needs LLM_BASE_URL, e.g. http://localhost:11434/v1");
  if (!URL.canParse(baseUrl) || !/^https?:$/.test(new URL(baseUrl).protocol)) {
    throw new ConfigError(`LLM_BASE_URL must be an http(s) URL; got ${baseUrl}`);
  }
  if (model === undefined) throw new ConfigError("CHAT=openai needs CHAT_MODEL, the model name the server knows");
  const apiKey = env.LLM_API_KEY?.trim();
  if (!apiKey) throw new ConfigError("CHAT=openai needs the LLM_API_KEY secret (wrangler secret put LLM_API_KEY, or .dev.vars)");
  return new OpenAiChatModel({ baseUrl, apiKey, model });
}
