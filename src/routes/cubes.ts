/** HTTP for cubes and sharing: named cubes, the cubes a key reaches, and grants. */
import { createRoute } from "@hono/zod-openapi";
import { CreateCubeRequest, CreateGrantRequest, Cube, CubeList, Grant, GrantList, GrantParams, ListCubesQuery, ListGrantsQuery } from "../schemas/cubes";
import { CubeIdParam } from "../schemas/jobs";
import { createCube, getCube, grantAccess, listCubes, listGrants, revokeGrant } from "../services/sharing";
import { bearerSecurity, createRouter, errorResponses, jsonBody, jsonResponse, tenantContext } from "./shared";

const tags = ["cubes"];
const errors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found");
const createErrors = errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "conflict");

const SHARING =
  "Only the cube's owner side manages grants: a tenant-wide key, or a key whose `allowed_owners` include the cube's owner " +
  "(not a key that reaches the cube through a grant: 403; not a key confined by `allowed_cubes`: 403).";

export const cubeRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/cubes",
      tags,
      summary: "Create a named cube for a user or an agent (write scope)",
      description:
        "Besides the default cube that `user_id` / `agent_id` address, an owner can have named cubes, addressed by `cube_id`. " +
        "Names are unique per owner (`default` is taken by the default cube): 409 otherwise.",
      security: bearerSecurity,
      request: { body: jsonBody(CreateCubeRequest) },
      responses: { 201: jsonResponse(Cube, "The new cube."), ...createErrors },
    }),
    async (c) => c.json(await createCube(tenantContext(c, "write"), c.req.valid("json")), 201),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/cubes",
      tags,
      summary: "The cubes this key reaches, newest first (read scope)",
      description:
        "A tenant-wide key: every cube of the tenant. A key with `allowed_owners`: those owners' cubes and the cubes granted " +
        "to them, each with its `access`. `user_id` / `agent_id` keep the cubes that owner owns.",
      security: bearerSecurity,
      request: { query: ListCubesQuery },
      responses: { 200: jsonResponse(CubeList, "One page of cubes."), ...errors },
    }),
    async (c) => c.json(await listCubes(tenantContext(c, "read"), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/cubes/{id}",
      tags,
      summary: "One cube this key reaches (read scope)",
      security: bearerSecurity,
      request: { params: CubeIdParam },
      responses: { 200: jsonResponse(Cube, "The cube."), ...errors },
    }),
    async (c) => c.json(await getCube(tenantContext(c, "read"), c.req.valid("param").id), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/cubes/{id}/grants",
      tags,
      summary: "Share a cube: grant a user or agent read or write access (write scope)",
      description:
        "Granting again to the same principal replaces the grant (200; 201 when new). A key acting for the principal then " +
        "reaches the cube by `cube_id` / `cube_ids`, from the next request on. A cube holds at most 1,000 grants " +
        "(`MAX_GRANTS_PER_CUBE`): a new one past that is 409; replacing one is always allowed. " +
        SHARING,
      security: bearerSecurity,
      request: { params: CubeIdParam, body: jsonBody(CreateGrantRequest) },
      responses: {
        201: jsonResponse(Grant, "The new grant."),
        200: jsonResponse(Grant, "The grant, replacing an earlier one to the same principal."),
        ...createErrors,
      },
    }),
    async (c) => {
      const { grant, created } = await grantAccess(tenantContext(c, "write"), c.req.valid("param").id, c.req.valid("json"));
      return created ? c.json(grant, 201) : c.json(grant, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/cubes/{id}/grants",
      tags,
      summary: "A cube's grants, by principal (read scope)",
      description: SHARING,
      security: bearerSecurity,
      request: { params: CubeIdParam, query: ListGrantsQuery },
      responses: { 200: jsonResponse(GrantList, "One page of grants."), ...errors },
    }),
    async (c) => c.json(await listGrants(tenantContext(c, "read"), c.req.valid("param").id, c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/cubes/{id}/grants/{principal}",
      tags,
      summary: "Revoke a grant (write scope); it stops working on the next request",
      description: SHARING,
      security: bearerSecurity,
      request: { params: GrantParams },
      responses: { 200: jsonResponse(Grant, "The revoked grant."), ...errors },
    }),
    async (c) => {
      const { id, principal } = c.req.valid("param");
      return c.json(await revokeGrant(tenantContext(c, "write"), id, principal), 200);
    },
  );
