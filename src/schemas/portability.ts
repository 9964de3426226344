/**
 * Wire types of portability and deletion: the cube export format (docs/export-format.md — one schema per line
 * type, used to write, to validate uploads and in the import job), export/import requests, the provenance of a
 * memory, and deletion receipts.
 */
import { z } from "@hono/zod-openapi";
import { CubeId, ExternalId, Timestamp, utf8Bytes } from "./common";
import { bounded, freeJsonBounds } from "./free-json";
import { LIMITS } from "./limits";
import { Memory, MemoryState, MemoryVersion, Source } from "./memory";
import { JOB_STATUSES, Job } from "./jobs";

export const EXPORT_FORMAT = "memos-cube-export";
export const EXPORT_VERSION = 1;
/** `exp_` + the exporting cube's 16-character body + 16 random characters: an export id names its cube. */
export const EXPORT_ID = /^exp_[0-9a-z]{32}$/;
const MEMORY_ID = /^mem_[0-9a-z]{32}$/;

/** Versions and events one memory line may carry: far above what a memory gathers, low enough to bound a line. */
const MAX_LINE_ITEMS = 10_000;
/** Dimensions of an exported vector: bge-m3 has 1,024; room for larger models. */
const MAX_DIMENSIONS = 4096;

// ── the export format ───────────────────────────────────────────────────────────────────────────────────────────

/** Line 1. `counts` are what the cube held when the export began; the end line has the exact counts of the file. */
export const ExportHeaderLine = z
  .object({
    type: z.literal("header"),
    format: z.literal(EXPORT_FORMAT),
    version: z.literal(EXPORT_VERSION),
    export_id: z.string().min(1).max(64),
    cube_id: CubeId,
    owner: z.string().min(1).max(200),
    exported_at: Timestamp,
    embedder: z.string().min(1).max(200).nullable().openapi({ description: "Embedding space of the exported vectors (the exporting deployment's embedder)." }),
    vectors: z.boolean().openapi({ description: "Whether memory lines carry their vectors." }),
    counts: z.object({ memories: z.int().min(0), episodes: z.int().min(0) }),
  })
  .strict()
  .openapi("ExportHeaderLine");

/** One message of an episode as exported. */
export const ExportMessage = z
  .object({
    id: z.string().min(1).max(LIMITS.idChars),
    role: z.enum(["user", "assistant", "system", "tool"]),
    name: z.string().max(64).nullable(),
    content: z.string().refine((s) => utf8Bytes(s) <= LIMITS.contentBytes, `must be at most ${LIMITS.contentBytes} bytes`),
    created_at: Timestamp.nullable(),
  })
  .strict();

/** A raw conversation the cube's memories were read from (provenance). */
export const ExportEpisodeLine = z
  .object({
    type: z.literal("episode"),
    episode: z
      .object({
        id: z.string().regex(/^ep_[0-9a-f]{32}$/, "must be an episode id (ep_…)"),
        owner_name: z.string().max(200),
        session_id: z.string().max(LIMITS.idChars).nullable(),
        metadata: bounded(z.record(z.string(), z.unknown()), freeJsonBounds(LIMITS.metadataBytes)),
        infer: z.boolean(),
        received_at: Timestamp,
        messages: z.array(ExportMessage).max(LIMITS.messages),
      })
      .strict(),
  })
  .strict()
  .openapi("ExportEpisodeLine");

/** An event of the cube's log about one memory: never content, only what happened, by whom, and why. */
export const ExportEvent = z
  .object({
    at: Timestamp,
    type: z.string().min(1).max(100),
    version: z.int().nullable(),
    actor: z.string().max(200),
    request_id: z.string().max(200).nullable(),
    // Written by the server, so bounded loosely: only the depth matters to what walks it.
    data: bounded(z.record(z.string(), z.unknown()), { depth: LIMITS.jsonDepth, nodes: MAX_LINE_ITEMS, bytes: LIMITS.bodyBytes }),
  })
  .strict();

/** A vector as exported: little-endian float32, base64. */
export const ExportVector = z
  .object({
    embedder: z.string().min(1).max(200),
    dimensions: z.int().min(1).max(MAX_DIMENSIONS),
    encoding: z.literal("f32le-base64"),
    data: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64"),
  })
  .strict()
  .refine((v) => v.data.length === Math.ceil((v.dimensions * 4) / 3) * 4, "data must hold exactly `dimensions` float32 values");

// Strict all the way down, as docs/export-format.md promises: a key this version does not define, in a memory,
// its source or one of its versions, makes the line invalid rather than being dropped (issue 16, D9).
const ExportedMemory = Memory.extend({
  id: z.string().regex(MEMORY_ID, "must be a memory id (mem_…)"),
  metadata: bounded(z.record(z.string(), z.unknown()), freeJsonBounds(LIMITS.metadataBytes)),
  content: z.string().refine((s) => utf8Bytes(s) <= LIMITS.contentBytes, `must be at most ${LIMITS.contentBytes} bytes`),
  source: Source.strict(),
}).strict();

const ExportedVersion = MemoryVersion.extend({ memory: ExportedMemory }).strict();

/** One memory: the wire header with its full content (archived ones too), its versions, events and vector. */
export const ExportMemoryLine = z
  .object({
    type: z.literal("memory"),
    memory: ExportedMemory,
    subject_key: z.string().max(500).nullable().openapi({ description: "What the memory is about, for MemReader's conflict policy." }),
    context: z.string().max(8000).nullable().openapi({ description: "Its session neighbours' text, as indexed for search; recomputed when null." }),
    versions: z.array(ExportedVersion).max(MAX_LINE_ITEMS),
    events: z.array(ExportEvent).max(MAX_LINE_ITEMS),
    vector: ExportVector.optional(),
  })
  .strict()
  .openapi("ExportMemoryLine");

/** The last line: what the file holds. A file without it was cut short. */
export const ExportEndLine = z
  .object({
    type: z.literal("end"),
    counts: z.object({ memories: z.int().min(0), versions: z.int().min(0), episodes: z.int().min(0), vectors: z.int().min(0) }),
  })
  .strict()
  .openapi("ExportEndLine");

export const ExportLine = z.discriminatedUnion("type", [ExportHeaderLine, ExportEpisodeLine, ExportMemoryLine, ExportEndLine]);

export type ExportHeaderLineWire = z.infer<typeof ExportHeaderLine>;
export type ExportEpisodeLineWire = z.infer<typeof ExportEpisodeLine>;
export type ExportMemoryLineWire = z.infer<typeof ExportMemoryLine>;
export type ExportEndLineWire = z.infer<typeof ExportEndLine>;
export type ExportLineWire = z.infer<typeof ExportLine>;
export type ExportEventWire = z.infer<typeof ExportEvent>;

// ── export and import requests ──────────────────────────────────────────────────────────────────────────────────

export const ExportQuery = z.object({
  include_vectors: z.enum(["true", "false"]).default("false").openapi({
    description: "`true` adds each memory's vector (base64 float32, with its embedder id): an import into a deployment with the same embedder then skips re-embedding.",
  }),
});

export const ExportAccepted = z
  .object({
    job_id: z.string(),
    status: z.enum(JOB_STATUSES).openapi({ description: "`done` when the export finished within the request (a small cube); else poll `job_url`." }),
    job: Job.openapi({ description: "The `export` job; `result.export` counts what is written (the file's size and counts once done)." }),
    export_id: z.string().openapi({ example: "exp_0123456789abcdef0123456789abcdef" }),
    cube_id: CubeId,
    job_url: z.string().openapi({ description: "An absolute URL: `GET` it until `status` is `done` (or `failed`)." }),
    download_url: z.string().openapi({
      description: "An absolute URL: `GET` it with a key that can read the cube for the JSONL file once the job is done (409 before).",
    }),
  })
  .openapi("ExportAccepted");

export type ExportAcceptedWire = z.infer<typeof ExportAccepted>;

export const ExportIdParam = z.object({
  id: z.string().max(64).openapi({ param: { name: "id", in: "path" }, example: "exp_0123456789abcdef0123456789abcdef" }),
});

export const ImportRequest = z
  .object({
    export_id: z.string().regex(EXPORT_ID, "must be an export id (exp_…)").openapi({
      description: "An export of this tenant (POST /v1/cubes/{id}/export), from any cube the key can read.",
    }),
  })
  .strict()
  .openapi("ImportRequest");

// ── provenance ──────────────────────────────────────────────────────────────────────────────────────────────────

/** One step of a memory's history from the cube's event log. */
export const DerivationStep = z
  .object({
    event: z.string().openapi({ example: "memory.superseded" }),
    at: Timestamp,
    version: z.int().nullable(),
    actor: z.string().openapi({ description: "Key id, or `system` (jobs: consolidation, expiry, archive)." }),
    request_id: z.string().nullable(),
    reason: z.string().nullable(),
    from: MemoryState.nullable(),
    to: MemoryState.nullable(),
    successor: z.string().optional().openapi({ description: "The memory that superseded this one." }),
    superseded: z.string().optional().openapi({ description: "The memory this one superseded." }),
    survivor: z.string().optional().openapi({ description: "The memory this one was merged into." }),
    merged: z.array(z.string()).optional().openapi({ description: "Memories merged into this one." }),
    rolled_back_to: z.int().optional(),
    export_id: z.string().optional().openapi({ description: "The export an imported memory came from." }),
    source_memory: z.string().optional().openapi({ description: "The imported memory's id in the exporting cube." }),
    from_export: z.string().optional().openapi({ description: "On a step that happened in the exporting cube, copied by an import: that export's id." }),
  })
  .openapi("DerivationStep");

export const Provenance = z
  .object({
    memory_id: z.string(),
    cube_id: CubeId,
    state: MemoryState,
    version: z.int(),
    source: Source,
    writer: z
      .object({
        key_id: z.string().nullable().openapi({ description: "The key that wrote the current content (from the watermark; else the creating key)." }),
        version: z.int().nullable().openapi({ description: "The version the watermark signs." }),
        watermark: z.string().nullable(),
        verified: z.boolean().nullable().openapi({
          description:
            "true: the watermark is this server's signature of the memory's current content by that key at that version. false: it is not " +
            "(the text changed outside the API, or it was signed under another ROOT_KEY). null: nothing to check (unsigned, or the content expired).",
        }),
      })
      .openapi("ProvenanceWriter"),
    imported_from: z
      .object({
        export_id: z.string(),
        cube_id: z.string(),
        memory_id: z.string(),
        kind: z.string().openapi({ description: "The memory's `source.kind` in the exporting cube." }),
        key_id: z.string().nullable().openapi({ description: "The key that wrote it there." }),
        watermark: z.string().nullable(),
        verified: z.boolean().nullable().openapi({ description: "Whether that watermark is this server's for the content as imported." }),
        imported_at: Timestamp,
      })
      .nullable()
      .openapi({ description: "For an imported memory: where it came from." }),
    episode: z
      .object({
        id: z.string(),
        found: z.boolean().openapi({ description: "false when the episode id names no conversation kept by this cube (e.g. one given by the writer)." }),
        session_id: z.string().nullable(),
        received_at: Timestamp.nullable(),
        messages: z.array(ExportMessage).openapi({ description: "The messages the memory cites (`source.message_ids`), as received." }),
      })
      .nullable(),
    links: z.object({
      supersedes: z.string().nullable(),
      superseded_by: z.string().nullable(),
      merged_from: z.array(z.string()),
    }),
    derivation: z.array(DerivationStep).openapi({ description: "The memory's events, oldest first." }),
  })
  .openapi("Provenance");

export type ProvenanceWire = z.infer<typeof Provenance>;
export type DerivationStepWire = z.infer<typeof DerivationStep>;

// ── deletion ────────────────────────────────────────────────────────────────────────────────────────────────────

/** Longest `hex:` owner spelling: `agent:` and 128 UTF-16 units of at most 3 bytes each, in hex, with room to spare. */
const OWNER_HEX_MAX_CHARS = 1_024;

export const OwnerParam = z.object({
  owner: z
    .string()
    .max(OWNER_HEX_MAX_CHARS)
    .regex(/^((user|agent):[^\s\u0000-\u001f\u007f]+|hex:[0-9A-Fa-f]+)$/, "must be user:<id>, agent:<id> or hex:<stored bytes>")
    .refine((owner) => owner.startsWith("hex:") || owner.length <= LIMITS.idChars + 6, `an owner id has at most ${LIMITS.idChars} characters`)
    .openapi({
      param: { name: "owner", in: "path" },
      example: "user:alice",
      description:
        "`user:<id>` or `agent:<id>`, URL-encoded; or `hex:<bytes>`, the owner exactly as stored (for owners stored with " +
        "ill-formed ids before the Unicode rule: docs/erasure-and-undo.md).",
    }),
});

/** What a deletion removed. The audit log keeps it with the owner as a SHA-256 only. */
export const DeletionReceipt = z
  .object({
    receipt_id: z.string().openapi({ example: "del_0123456789abcdef" }),
    owner: z.string(),
    cubes: z.array(CubeId),
    memories_deleted: z.int(),
    vectors_deleted: z.int().openapi({
      description: "Vectors of the cubes' own indexes; with a shared index (Vectorize) every memory id was deleted there too, and this is the larger count.",
    }),
    r2_objects_deleted: z.int().openapi({ description: "Archived memories, episodes, exports and uploaded imports." }),
    deleted_at: Timestamp,
  })
  .openapi("DeletionReceipt");

export type DeletionReceiptWire = z.infer<typeof DeletionReceipt>;

/** The owner's external id part must obey the same rules as `user_id` / `agent_id`. */
export const ownerIdIsValid = (owner: string) => ExternalId.safeParse(owner.slice(owner.indexOf(":") + 1)).success;
