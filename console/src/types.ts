/**
 * The wire shapes the console reads, taken from the generated client's schema (itself generated from /openapi.json),
 * so a change to an API schema is a type error here rather than a page that silently reads a missing field.
 */
import type { components } from "../../clients/typescript/src/schema";

type Schemas = components["schemas"];

export type Memory = Schemas["Memory"];
export type Cube = Schemas["Cube"];
export type SearchHit = Schemas["SearchResult"];
export type Job = Schemas["Job"];
export type ApiKey = Schemas["ApiKey"];
export type AuditEntry = Schemas["AuditEntry"];
export type ContextResponse = Schemas["ContextResponse"];
export type Grant = Schemas["Grant"];
export type MemoryVersion = Schemas["MemoryVersion"];
export type Provenance = Schemas["Provenance"];
export type SearchResponse = Schemas["SearchResponse"];
export type CubeStats = Schemas["CubeStats"];
export type Tenant = Schemas["Tenant"];
export type Webhook = Schemas["Webhook"];
export type WebhookDelivery = Schemas["WebhookDelivery"];

/** Every list endpoint's page: its items and the cursor of the next page (null on the last). */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}
