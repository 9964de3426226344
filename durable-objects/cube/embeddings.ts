/**
 * The cube's embeddings: texts and queries through the configured embedder, vectors into the cube's own store, and —
 * when a shared index (Vectorize) is configured — sent there, confirmed and pruned locally (cube/remote-vectors.ts).
 * A model or index failure never fails a write or a search: it is logged, the memory is stored without a vector (a
 * reindex fills it later) and search answers from its other channels.
 */
import type { Retrieval } from "../../src/adapters/factory";
import type { VectorMatch, VectorRecord } from "../../src/adapters/types";
import { afterCommit } from "./after-commit";
import type { CubeRef, QueryVector } from "./protocol";
import { Backoff } from "./backoff";
import { EMBEDDINGS_BACKOFF } from "./embedding-retry";
import type { HandedReport } from "./handed-vectors";
import { RemoteVectors } from "./remote-vectors";
import type { SemanticQuery } from "./search";
import type { VectorStore } from "./vector-store";

/** Shared-index matches a query asks for: Vectorize's maximum without values or metadata. */
const REMOTE_TOP_K = 100;

export class CubeEmbeddings {
  private readonly remote: RemoteVectors;
  private readonly embedBackoff: Backoff;

  /**
   * `retrieval` and `clock` are read on every use: the Durable Object builds its adapters on first use, and tests
   * replace both.
   */
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly vectors: VectorStore,
    private readonly retrieval: () => Retrieval,
    private readonly clock: () => number,
  ) {
    this.remote = new RemoteVectors(storage.sql, vectors);
    this.embedBackoff = new Backoff(storage.sql, EMBEDDINGS_BACKOFF);
  }

  /**
   * One vector per text, or null when the model failed: the caller stores its memories without vectors, and the
   * failure arms the cube's embedding retry (cube/embedding-retry.ts), which gives them vectors later.
   */
  async embedDocuments(texts: string[]): Promise<Float32Array[] | null> {
    try {
      return await this.retrieval().embedder.embed(texts, "document");
    } catch (error) {
      console.error("embedding failed; memories stored without vectors, retried with backoff", error);
      this.embedBackoff.failed(this.clock());
      return null;
    }
  }

  /**
   * A memory's text changed but its new vector could not be made: its old vector no longer describes it. Dropped
   * here (and from the shared index, best effort) so the retrying reindex, which skips memories with a vector in
   * the current space, embeds it again.
   */
  async dropStale(ref: CubeRef, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    // After the commit of the text it no longer matches (update, rollback): never an error for the caller.
    await afterCommit("dropping stale vectors", async () => {
      this.vectors.delete(ids);
      await this.deleteRemote(ref, ids);
    });
  }

  /** The query's vector and the shared index's matches for it, or null (search keeps its other channels). */
  async embedQuery(ref: CubeRef, query: string, given?: QueryVector): Promise<SemanticQuery | null> {
    const { embedder, remoteIndex } = this.retrieval();
    try {
      // A vector the Worker made for several cubes at once is used as is when it is in this cube's space.
      const [vector] = given && given.embedderId === embedder.id ? [given.vector] : await embedder.embed([query], "query");
      if (!vector) return null;
      // A failing shared index costs only its own matches: the cube's recent vectors still answer.
      const remote: VectorMatch[] = remoteIndex ? await remoteIndex.query(ref.cubeId, vector, REMOTE_TOP_K).catch(remoteQueryFailed) : [];
      return { embedderId: embedder.id, vector, confidentSimilarity: embedder.confidentSimilarity, fusionWeight: embedder.fusionWeight, remote, shared: remoteIndex !== null };
    } catch (error) {
      console.error("query embedding or remote vector search failed", error);
      return null;
    }
  }

  /** Stores vectors in the cube's own index, in the configured embedder's space (inside the caller's transaction). */
  upsertLocal(records: VectorRecord[]): void {
    this.vectors.upsert(this.retrieval().embedder.id, records);
  }

  /** Refuses (throws) what {@link upsertLocal} would refuse, without writing: a group's writes stage their vectors. */
  checkLocal(records: VectorRecord[]): VectorRecord[] {
    this.vectors.check(this.retrieval().embedder.id, records);
    return records;
  }

  /**
   * Queues new vectors for the shared index; the alarm sends them SEND_DELAY_MS later together with every other
   * vector the cube wrote meanwhile (cube/remote-vectors.ts), and the cube's own copy serves searches until the index
   * is seen to serve them.
   *
   * Runs after the write's commit (a write, or a committed ingest/import/reindex step), so it never throws: a failure
   * here turned a stored write into a 500, and a committed job step into a retried or failed one (issue 16, item 3).
   * The cube's own vectors still serve search meanwhile, and the next write or alarm re-arms the alarm.
   */
  async pushRemote(_ref: CubeRef, records: VectorRecord[]): Promise<void> {
    await afterCommit("queueing vectors for the shared index", async () => {
      const { remoteIndex, embedder } = this.retrieval();
      if (!remoteIndex || records.length === 0) return;
      this.remote.queue(records.map((record) => record.id), embedder.id, this.clock());
      const check = this.remote.nextCheck();
      const armed = await this.storage.getAlarm();
      if (check !== null && (armed === null || armed > check)) await this.storage.setAlarm(check);
    });
  }

  /**
   * Deletes vectors of memories that left search (expired, merged) from the shared index. Best effort: until it
   * succeeds, a shared-index match is still only returned after the cube confirms the memory is live.
   */
  async deleteRemote(ref: CubeRef, ids: readonly string[]): Promise<void> {
    try {
      await this.purgeRemote(ref, ids);
    } catch (error) {
      console.error("remote vector delete failed", error);
    }
  }

  /** Deletes vectors from the shared index, failing with it (a purge must not report success while one remains). */
  /** Stops tracking purged memories' vectors in the shared index (their deletion is the teardown's, cube/teardown.ts). */
  forgetRemote(ids: readonly string[]): void {
    this.remote.dropped(ids);
  }

  async purgeRemote(ref: CubeRef, ids: readonly string[]): Promise<void> {
    const { remoteIndex } = this.retrieval();
    if (!remoteIndex || ids.length === 0) return;
    this.remote.dropped(ids);
    await remoteIndex.delete(ref.cubeId, [...ids]);
  }

  /** The alarm's part: vectors the shared index now serves leave the cube's own store; failures wait for the next alarm. */
  async confirmRemote(ref: CubeRef): Promise<void> {
    const { remoteIndex, vectorQueue } = this.retrieval();
    if (!remoteIndex) return;
    try {
      await this.remote.check(remoteIndex, ref.cubeId, this.clock(), vectorQueue ? { queue: vectorQueue, tenantId: ref.tenantId } : null);
    } catch (error) {
      console.error("checking vectors against the shared index failed; the next alarm tries again", error);
    }
  }

  /**
   * The vectors queue's consumer upserted vectors this cube handed it (cube/remote-vectors.ts `handedSent`); the alarm
   * comes back to check them CONFIRM_DELAY_MS later. Returns what it recorded and the ids it holds no memory of.
   */
  async handedSent(ids: readonly string[], handedAt: number, sentAt: number, mutationId: string | null): Promise<HandedReport> {
    const report = this.remote.handedSent(ids, handedAt, sentAt, mutationId);
    const check = this.remote.nextCheck();
    const armed = await this.storage.getAlarm();
    if (check !== null && (armed === null || armed > check)) await this.storage.setAlarm(check);
    return report;
  }

  /** When the alarm should next confirm vectors with the shared index, or null. */
  nextConfirmation(): number | null {
    return this.remote.nextCheck();
  }

  /** The embedding space of a memory's vector, local or only in the shared index; null when it has none. */
  embedderOf(id: string): string | null {
    return this.vectors.embedderOf(id) ?? this.remote.confirmedEmbedder(id);
  }

  /** Vectors the cube has: in its own store, or confirmed in the shared index. */
  count(): number {
    return this.vectors.count() + this.remote.confirmedCount();
  }
}

function remoteQueryFailed(error: unknown): VectorMatch[] {
  console.error("shared-index query failed; searching the cube's own vectors only", error);
  return [];
}
