/** The console's shell: sign-in, navigation by key kind, and the view for the current hash route. */
import "./styles.css";
import { render } from "preact";
import { useState } from "preact/hooks";
import { ApiFailure, identify, session, type KeyKind } from "./api";
import { href, useRoute } from "./router";
import { ErrorNote, Field } from "./ui";
import { CubesView } from "./pages/cubes";
import { MemoriesView } from "./pages/memories";
import { MemoryView } from "./pages/memory";
import { SearchView } from "./pages/search";
import { IngestView } from "./pages/ingest";
import { KeysView } from "./pages/keys";
import { TenantsView } from "./pages/tenants";
import { StatsView } from "./pages/stats";
import { AuditView } from "./pages/audit";
import { ContextView } from "./pages/context";
import { GrantsView } from "./pages/grants";
import { WebhooksView } from "./pages/webhooks";

const TENANT_VIEWS = [
  ["/cubes", "Cubes"],
  ["/memories", "Memories"],
  ["/search", "Search"],
  ["/context", "Context"],
  ["/ingest", "Ingest & jobs"],
  ["/stats", "Stats"],
  ["/audit", "Audit"],
  ["/keys", "Keys"],
  ["/grants", "Grants"],
  ["/webhooks", "Webhooks"],
] as const;
const ROOT_VIEWS = [["/tenants", "Tenants & keys"]] as const;

function SignIn({ onSignedIn }: { onSignedIn: (kind: KeyKind) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const input = form.elements.namedItem("key") as HTMLInputElement;
    const key = input.value.trim();
    setBusy(true);
    setError(null);
    try {
      const kind = await identify(key);
      session.signIn(key, kind);
      input.value = "";
      onSignedIn(kind);
    } catch (failure) {
      setError(failure instanceof ApiFailure && failure.status === 401 ? new Error("that key is not valid") : failure);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main class="signin">
      <h1>MemOS Edge console</h1>
      <form onSubmit={submit} class="card">
        <Field label="API key" hint="A tenant key (mos_…) or the root key. Kept in this tab's session storage only.">
          <input name="key" type="password" autocomplete="off" required spellcheck={false} />
        </Field>
        <button type="submit" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        <ErrorNote error={error} />
      </form>
      <p class="muted">
        API reference: <a href="/docs/">/docs</a>
      </p>
    </main>
  );
}

function View({ kind }: { kind: KeyKind }) {
  const route = useRoute();
  const p = route.params;
  if (kind === "root") return <TenantsView params={p} />;
  switch (route.path) {
    case "/memories":
      return <MemoriesView params={p} />;
    case "/memory":
      return <MemoryView params={p} />;
    case "/search":
      return <SearchView />;
    case "/context":
      return <ContextView />;
    case "/ingest":
      return <IngestView />;
    case "/stats":
      return <StatsView />;
    case "/audit":
      return <AuditView params={p} />;
    case "/keys":
      return <KeysView />;
    case "/grants":
      return <GrantsView />;
    case "/webhooks":
      return <WebhooksView />;
    default:
      return <CubesView />;
  }
}

function App() {
  const [kind, setKind] = useState<KeyKind | null>(session.key() ? session.kind() : null);
  const route = useRoute();
  if (!kind) return <SignIn onSignedIn={setKind} />;
  const views = kind === "root" ? ROOT_VIEWS : TENANT_VIEWS;
  const cube = session.cube();
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href={href("/")}>
          MemOS Edge
        </a>
        <nav aria-label="Console">
          <ul>
            {views.map(([path, label]) => (
              <li key={path}>
                <a href={href(path)} aria-current={route.path === path ? "page" : undefined}>
                  {label}
                </a>
              </li>
            ))}
            <li>
              <a href="/docs/">API docs</a>
            </li>
          </ul>
        </nav>
        <div class="who">
          <span class="muted">{kind === "root" ? "root key" : cube ? `cube ${cube}` : "no cube chosen"}</span>
          <button
            type="button"
            class="link"
            onClick={() => {
              session.signOut();
              setKind(null);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        <View kind={kind} />
      </main>
    </div>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
