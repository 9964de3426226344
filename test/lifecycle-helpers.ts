/** Helpers of the lifecycle job tests: a cube to work on, what its Durable Object holds, and hook signing. */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { cubeObjectName } from "../src/core/ids";
import { type ApiResponse, call, remember, uniqueUser } from "./helpers";

/** The jobs a cube's Durable Object holds, straight from its storage. */
export async function jobsIn(tenantId: string, cubeId: string) {
  return runInDurableObject(env.CUBE.getByName(cubeObjectName(tenantId, cubeId)), (_instance, state) =>
    state.storage.sql.exec<{ id: string; type: string; status: string }>("SELECT id, type, status FROM jobs ORDER BY created_at").toArray(),
  );
}

/** A new cube of the key's tenant (a new user's default cube, made by writing one memory). */
export async function newCube(key: string): Promise<string> {
  const [memory] = await remember(key, uniqueUser(), [{ content: "Alice likes green tea." }]);
  return memory.cube_id as string;
}

/** `v1=` + hex HMAC-SHA256 of `<timestamp>.<body>`, as the README tells platforms to compute it. */
export async function signature(secret: string, timestamp: number | string, body: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestamp}.${body}`));
  return `v1=${[...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export const unixNow = () => Math.floor(Date.now() / 1000);

export interface Delivery {
  tenantId: string;
  /** The secret to sign with. */
  secret: string;
  /** A body object (serialised here) or the exact raw text to send. */
  body: unknown;
  timestamp?: number;
  /** Overrides the X-Memos-Signature header (null leaves it out). */
  signatureHeader?: string | null;
  headers?: Record<string, string>;
}

/** Signs and sends a delivery to the lifecycle hook; returns the response and what was sent. */
export async function deliver(delivery: Delivery): Promise<ApiResponse & { sent: { raw: string; headers: Record<string, string> } }> {
  const raw = typeof delivery.body === "string" ? delivery.body : JSON.stringify(delivery.body);
  const timestamp = delivery.timestamp ?? unixNow();
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "X-Memos-Tenant": delivery.tenantId,
    "X-Memos-Timestamp": String(timestamp),
    ...delivery.headers,
  };
  const signed = delivery.signatureHeader === undefined ? await signature(delivery.secret, timestamp, raw) : delivery.signatureHeader;
  if (signed !== null) headers["X-Memos-Signature"] = signed;
  return { ...(await call("POST", "/v1/hooks/lifecycle", { raw, headers })), sent: { raw, headers } };
}

/** Sends exactly the same request again (a replay). */
export async function resend(sent: { raw: string; headers: Record<string, string> }) {
  return call("POST", "/v1/hooks/lifecycle", { raw: sent.raw, headers: sent.headers });
}

/** Creates (or rotates) the tenant's hook secret with an admin key. */
export async function hookSecret(adminKey: string): Promise<string> {
  const response = await call("POST", "/v1/hooks/lifecycle/secret", { key: adminKey });
  if (response.status !== 201) throw new Error(`secret creation failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.secret as string;
}
