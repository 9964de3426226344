/**
 * A hash router (`#/memories?cube_id=…`): every view is one static page, so the Worker serves a single index.html
 * and never needs a single-page-application fallback that would shadow API paths. Query values in the hash are
 * filters and ids only, never a key.
 */
import { useEffect, useState } from "preact/hooks";

export interface Route {
  path: string;
  params: URLSearchParams;
}

function current(): Route {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path = "/", query = ""] = hash.split("?", 2);
  return { path, params: new URLSearchParams(query) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}

/** The href of a view with its filters, e.g. href("/memories", { state: "archived" }). */
export function href(path: string, params: Record<string, string | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) query.set(name, value);
  const text = query.toString();
  return `#${path}${text ? `?${text}` : ""}`;
}

/**
 * Goes to a view; false when the address is already that one (no hashchange, so a view's loads do not run again:
 * a filter form calls its load's `reload` then, so Filter with unchanged filters still asks the server again).
 */
export function navigate(path: string, params: Record<string, string | undefined> = {}): boolean {
  const next = href(path, params);
  if (location.hash === next) return false;
  location.hash = next;
  return true;
}
