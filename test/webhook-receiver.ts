/**
 * A webhook receiver for tests, standing in for a tenant's endpoint (the Workers test runtime has no network).
 * It verifies every delivery with the README's snippet, can fail its first deliveries, and de-duplicates events
 * by `X-Memos-Event-Id` as the README tells receivers to.
 */

// ── README "Webhooks", verbatim but for the type annotations ───────────────────────────────────────────────────
// WebCrypto: Node ≥ 20, Deno, Bun, Workers, browsers. `rawBody` is the request body exactly as received.
export async function verifyMemosWebhook(secret: string, headers: Headers, rawBody: string, toleranceSeconds = 300): Promise<boolean> {
  const timestamp = headers.get("X-Memos-Timestamp") ?? "";
  const hex = /^v1=([0-9a-f]{64})$/.exec(headers.get("X-Memos-Signature") ?? "")?.[1];
  if (!hex || !/^\d+$/.test(timestamp)) return false;
  // A stale timestamp: a delivery captured and sent again later.
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const signature = new Uint8Array(hex.match(/../g)!.map((byte) => parseInt(byte, 16)));
  // crypto.subtle.verify compares in constant time.
  return crypto.subtle.verify("HMAC", key, signature, encoder.encode(`${timestamp}.${rawBody}`));
}
// ────────────────────────────────────────────────────────────────────────────────────────────────────────────────

export interface ReceivedRequest {
  url: string;
  headers: Headers;
  body: string;
  /** Whether the signature verified against the receiver's secret at the time. */
  verified: boolean;
  /** The status the receiver answered. */
  status: number;
}

export interface ReceiverOptions {
  /** The secret the receiver verifies with (changeable, for rotation). */
  secret: string;
  /** Answer this status to the first `failures` verified deliveries. */
  failures?: number;
  failureStatus?: number;
  /** How far a delivery's timestamp may be from the clock (tests that move the consumer's clock by hours widen it). */
  toleranceSeconds?: number;
}

/** A local endpoint: `fetch` is what the consumer is given instead of the network. */
export function createReceiver(options: ReceiverOptions) {
  const state = {
    secret: options.secret,
    failuresLeft: options.failures ?? 0,
    requests: [] as ReceivedRequest[],
    /** Events handled once each, in order: the receiver's side of de-duplication. */
    handled: [] as { id: string; type: string; data: Record<string, unknown> }[],
    duplicates: 0,
  };
  const seen = new Set<string>();
  const fetch = async (input: string, init: RequestInit): Promise<Response> => {
    const headers = new Headers(init.headers);
    const body = String(init.body);
    const verified = await verifyMemosWebhook(state.secret, headers, body, options.toleranceSeconds);
    const answer = (status: number) => {
      state.requests.push({ url: input, headers, body, verified, status });
      return new Response(status === 204 ? null : "receiver says no", { status });
    };
    if (!verified) return answer(401);
    if (state.failuresLeft > 0) {
      state.failuresLeft -= 1;
      return answer(options.failureStatus ?? 500);
    }
    const eventId = headers.get("X-Memos-Event-Id")!;
    if (seen.has(eventId)) {
      state.duplicates += 1;
      return answer(204);
    }
    seen.add(eventId);
    state.handled.push(JSON.parse(body) as { id: string; type: string; data: Record<string, unknown> });
    return answer(204);
  };
  return Object.assign(state, { fetch });
}

export type Receiver = ReturnType<typeof createReceiver>;
