/** Owners and their cubes: pick the cube the other views work on, or create one. */
import { useState } from "preact/hooks";
import { api, session } from "../api";
import { href, navigate } from "../router";
import type { Cube, Page } from "../types";
import { Empty, ErrorNote, Field, Section, TableHead, When, formValue, useAction, useLoad } from "../ui";

export function CubesView() {
  const [cursor, setCursor] = useState<string | null>(null);
  const [chosen, setChosen] = useState(session.cube());
  const cubes = useLoad(() => api<Page<Cube>>("GET", "/v1/cubes", { query: { limit: 50, cursor } }), [cursor]);
  const create = useAction();

  const byOwner = new Map<string, Cube[]>();
  for (const cube of cubes.data?.data ?? []) byOwner.set(cube.owner, [...(byOwner.get(cube.owner) ?? []), cube]);

  function choose(cube: Cube) {
    session.setCube(cube.id);
    setChosen(cube.id);
    navigate("/memories", { cube_id: cube.id });
  }

  return (
    <>
      <Section title="Owners and cubes">
        <ErrorNote error={cubes.error} />
        {cubes.data && byOwner.size === 0 ? <Empty>No cubes yet: write a memory for a user or create a cube below.</Empty> : null}
        {[...byOwner].map(([owner, list]) => (
          <div key={owner} class="owner">
            <h3>{owner}</h3>
            <table>
              <TableHead columns={["Cube", "Memories", "Last active"]} actions />
              <tbody>
                {list.map((cube) => (
                  <tr key={cube.id} class={cube.id === chosen ? "chosen" : undefined}>
                    <td>
                      <strong>{cube.name}</strong>
                      {cube.is_default ? <span class="badge">default</span> : null}
                      <br />
                      <code>{cube.id}</code>
                    </td>
                    <td>{cube.memory_count}</td>
                    <td>
                      <When at={cube.last_active_at} />
                    </td>
                    <td class="actions">
                      <button type="button" onClick={() => choose(cube)} aria-label={`Open cube ${cube.name} of ${owner}`}>
                        Open
                      </button>
                      <a href={href("/stats")} onClick={() => session.setCube(cube.id)}>
                        Stats
                      </a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
        <div class="pager">
          {cursor ? (
            <button type="button" onClick={() => setCursor(null)}>
              First page
            </button>
          ) : null}
          {cubes.data?.next_cursor ? (
            <button type="button" onClick={() => setCursor(cubes.data?.next_cursor ?? null)}>
              Next page
            </button>
          ) : null}
        </div>
      </Section>
      <Section title="New cube">
        <form
          class="row"
          onSubmit={(event) => {
            event.preventDefault();
            const form = event.currentTarget;
            void create.run(async () => {
              const user = formValue(form, "user_id");
              const agent = formValue(form, "agent_id");
              await api("POST", "/v1/cubes", {
                body: { name: formValue(form, "name"), ...(user ? { user_id: user } : {}), ...(agent ? { agent_id: agent } : {}) },
              });
              form.reset();
              cubes.reload();
            });
          }}
        >
          <Field label="Name">
            <input name="name" required maxLength={200} />
          </Field>
          <Field label="User id">
            <input name="user_id" />
          </Field>
          <Field label="Agent id">
            <input name="agent_id" />
          </Field>
          <button type="submit" disabled={create.busy}>
            Create
          </button>
        </form>
        <ErrorNote error={create.error} />
      </Section>
    </>
  );
}

/** The cube the views work on, from the route or the session; null asks the user to pick one. */
export function useCubeId(params?: URLSearchParams): string | null {
  const fromRoute = params?.get("cube_id");
  if (fromRoute && fromRoute !== session.cube()) session.setCube(fromRoute);
  return fromRoute || session.cube();
}

export function PickCube() {
  return (
    <Empty>
      Choose a cube first on the <a href={href("/cubes")}>Cubes</a> page.
    </Empty>
  );
}
