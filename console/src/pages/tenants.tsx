/** The root key's view: create a tenant, open one by id, and manage its keys. */
import { useState } from "preact/hooks";
import { api } from "../api";
import { href, navigate } from "../router";
import { ErrorNote, Field, Section, When, formValue, useAction, useLoad } from "../ui";
import { KeysPanel } from "./keys";
import type { Tenant } from "../types";

const SEEN_SLOT = "memos.console.tenants";

function seenTenants(): Tenant[] {
  try {
    return JSON.parse(sessionStorage.getItem(SEEN_SLOT) ?? "[]") as Tenant[];
  } catch {
    return [];
  }
}

export function TenantsView({ params }: { params: URLSearchParams }) {
  const tenantId = params.get("tenant") ?? "";
  const [seen, setSeen] = useState(seenTenants);
  const create = useAction();
  const tenant = useLoad(() => (tenantId ? api<Tenant>("GET", `/v1/admin/tenants/${encodeURIComponent(tenantId)}`) : Promise.resolve(null)), [tenantId]);

  function remember(t: Tenant) {
    const next = [t, ...seenTenants().filter((s) => s.id !== t.id)].slice(0, 20);
    sessionStorage.setItem(SEEN_SLOT, JSON.stringify(next));
    setSeen(next);
  }

  return (
    <>
      <Section title="Tenants">
        <div class="row">
          <form
            class="row"
            onSubmit={(event) => {
              event.preventDefault();
              const form = event.currentTarget;
              void create.run(async () => {
                const created = await api<Tenant>("POST", "/v1/admin/tenants", { body: { name: formValue(form, "name") } });
                remember(created);
                form.reset();
                navigate("/tenants", { tenant: created.id });
              });
            }}
          >
            <Field label="New tenant name">
              <input name="name" required maxLength={200} />
            </Field>
            <button type="submit" disabled={create.busy}>
              Create tenant
            </button>
          </form>
          <form
            class="row"
            onSubmit={(event) => {
              event.preventDefault();
              navigate("/tenants", { tenant: formValue(event.currentTarget, "tenant") });
            }}
          >
            <Field label="Open tenant by id">
              <input name="tenant" required />
            </Field>
            <button type="submit">Open</button>
          </form>
        </div>
        <ErrorNote error={create.error} />
        {seen.length ? (
          <ul class="inline-list" aria-label="Tenants opened in this tab">
            {seen.map((t) => (
              <li key={t.id}>
                <a href={href("/tenants", { tenant: t.id })} aria-current={t.id === tenantId ? "page" : undefined}>
                  {t.name}
                </a>
              </li>
            ))}
          </ul>
        ) : null}
      </Section>
      <ErrorNote error={tenant.error} />
      {tenant.data ? (
        <>
          <Section title={`Tenant ${tenant.data.name}`}>
            <p>
              <code>{tenant.data.id}</code> · created <When at={tenant.data.created_at} />
            </p>
          </Section>
          <KeysPanel base={`/v1/admin/tenants/${encodeURIComponent(tenant.data.id)}/keys`} title="Its keys" />
        </>
      ) : null}
    </>
  );
}
