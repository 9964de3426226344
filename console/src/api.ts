/**
 * The console's only way to the API: same-origin fetch with the signed-in key as a Bearer header. The key lives in
 * sessionStorage (gone when the tab closes): never in a URL, a cookie or a log line.
 */
const KEY_SLOT = "memos.console.key";
const CUBE_SLOT = "memos.console.cube";

export type KeyKind = "root" | "tenant";

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY_SLOT),
  kind: (): KeyKind | null => sessionStorage.getItem(`${KEY_SLOT}.kind`) as KeyKind | null,
  cube: (): string | null => sessionStorage.getItem(CUBE_SLOT),
  setCube(id: string): void {
    sessionStorage.setItem(CUBE_SLOT, id);
  },
  signIn(key: string, kind: KeyKind): void {
    sessionStorage.setItem(KEY_SLOT, key);
    sessionStorage.setItem(`${KEY_SLOT}.kind`, kind);
  },
  signOut(): void {
    sessionStorage.clear();
  },
};

/** An error response in the API's one shape, or a network failure (status 0). */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

export type Query = Record<string, string | number | boolean | readonly string[] | null | undefined>;

function withQuery(path: string, query: Query | undefined): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) for (const item of value) params.append(name, item);
    else params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** Calls the API with `key` (the session's by default); resolves with the JSON body or throws an ApiFailure. */
export async function api<T>(method: string, path: string, options: { body?: unknown; query?: Query; key?: string } = {}): Promise<T> {
  const key = options.key ?? session.key();
  const headers: Record<string, string> = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiFailure(0, "network_error", "the API did not answer (is the server running?)", null);
  }
  const text = await response.text();
  const body: unknown = text ? safeJson(text) : null;
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string; request_id?: string } } | null)?.error;
    throw new ApiFailure(
      response.status,
      error?.code ?? "http_error",
      error?.message ?? `HTTP ${response.status}`,
      error?.request_id ?? response.headers.get("X-Request-Id"),
    );
  }
  return body as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * What kind of key this is: the root key may read any tenant (404 for an unknown one), a tenant key is refused
 * there (403), anything else is not a key (401).
 */
export async function identify(key: string): Promise<KeyKind> {
  try {
    await api("GET", "/v1/admin/tenants/tnt_console_probe", { key });
    return "root";
  } catch (error) {
    if (error instanceof ApiFailure && error.status === 404) return "root";
    if (error instanceof ApiFailure && error.status === 403) return "tenant";
    throw error;
  }
}
