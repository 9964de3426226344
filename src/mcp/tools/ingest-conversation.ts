/** memos_ingest_conversation: a conversation for MemReader (POST /v1/memories with `messages`). */
import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../schemas/limits";
import { MessageInput, WriteMemoriesRequest } from "../../schemas/memory";
import { ingest } from "../../services/memories";
import { PREVIEW_CHARS, defineTool, memoryPreview, parseAsRest, previewLine, scopeFields, timeField } from "../tool";

const field = WriteMemoriesRequest.shape;

const Message = z
  .object({
    ...MessageInput.shape,
    name: MessageInput.shape.name.describe("The speaker's name; extracted memories use it instead of pronouns."),
    id: MessageInput.shape.id.describe("Your message id, cited by the memories (default m<position>)."),
    created_at: timeField("When it was said; relative dates in it resolve against this.").optional(),
  })
  .strict();

export const ingestConversationTool = defineTool({
  name: "memos_ingest_conversation",
  title: "Ingest a conversation",
  description:
    "Send a conversation (OpenAI-style messages) and let the server extract what is worth remembering from it: facts, " +
    "dated events (relative dates like 'yesterday' resolved against each message's created_at), preferences and " +
    "instructions, each citing the message ids it came from. Use it at the end of a session or every few turns; " +
    "sending the same conversation again writes nothing new. By default it waits and returns the memories written " +
    "(sync); with sync: false it returns a job id at once and the memories appear in search when the job is done. " +
    "infer: false stores each user and assistant message verbatim instead.",
  scope: "write",
  input: z
    .object({
      ...scopeFields,
      messages: z
        .array(Message)
        .min(1)
        .max(LIMITS.messages)
        .describe("The conversation, oldest first (1–500 messages)."),
      sync: field.sync.unwrap().default(true).describe("Wait for the memories (default true here; the REST default is false)."),
      infer: field.infer.describe("false stores each user and assistant message verbatim (type message) instead of extracting."),
      session_id: field.session_id.describe("Your id for this session; the memories belong to it."),
      metadata: field.metadata.describe("Metadata for every memory extracted."),
    })
    .strict(),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async run(ctx, args) {
    const request = parseAsRest(WriteMemoriesRequest, args);
    const { response } = await ingest(ctx, request);
    const memories = response.data.map((memory) => memoryPreview(memory, PREVIEW_CHARS));
    const { job } = response;
    const structured = {
      cube_id: response.cube_id,
      job_id: response.job_id,
      status: response.status,
      episode_id: response.episode_id,
      ...(job.error === null ? {} : { error: job.error }),
      ...(job.result.duplicates?.length ? { duplicates: job.result.duplicates } : {}),
      ...(job.result.superseded?.length ? { superseded: job.result.superseded } : {}),
      ids: response.data.map((memory) => memory.id),
      memories,
    };
    const head =
      response.status === "done"
        ? `Read the conversation into ${memories.length} ${memories.length === 1 ? "memory" : "memories"} in ${response.cube_id} (job ${response.job_id}).`
        : response.status === "failed"
          ? `The job ${response.job_id} failed: ${job.error ?? "no reason given"}.`
          : `Job ${response.job_id} is ${response.status}; the memories appear in search when it is done.`;
    return { structured, text: [head, ...memories.map((m) => previewLine(m))].join("\n") };
  },
});
