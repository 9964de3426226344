/** Test helpers that go through the public surface: `exports.default.fetch`, never the services directly. */
import { exports } from "cloudflare:workers";

export const ROOT_KEY = "test-root-key-0123456789abcdef";

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface CallOptions {
  key?: string | null;
  body?: unknown;
  /** A raw body string (malformed JSON tests); wins over `body`. */
  raw?: string;
  headers?: Record<string, string>;
}

/** A request to the Worker: `path` is a path on the test origin, or an absolute URL the API handed out (download_url). */
export const TEST_ORIGIN = "http://memos.test";

export async function call<T = any>(method: string, path: string, options: CallOptions = {}): Promise<ApiResponse<T>> {
  const headers = new Headers(options.headers);
  if (options.key) headers.set("Authorization", `Bearer ${options.key}`);
  let body: string | undefined = options.raw;
  if (body === undefined && options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && !headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  const response = await exports.default.fetch(new Request(path.startsWith("http") ? path : `${TEST_ORIGIN}${path}`, { method, headers, body }));
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Leave non-JSON bodies as text; the assertion will show them.
  }
  return { status: response.status, body: parsed as T, headers: response.headers };
}

/** A fresh tenant and a key for it (read + write unless told otherwise). */
export async function newTenant(scopes: string[] = ["read", "write"]) {
  const tenant = await call("POST", "/v1/admin/tenants", { key: ROOT_KEY, body: { name: `tenant-${crypto.randomUUID()}` } });
  if (tenant.status !== 201) throw new Error(`tenant creation failed: ${JSON.stringify(tenant.body)}`);
  const key = await call("POST", `/v1/admin/tenants/${tenant.body.id}/keys`, { key: ROOT_KEY, body: { scopes } });
  if (key.status !== 201) throw new Error(`key creation failed: ${JSON.stringify(key.body)}`);
  return { tenantId: tenant.body.id as string, key: key.body.key as string, keyId: key.body.id as string };
}

/** Writes memories for a user and returns the stored ones. */
export async function remember(key: string, userId: string, memories: object[]) {
  const response = await call("POST", "/v1/memories", { key, body: { user_id: userId, memories } });
  if (response.status !== 201) throw new Error(`write failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.data as any[];
}

export const uniqueUser = () => `user-${crypto.randomUUID()}`;

/** Asserts the one error shape and returns the error. */
export function errorOf(response: ApiResponse) {
  const error = response.body?.error;
  if (!error || typeof error.code !== "string" || typeof error.message !== "string" || typeof error.request_id !== "string") {
    throw new Error(`not the error shape: ${response.status} ${JSON.stringify(response.body)}`);
  }
  return error as { code: string; message: string; details?: unknown; request_id: string };
}

/** Whatever `promise` rejects with (and fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}
