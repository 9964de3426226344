/**
 * Parametric memory reaches the chat (issue 15, items 2–3): the cube's active adapter from its registry is applied
 * when the chat model can apply one and the adapter was made for that model; otherwise it is left out.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ChatModel } from "../../src/core/llm";
import { createDeps } from "../../src/deps";
import { ChatCompletionRequest } from "../../src/schemas/chat";
import { prepareChat } from "../../src/services/chat";
import type { TenantContext } from "../../src/services/context";
import { call, newTenant, remember, uniqueUser } from "../helpers";

const LORA_MODEL = "@cf/google/gemma-2b-it-lora";

/** A model prepareChat only inspects (it never calls it): its name and whether it applies adapters. */
function chatModel(model: string, supportsAdapters: boolean): ChatModel {
  const unused = async (): Promise<never> => {
    throw new Error("prepareChat does not call the model");
  };
  return { id: `test:${model}`, model, supportsAdapters, chat: unused, stream: unused };
}

async function cubeWithActiveAdapter(baseModel: string) {
  const { key, tenantId, keyId } = await newTenant();
  const user = uniqueUser();
  const [memory] = await remember(key, user, [{ content: "Ada prefers tea." }]);
  const cubeId = memory.cube_id as string;
  const registered = await call("POST", `/v1/cubes/${cubeId}/adapters`, { key, body: { name: "ada", base_model: baseModel, finetune: "ada-ft" } });
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  const activated = await call("POST", `/v1/cubes/${cubeId}/adapters/${registered.body.id}/state`, { key, body: { state: "active" } });
  expect(activated.status, JSON.stringify(activated.body)).toBe(200);
  const ctx: TenantContext = {
    deps: createDeps(env),
    requestId: "req_test",
    background: () => {},
    principal: { kind: "tenant", tenantId, keyId, scopes: new Set(["read", "write"]) },
    idempotencyKey: undefined,
  };
  const body = ChatCompletionRequest.parse({ model: "any", messages: [{ role: "user", content: "What do I drink?" }], memos: { user_id: user, remember: false } });
  return { ctx, body };
}

describe("chat with a cube's active adapter", () => {
  it("applies the active fine-tune on the model it was made for", async () => {
    const { ctx, body } = await cubeWithActiveAdapter(LORA_MODEL);
    const prepared = await prepareChat(ctx, body, chatModel(LORA_MODEL, true));
    expect(prepared.request.adapter).toBe("ada-ft");
    expect(prepared.report.adapter).toEqual({ name: "ada-ft", applied: false });
  });

  it("leaves it out on another model, or on a model that applies none", async () => {
    const { ctx, body } = await cubeWithActiveAdapter(LORA_MODEL);
    for (const model of [chatModel("@cf/mistral/mistral-7b-instruct-v0.2-lora", true), chatModel("gpt-4o-mini", false)]) {
      const prepared = await prepareChat(ctx, body, model);
      expect(prepared.request.adapter, model.model).toBeUndefined();
      expect(prepared.report.adapter, model.model).toBeNull();
    }
  });
});
