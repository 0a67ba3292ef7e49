/**
 * The `poll_chunks` table: compressed runs of polls. Chunks never overlap in time (each
 * covers first_ts..last_ts and the next starts later), so a range is read chunk after
 * chunk and a poll's chunk is one index lookup.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import {
  type ChunkColumns,
  type ChunkPoll,
  CodecError,
  decodeChunk,
  decodeChunkColumns,
  decodeChunkTimestamps,
  encodeChunk,
} from "./codec.ts";

/**
 * A chunk whose bytes no longer decode (bit rot inside a blob passes SQLite's
 * integrity_check). The message names the polls it held and how to get them back.
 */
export class DamagedChunkError extends Error {
  constructor(row: ChunkRow, cause: CodecError) {
    const span = `${new Date(row.first_ts).toISOString()} .. ${
      new Date(row.last_ts).toISOString()
    }`;
    super(
      `the database is damaged: the ${row.count} polls stored for ${span} cannot be read ` +
        `(${cause.message}); sqlite3's ".recover" may save the rest of the file`,
    );
    this.name = "DamagedChunkError";
  }
}

/** Runs a decoder of `row`'s bytes; a CodecError becomes a DamagedChunkError naming it. */
function decoding<T>(row: ChunkRow, decode: (data: Uint8Array) => T): T {
  try {
    return decode(row.data);
  } catch (error) {
    if (error instanceof CodecError) throw new DamagedChunkError(row, error);
    throw error;
  }
}

export interface ChunkRow {
  first_ts: number;
  last_ts: number;
  count: number;
  calculations_length: number;
  parameters_length: number;
  visibilities_length: number;
  snapshot_ids: string;
  data: Uint8Array;
}

/** Chunks whose instants are kept decoded for duplicate checks (an ingest may jump around). */
const TIMESTAMP_CACHE_CHUNKS = 16;

const COLUMNS =
  "first_ts, last_ts, count, calculations_length, parameters_length, visibilities_length, snapshot_ids, data";

export class ChunkTable {
  readonly #insert: StatementSync;
  readonly #delete: StatementSync;
  readonly #atOrBefore: StatementSync;
  readonly #after: StatementSync;
  readonly #nextEndingAfter: StatementSync;
  readonly #end: StatementSync;
  /** The last decoded chunk: reads and duplicate checks often hit the same one again. */
  #cache: { key: string; polls: ChunkPoll[] } | null = null;
  readonly #timestamps = new Map<string, Set<number>>();

  constructor(private readonly db: DatabaseSync) {
    this.#insert = db.prepare(
      `INSERT INTO poll_chunks (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#delete = db.prepare("DELETE FROM poll_chunks WHERE first_ts = ?");
    this.#atOrBefore = db.prepare(
      `SELECT ${COLUMNS} FROM poll_chunks WHERE first_ts <= ? ORDER BY first_ts DESC LIMIT 1`,
    );
    this.#after = db.prepare(
      `SELECT ${COLUMNS} FROM poll_chunks WHERE first_ts > ? ORDER BY first_ts LIMIT 1`,
    );
    this.#nextEndingAfter = db.prepare(
      `SELECT ${COLUMNS} FROM poll_chunks WHERE last_ts > ? ORDER BY last_ts LIMIT 1`,
    );
    this.#end = db.prepare("SELECT max(last_ts) AS ts FROM poll_chunks");
  }

  /**
   * Stores `polls` (strictly increasing ts, at most CHUNK_MAX_POLLS) as one chunk.
   * `lengthOf` gives a snapshot's table length, for tableLengths without decoding.
   */
  insert(polls: readonly ChunkPoll[], lengthOf: (snapshotId: number) => number): void {
    let calculations = 0;
    const snapshotIds = new Set<number>();
    for (const poll of polls) {
      calculations = Math.max(calculations, poll.calculations?.length ?? 0);
      if (poll.parametersId !== null) snapshotIds.add(poll.parametersId);
      if (poll.visibilitiesId !== null) snapshotIds.add(poll.visibilitiesId);
    }
    let parameters = 0;
    let visibilities = 0;
    for (const poll of polls) {
      if (poll.parametersId !== null) {
        parameters = Math.max(parameters, lengthOf(poll.parametersId));
      }
      if (poll.visibilitiesId !== null) {
        visibilities = Math.max(visibilities, lengthOf(poll.visibilitiesId));
      }
    }
    this.#insert.run(
      polls[0].ts,
      polls[polls.length - 1].ts,
      polls.length,
      calculations,
      parameters,
      visibilities,
      [...snapshotIds].join(","),
      encodeChunk(polls),
    );
  }

  delete(firstTs: number): void {
    this.#delete.run(firstTs);
  }

  /** The chunk starting at or before `ts` (it holds `ts` if last_ts >= ts). */
  atOrBefore(ts: number): ChunkRow | undefined {
    return this.#atOrBefore.get(ts) as ChunkRow | undefined;
  }

  /** The first chunk starting after `ts`. */
  after(ts: number): ChunkRow | undefined {
    return this.#after.get(ts) as ChunkRow | undefined;
  }

  /** The first chunk holding polls later than `cursor` and earlier than `to`. */
  nextEndingAfter(cursor: number, to: number): ChunkRow | undefined {
    // Chunks do not overlap, so the one ending first after the cursor is the next one;
    // testing `to` here, not in SQL, keeps this one index step at the end of a range.
    const row = this.#nextEndingAfter.get(cursor) as ChunkRow | undefined;
    return row && row.first_ts < to ? row : undefined;
  }

  /** The instant of the newest poll in any chunk, or null. */
  end(): number | null {
    return (this.#end.get() as { ts: number | null }).ts;
  }

  /** The polls of a chunk (shared with the cache: callers must not modify them). */
  decode(row: ChunkRow): ChunkPoll[] {
    const key = chunkKey(row);
    if (this.#cache?.key !== key) this.#cache = { key, polls: decoding(row, decodeChunk) };
    return this.#cache.polls;
  }

  /** The polls of a chunk as columns, decoded afresh (for streaming reads). */
  columns(row: ChunkRow): ChunkColumns {
    return decoding(row, decodeChunkColumns);
  }

  /** Whether a chunk's bytes decode (the result stays cached for `decode`). */
  readable(row: ChunkRow): boolean {
    try {
      this.decode(row);
      return true;
    } catch (error) {
      if (error instanceof DamagedChunkError) return false;
      throw error;
    }
  }

  /** Whether the chunk holds a poll at exactly `ts`. */
  holds(row: ChunkRow, ts: number): boolean {
    const key = chunkKey(row);
    let timestamps = this.#timestamps.get(key);
    if (timestamps) {
      this.#timestamps.delete(key); // re-inserted below: most recently used last
    } else {
      timestamps = new Set(decoding(row, decodeChunkTimestamps));
      if (this.#timestamps.size >= TIMESTAMP_CACHE_CHUNKS) {
        this.#timestamps.delete(this.#timestamps.keys().next().value!);
      }
    }
    this.#timestamps.set(key, timestamps);
    return timestamps.has(ts);
  }

  /** Forgets decoded chunks (after a rollback the same key may hold other content). */
  forget(): void {
    this.#cache = null;
    this.#timestamps.clear();
  }
}

/** first/last/count identify a chunk's content: rewriting a chunk always changes one of them. */
function chunkKey(row: ChunkRow): string {
  return `${row.first_ts}:${row.last_ts}:${row.count}`;
}
