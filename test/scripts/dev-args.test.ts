import { describe, expect, it } from "vitest";
import { devArgs } from "../../scripts/dev-args.mjs";

// `npm start`'s arguments (scripts/dev.mjs): the port is read there, everything else goes to wrangler.

describe("npm start's arguments", () => {
  it("serves on 8787 unless told otherwise, and passes other arguments on", () => {
    expect(devArgs([], undefined)).toEqual({ port: "8787", rest: [] });
    expect(devArgs(["--inspector-port", "9230"], undefined)).toEqual({ port: "8787", rest: ["--inspector-port", "9230"] });
  });

  it("takes --port N and --port=N out of what wrangler gets (it refuses a second --port), over PORT", () => {
    expect(devArgs(["--port", "9000"], undefined)).toEqual({ port: "9000", rest: [] });
    expect(devArgs(["--port=9001", "--log-level", "debug"], "8799")).toEqual({ port: "9001", rest: ["--log-level", "debug"] });
    expect(devArgs([], "8799")).toEqual({ port: "8799", rest: [] });
  });

  it("accepts ports 1 and 65535 and refuses 0, 65536, words and a missing value", () => {
    expect(devArgs(["--port", "1"], undefined).port).toBe("1");
    expect(devArgs(["--port", "65535"], undefined).port).toBe("65535");
    expect(() => devArgs(["--port", "0"], undefined)).toThrow("not a port: 0");
    expect(() => devArgs(["--port", "65536"], undefined)).toThrow("not a port: 65536");
    expect(() => devArgs([], "http")).toThrow("not a port: http");
    expect(() => devArgs(["--port"], undefined)).toThrow("--port needs a value");
  });
});
