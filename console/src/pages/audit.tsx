/** The tenant's audit log with filters (cube, actor, action, time) and cursor paging. */
import { api } from "../api";
import { href, navigate } from "../router";
import type { Page, AuditEntry } from "../types";
import { Empty, ErrorNote, Field, Section, TableHead, When, formValue, isoOf, useLoad } from "../ui";

const FILTERS = ["cube_id", "actor", "action", "from", "to", "cursor"] as const;

export function AuditView({ params }: { params: URLSearchParams }) {
  const filters = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ""])) as Record<(typeof FILTERS)[number], string>;
  const page = useLoad(() => api<Page<AuditEntry>>("GET", "/v1/audit", { query: { ...filters, limit: 50 } }), FILTERS.map((name) => filters[name]));
  return (
    <Section title="Audit log">
      {/* Uncontrolled fields, remounted when the filters in the address change: a page arriving must not undo typing. */}
      <form
        class="filters"
        aria-label="Audit filters"
        key={JSON.stringify(filters)}
        onSubmit={(event) => {
          event.preventDefault();
          const form = event.currentTarget;
          const moved = navigate("/audit", {
            cube_id: formValue(form, "cube_id"),
            actor: formValue(form, "actor"),
            action: formValue(form, "action"),
            from: isoOf(formValue(form, "from")),
            to: isoOf(formValue(form, "to")),
          });
          // Entries arrive through the bookkeeping queue after their request: Filter with the same filters asks again.
          if (!moved) page.reload();
        }}
      >
        <Field label="Cube">
          <input name="cube_id" defaultValue={filters.cube_id} />
        </Field>
        <Field label="Actor" hint="key_…, root or hook:lifecycle">
          <input name="actor" defaultValue={filters.actor} />
        </Field>
        <Field label="Action" hint="e.g. memory.write">
          <input name="action" defaultValue={filters.action} />
        </Field>
        <Field label="From">
          <input name="from" type="datetime-local" />
        </Field>
        <Field label="To">
          <input name="to" type="datetime-local" />
        </Field>
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={page.error} />
      {page.data && page.data.data.length === 0 ? <Empty>No entries.</Empty> : null}
      {page.data?.data.length ? (
        <table>
          <TableHead columns={["When", "Actor", "Action", "Status", "Cube · memories"]} />
          <tbody>
            {page.data.data.map((entry, index) => (
              <tr key={`${entry.at}-${index}`}>
                <td>
                  <When at={entry.at} />
                </td>
                <td>
                  <code>{entry.actor}</code>
                </td>
                <td>{entry.action}</td>
                <td>{entry.status ?? "—"}</td>
                <td>
                  {entry.cube_id ? <code>{entry.cube_id}</code> : "—"}{" "}
                  {entry.memory_ids.slice(0, 3).map((id) => (
                    <a key={id} href={href("/memory", { id })}>
                      {id}{" "}
                    </a>
                  ))}
                  {entry.memory_ids.length > 3 ? `+${entry.memory_ids.length - 3}` : ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <div class="pager">
        {page.data?.next_cursor ? <a href={href("/audit", { ...filters, cursor: page.data.next_cursor })}>Next page</a> : null}
      </div>
    </Section>
  );
}
