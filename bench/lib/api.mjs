// A minimal JSON client for the MemOS Edge API. Every non-2xx answer becomes an ApiRequestError that carries the
// exact request and response, so that a benchmark failure can be reported as-is.

const MAX_SHOWN = 4000;

/** @param {string} text */
function clip(text) {
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}… (${text.length} chars)` : text;
}

export class ApiRequestError extends Error {
  /**
   * @param {string} method
   * @param {string} url
   * @param {string | undefined} requestBody
   * @param {number} status 0 when no HTTP answer came
   * @param {string} responseBody
   * @param {Record<string, string>} [responseHeaders]
   */
  constructor(method, url, requestBody, status, responseBody, responseHeaders = {}) {
    super(
      `${method} ${url} -> ${status || "no response"}\n` +
        `request body: ${requestBody === undefined ? "(none)" : clip(requestBody)}\n` +
        `response: ${clip(responseBody)}` +
        (responseHeaders["x-request-id"] ? `\nx-request-id: ${responseHeaders["x-request-id"]}` : ""),
    );
    this.name = "ApiRequestError";
    this.method = method;
    this.url = url;
    this.requestBody = requestBody;
    this.status = status;
    this.responseBody = responseBody;
  }
}

/**
 * The laps of a Server-Timing header (`auth;dur=0.12, cube;dur=3.40, total;dur=4.10`), by name.
 * @param {string | null} header @returns {Record<string, number>}
 */
export function serverTiming(header) {
  /** @type {Record<string, number>} */
  const laps = {};
  for (const part of (header ?? "").split(",")) {
    const match = part.trim().match(/^([\w-]+);dur=([\d.]+)/);
    if (match) laps[match[1]] = (laps[match[1]] ?? 0) + Number(match[2]);
  }
  return laps;
}

export class ApiClient {
  /**
   * @param {string} baseUrl e.g. http://127.0.0.1:8787
   * @param {string} key bearer token (tenant key or root key)
   */
  constructor(baseUrl, key) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.key = key;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @returns {Promise<{ status: number, body: any, ms: number, timing: Record<string, number> }>} ms = client wall
   *   time, request to parsed body; timing = the response's Server-Timing laps in ms, by name
   */
  async call(method, path, body) {
    const url = `${this.baseUrl}${path}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    /** @type {Record<string, string>} */
    const headers = { Authorization: `Bearer ${this.key}`, Accept: "application/json" };
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    const started = performance.now();
    /** @type {Response} */
    let res;
    let text;
    try {
      res = await fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(120_000) });
      text = await res.text();
    } catch (error) {
      throw new ApiRequestError(method, url, payload, 0, String(/** @type {any} */ (error)?.cause ?? error));
    }
    const ms = performance.now() - started;
    if (res.status < 200 || res.status >= 300) {
      throw new ApiRequestError(method, url, payload, res.status, text, Object.fromEntries(res.headers));
    }
    let parsed;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      throw new ApiRequestError(method, url, payload, res.status, `(not JSON) ${text}`);
    }
    return { status: res.status, body: parsed, ms, timing: serverTiming(res.headers.get("Server-Timing")) };
  }

  /**
   * @param {{ user_id: string, memories: object[] }} request
   */
  writeMemories(request) {
    return this.call("POST", "/v1/memories", request);
  }

  /**
   * @param {{ user_id: string, query: string, top_k?: number, filters?: object }} request
   */
  search(request) {
    return this.call("POST", "/v1/search", request);
  }
}
