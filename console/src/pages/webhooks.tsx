/** Webhooks: subscribe, delete, and each one's deliveries with replay. */
import { useState } from "preact/hooks";
import { api } from "../api";
import type { Page, Webhook, WebhookDelivery as Delivery } from "../types";
import { Empty, ErrorNote, Field, Section, When, formValue, useAction, useLoad } from "../ui";

const EVENTS = [
  "memory.created",
  "memory.updated",
  "memory.superseded",
  "memory.forgotten",
  "memory.expired",
  "memory.archived",
  "job.completed",
  "job.failed",
  "owner.deleted",
] as const;

function Deliveries({ webhookId }: { webhookId: string }) {
  const base = `/v1/webhooks/${encodeURIComponent(webhookId)}/deliveries`;
  const page = useLoad(() => api<Page<Delivery>>("GET", base, { query: { limit: 25 } }), [webhookId]);
  const replay = useAction();
  return (
    <div class="deliveries">
      <button type="button" onClick={page.reload} disabled={page.loading}>
        Refresh deliveries
      </button>
      <ErrorNote error={page.error ?? replay.error} />
      {page.data && page.data.data.length === 0 ? <Empty>No deliveries yet.</Empty> : null}
      <ul class="rows">
        {(page.data?.data ?? []).map((delivery) => (
          <li key={delivery.id}>
            <span class={`badge status-${delivery.status}`}>{delivery.status}</span> {delivery.event_type} · {delivery.attempts} attempts
            {delivery.last_status_code ? ` · HTTP ${delivery.last_status_code}` : ""} {delivery.last_error ? <span class="muted">{delivery.last_error}</span> : null} ·{" "}
            <When at={delivery.created_at} />{" "}
            <button
              type="button"
              aria-label={`Replay ${delivery.event_type} delivery`}
              onClick={() =>
                void replay.run(async () => {
                  await api("POST", `${base}/${encodeURIComponent(delivery.id)}/replay`);
                  page.reload();
                })
              }
            >
              Replay
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function WebhooksView() {
  const hooks = useLoad(() => api<{ data: Webhook[] }>("GET", "/v1/webhooks"), []);
  const [open, setOpen] = useState<string | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const change = useAction();
  return (
    <>
      <Section title="Webhooks">
        <ErrorNote error={hooks.error ?? change.error} />
        {hooks.data && hooks.data.data.length === 0 ? <Empty>No webhooks.</Empty> : null}
        <ul class="rows">
          {(hooks.data?.data ?? []).map((hook) => (
            <li key={hook.id}>
              <code>{hook.url}</code> · {hook.events.join(", ")} · <When at={hook.created_at} />{" "}
              <button type="button" aria-expanded={open === hook.id} onClick={() => setOpen(open === hook.id ? null : hook.id)}>
                Deliveries
              </button>{" "}
              <button
                type="button"
                class="danger"
                onClick={() =>
                  void change.run(async () => {
                    await api("DELETE", `/v1/webhooks/${encodeURIComponent(hook.id)}`);
                    hooks.reload();
                  })
                }
              >
                Delete
              </button>
              {open === hook.id ? <Deliveries webhookId={hook.id} /> : null}
            </li>
          ))}
        </ul>
      </Section>
      <Section title="Subscribe">
        <form
          class="stack"
          onSubmit={(event) => {
            event.preventDefault();
            const form = event.currentTarget;
            void change.run(async () => {
              const events = EVENTS.filter((type) => (form.elements.namedItem(`event-${type}`) as HTMLInputElement).checked);
              const created = await api<{ secret: string }>("POST", "/v1/webhooks", { body: { url: formValue(form, "url"), events } });
              setSecret(created.secret);
              form.reset();
              hooks.reload();
            });
          }}
        >
          <Field label="URL">
            <input name="url" type="url" required />
          </Field>
          <fieldset class="row">
            <legend>Events</legend>
            {EVENTS.map((type) => (
              <label key={type} class="check">
                <input type="checkbox" name={`event-${type}`} /> {type}
              </label>
            ))}
          </fieldset>
          <button type="submit" disabled={change.busy}>
            Subscribe
          </button>
        </form>
        {secret ? (
          <p role="status">
            Signing secret (shown once): <code>{secret}</code>
          </p>
        ) : null}
      </Section>
    </>
  );
}
