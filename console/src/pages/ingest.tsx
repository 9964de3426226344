/**
 * Conversation ingest: messages go to MemReader as a job whose progress is polled until it ends; and the jobs this
 * console started in this tab (the API has no job listing), with maintenance jobs (consolidate, archive, expire, reindex).
 */
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { href } from "../router";
import type { Job } from "../types";
import { Empty, ErrorNote, Field, Section, When, formValue, useAction } from "../ui";
import { PickCube, useCubeId } from "./cubes";

const JOBS_SLOT = "memos.console.jobs";
const POLL_MS = 700;

function rememberedJobs(): string[] {
  try {
    return JSON.parse(sessionStorage.getItem(JOBS_SLOT) ?? "[]") as string[];
  } catch {
    return [];
  }
}

function rememberJob(id: string): void {
  sessionStorage.setItem(JOBS_SLOT, JSON.stringify([id, ...rememberedJobs().filter((j) => j !== id)].slice(0, 50)));
}

/** Parses "role: text" lines into messages; a line without a role continues the previous message. */
function parseConversation(text: string): { role: string; content: string }[] {
  const messages: { role: string; content: string }[] = [];
  for (const line of text.split("\n")) {
    const match = /^(user|assistant|system|tool)\s*:\s*(.*)$/i.exec(line.trim());
    if (match) messages.push({ role: match[1]!.toLowerCase(), content: match[2]! });
    else if (line.trim() && messages.length > 0) messages[messages.length - 1]!.content += `\n${line.trim()}`;
  }
  return messages;
}

function useJobs(ids: string[]): Map<string, Job | Error> {
  const [jobs, setJobs] = useState(new Map<string, Job | Error>());
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    async function poll() {
      const next = new Map<string, Job | Error>();
      await Promise.all(
        ids.map(async (id) => {
          try {
            next.set(id, await api<Job>("GET", `/v1/jobs/${encodeURIComponent(id)}`));
          } catch (error) {
            next.set(id, error instanceof Error ? error : new Error(String(error)));
          }
        }),
      );
      if (!live) return;
      setJobs(next);
      const running = [...next.values()].some((job) => !(job instanceof Error) && (job.status === "queued" || job.status === "running"));
      if (running) timer = setTimeout(() => void poll(), POLL_MS);
    }
    void poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [ids.join(",")]);
  return jobs;
}

export function IngestView() {
  const cubeId = useCubeId();
  const [ids, setIds] = useState(rememberedJobs);
  const jobs = useJobs(ids);
  const ingest = useAction();
  const maintain = useAction();
  if (!cubeId) return <PickCube />;

  function started(id: string) {
    rememberJob(id);
    setIds(rememberedJobs());
  }

  return (
    <>
      <Section title="Ingest a conversation">
        <form
          class="stack"
          onSubmit={(event) => {
            event.preventDefault();
            const form = event.currentTarget;
            void ingest.run(async () => {
              const messages = parseConversation(formValue(form, "conversation"));
              if (messages.length === 0) throw new Error("write at least one line as `user: …` or `assistant: …`");
              const session = formValue(form, "session_id");
              const accepted = await api<{ job_id: string }>("POST", "/v1/memories", {
                body: { cube_id: cubeId, messages, ...(session ? { session_id: session } : {}) },
              });
              started(accepted.job_id);
              form.reset();
            });
          }}
        >
          <Field label="Conversation" hint="one message per line: `user: …`, `assistant: …`">
            <textarea name="conversation" rows={6} required spellcheck={false} />
          </Field>
          <Field label="Session id (optional)">
            <input name="session_id" />
          </Field>
          <button type="submit" disabled={ingest.busy}>
            Ingest
          </button>
        </form>
        <ErrorNote error={ingest.error} />
      </Section>
      <Section
        title="Jobs"
        actions={
          <form
            class="row inline"
            onSubmit={(event) => {
              event.preventDefault();
              const type = formValue(event.currentTarget, "type");
              void maintain.run(async () => started((await api<{ job_id: string }>("POST", "/v1/jobs", { body: { type, cube_id: cubeId } })).job_id));
            }}
          >
            <label>
              <span class="sr-only">Job type</span>
              <select name="type">
                <option>consolidate</option>
                <option>archive</option>
                <option>expire</option>
                <option>reindex</option>
              </select>
            </label>
            <button type="submit" disabled={maintain.busy}>
              Start job
            </button>
          </form>
        }
      >
        <ErrorNote error={maintain.error} />
        {ids.length === 0 ? <Empty>No jobs started from this tab yet.</Empty> : null}
        <ul class="jobs">
          {ids.map((id) => {
            const job = jobs.get(id);
            if (!job) return <li key={id}>{id} …</li>;
            if (job instanceof Error) return <li key={id}>{id}: {job.message}</li>;
            const total = Math.max(job.progress.total, 1);
            return (
              <li key={id} class={`job job-${job.status}`} data-testid="job">
                <div class="row">
                  <strong>{job.type}</strong> <code>{job.id}</code> <span class={`badge status-${job.status}`}>{job.status}</span>
                  <span class="muted">
                    <When at={job.updated_at} />
                  </span>
                </div>
                <progress max={total} value={job.progress.done} aria-label={`${job.type} job progress`}>
                  {job.progress.done}/{job.progress.total}
                </progress>
                <span class="muted">
                  {job.progress.done}/{job.progress.total}
                </span>
                {job.error ? <p class="error">{job.error}</p> : null}
                {job.result.memory_ids?.length ? (
                  <ul class="inline-list">
                    {job.result.memory_ids.map((memoryId) => (
                      <li key={memoryId}>
                        <a href={href("/memory", { id: memoryId })}>{memoryId}</a>
                      </li>
                    ))}
                  </ul>
                ) : null}
              </li>
            );
          })}
        </ul>
      </Section>
    </>
  );
}
