/** The memory list of the chosen cube, with filters (type, state, tags, session, time) and cursor paging. */
import { api } from "../api";
import { href, navigate } from "../router";
import type { Memory, Page } from "../types";
import { Empty, ErrorNote, Field, MEMORY_STATES, MEMORY_TYPES, Section, When, formValue, isoOf, useLoad } from "../ui";
import { PickCube, useCubeId } from "./cubes";

const FILTERS = ["type", "state", "tags", "session_id", "created_after", "created_before", "cursor"] as const;

export function MemoriesView({ params }: { params: URLSearchParams }) {
  const cubeId = useCubeId(params);
  const filters = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ""])) as Record<(typeof FILTERS)[number], string>;
  const list = useLoad(
    () =>
      cubeId
        ? api<Page<Memory>>("GET", "/v1/memories", {
            query: {
              cube_id: cubeId,
              type: filters.type || undefined,
              state: filters.state || undefined,
              tags: filters.tags ? filters.tags.split(",").map((tag) => tag.trim()).filter(Boolean) : undefined,
              session_id: filters.session_id,
              created_after: filters.created_after,
              created_before: filters.created_before,
              cursor: filters.cursor,
              limit: 25,
            },
          })
        : Promise.resolve(null),
    [cubeId, ...FILTERS.map((name) => filters[name])],
  );
  if (!cubeId) return <PickCube />;

  function apply(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const moved = navigate("/memories", {
      cube_id: cubeId ?? undefined,
      type: formValue(form, "type"),
      state: formValue(form, "state"),
      tags: formValue(form, "tags"),
      session_id: formValue(form, "session_id"),
      created_after: isoOf(formValue(form, "created_after")),
      created_before: isoOf(formValue(form, "created_before")),
    });
    // Unchanged filters: list again (a MemReader job or another client may have written since).
    if (!moved) list.reload();
  }

  return (
    <Section title="Memories">
      {/* Uncontrolled fields, remounted when the filters in the address change: a list arriving must not undo typing. */}
      <form class="filters" onSubmit={apply} aria-label="Memory filters" key={JSON.stringify(filters)}>
        <Field label="Type">
          <select name="type">
            <option value="">any</option>
            {MEMORY_TYPES.map((type) => (
              <option key={type} selected={type === filters.type}>
                {type}
              </option>
            ))}
          </select>
        </Field>
        <Field label="State">
          <select name="state">
            <option value="">live (default)</option>
            {MEMORY_STATES.map((state) => (
              <option key={state} selected={state === filters.state}>
                {state}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Tags" hint="comma-separated; all must match">
          <input name="tags" defaultValue={filters.tags} />
        </Field>
        <Field label="Session">
          <input name="session_id" defaultValue={filters.session_id} />
        </Field>
        <Field label="Created after">
          <input name="created_after" type="datetime-local" />
        </Field>
        <Field label="Created before">
          <input name="created_before" type="datetime-local" />
        </Field>
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={list.error} />
      {list.data && list.data.data.length === 0 ? <Empty>No memories match.</Empty> : null}
      <ul class="memories" aria-busy={list.loading}>
        {(list.data?.data ?? []).map((memory) => (
          <li key={memory.id}>
            <a href={href("/memory", { id: memory.id })}>{memory.content}</a>
            <div class="meta">
              <span class="badge">{memory.type}</span>
              <span class={`badge state-${memory.state}`}>{memory.state}</span>
              {memory.pinned ? <span class="badge">pinned</span> : null}
              {memory.frozen ? <span class="badge">frozen</span> : null}
              {memory.tags.map((tag) => (
                <span key={tag} class="tag">
                  #{tag}
                </span>
              ))}
              <span class="muted">
                v{memory.version} · <When at={memory.created_at} />
              </span>
            </div>
          </li>
        ))}
      </ul>
      <div class="pager">
        {filters.cursor ? <a href={href("/memories", { ...filters, cursor: undefined, cube_id: cubeId })}>First page</a> : null}
        {list.data?.next_cursor ? (
          <a href={href("/memories", { ...filters, cube_id: cubeId, cursor: list.data.next_cursor })}>Next page</a>
        ) : null}
      </div>
    </Section>
  );
}
