/**
 * The TypeScript client's types are generated from clients/typescript/openapi.json. This test keeps that snapshot
 * equal to what the Worker serves, so the client can never drift into a hand-maintained copy of the API.
 * `npm run client:generate` rewrites the snapshot (this test with --update) and regenerates the types from it.
 */
import { describe, expect, it } from "vitest";
import { call } from "../helpers";

describe("clients/typescript/openapi.json", () => {
  it("is the document GET /openapi.json serves (run `npm run client:generate` when this fails)", async () => {
    const response = await call("GET", "/openapi.json");
    expect(response.status).toBe(200);
    await expect(
      `${JSON.stringify(response.body, null, 2)}\n`,
      "the client's OpenAPI snapshot is stale: run `npm run client:generate` and commit clients/typescript/",
    ).toMatchFileSnapshot("../../clients/typescript/openapi.json");
  });
});
