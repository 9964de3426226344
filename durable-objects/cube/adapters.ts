/**
 * The cube's adapter registry (parametric memory, docs/parametric.md): LoRA adapters whose weights are uploaded here
 * (validated, then streamed to R2), and Workers AI fine-tunes registered by name. Versions per name, lifecycle states
 * like memories (core/lora.ts), at most one `active` per cube (a partial unique index holds it), an event in the
 * cube's log for every move.
 *
 * An upload is checked before anything is stored: the adapter must be `pending`, the declared size within Workers
 * AI's limit, the safetensors header valid (core/safetensors.ts) for exactly that size and its LoRA rank the
 * config's. Then the bytes go to R2 (one put, or 5 MiB multipart parts) while being counted and hashed; a body that
 * ends early or runs long aborts the upload and leaves nothing behind.
 */
import { createHash } from "node:crypto";
import { randomBody } from "../../src/core/ids";
import { ADAPTER_EVENT, type AdapterState, LORA_LIMITS, canTransition } from "../../src/core/lora";
import { headerLength, loraRank, parseHeader } from "../../src/core/safetensors";
import { toIso } from "../../src/core/time";
import { type Outcome, fail, ok } from "../../src/errors";
import type { AdapterWire } from "../../src/schemas/parametric";
import { PART_BYTES } from "./portability";
import type { CubeRef, WriteMeta } from "./protocol";

type Row = Record<string, SqlStorageValue>;

/** Where an adapter's files live in R2 (under the cube's prefix, so deleting the cube deletes them). */
export const adapterWeightsKey = (ref: CubeRef, adapterId: string) =>
  `adapters/${ref.tenantId}/${ref.cubeId}/${adapterId}/adapter_model.safetensors`;

/** What registering an adapter needs, validated by the service (core/lora.ts checkLoraConfig). */
export interface NewAdapter {
  name: string;
  baseModel: string;
  finetune: string | null;
  /** adapter_config.json and its rank, for a LoRA upload; null for a fine-tune registered by name. */
  config: { raw: Record<string, unknown>; rank: number } | null;
  description: string | null;
}

export class CubeAdapters {
  constructor(
    private readonly sql: SqlStorage,
    private readonly bucket: R2Bucket,
    private readonly transaction: <T>(write: () => T) => T,
  ) {}

  private exec(query: string, ...params: unknown[]): Row[] {
    return this.sql.exec(query, ...(params as SqlStorageValue[])).toArray();
  }

  list(ref: CubeRef): AdapterWire[] {
    return this.exec("SELECT * FROM adapters ORDER BY name, version").map((row) => toAdapter(ref, row));
  }

  get(ref: CubeRef, id: string): AdapterWire | null {
    const row = this.exec("SELECT * FROM adapters WHERE id = ?", id)[0];
    return row ? toAdapter(ref, row) : null;
  }

  active(ref: CubeRef): AdapterWire | null {
    const row = this.exec("SELECT * FROM adapters WHERE state = 'active'")[0];
    return row ? toAdapter(ref, row) : null;
  }

  /**
   * A new version of `name`: `pending` until its weights arrive (a LoRA upload), `ready` at once for a fine-tune
   * registered by name. Refused past LORA_LIMITS.maxPerCube adapters.
   */
  register(ref: CubeRef, input: NewAdapter, meta: WriteMeta, now: number): Outcome<AdapterWire> {
    const count = Number(this.exec("SELECT count(*) AS n FROM adapters")[0]?.n ?? 0);
    if (count >= LORA_LIMITS.maxPerCube) {
      return fail("conflict", `a cube keeps at most ${LORA_LIMITS.maxPerCube} adapters; delete an archived one first`);
    }
    const version = Number(this.exec("SELECT coalesce(max(version), 0) + 1 AS v FROM adapters WHERE name = ?", input.name)[0]?.v ?? 1);
    const id = `adp_${ref.cubeId.slice("cube_".length)}${randomBody()}`;
    const state: AdapterState = input.config ? "pending" : "ready";
    this.exec(
      `INSERT INTO adapters (id, name, version, kind, state, base_model, finetune, rank, config, description, created_by, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      id,
      input.name,
      version,
      input.config ? "lora" : "finetune",
      state,
      input.baseModel,
      input.finetune,
      input.config?.rank ?? null,
      input.config ? JSON.stringify(input.config.raw) : null,
      input.description,
      meta.actor,
      now,
      now,
    );
    this.event(id, "adapter.registered", meta, now, { name: input.name, version, to: state });
    return ok(this.get(ref, id)!);
  }

  /**
   * Receives `adapter_model.safetensors` for a pending LoRA adapter: validated from its header before anything is
   * stored, streamed to R2, then the adapter turns `ready`. `bytes` is the declared size (Content-Length).
   */
  async uploadWeights(ref: CubeRef, id: string, body: ReadableStream<Uint8Array>, bytes: number, meta: WriteMeta, now: () => number): Promise<Outcome<AdapterWire>> {
    const reader = new ChunkReader(body);
    try {
      const adapter = this.get(ref, id);
      if (!adapter) return fail("not_found", "adapter not found");
      if (adapter.kind !== "lora") return fail("conflict", "this adapter is a Workers AI fine-tune registered by name: it has no weights to upload");
      if (adapter.state !== "pending") return fail("conflict", `the adapter's weights are already uploaded (it is ${adapter.state}); register a new version instead`);
      if (bytes > LORA_LIMITS.maxWeightsBytes) {
        return fail("payload_too_large", `adapter_model.safetensors must be smaller than 100 MB (Workers AI's limit); this one is ${bytes} bytes`);
      }
      const first = await reader.take(8);
      const length = headerLength(first, bytes);
      if (!length.ok) return fail("invalid_request", `not a valid safetensors file: ${length.problem}`);
      const rest = await reader.take(length.bytes - 8);
      const prefix = concat(first, rest);
      const parsed = parseHeader(prefix, bytes);
      if (!parsed.ok) return fail("invalid_request", `not a valid safetensors file: ${parsed.problem}`);
      const rank = loraRank(parsed.header.tensors);
      if ("problem" in rank) return fail("invalid_request", `not a valid LoRA adapter: ${rank.problem}`);
      if (rank.rank === null) return fail("invalid_request", "not a LoRA adapter: no lora_A / lora_B tensors");
      if (rank.rank !== adapter.rank) {
        return fail("invalid_request", `the weights have LoRA rank ${rank.rank}, but adapter_config.json says r = ${adapter.rank}`);
      }
      const key = adapterWeightsKey(ref, id);
      const stored = await this.store(key, prefix, reader, bytes);
      if (!stored.ok) return stored;
      const outcome = this.transaction((): Outcome<AdapterWire> => {
        // It may have been deleted or archived while the bytes were uploading.
        const current = this.exec("SELECT state FROM adapters WHERE id = ?", id)[0];
        if (!current || current.state !== "pending") return fail("conflict", "the adapter changed while its weights were uploading");
        this.exec(
          "UPDATE adapters SET state = 'ready', weights_key = ?, weights_bytes = ?, tensors = ?, weights_sha256 = ?, updated_at = ? WHERE id = ?",
          key,
          bytes,
          parsed.header.tensors.length,
          stored.value,
          now(),
          id,
        );
        this.event(id, ADAPTER_EVENT.ready, meta, now(), { name: adapter.name, version: adapter.version, from: "pending", to: "ready", bytes });
        return ok(this.get(ref, id)!);
      });
      if (!outcome.ok) await this.bucket.delete(key);
      return outcome;
    } finally {
      await reader.cancel();
    }
  }

  /** The adapter's weights file, to stream back; null when there is none. */
  async weights(ref: CubeRef, id: string): Promise<{ body: ReadableStream; bytes: number } | null> {
    const row = this.exec("SELECT weights_key FROM adapters WHERE id = ?", id)[0];
    if (!row || row.weights_key == null) return null;
    const object = await this.bucket.get(String(row.weights_key));
    return object ? { body: object.body, bytes: object.size } : null;
  }

  /**
   * Moves an adapter to `to` (core/lora.ts transition table). Activating one sends the active one back to `ready`,
   * each move with its event. Moving to the state it is in is a no-op.
   */
  transition(ref: CubeRef, id: string, to: AdapterState, meta: WriteMeta, now: number): Outcome<AdapterWire> {
    const adapter = this.get(ref, id);
    if (!adapter) return fail("not_found", "adapter not found");
    if (adapter.state === to) return ok(adapter);
    if (!canTransition(adapter.state, to)) {
      const why = adapter.state === "pending" && to === "active" ? ": upload its weights first" : "";
      return fail("conflict", `an adapter cannot go from ${adapter.state} to ${to}${why}`);
    }
    if (to === "active") {
      const previous = this.exec("SELECT id, name, version FROM adapters WHERE state = 'active'")[0];
      if (previous) {
        this.exec("UPDATE adapters SET state = 'ready', updated_at = ? WHERE id = ?", now, previous.id);
        this.event(String(previous.id), ADAPTER_EVENT.ready, meta, now, {
          name: String(previous.name),
          version: Number(previous.version),
          from: "active",
          to: "ready",
          reason: "replaced",
          replaced_by: id,
        });
      }
    }
    this.exec("UPDATE adapters SET state = ?, updated_at = ? WHERE id = ?", to, now, id);
    this.event(id, ADAPTER_EVENT[to], meta, now, { name: adapter.name, version: adapter.version, from: adapter.state, to });
    return ok(this.get(ref, id)!);
  }

  /** Deletes an adapter that is not active, and its files; returns the R2 key to delete after the commit. */
  remove(id: string, meta: WriteMeta, now: number): Outcome<{ key: string | null }> {
    const row = this.exec("SELECT state, name, version, weights_key FROM adapters WHERE id = ?", id)[0];
    if (!row) return fail("not_found", "adapter not found");
    if (row.state === "active") return fail("conflict", "the active adapter cannot be deleted: deactivate it (state ready) first");
    this.exec("DELETE FROM adapters WHERE id = ?", id);
    this.event(id, "adapter.deleted", meta, now, { name: String(row.name), version: Number(row.version), from: String(row.state) });
    return ok({ key: row.weights_key == null ? null : String(row.weights_key) });
  }

  private event(id: string, type: string, meta: WriteMeta, now: number, data: Record<string, unknown>): void {
    this.exec(
      "INSERT INTO events (at, type, memory_id, version, actor, request_id, data) VALUES (?, ?, NULL, NULL, ?, ?, ?)",
      now,
      type,
      meta.actor,
      meta.requestId === "" ? null : meta.requestId,
      JSON.stringify({ adapter_id: id, ...data }),
    );
  }

  /**
   * Writes `prefix` and the rest of the body to R2 as exactly `bytes` bytes: one put when it fits a part, else
   * multipart in PART_BYTES parts. Returns the file's SHA-256; a body of any other length aborts and stores nothing.
   */
  private async store(key: string, prefix: Uint8Array, reader: ChunkReader, bytes: number): Promise<Outcome<string>> {
    const hash = createHash("sha256");
    const part = new Uint8Array(Math.min(PART_BYTES, bytes));
    let filled = 0;
    let total = 0;
    let upload: R2MultipartUpload | null = null;
    const parts: R2UploadedPart[] = [];
    const flush = async () => {
      upload ??= await this.bucket.createMultipartUpload(key, { httpMetadata: { contentType: "application/octet-stream" } });
      parts.push(await upload.uploadPart(parts.length + 1, part.slice(0, filled)));
      filled = 0;
    };
    const short = () => fail("invalid_request", `the body ended after ${total} bytes; Content-Length said ${bytes} (truncated upload)`);
    try {
      for (let chunk: Uint8Array | null = prefix; chunk !== null; chunk = await reader.next()) {
        if (total + chunk.length > bytes) {
          await (upload as R2MultipartUpload | null)?.abort();
          return fail("invalid_request", `the body is longer than its Content-Length (${bytes} bytes)`);
        }
        hash.update(chunk);
        total += chunk.length;
        for (let offset = 0; offset < chunk.length; ) {
          const n = Math.min(part.length - filled, chunk.length - offset);
          part.set(chunk.subarray(offset, offset + n), filled);
          filled += n;
          offset += n;
          if (filled === part.length && total < bytes) await flush();
        }
      }
      if (total < bytes) {
        await (upload as R2MultipartUpload | null)?.abort();
        return short();
      }
      if (upload === null) {
        await this.bucket.put(key, part.slice(0, filled), { httpMetadata: { contentType: "application/octet-stream" } });
      } else {
        await flush();
        await (upload as R2MultipartUpload).complete(parts);
      }
      return ok(hash.digest("hex"));
    } catch (error) {
      await (upload as R2MultipartUpload | null)?.abort().catch(() => {});
      throw error;
    }
  }
}

/** Reads a byte stream in exact amounts (the header) and then chunk by chunk (the data). */
class ChunkReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private pending: Uint8Array | null = null;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.getReader();
  }

  /** The next chunk, or null at the end. */
  async next(): Promise<Uint8Array | null> {
    if (this.pending) {
      const chunk = this.pending;
      this.pending = null;
      return chunk;
    }
    const { done, value } = await this.reader.read();
    return done ? null : value;
  }

  /** Exactly `n` bytes, or fewer when the stream ends first. */
  async take(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = await this.next();
      if (chunk === null) return out.slice(0, filled);
      const used = Math.min(n - filled, chunk.length);
      out.set(chunk.subarray(0, used), filled);
      filled += used;
      if (used < chunk.length) this.pending = chunk.subarray(used);
    }
    return out;
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function toAdapter(ref: CubeRef, row: Row): AdapterWire {
  return {
    id: String(row.id),
    cube_id: ref.cubeId,
    name: String(row.name),
    version: Number(row.version),
    kind: String(row.kind) as AdapterWire["kind"],
    state: String(row.state) as AdapterState,
    base_model: String(row.base_model),
    finetune: row.finetune == null ? null : String(row.finetune),
    rank: row.rank == null ? null : Number(row.rank),
    config: row.config == null ? null : (JSON.parse(String(row.config)) as Record<string, unknown>),
    weights:
      row.weights_key == null
        ? null
        : { bytes: Number(row.weights_bytes), tensors: Number(row.tensors), sha256: String(row.weights_sha256) },
    description: row.description == null ? null : String(row.description),
    created_by: String(row.created_by),
    created_at: toIso(Number(row.created_at)),
    updated_at: toIso(Number(row.updated_at)),
  };
}
