/** Small shared pieces: a data-loading hook, the error note, labelled fields, dates. */
import { type ComponentChildren, type VNode, cloneElement } from "preact";
import { useCallback, useEffect, useId, useState } from "preact/hooks";
import { ApiFailure } from "./api";

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change (and on reload()); keeps the last data while reloading. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load()
      .then((value) => live && (setData(value), setError(null)))
      .catch((failure: unknown) => live && setError(failure))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [...deps, round]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { data, error, loading, reload };
}

/** Runs an action, showing its error; returns a wrapped handler and the state. */
export function useAction(): { busy: boolean; error: unknown; run: (work: () => Promise<void>) => Promise<void> } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = useCallback(async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run };
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const failure = error instanceof ApiFailure ? error : null;
  return (
    <p class="error" role="alert">
      {failure ? <strong>{failure.code}</strong> : null} {error instanceof Error ? error.message : String(error)}
      {failure?.requestId ? <span class="muted"> (request {failure.requestId})</span> : null}
    </p>
  );
}

/** A labelled control; the hint is its description (aria-describedby), not part of its name. */
export function Field({ label, hint, children }: { label: string; hint?: string; children: VNode }) {
  const hintId = useId();
  return (
    <div class="field">
      <label>
        <span>{label}</span>
        {hint ? cloneElement(children, { "aria-describedby": hintId }) : children}
      </label>
      {hint ? (
        <small class="muted" id={hintId}>
          {hint}
        </small>
      ) : null}
    </div>
  );
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card" aria-label={title}>
      <header class="card-head">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

/** A table's header row: a column per label, then an unlabelled actions column (named for screen readers) when asked. */
export function TableHead({ columns, actions = false }: { columns: readonly string[]; actions?: boolean }) {
  return (
    <thead>
      <tr>
        {columns.map((column) => (
          <th scope="col" key={column}>
            {column}
          </th>
        ))}
        {actions ? (
          <th scope="col">
            <span class="sr-only">Actions</span>
          </th>
        ) : null}
      </tr>
    </thead>
  );
}

export function When({ at }: { at: string | null | undefined }) {
  if (!at) return <span class="muted">—</span>;
  return <time dateTime={at} title={at}>{new Date(at).toLocaleString()}</time>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="muted empty">{children}</p>;
}

/** The value of a form control by name, trimmed; "" when absent. */
export function formValue(form: HTMLFormElement, name: string): string {
  const element = form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | null;
  return element ? element.value.trim() : "";
}

/** A datetime-local value as an ISO instant, or undefined when empty. */
export function isoOf(local: string): string | undefined {
  return local ? new Date(local).toISOString() : undefined;
}

export const MEMORY_TYPES = ["fact", "event", "preference", "instruction", "task", "episode_summary", "message", "note"] as const;
export const MEMORY_STATES = ["generated", "activated", "archived", "expired", "superseded", "merged", "forgotten"] as const;
export const CHANNELS = ["lexical", "vector", "tag", "recent", "working"] as const;
