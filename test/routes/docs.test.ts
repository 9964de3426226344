import { describe, expect, it } from "vitest";
import { call } from "../helpers";

describe("GET /docs", () => {
  it("renders the API reference from /openapi.json, without a key", async () => {
    const response = await call("GET", "/docs");
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/html/);
    const html = response.body as string;
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain("<title>MemOS Edge API</title>");
    // Scalar's renderer, pointed at the document this Worker serves.
    expect(html).toContain("createApiReference");
    expect(html).toMatch(/"url":\s*"\/openapi\.json"/);
    expect(response.headers.get("X-Request-Id")).toMatch(/^req_/);
  });

  it("is not itself an operation of the document", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    expect(doc.paths["/docs"]).toBeUndefined();
  });
});
