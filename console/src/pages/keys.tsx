/**
 * API keys: list, mint (scopes, expiry, owner and cube restrictions) and revoke. The same panel serves a tenant's
 * own keys (/v1/keys) and, for the root key, any tenant's (/v1/admin/tenants/{id}/keys). A minted secret is shown
 * once, in the page only.
 */
import { useState } from "preact/hooks";
import { api } from "../api";
import type { ApiKey } from "../types";
import { Empty, ErrorNote, Field, Section, TableHead, When, formValue, isoOf, useAction, useLoad } from "../ui";

const SCOPES = ["read", "write", "admin"] as const;
const list = (text: string) => text.split(",").map((item) => item.trim()).filter(Boolean);

export function KeysPanel({ base, title }: { base: string; title: string }) {
  const keys = useLoad(() => api<{ data: ApiKey[] }>("GET", base), [base]);
  const [minted, setMinted] = useState<{ key: string; id: string } | null>(null);
  const mint = useAction();
  const revoke = useAction();

  return (
    <>
      <Section title={title}>
        <ErrorNote error={keys.error} />
        <ErrorNote error={revoke.error} />
        {keys.data && keys.data.data.length === 0 ? <Empty>No keys.</Empty> : null}
        {keys.data?.data.length ? (
          <table>
            <TableHead columns={["Key", "Scopes", "Limited to", "Expires", "Last used"]} actions />
            <tbody>
              {keys.data.data.map((key) => (
                <tr key={key.id} class={key.revoked_at ? "revoked" : undefined} data-key-id={key.id}>
                  <td>
                    <strong>{key.name ?? "(unnamed)"}</strong>
                    <br />
                    <code>{key.prefix}…</code> <code class="muted">{key.id}</code>
                  </td>
                  <td>{key.scopes.join(", ")}</td>
                  <td>{[...(key.allowed_owners ?? []).map((o) => `owner ${o}`), ...(key.allowed_cubes ?? []).map((c) => `cube ${c}`)].join("; ") || "—"}</td>
                  <td>
                    <When at={key.expires_at} />
                  </td>
                  <td>
                    <When at={key.last_used_at} />
                  </td>
                  <td>
                    {key.revoked_at ? (
                      <span class="badge">revoked</span>
                    ) : (
                      <button
                        type="button"
                        class="danger"
                        disabled={revoke.busy}
                        aria-label={`Revoke key ${key.name ?? key.prefix}`}
                        onClick={() =>
                          void revoke.run(async () => {
                            await api("DELETE", `${base}/${encodeURIComponent(key.id)}`);
                            keys.reload();
                          })
                        }
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </Section>
      <Section title="Mint a key">
        <form
          class="stack"
          onSubmit={(event) => {
            event.preventDefault();
            const form = event.currentTarget;
            void mint.run(async () => {
              const scopes = SCOPES.filter((scope) => (form.elements.namedItem(`scope-${scope}`) as HTMLInputElement).checked);
              const owners = list(formValue(form, "allowed_owners"));
              const cubes = list(formValue(form, "allowed_cubes"));
              const expires = isoOf(formValue(form, "expires_at"));
              const name = formValue(form, "name");
              const created = await api<ApiKey & { key: string }>("POST", base, {
                body: {
                  scopes,
                  ...(name ? { name } : {}),
                  ...(expires ? { expires_at: expires } : {}),
                  ...(owners.length ? { allowed_owners: owners } : {}),
                  ...(cubes.length ? { allowed_cubes: cubes } : {}),
                },
              });
              setMinted({ key: created.key, id: created.id });
              form.reset();
              keys.reload();
            });
          }}
        >
          <div class="row">
            <Field label="Name">
              <input name="name" maxLength={200} />
            </Field>
            <Field label="Expires">
              <input name="expires_at" type="datetime-local" />
            </Field>
          </div>
          <fieldset class="row">
            <legend>Scopes</legend>
            {SCOPES.map((scope) => (
              <label key={scope} class="check">
                <input type="checkbox" name={`scope-${scope}`} checked={scope === "read"} /> {scope}
              </label>
            ))}
          </fieldset>
          <div class="row">
            <Field label="Only these owners" hint="comma-separated, e.g. user:alice">
              <input name="allowed_owners" />
            </Field>
            <Field label="Only these cubes" hint="comma-separated cube ids">
              <input name="allowed_cubes" />
            </Field>
          </div>
          <button type="submit" disabled={mint.busy}>
            Mint key
          </button>
        </form>
        <ErrorNote error={mint.error} />
        {minted ? (
          <div class="minted" role="status">
            <p>
              New key <code>{minted.id}</code> — copy it now, it is not shown again:
            </p>
            <input readOnly value={minted.key} aria-label="New key secret" onFocus={(e) => e.currentTarget.select()} />
          </div>
        ) : null}
      </Section>
    </>
  );
}

export function KeysView() {
  return <KeysPanel base="/v1/keys" title="Keys" />;
}
