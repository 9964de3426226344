/**
 * Issue 16, D4: an owner stored with an ill-formed id before the Unicode rule (a lone surrogate, kept by D1 as WTF-8
 * bytes that read back as replacement characters) can still be erased: `DELETE /v1/owners/hex:<stored bytes>`, and
 * a 404 for the spelling the API shows names that `hex:` spelling. The row is seeded straight into D1, since the API
 * now refuses such ids.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cubeObjectName } from "../../src/core/ids";
import { ownerFromHex } from "../../src/core/owner-spelling";
import { type ApiResponse, call, errorOf, newTenant, remember } from "../helpers";

const ILL_FORMED = "user:eve\ud800";
/** `user:eve` then U+D800 as WTF-8 (ED A0 80): what D1 stores for ILL_FORMED. */
const STORED_HEX = "757365723A657665EDA080";

const expectError = (response: ApiResponse, status: number, code: string) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(errorOf(response).code).toBe(code);
};

const ownerRows = async (tenantId: string) =>
  (
    await env.DB.prepare(
      "SELECT hex(owner) AS h FROM cubes WHERE tenant_id = ?1 UNION ALL SELECT hex(owner) FROM owners WHERE tenant_id = ?1",
    )
      .bind(tenantId)
      .all<{ h: string }>()
  ).results.map((row) => row.h);

describe("owners stored with ill-formed ids", { timeout: 60_000 }, () => {
  it("decodes hex spellings of UTF-8 and WTF-8 bytes, and nothing else", () => {
    expect(ownerFromHex(STORED_HEX)).toBe(ILL_FORMED);
    expect(ownerFromHex("757365723A657665EDB080")).toBe("user:eve\udc00");
    expect(ownerFromHex("757365723AF09F9880")).toBe("user:\u{1f600}");
    expect(ownerFromHex("757365723ac3a9")).toBe("user:\u00e9");
    for (const bad of ["", "7", "zz", "C0AF", "E080AF", "F4908080", "ED", "80", "FF"]) expect(ownerFromHex(bad), bad).toBeNull();
  });

  it("are deleted by their hex: spelling, which a 404 for the displayed spelling names", async () => {
    const { tenantId, key } = await newTenant(["read", "write", "admin"]);
    const [memory] = await remember(key, "eve-seed", [{ content: "eve's marker-d4 memory" }]);
    const cubeId = memory.cube_id as string;
    // What an old write left: the cube and directory entry under the ill-formed id.
    await env.DB.batch([
      env.DB.prepare("UPDATE cubes SET owner = ? WHERE id = ?").bind(ILL_FORMED, cubeId),
      env.DB.prepare("UPDATE owners SET owner = ?, external_id = ? WHERE tenant_id = ? AND owner = 'user:eve-seed'").bind(
        ILL_FORMED,
        "eve\ud800",
        tenantId,
      ),
    ]);
    expect(await ownerRows(tenantId)).toEqual([STORED_HEX, STORED_HEX]);

    // Every well-formed spelling misses; the one the API shows (the bytes read back as U+FFFD) says which to use.
    const displayed = (await call("GET", `/v1/cubes/${cubeId}`, { key })).body.owner as string;
    expect(displayed).toBe("user:eve\ufffd\ufffd\ufffd");
    const missed = await call("DELETE", `/v1/owners/${encodeURIComponent(displayed)}`, { key });
    expectError(missed, 404, "not_found");
    expect(errorOf(missed).details).toEqual({ stored_as: [`hex:${STORED_HEX}`] });
    expectError(await call("DELETE", `/v1/owners/${encodeURIComponent("user:eve\ufffd")}`, { key }), 404, "not_found");

    const deleted = await call("DELETE", `/v1/owners/hex:${STORED_HEX}`, { key });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    expect(deleted.body).toMatchObject({ owner: ILL_FORMED, cubes: [cubeId], memories_deleted: 1 });
    expect(await ownerRows(tenantId)).toEqual([]);
    expectError(await call("GET", `/v1/memories/${memory.id}`, { key }), 404, "not_found");
    const left = await runInDurableObject(env.CUBE.getByName(cubeObjectName(tenantId, cubeId)), (_instance, state) =>
      Number(state.storage.sql.exec("SELECT count(*) AS n FROM memories").one().n),
    );
    expect(left).toBe(0);
    expectError(await call("DELETE", `/v1/owners/hex:${STORED_HEX}`, { key }), 404, "not_found");
  });

  it("refuses hex: spellings that are not a stored owner's bytes", async () => {
    const { key } = await newTenant(["admin"]);
    const hexOf = (text: string) => [...new TextEncoder().encode(text)].map((b) => b.toString(16).padStart(2, "0")).join("");
    for (const bad of ["hex:", "hex:zz", "hex:757", "hex:C0AF", hexOf("eve").replace(/^/, "hex:"), `hex:${hexOf("user:")}`, `hex:${"61".repeat(600)}`]) {
      expectError(await call("DELETE", `/v1/owners/${bad}`, { key }), 400, "invalid_request");
    }
    // A well-formed owner spelled in hex is that owner.
    const [memory] = await remember(key, "frank", [{ content: "frank's memory" }]);
    const deleted = await call("DELETE", `/v1/owners/hex:${hexOf("user:frank")}`, { key });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ owner: "user:frank", cubes: [memory.cube_id] });
  });
});
