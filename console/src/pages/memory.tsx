/**
 * One memory: its current (or `as_of`) state, edit, pin/unpin, freeze, forget; version history with a diff between
 * any two versions and rollback; provenance with the writer's watermark check.
 */
import { useState } from "preact/hooks";
import { api } from "../api";
import { changedFields, diffWords } from "../diff";
import { href, navigate } from "../router";
import type { Memory, MemoryVersion as Version, Provenance } from "../types";
import { ErrorNote, Field, Section, TableHead, When, formValue, isoOf, useAction, useLoad } from "../ui";

export function MemoryView({ params }: { params: URLSearchParams }) {
  const id = params.get("id") ?? "";
  const asOf = params.get("as_of") ?? "";
  const memory = useLoad(() => api<Memory>("GET", `/v1/memories/${encodeURIComponent(id)}`, { query: { as_of: asOf } }), [id, asOf]);
  const history = useLoad(() => api<{ data: Version[] }>("GET", `/v1/memories/${encodeURIComponent(id)}/history`), [id]);
  const provenance = useLoad(() => api<Provenance>("GET", `/v1/memories/${encodeURIComponent(id)}/provenance`), [id]);
  const action = useAction();
  const reloadAll = () => {
    memory.reload();
    history.reload();
    provenance.reload();
  };
  const act = (work: () => Promise<unknown>) => action.run(async () => void (await work(), reloadAll()));
  const path = `/v1/memories/${encodeURIComponent(id)}`;
  const m = memory.data;

  return (
    <>
      <Section title="Memory" actions={<a href={href("/memories", { cube_id: m?.cube_id })}>Back to the list</a>}>
        <ErrorNote error={memory.error} />
        {m ? (
          <>
            <p class="content" data-testid="memory-content">
              {m.content}
            </p>
            <div class="meta">
              <span class="badge">{m.type}</span>
              <span class={`badge state-${m.state}`}>{m.state}</span>
              <span class="badge">v{m.version}</span>
              {m.pinned ? <span class="badge">pinned</span> : null}
              {m.frozen ? <span class="badge">frozen</span> : null}
              {m.tags.map((tag) => (
                <span key={tag} class="tag">
                  #{tag}
                </span>
              ))}
            </div>
            <dl class="facts">
              <dt>id</dt>
              <dd>
                <code>{m.id}</code>
              </dd>
              <dt>cube</dt>
              <dd>
                <code>{m.cube_id}</code> ({m.owner})
              </dd>
              <dt>created</dt>
              <dd>
                <When at={m.created_at} />
              </dd>
              <dt>updated</dt>
              <dd>
                <When at={m.updated_at} />
              </dd>
              <dt>importance · priority</dt>
              <dd>
                {m.importance} · {m.priority}
              </dd>
              <dt>session</dt>
              <dd>{m.session_id ?? "—"}</dd>
            </dl>
            <form
              class="row"
              aria-label="Time travel"
              onSubmit={(event) => {
                event.preventDefault();
                navigate("/memory", { id, as_of: isoOf(formValue(event.currentTarget, "as_of")) });
              }}
            >
              <Field label="As of" hint={asOf ? `showing the memory as it was at ${asOf}` : "see the memory as it was then"}>
                <input name="as_of" type="datetime-local" />
              </Field>
              <button type="submit">Travel</button>
              {asOf ? <a href={href("/memory", { id })}>Back to now</a> : null}
            </form>
            {asOf ? null : (
              <>
                <form
                  class="stack"
                  aria-label="Edit"
                  onSubmit={(event) => {
                    event.preventDefault();
                    const content = formValue(event.currentTarget, "content");
                    void act(() => api("PATCH", path, { body: { content } }));
                  }}
                >
                  <Field label="Content">
                    {/* Uncontrolled: a re-render (history or provenance arriving) must not undo what the user typed. */}
                    <textarea name="content" rows={3} defaultValue={m.content} key={m.version} />
                  </Field>
                  <div class="row">
                    <button type="submit" disabled={action.busy || m.frozen}>
                      Save new version
                    </button>
                    <button type="button" disabled={action.busy} onClick={() => void act(() => api(m.pinned ? "DELETE" : "POST", `${path}/pin`))}>
                      {m.pinned ? "Unpin" : "Pin"}
                    </button>
                    <button type="button" disabled={action.busy} onClick={() => void act(() => api("PATCH", path, { body: { frozen: !m.frozen } }))}>
                      {m.frozen ? "Unfreeze" : "Freeze"}
                    </button>
                    <button
                      type="button"
                      class="danger"
                      disabled={action.busy || m.state === "forgotten"}
                      onClick={() =>
                        confirm("Forget this memory?") &&
                        void action.run(async () => {
                          await api("DELETE", path);
                          // A forgotten memory is no longer found by id: back to the list it was in.
                          navigate("/memories", { cube_id: m.cube_id });
                        })
                      }
                    >
                      Forget
                    </button>
                  </div>
                </form>
                <ErrorNote error={action.error} />
              </>
            )}
          </>
        ) : null}
      </Section>
      <History versions={history.data?.data ?? null} error={history.error} busy={action.busy} onRollback={(version) => void act(() => api("POST", `${path}/rollback`, { body: { version } }))} />
      <ProvenanceSection provenance={provenance.data} error={provenance.error} />
    </>
  );
}

function History({
  versions,
  error,
  busy,
  onRollback,
}: {
  versions: Version[] | null;
  error: unknown;
  busy: boolean;
  onRollback: (version: number) => void;
}) {
  const [pick, setPick] = useState<{ from: number; to: number } | null>(null);
  if (!versions) return <ErrorNote error={error} />;
  const ordered = [...versions].sort((a, b) => a.version - b.version);
  const latest = ordered[ordered.length - 1];
  const to = ordered.find((v) => v.version === pick?.to) ?? latest;
  const from = ordered.find((v) => v.version === pick?.from) ?? ordered[ordered.length - 2] ?? latest;
  return (
    <Section title="History">
      <table>
        <TableHead columns={["Version", "Change", "When", "By", "Content"]} actions />
        <tbody>
          {[...ordered].reverse().map((v) => (
            <tr key={v.version}>
              <td>v{v.version}</td>
              <td>{v.change}</td>
              <td>
                <When at={v.changed_at} />
              </td>
              <td>
                <code>{v.actor}</code>
              </td>
              <td class="clip">{v.memory.content}</td>
              <td>
                {v.version !== latest?.version ? (
                  <button type="button" disabled={busy} onClick={() => onRollback(v.version)} aria-label={`Roll back to version ${v.version}`}>
                    Roll back
                  </button>
                ) : (
                  <span class="muted">current</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {from && to && ordered.length > 1 ? (
        <div class="diff-box">
          <div class="row">
            <Field label="Compare version">
              <select value={String(from.version)} onChange={(e) => setPick({ from: Number(e.currentTarget.value), to: to.version })}>
                {ordered.map((v) => (
                  <option key={v.version} value={v.version}>
                    v{v.version}
                  </option>
                ))}
              </select>
            </Field>
            <Field label="with version">
              <select value={String(to.version)} onChange={(e) => setPick({ from: from.version, to: Number(e.currentTarget.value) })}>
                {ordered.map((v) => (
                  <option key={v.version} value={v.version}>
                    v{v.version}
                  </option>
                ))}
              </select>
            </Field>
          </div>
          <p class="diff" data-testid="diff" aria-label={`Differences from version ${from.version} to ${to.version}`}>
            {diffWords(from.memory.content, to.memory.content).map((part, index) =>
              part.kind === "same" ? (
                <span key={index}>{part.text}</span>
              ) : part.kind === "added" ? (
                <ins key={index}>{part.text}</ins>
              ) : (
                <del key={index}>{part.text}</del>
              ),
            )}
          </p>
          <ul class="field-changes">
            {changedFields(from.memory as unknown as Record<string, unknown>, to.memory as unknown as Record<string, unknown>).map(([field, before, after]) => (
              <li key={field}>
                <code>{field}</code>: <del>{before}</del> → <ins>{after}</ins>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </Section>
  );
}

function ProvenanceSection({ provenance, error }: { provenance: Provenance | null; error: unknown }) {
  if (!provenance) return <ErrorNote error={error} />;
  const { writer, source, episode, derivation } = provenance;
  const verdict = writer.verified === true ? "verified" : writer.verified === false ? "does NOT verify" : "no watermark";
  return (
    <Section title="Provenance">
      <dl class="facts">
        <dt>source</dt>
        <dd>
          {source.kind}
          {source.reader ? ` (reader ${source.reader})` : ""}
        </dd>
        <dt>writer</dt>
        <dd>
          <code>{writer.key_id ?? "—"}</code> · watermark <strong class={writer.verified === false ? "bad" : "good"}>{verdict}</strong>
        </dd>
        <dt>episode</dt>
        <dd>{source.episode_id ? <code>{source.episode_id}</code> : "—"}</dd>
      </dl>
      {episode?.messages?.length ? (
        <>
          <h3>Cited messages</h3>
          <ol class="messages">
            {episode.messages.map((message) => (
              <li key={message.id}>
                <strong>{message.role}</strong>: {message.content}
              </li>
            ))}
          </ol>
        </>
      ) : null}
      <h3>Derivation</h3>
      <ol class="derivation">
        {derivation.map((step, index) => (
          <li key={index}>
            <strong>{step.event}</strong> <When at={step.at} /> by <code>{step.actor}</code>
            {step.version !== null ? ` → v${step.version}` : ""}
            {step.reason ? ` (${step.reason})` : ""}
          </li>
        ))}
      </ol>
    </Section>
  );
}
