import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call } from "../helpers";

/** A GET whose redirect is returned, not followed. */
const unfollowed = (path: string) => exports.default.fetch(new Request(`http://memos.test${path}`, { redirect: "manual" }));

/** The header every console and docs response carries; no inline code and no other origin may appear in it. */
function expectStrictPolicy(headers: Headers) {
  const policy = headers.get("Content-Security-Policy") ?? "";
  expect(policy).toContain("default-src 'none'");
  expect(policy).toContain("script-src 'self'");
  expect(policy).toContain("style-src 'self'");
  expect(policy).toContain("frame-ancestors 'none'");
  expect(policy).not.toMatch(/unsafe-|https?:|\*/);
  expect(headers.get("X-Content-Type-Options")).toBe("nosniff");
}

/** Every src/href of a page's scripts and stylesheets. */
const resourcesOf = (html: string) => [...html.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);

describe("GET /docs", () => {
  it("redirects to the reference page", async () => {
    const response = await unfollowed("/docs");
    expect(response.status).toBe(307);
    expect(response.headers.get("Location")).toBe("/docs/");
  });

  it("renders /openapi.json with the bundled Swagger UI, without a key and with no remote script", async () => {
    const response = await call("GET", "/docs/");
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/html/);
    expectStrictPolicy(response.headers);
    expect(response.headers.get("X-Request-Id")).toMatch(/^req_/);
    const html = response.body as string;
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain("<title>MemOS Edge API</title>");
    expect(html).not.toMatch(/<script>|<style>|\sstyle=/);
    const resources = resourcesOf(html);
    expect(resources).toEqual(expect.arrayContaining(["swagger-ui-bundle.js", "init.js", "swagger-ui.css"]));
    for (const resource of resources) expect(resource).not.toMatch(/^(https?:)?\/\//);

    const init = await call("GET", "/docs/init.js");
    expect(init.status).toBe(200);
    expect(init.body).toContain('url: "/openapi.json"');
    const bundle = await call("GET", "/docs/swagger-ui-bundle.js");
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("Content-Type")).toMatch(/javascript/);
    expectStrictPolicy(bundle.headers);
  });

  it("is not itself an operation of the document", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    expect(doc.paths["/docs"]).toBeUndefined();
    expect(doc.paths["/console"]).toBeUndefined();
  });
});

describe("GET /console", () => {
  it("serves the console page and its bundle from this origin under the strict policy", async () => {
    expect((await unfollowed("/console")).headers.get("Location")).toBe("/console/");
    const page = await call("GET", "/console/");
    expect(page.status).toBe(200);
    expect(page.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(page.headers.get("Cache-Control")).toBe("no-cache");
    expectStrictPolicy(page.headers);
    const html = page.body as string;
    expect(html).not.toMatch(/<script>|<style>|\sstyle=/);
    const resources = resourcesOf(html).filter((r) => r.startsWith("/console/assets/"));
    expect(resources.map((r) => r.split(".").pop()).sort()).toEqual(["css", "js"]);
    for (const resource of resources) {
      const file = await call("GET", resource);
      expect(file.status).toBe(200);
      expect(file.headers.get("Cache-Control")).toContain("immutable");
      expectStrictPolicy(file.headers);
    }
  });

  it("answers a missing file with a 404 in the error shape, and leaves the API alone", async () => {
    const missing = await call("GET", "/console/assets/nothing-here.js");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("not_found");
    const health = await call("GET", "/health");
    expect(health.status).toBe(200);
    expect(health.headers.get("Content-Security-Policy")).toBeNull();
  });
});
