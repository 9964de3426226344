/** Working memory and pins of the chosen cube, and a context preview under a token budget set with a slider. */
import { useState } from "preact/hooks";
import { api } from "../api";
import { href } from "../router";
import type { Memory, ContextResponse } from "../types";
import { Empty, ErrorNote, Field, Section, useAction, useLoad } from "../ui";
import { PickCube, useCubeId } from "./cubes";

export function ContextView() {
  const cubeId = useCubeId();
  const working = useLoad(
    () =>
      cubeId
        ? api<{ data: { pinned: boolean; score: number; memory: Memory }[] }>("GET", `/v1/cubes/${encodeURIComponent(cubeId)}/working-memory`)
        : Promise.resolve(null),
    [cubeId],
  );
  const [budget, setBudget] = useState(500);
  const [query, setQuery] = useState("");
  const [context, setContext] = useState<ContextResponse | null>(null);
  const preview = useAction();
  if (!cubeId) return <PickCube />;

  const run = (q: string, b: number) =>
    void preview.run(async () => setContext(await api<ContextResponse>("POST", "/v1/context", { body: { query: q, cube_id: cubeId, budget_tokens: b } })));

  return (
    <>
      <Section title="Working memory and pins">
        <ErrorNote error={working.error} />
        {working.data && working.data.data.length === 0 ? <Empty>Working memory is empty.</Empty> : null}
        <ol class="memories">
          {(working.data?.data ?? []).map((item) => (
            <li key={item.memory.id}>
              <a href={href("/memory", { id: item.memory.id })}>{item.memory.content}</a>
              <div class="meta">
                {item.pinned ? <span class="badge">pinned</span> : null}
                <span class="muted">score {item.score.toFixed(3)}</span>
              </div>
            </li>
          ))}
        </ol>
      </Section>
      <Section title="Context preview">
        <form
          class="stack"
          onSubmit={(event) => {
            event.preventDefault();
            run(query, budget);
          }}
        >
          <Field label="Query">
            <input value={query} onInput={(e) => setQuery(e.currentTarget.value)} required />
          </Field>
          <Field label={`Token budget: ${budget}`}>
            <input
              type="range"
              min={50}
              max={4000}
              step={50}
              value={budget}
              onInput={(e) => setBudget(Number(e.currentTarget.value))}
              onChange={(e) => query && run(query, Number(e.currentTarget.value))}
            />
          </Field>
          <button type="submit" disabled={preview.busy}>
            Preview
          </button>
        </form>
        <ErrorNote error={preview.error} />
        {context ? (
          <>
            <p class="summary">
              {context.tokens}/{context.budget_tokens} tokens · {context.items.length} items · {context.omitted} omitted · {context.timing_ms.toFixed(1)} ms
              {context.cached ? " · cached" : ""}
            </p>
            <pre class="context-text">{context.text}</pre>
          </>
        ) : null}
      </Section>
    </>
  );
}
