/** Grants on the chosen cube: which other principals may read or write it. */
import { api } from "../api";
import type { Page, Grant } from "../types";
import { Empty, ErrorNote, Field, Section, When, formValue, useAction, useLoad } from "../ui";
import { PickCube, useCubeId } from "./cubes";

export function GrantsView() {
  const cubeId = useCubeId();
  const base = `/v1/cubes/${encodeURIComponent(cubeId ?? "")}/grants`;
  const grants = useLoad(() => (cubeId ? api<Page<Grant>>("GET", base, { query: { limit: 100 } }) : Promise.resolve(null)), [cubeId]);
  const change = useAction();
  if (!cubeId) return <PickCube />;
  return (
    <Section title={`Grants on ${cubeId}`}>
      <ErrorNote error={grants.error ?? change.error} />
      {grants.data && grants.data.data.length === 0 ? <Empty>No grants: only this tenant's keys reach the cube.</Empty> : null}
      <ul class="rows">
        {(grants.data?.data ?? []).map((grant) => (
          <li key={grant.principal}>
            <code>{grant.principal}</code> may <strong>{grant.permission}</strong> since <When at={grant.created_at} />{" "}
            <button
              type="button"
              class="danger"
              onClick={() =>
                void change.run(async () => {
                  await api("DELETE", `${base}/${encodeURIComponent(grant.principal)}`);
                  grants.reload();
                })
              }
            >
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form
        class="row"
        onSubmit={(event) => {
          event.preventDefault();
          const form = event.currentTarget;
          void change.run(async () => {
            await api("POST", base, { body: { principal: formValue(form, "principal"), permission: formValue(form, "permission") } });
            form.reset();
            grants.reload();
          });
        }}
      >
        <Field label="Principal" hint="user:<id> or agent:<id> of this tenant">
          <input name="principal" required />
        </Field>
        <Field label="Permission">
          <select name="permission">
            <option>read</option>
            <option>write</option>
          </select>
        </Field>
        <button type="submit" disabled={change.busy}>
          Grant
        </button>
      </form>
    </Section>
  );
}
