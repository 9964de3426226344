/**
 * The search playground: query, filters, a `where` condition, channels, rerank and `as_of`; each hit shows its
 * score, every channel that found it (strongest first) with its rank there and its share of the fused score, and
 * the reranker's score; the response's context tokens and timing above.
 */
import { useState } from "preact/hooks";
import { api } from "../api";
import { href } from "../router";
import type { SearchHit, SearchResponse } from "../types";
import { CHANNELS, Empty, ErrorNote, Field, MEMORY_TYPES, Section, formValue, isoOf, useAction } from "../ui";
import { PickCube, useCubeId } from "./cubes";

export function SearchView() {
  const cubeId = useCubeId();
  const [result, setResult] = useState<SearchResponse | null>(null);
  const search = useAction();
  if (!cubeId) return <PickCube />;

  function submit(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    void search.run(async () => {
      const channels = CHANNELS.filter((channel) => (form.elements.namedItem(`channel-${channel}`) as HTMLInputElement).checked);
      const where = formValue(form, "where");
      const type = formValue(form, "type");
      const tags = formValue(form, "tags");
      let whereJson: unknown;
      try {
        whereJson = where ? JSON.parse(where) : undefined;
      } catch {
        throw new Error("`where` must be JSON, e.g. {\"field\": \"metadata.topic\", \"op\": \"eq\", \"value\": \"travel\"}");
      }
      const body = {
        query: formValue(form, "query"),
        cube_id: cubeId,
        top_k: Number(formValue(form, "top_k")) || 10,
        rerank: (form.elements.namedItem("rerank") as HTMLInputElement).checked,
        ...(channels.length < CHANNELS.length ? { channels } : {}),
        ...(where ? { where: whereJson } : {}),
        ...(type || tags ? { filters: { ...(type ? { type } : {}), ...(tags ? { tags: tags.split(",").map((t) => t.trim()) } : {}) } } : {}),
        ...(formValue(form, "as_of") ? { as_of: isoOf(formValue(form, "as_of")) } : {}),
      };
      setResult(await api<SearchResponse>("POST", "/v1/search", { body }));
    });
  }

  return (
    <>
      <Section title="Search playground">
        <form onSubmit={submit} class="stack" aria-label="Search">
          <Field label="Query">
            <input name="query" required maxLength={2000} />
          </Field>
          <div class="row">
            <Field label="Type">
              <select name="type">
                <option value="">any</option>
                {MEMORY_TYPES.map((type) => (
                  <option key={type}>{type}</option>
                ))}
              </select>
            </Field>
            <Field label="Tags" hint="comma-separated">
              <input name="tags" />
            </Field>
            <Field label="Top k">
              <input name="top_k" type="number" min={1} max={100} value="10" />
            </Field>
            <Field label="As of" hint="what the cube knew then">
              <input name="as_of" type="datetime-local" />
            </Field>
          </div>
          <Field label="Where (JSON)" hint='e.g. {"field":"metadata.topic","op":"eq","value":"travel"}'>
            <textarea name="where" rows={2} spellcheck={false} />
          </Field>
          <fieldset class="row">
            <legend>Channels</legend>
            {CHANNELS.map((channel) => (
              <label key={channel} class="check">
                <input type="checkbox" name={`channel-${channel}`} checked /> {channel}
              </label>
            ))}
            <label class="check">
              <input type="checkbox" name="rerank" /> rerank
            </label>
          </fieldset>
          <button type="submit" disabled={search.busy}>
            {search.busy ? "Searching…" : "Search"}
          </button>
        </form>
        <ErrorNote error={search.error} />
      </Section>
      {result ? (
        <Section title="Results">
          <p class="summary" data-testid="search-summary">
            {result.data.length} hits · {result.context_tokens} context tokens · {result.timing_ms.toFixed(1)} ms
          </p>
          {result.data.length === 0 ? <Empty>Nothing found.</Empty> : null}
          <ol class="hits">
            {result.data.map((hit) => (
              <li key={hit.id}>
                <a href={href("/memory", { id: hit.id })}>{hit.content}</a>
                <dl class="scores">
                  <div>
                    <dt>score</dt>
                    <dd>{hit.score.toFixed(3)}</dd>
                  </div>
                  {hit.rerank_score !== undefined ? (
                    <div>
                      <dt>rerank</dt>
                      <dd>{hit.rerank_score.toFixed(3)}</dd>
                    </div>
                  ) : null}
                  <div>
                    <dt>channels</dt>
                    <dd>
                      <ul class="channels" aria-label="channels that found it, strongest first">
                        {hit.channel_ranks.map(({ channel, rank, score }) => (
                          <li key={channel} class={`channel channel-${channel}`} title={`${channel}: rank ${rank}, ${score.toFixed(3)} of the fused score`}>
                            {channel} <strong>#{rank}</strong> <span class="share">+{score.toFixed(3)}</span>
                          </li>
                        ))}
                      </ul>
                    </dd>
                  </div>
                </dl>
              </li>
            ))}
          </ol>
        </Section>
      ) : null}
    </>
  );
}
