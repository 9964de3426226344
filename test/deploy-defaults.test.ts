/**
 * What `wrangler deploy` ships must be production, while every local path (tests, `npm start`, the bench harness)
 * runs in local mode (issue 17, item 10).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import wranglerToml from "../wrangler.toml?raw";
import devScript from "../scripts/dev.mjs?raw";
import benchServer from "../bench/lib/server.mjs?raw";

describe("deploy defaults", () => {
  it("wrangler.toml deploys ENVIRONMENT=production", () => {
    expect(wranglerToml).toMatch(/^ENVIRONMENT = "production"$/m);
    expect(wranglerToml).not.toMatch(/^ENVIRONMENT = "local"$/m);
  });

  it("tests, npm start and the bench harness run in local mode", () => {
    expect(env.ENVIRONMENT).toBe("local");
    expect(devScript).toContain('"--var", "ENVIRONMENT:local"');
    expect(benchServer).toContain('"--var", "ENVIRONMENT:local"');
  });
});
