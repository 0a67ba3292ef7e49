/**
 * The SQLite store (node:sqlite): every poll's raw tables with its UTC instant, the gaps
 * (failed polls with their reason) and a small key/value table for service state such as
 * the last completed roll-up window.
 *
 * Raw integers are stored, not decoded values, so decoding fixes apply to all history,
 * and compactly, so a year of 30-second polls stays in the tens of megabytes:
 *
 * - Parameters and visibilities rarely change: each distinct table is stored once as a
 *   deflated snapshot and polls refer to the one in force.
 * - A new poll is written at once, durably, in its own transaction, as a small row: its
 *   calculations as the few entries that differ from a base table (`recent_polls`).
 * - Every FOLD_THRESHOLD_POLLS polls, recent rows are folded, in one transaction, into
 *   compressed column-wise chunks of up to CHUNK_MAX_POLLS polls (`poll_chunks`), about
 *   10 bytes per poll. A crash at any moment leaves either the rows or the chunk.
 *
 * Layouts are in storage/codec.ts, versions and migrations in storage/schema.ts, the
 * one-service-per-database lock in storage/lock.ts.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { type ChunkRow, ChunkTable } from "./storage/chunk_table.ts";
import {
  CHUNK_MAX_POLLS,
  type ChunkPoll,
  chunkPollAt,
  countChanged,
  decodeInt32Snapshot,
  decodeInt8Snapshot,
  decodeSparseDelta,
  encodeSnapshot,
  encodeSparseDelta,
  sameValues,
} from "./storage/codec.ts";
import { DatabaseLockedError, WriterLock } from "./storage/lock.ts";
import {
  migrate,
  refuseForeignDatabase,
  SchemaError,
  type SnapshotKind,
} from "./storage/schema.ts";

export { DatabaseLockedError } from "./storage/lock.ts";
export { DamagedChunkError } from "./storage/chunk_table.ts";
export { SCHEMA_VERSION, SchemaError } from "./storage/schema.ts";

/** One poll as read (or ingested). `null` = that table was not read in this poll. */
export interface Poll {
  /** Unix epoch milliseconds (UTC). */
  ts: number;
  parameters: Int32Array | null;
  calculations: Int32Array | null;
  visibilities: Int8Array | null;
  durationMs?: number | null;
}

/**
 * A stored poll with the tables in force at that instant (`null`: never read so far).
 * Treat the tables as read-only: polls with the same parameter or visibility snapshot
 * share one array, and calculations are views of their chunk's buffer (keeping one poll
 * keeps its chunk, about 1 MB, alive; copy with `.slice()` to keep many).
 */
export interface StoredPoll {
  ts: number;
  parameters: Int32Array | null;
  calculations: Int32Array | null;
  visibilities: Int8Array | null;
  durationMs: number | null;
}

export interface Gap {
  ts: number;
  reason: string;
}

export type TableLengths = Record<"calculations" | "parameters" | "visibilities", number>;

/**
 * What a power cut may cost (README, "Durability"): `full` syncs every commit, so a poll
 * reported as stored survives; `normal` syncs at checkpoints only, so the last polls
 * before a power cut may be lost (the file stays consistent either way), for fewer
 * writes to an SD card.
 */
export type SynchronousMode = "full" | "normal";
export const SYNCHRONOUS_MODES: readonly SynchronousMode[] = ["full", "normal"];

/**
 * With `normal`, commits reach the disk at checkpoints only, and SQLite's own (every
 * ~1,000 pages) came hours apart at our few bytes per poll. A passive checkpoint this
 * often bounds what a power cut can cost to about this long.
 */
export const NORMAL_CHECKPOINT_MS = 5 * 60_000;

/** A WAL file left larger than this after a checkpoint is cut back (bytes). */
const WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024;

export interface StorageOptions {
  /** Default "full". */
  synchronous?: SynchronousMode;
  /** With `normal`: checkpoint at most this often (default NORMAL_CHECKPOINT_MS). */
  checkpointEveryMs?: number;
  /** Take the writer lock (the service does): a second service on the same file fails. */
  lock?: boolean;
  /** Fold recent rows into chunks once this many wait (default FOLD_THRESHOLD_POLLS). */
  foldThreshold?: number;
  /** Caps the file at this many pages (SQLITE_FULL beyond), for tests of a full disk. */
  maxPageCount?: number;
}

/** Recent rows folded at once: 2 hours at 30 s. Small enough to be cheap, big enough to pack well. */
export const FOLD_THRESHOLD_POLLS = 240;
/** A poll whose calculations differ from the base in more places than this starts a new base. */
const REBASE_AFTER_CHANGES = 48;
/** How long a writer waits for another connection's write lock before giving up. */
const BUSY_TIMEOUT_MS = 5_000;
/** Recent rows read per query while streaming a range. */
const READ_PAGE_ROWS = 512;
/** Work per retention transaction, so polling never waits long for the write lock. */
const PRUNE_BATCH_ROWS = 500;

export class StorageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StorageError";
  }
}

/**
 * True for "no space left": SQLITE_FULL from a full disk or an exhausted max_page_count,
 * or ENOSPC from the file system. The store is intact then; only the write failed.
 */
export function isDiskFullError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return /database or disk is full|no space left on device|ENOSPC|SQLITE_FULL/i.test(
    error.message,
  ) || (error as { code?: string }).code === "ENOSPC";
}

interface RecentRow {
  ts: number;
  duration_ms: number | null;
  parameters_id: number | null;
  visibilities_id: number | null;
  calculations_base: number | null;
  calculations: Uint8Array | null;
}

interface Snapshot {
  id: number;
  values: Int32Array | Int8Array;
}

const KINDS: readonly SnapshotKind[] = ["parameters", "visibilities", "calculations"];

export class Storage {
  readonly #db: DatabaseSync;
  readonly #lock: WriterLock | null;
  readonly #foldThreshold: number;
  readonly #chunks: ChunkTable;
  readonly #statements: Record<string, StatementSync>;
  /** The latest snapshot of each kind (for calculations: the current delta base). */
  #latest = new Map<SnapshotKind, Snapshot>();
  /** Decoded snapshots by id; a snapshot never changes once written. */
  readonly #snapshots = new Map<number, Int32Array | Int8Array>();
  readonly #snapshotLengths = new Map<number, number>();
  #recentCount = 0;
  #chunkEnd: number | null = null;
  /** PRAGMA data_version when our caches were loaded: it moves when another connection writes. */
  #dataVersion = -1;
  #stale = true;
  readonly #checkpointEveryMs: number | null;
  #lastCheckpointAt = performance.now();

  private constructor(db: DatabaseSync, lock: WriterLock | null, options: StorageOptions) {
    this.#db = db;
    this.#lock = lock;
    this.#foldThreshold = Math.max(1, options.foldThreshold ?? FOLD_THRESHOLD_POLLS);
    this.#checkpointEveryMs = options.synchronous === "normal"
      ? options.checkpointEveryMs ?? NORMAL_CHECKPOINT_MS
      : null;
    this.#chunks = new ChunkTable(db);
    const sql = (text: string) => db.prepare(text);
    this.#statements = {
      insertRecent: sql(
        "INSERT OR IGNORE INTO recent_polls (ts, duration_ms, parameters_id, visibilities_id, calculations_base, calculations) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      oldestRecent: sql("SELECT * FROM recent_polls ORDER BY ts LIMIT ?"),
      recentPage: sql("SELECT * FROM recent_polls WHERE ts > ? AND ts <= ? ORDER BY ts LIMIT ?"),
      deleteRecentRange: sql("DELETE FROM recent_polls WHERE ts >= ? AND ts <= ?"),
      recentCount: sql("SELECT count(*) AS n FROM recent_polls"),
      recentHas: sql("SELECT 1 FROM recent_polls WHERE ts = ?"),
      insertSnapshot: sql("INSERT INTO table_snapshots (kind, length, data) VALUES (?, ?, ?)"),
      snapshot: sql("SELECT kind, length, data FROM table_snapshots WHERE id = ?"),
      latestSnapshot: sql(
        "SELECT id, kind, length, data FROM table_snapshots WHERE kind = ? ORDER BY id DESC LIMIT 1",
      ),
      deleteUnusedBases: sql(
        "DELETE FROM table_snapshots WHERE kind = 'calculations' AND id != ? AND id NOT IN (SELECT calculations_base FROM recent_polls WHERE calculations_base IS NOT NULL) RETURNING id",
      ),
      insertGap: sql("INSERT INTO gaps (ts, reason) VALUES (?, ?)"),
      dataVersion: sql("PRAGMA data_version"),
    };
  }

  /** Opens (and creates, with its folder) the database at `path`, migrating older formats. */
  static open(path: string, options: StorageOptions = {}): Storage {
    const inMemory = path === ":memory:";
    let lock: WriterLock | null = null;
    let db: DatabaseSync | undefined;
    try {
      if (!inMemory) mkdirSync(dirname(path), { recursive: true });
      if (options.lock && !inMemory) lock = WriterLock.acquire(path);
      db = new DatabaseSync(path);
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      refuseForeignDatabase(db, path);
      db.exec("PRAGMA journal_mode = WAL");
      // See SynchronousMode and README "Durability" for what each choice can cost.
      db.exec(`PRAGMA synchronous = ${(options.synchronous ?? "full").toUpperCase()}`);
      db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
      if (options.maxPageCount !== undefined) {
        db.exec(`PRAGMA max_page_count = ${Math.floor(options.maxPageCount)}`);
      }
      // A file converted from an old format is mostly free pages now: return them once.
      if (migrate(db)) db.exec("VACUUM");
      return new Storage(db, lock, options);
    } catch (error) {
      if (db?.isOpen) db.close();
      lock?.release();
      if (error instanceof DatabaseLockedError || error instanceof SchemaError) throw error;
      const message = (error as Error).message;
      // A damaged file is never touched or replaced by us; say how the user gets going again.
      const hint = /malformed|not a database/i.test(message)
        ? `; the file is damaged: stop lux-logger, move ${path} aside (sqlite3 can often ` +
          `recover its rows with ".recover"), and start again: a new database is created`
        : /disk I\/O error|No space left|database or disk is full/i.test(message)
        ? "; is the disk full? Free some space (the service deletes the oldest roll-ups " +
          "above DISK_USAGE_THRESHOLD at start) and start again"
        : "";
      throw new StorageError(`cannot open database ${path}: ${message}${hint}`);
    }
  }

  /** Raises (or lowers) the page cap given as `maxPageCount`; tests use it as "space returns". */
  setMaxPageCount(pages: number): void {
    this.#db.exec(`PRAGMA max_page_count = ${Math.floor(pages)}`);
  }

  /** Stores one poll in its own transaction. Returns false if that instant was already stored. */
  insertPoll(poll: Poll): boolean {
    return this.insertPolls([poll]) === 1;
  }

  /**
   * Stores polls in one transaction; returns how many were new (an instant already
   * stored is left as it was). Folding into chunks happens afterwards in its own
   * transaction, so it never delays or endangers the polls just written.
   */
  insertPolls(polls: Iterable<Poll>): number {
    const batch = Array.isArray(polls) ? polls as Poll[] : [...polls];
    let direct = false;
    const inserted = this.#write(() => {
      // A big batch (ingest) with nothing waiting goes straight into chunks: the same
      // single transaction, without the detour through recent rows.
      direct = batch.length >= this.#foldThreshold && this.#recentCount === 0;
      return direct ? this.#insertIntoChunks(batch) : this.#insertRecent(batch);
    });
    if (!direct) {
      this.#recentCount += inserted;
      if (this.#recentCount >= this.#foldThreshold) this.#foldWaiting();
    }
    this.#checkpointIfDue();
    return inserted;
  }

  /** `normal` only: makes the commits so far durable (see NORMAL_CHECKPOINT_MS). */
  #checkpointIfDue(): void {
    if (this.#checkpointEveryMs === null) return;
    const now = performance.now();
    if (now - this.#lastCheckpointAt < this.#checkpointEveryMs) return;
    this.#lastCheckpointAt = now;
    this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
  }

  insertGap(ts: number, reason: string): void {
    this.#statements.insertGap.run(ts, reason);
  }

  /** Stores gaps in one transaction (all or none). */
  insertGaps(gaps: Iterable<Gap>): void {
    this.#write(() => {
      for (const gap of gaps) this.#statements.insertGap.run(gap.ts, gap.reason);
    });
  }

  gaps(from: number, to: number): Gap[] {
    return this.#db.prepare("SELECT ts, reason FROM gaps WHERE ts >= ? AND ts < ? ORDER BY ts")
      .all(from, to).map((row) => {
        const { ts, reason } = row as unknown as Gap;
        return { ts, reason };
      });
  }

  /**
   * Polls with `from <= ts < to` in time order, streamed: one chunk and one page of recent
   * rows in memory at a time, whatever the range. Each step queries afresh after the last
   * instant it yielded, so writes (and folds) in between neither skip nor repeat a poll.
   * A step reads in one read transaction and resolves the tables it refers to before it
   * yields: another process (the service) folding or pruning meanwhile can neither move
   * rows between the step's queries nor delete a table the step still has to decode.
   */
  *polls(from: number, to: number): Generator<StoredPoll> {
    let cursor = from - 1;
    while (cursor < to - 1) {
      const step = this.#read(() => {
        const chunk = this.#chunks.nextEndingAfter(cursor, to);
        let limit = chunk ? Math.min(chunk.last_ts, to - 1) : to - 1;
        const rows = this.#statements.recentPage.all(cursor, limit, READ_PAGE_ROWS) as unknown[];
        if (rows.length === READ_PAGE_ROWS) limit = (rows[rows.length - 1] as RecentRow).ts;
        // Decoded afresh as columns, not from the shared cache: few allocations, and the
        // calculations handed out are views of this decode's own buffer, so a caller that
        // writes into one cannot corrupt the store.
        const columns = chunk ? this.#chunks.columns(chunk) : null;
        const tables = new Map<number, Int32Array | Int8Array>();
        for (const id of chunk?.snapshot_ids.split(",") ?? []) {
          if (id !== "") tables.set(Number(id), this.#snapshotValues(Number(id))!);
        }
        const recent = rows.map((row) => this.#stored(this.#fromRecent(row as RecentRow)));
        return { found: chunk !== undefined || rows.length > 0, limit, columns, tables, recent };
      });
      const { limit, columns, tables, recent } = step;
      const ts = columns?.ts ?? new Float64Array();
      let i = 0;
      while (i < ts.length && ts[i] <= cursor) i++;
      let j = 0;
      for (;;) {
        const inChunk = i < ts.length && ts[i] <= limit;
        const row = recent[j];
        if (!inChunk && !row) break;
        if (inChunk && (!row || ts[i] < row.ts)) {
          yield this.#stored(chunkPollAt(columns!, i++), tables);
        } else {
          yield row;
          j++;
        }
      }
      if (!step.found) return;
      cursor = limit;
    }
  }

  /** The longest table of each kind among polls with `from <= ts < to` (0 if none). */
  tableLengths(from: number, to: number): TableLengths {
    // One read transaction: a fold by another process cannot move rows past the queries.
    return this.#read(() => this.#tableLengths(from, to));
  }

  #tableLengths(from: number, to: number): TableLengths {
    const lengths: TableLengths = { calculations: 0, parameters: 0, visibilities: 0 };
    const widen = (poll: ChunkPoll) => {
      lengths.calculations = Math.max(lengths.calculations, poll.calculations?.length ?? 0);
      if (poll.parametersId !== null) {
        lengths.parameters = Math.max(lengths.parameters, this.#lengthOf(poll.parametersId));
      }
      if (poll.visibilitiesId !== null) {
        lengths.visibilities = Math.max(lengths.visibilities, this.#lengthOf(poll.visibilitiesId));
      }
    };
    const whole = this.#db.prepare(
      `SELECT max(calculations_length) AS c, max(parameters_length) AS p, max(visibilities_length) AS v
       FROM poll_chunks WHERE first_ts >= ? AND last_ts < ?`,
    ).get(from, to) as { c: number | null; p: number | null; v: number | null };
    lengths.calculations = whole.c ?? 0;
    lengths.parameters = whole.p ?? 0;
    lengths.visibilities = whole.v ?? 0;
    for (const poll of this.#edgePolls(from, to)) widen(poll);
    const recent = this.#db.prepare(
      `SELECT max(c.length) AS c, max(p.length) AS p, max(v.length) AS v FROM recent_polls r
       LEFT JOIN table_snapshots c ON c.id = r.calculations_base
       LEFT JOIN table_snapshots p ON p.id = r.parameters_id
       LEFT JOIN table_snapshots v ON v.id = r.visibilities_id
       WHERE r.ts >= ? AND r.ts < ?`,
    ).get(from, to) as { c: number | null; p: number | null; v: number | null };
    lengths.calculations = Math.max(lengths.calculations, recent.c ?? 0);
    lengths.parameters = Math.max(lengths.parameters, recent.p ?? 0);
    lengths.visibilities = Math.max(lengths.visibilities, recent.v ?? 0);
    return lengths;
  }

  /** Instant of the newest stored poll, or null. */
  lastPollTs(): number | null {
    const recent = (this.#db.prepare("SELECT max(ts) AS ts FROM recent_polls").get() as {
      ts: number | null;
    }).ts;
    const chunked = this.#chunks.end();
    if (recent === null) return chunked;
    return chunked === null ? recent : Math.max(recent, chunked);
  }

  /** How many polls are stored (with `from <= ts < to` if given). */
  countPolls(from = -Infinity, to = Infinity): number {
    return this.#read(() => this.#countPolls(from, to));
  }

  #countPolls(from: number, to: number): number {
    const lo = Number.isFinite(from) ? from : Number.MIN_SAFE_INTEGER;
    const hi = Number.isFinite(to) ? to : Number.MAX_SAFE_INTEGER;
    const whole = this.#db.prepare(
      "SELECT coalesce(sum(count), 0) AS n FROM poll_chunks WHERE first_ts >= ? AND last_ts < ?",
    ).get(lo, hi) as { n: number };
    const recent = this.#db.prepare(
      "SELECT count(*) AS n FROM recent_polls WHERE ts >= ? AND ts < ?",
    ).get(lo, hi) as { n: number };
    let count = Number(whole.n) + Number(recent.n);
    for (const _ of this.#edgePolls(lo, hi)) count++;
    return count;
  }

  getMeta(key: string): string | undefined {
    const row = this.#db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(key, value);
  }

  /** Runs `PRAGMA integrity_check`; "ok" when the file is sound. */
  integrityCheck(): string {
    const rows = this.#db.prepare("PRAGMA integrity_check").all() as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join("; ");
  }

  /** Folds every waiting recent row into chunks now (end of an ingest, benchmarks). */
  fold(): void {
    while (this.#foldOnce() > 0) { /* until no recent rows wait */ }
  }

  /**
   * Deletes one small batch of data older than `cutoff` (epoch ms) in one transaction:
   * one chunk, or up to PRUNE_BATCH_ROWS recent rows or gaps. Returns how many polls and
   * gaps went; 0 when nothing older is left. Call it in a loop, yielding in between
   * (pruneOlderThan does), so the poll loop gets the write lock between batches.
   */
  pruneBatch(cutoff: number): number {
    const removed = this.#write(() => {
      // The first chunk that starts before the cutoff holds the oldest polls to delete.
      const oldest = this.#chunks.nextEndingAfter(Number.MIN_SAFE_INTEGER, cutoff);
      if (oldest) {
        this.#chunks.delete(oldest.first_ts);
        // A chunk wholly past the cutoff goes without being read (even a damaged one).
        if (oldest.last_ts < cutoff) return oldest.count;
        const kept = this.#chunks.decode(oldest).filter((p) => p.ts >= cutoff);
        if (kept.length > 0) this.#chunks.insert(kept, (id) => this.#lengthOf(id));
        return oldest.count - kept.length;
      }
      const recent = Number(
        this.#db.prepare(
          "DELETE FROM recent_polls WHERE ts IN (SELECT ts FROM recent_polls WHERE ts < ? ORDER BY ts LIMIT ?)",
        ).run(cutoff, PRUNE_BATCH_ROWS).changes,
      );
      this.#recentCount -= recent;
      if (recent > 0) return recent;
      return Number(
        this.#db.prepare(
          "DELETE FROM gaps WHERE rowid IN (SELECT rowid FROM gaps WHERE ts < ? LIMIT ?)",
        ).run(cutoff, PRUNE_BATCH_ROWS).changes,
      );
    });
    if (removed === 0) this.#dropUnusedSnapshots();
    return removed;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
    this.#lock?.release();
  }

  /** Runs `work` in a read transaction (or the one already open): one consistent view. */
  #read<T>(work: () => T): T {
    if (this.#db.isTransaction) return work();
    this.#db.exec("BEGIN");
    try {
      const result = work();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Runs `work` in a write transaction with fresh caches; rolls back on any error. */
  #write<T>(work: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const version = Number(
        (this.#statements.dataVersion.get() as { data_version: number }).data_version,
      );
      if (this.#stale || version !== this.#dataVersion) this.#reload(version);
      const result = work();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      // Caches may name rows that were rolled back: reload them at the next write.
      this.#stale = true;
      this.#chunks.forget();
      throw error;
    }
  }

  #reload(version: number): void {
    this.#latest.clear();
    for (const kind of KINDS) {
      const row = this.#statements.latestSnapshot.get(kind) as
        | { id: number; kind: SnapshotKind; length: number; data: Uint8Array }
        | undefined;
      if (row) this.#latest.set(kind, { id: row.id, values: this.#snapshotValues(row.id)! });
    }
    this.#recentCount = Number((this.#statements.recentCount.get() as { n: number }).n);
    this.#chunkEnd = this.#chunks.end();
    this.#chunks.forget();
    this.#dataVersion = version;
    this.#stale = false;
  }

  /** Whether `ts` is already stored in a chunk (only instants inside a chunk's span can be). */
  #inChunks(ts: number): boolean {
    if (this.#chunkEnd === null || ts > this.#chunkEnd) return false;
    const chunk = this.#chunks.atOrBefore(ts);
    if (!chunk || chunk.last_ts < ts) return false;
    return this.#chunks.holds(chunk, ts);
  }

  /** The id of the snapshot equal to `values`, storing it if it differs from the latest. */
  #snapshotId(kind: SnapshotKind, values: Int32Array | Int8Array | null): number | null {
    const latest = this.#latest.get(kind);
    if (values === null) return latest?.id ?? null;
    if (latest && sameValues(latest.values, values)) return latest.id;
    return this.#newSnapshot(kind, values).id;
  }

  #newSnapshot(kind: SnapshotKind, values: Int32Array | Int8Array): Snapshot {
    const copy = values.slice();
    const id = Number(
      this.#statements.insertSnapshot.run(kind, copy.length, encodeSnapshot(copy)).lastInsertRowid,
    );
    const snapshot = { id, values: copy };
    this.#latest.set(kind, snapshot);
    this.#snapshots.set(id, copy);
    this.#snapshotLengths.set(id, copy.length);
    return snapshot;
  }

  /** The base id and sparse delta for a poll's calculations, starting a new base if needed. */
  #calculationsDelta(values: Int32Array): [number, Uint8Array] {
    let base = this.#latest.get("calculations") as { id: number; values: Int32Array } | undefined;
    if (
      !base || base.values.length !== values.length ||
      countChanged(values, base.values) > REBASE_AFTER_CHANGES
    ) {
      base = this.#newSnapshot("calculations", values) as { id: number; values: Int32Array };
    }
    return [base.id, encodeSparseDelta(values, base.values)];
  }

  /** Folds all waiting rows; a full disk just leaves them waiting for the next try. */
  #foldWaiting(): void {
    try {
      this.fold();
    } catch (error) {
      if (!isDiskFullError(error)) throw error;
    }
  }

  #insertRecent(polls: readonly Poll[]): number {
    let count = 0;
    for (const poll of polls) {
      // An instant already stored is refused before its tables are looked at: its
      // parameters must not become the ones in force for the polls after it.
      if (this.#inChunks(poll.ts) || this.#statements.recentHas.get(poll.ts)) continue;
      const parametersId = this.#snapshotId("parameters", poll.parameters);
      const visibilitiesId = this.#snapshotId("visibilities", poll.visibilities);
      let base: number | null = null;
      let delta: Uint8Array | null = null;
      if (poll.calculations) [base, delta] = this.#calculationsDelta(poll.calculations);
      const result = this.#statements.insertRecent.run(
        poll.ts,
        roundDuration(poll.durationMs),
        parametersId,
        visibilitiesId,
        base,
        delta,
      );
      count += Number(result.changes);
    }
    return count;
  }

  #insertIntoChunks(polls: readonly Poll[]): number {
    const seen = new Set<number>();
    const fresh: ChunkPoll[] = [];
    let sorted = true;
    for (const poll of polls) {
      if (seen.has(poll.ts) || this.#inChunks(poll.ts)) continue;
      seen.add(poll.ts);
      if (fresh.length > 0 && poll.ts < fresh[fresh.length - 1].ts) sorted = false;
      fresh.push({
        ts: poll.ts,
        durationMs: roundDuration(poll.durationMs),
        parametersId: this.#snapshotId("parameters", poll.parameters),
        visibilitiesId: this.#snapshotId("visibilities", poll.visibilities),
        calculations: poll.calculations,
      });
    }
    if (!sorted) fresh.sort((a, b) => a.ts - b.ts);
    this.#mergeIntoChunks(fresh);
    return fresh.length;
  }

  /**
   * Folds the oldest recent rows (up to one chunk's worth) into chunks in one
   * transaction. Returns how many rows were folded.
   */
  #foldOnce(): number {
    let folded = 0;
    this.#write(() => {
      const rows = this.#statements.oldestRecent.all(CHUNK_MAX_POLLS) as unknown as RecentRow[];
      if (rows.length === 0) return;
      this.#mergeIntoChunks(rows.map((row) => this.#fromRecent(row)));
      this.#statements.deleteRecentRange.run(rows[0].ts, rows[rows.length - 1].ts);
      const dropped = this.#statements.deleteUnusedBases.all(
        this.#latest.get("calculations")?.id ?? -1,
      ) as { id: number }[];
      // A base is written for good, so the cache never has to forget one for being stale,
      // but a service that rebases often would otherwise keep every base of its life.
      for (const { id } of dropped) this.#forgetSnapshot(id);
      folded = rows.length;
    });
    this.#recentCount -= folded;
    return folded;
  }

  /**
   * Puts polls (sorted, none stored yet) into chunks, inside the caller's transaction.
   * They go in groups that belong together: all polls before the next chunk go with the
   * chunk before them (appended if it has room, merged if they fall inside it), so
   * chunks never overlap and each chunk touched is rewritten once.
   */
  #mergeIntoChunks(polls: readonly ChunkPoll[]): void {
    let start = 0;
    while (start < polls.length) {
      const first = polls[start].ts;
      const before = this.#chunks.atOrBefore(first);
      const after = this.#chunks.after(first);
      let end = start + 1;
      while (end < polls.length && (!after || polls[end].ts < after.first_ts)) end++;
      // Polls after a damaged chunk start a new one rather than fail with it (polls
      // inside its span cannot be merged: that fails, naming the damaged chunk).
      const joinBefore = before !== undefined &&
        (first <= before.last_ts ||
          (before.count < CHUNK_MAX_POLLS && this.#chunks.readable(before)));
      const merged = mergeByTs(
        joinBefore ? this.#chunks.decode(before!) : [],
        polls.slice(start, end),
      );
      if (joinBefore) this.#chunks.delete(before!.first_ts);
      for (let i = 0; i < merged.length; i += CHUNK_MAX_POLLS) {
        this.#chunks.insert(merged.slice(i, i + CHUNK_MAX_POLLS), (id) => this.#lengthOf(id));
      }
      const newest = merged[merged.length - 1].ts;
      this.#chunkEnd = Math.max(this.#chunkEnd ?? newest, newest);
      start = end;
    }
  }

  /** Deletes parameter/visibility snapshots no poll refers to any more (after retention). */
  #dropUnusedSnapshots(): void {
    this.#write(() => {
      const used = new Set<number>();
      for (const snapshot of this.#latest.values()) used.add(snapshot.id);
      for (const row of this.#db.prepare("SELECT snapshot_ids FROM poll_chunks").iterate()) {
        for (const id of (row as { snapshot_ids: string }).snapshot_ids.split(",")) {
          if (id !== "") used.add(Number(id));
        }
      }
      const recent = this.#db.prepare(
        "SELECT DISTINCT parameters_id AS a, visibilities_id AS b, calculations_base AS c FROM recent_polls",
      );
      for (const row of recent.iterate()) {
        for (const id of Object.values(row as Record<string, number | null>)) {
          if (id !== null) used.add(id);
        }
      }
      const all = this.#db.prepare("SELECT id FROM table_snapshots").all() as { id: number }[];
      const drop = this.#db.prepare("DELETE FROM table_snapshots WHERE id = ?");
      for (const { id } of all) {
        if (!used.has(id)) {
          drop.run(id);
          this.#forgetSnapshot(id);
        }
      }
    });
  }

  /** Polls of the (at most two) chunks that straddle `from` or `to`, inside the range. */
  *#edgePolls(from: number, to: number): Generator<ChunkPoll> {
    const edges = new Map<number, ChunkRow>();
    const first = this.#chunks.nextEndingAfter(from - 1, to);
    if (first && first.first_ts < from) edges.set(first.first_ts, first);
    const last = this.#chunks.atOrBefore(to - 1);
    if (last && last.last_ts >= to && last.last_ts >= from) edges.set(last.first_ts, last);
    for (const chunk of edges.values()) {
      for (const poll of this.#chunks.decode(chunk)) {
        if (poll.ts >= from && poll.ts < to) yield poll;
      }
    }
  }

  #fromRecent(row: RecentRow): ChunkPoll {
    let calculations: Int32Array | null = null;
    if (row.calculations_base !== null) {
      const base = this.#snapshotValues(row.calculations_base) as Int32Array;
      calculations = decodeSparseDelta(row.calculations ?? new Uint8Array(), base);
    }
    return {
      ts: row.ts,
      durationMs: row.duration_ms,
      parametersId: row.parameters_id,
      visibilitiesId: row.visibilities_id,
      calculations,
    };
  }

  /** A poll with its tables resolved, from the snapshot cache or from `tables` if given. */
  #stored(poll: ChunkPoll, tables?: ReadonlyMap<number, Int32Array | Int8Array>): StoredPoll {
    const table = (id: number | null) =>
      tables ? (id === null ? null : tables.get(id) ?? null) : this.#snapshotValues(id);
    return {
      ts: poll.ts,
      durationMs: poll.durationMs,
      calculations: poll.calculations,
      parameters: table(poll.parametersId) as Int32Array | null,
      visibilities: table(poll.visibilitiesId) as Int8Array | null,
    };
  }

  #forgetSnapshot(id: number): void {
    this.#snapshots.delete(id);
    this.#snapshotLengths.delete(id);
  }

  /** How many decoded tables this connection keeps (tests: bounded however long it runs). */
  get cachedTables(): number {
    return this.#snapshots.size + this.#snapshotLengths.size;
  }

  #snapshotValues(id: number | null): Int32Array | Int8Array | null {
    if (id === null) return null;
    let values = this.#snapshots.get(id);
    if (!values) {
      const row = this.#statements.snapshot.get(id) as
        | { kind: SnapshotKind; length: number; data: Uint8Array }
        | undefined;
      if (!row) throw new StorageError(`snapshot ${id} is missing: the database is damaged`);
      values = row.kind === "visibilities"
        ? decodeInt8Snapshot(row.data)
        : decodeInt32Snapshot(row.data);
      this.#snapshots.set(id, values);
      this.#snapshotLengths.set(id, values.length);
    }
    return values;
  }

  #lengthOf(id: number): number {
    const known = this.#snapshotLengths.get(id);
    if (known !== undefined) return known;
    return this.#snapshotValues(id)?.length ?? 0;
  }
}

function roundDuration(durationMs: number | null | undefined): number | null {
  return durationMs == null ? null : Math.round(durationMs);
}

/** Two ts-sorted lists as one (instants are unique across them). */
function mergeByTs(a: readonly ChunkPoll[], b: readonly ChunkPoll[]): ChunkPoll[] {
  if (a.length === 0) return b.slice();
  if (b.length === 0) return a.slice();
  const out: ChunkPoll[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i].ts < b[j].ts)) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}

/**
 * Deletes everything older than `cutoff` in small batches, yielding to the event loop
 * between them so the poll loop keeps its rhythm. Returns how many polls and gaps went.
 */
export async function pruneOlderThan(
  storage: Storage,
  cutoff: number,
  signal?: AbortSignal,
): Promise<number> {
  let total = 0;
  while (!signal?.aborted) {
    const removed = storage.pruneBatch(cutoff);
    if (removed === 0) break;
    total += removed;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return total;
}
