/**
 * The SQLite store (node:sqlite): every poll's raw tables with its UTC instant, the
 * gaps (failed polls with their reason) and a small key/value table for service state
 * such as the last completed roll-up window.
 *
 * Raw integers are stored, not decoded values, so decoding fixes apply to all history.
 * Parameters and visibilities rarely change: each distinct table is stored once as a
 * snapshot and polls refer to the one in force.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

/** One poll as read (or ingested). `null` = that table was not read in this poll. */
export interface Poll {
  /** Unix epoch milliseconds (UTC). */
  ts: number;
  parameters: Int32Array | null;
  calculations: Int32Array | null;
  visibilities: Int8Array | null;
  durationMs?: number | null;
}

/** A stored poll with the tables in force at that instant (`null`: never read so far). */
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

type SnapshotKind = "parameters" | "visibilities";

export class StorageError extends Error {}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS polls (
  ts INTEGER PRIMARY KEY,
  duration_ms INTEGER,
  calculations BLOB,
  parameters_id INTEGER REFERENCES snapshots(id),
  visibilities_id INTEGER REFERENCES snapshots(id)
);
CREATE TABLE IF NOT EXISTS gaps (ts INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS gaps_ts ON gaps(ts);
`;

function toBytes(values: Int32Array | Int8Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
}

function int32From(bytes: Uint8Array): Int32Array {
  return new Int32Array(bytes.slice().buffer);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Storage {
  readonly #db: DatabaseSync;
  readonly #insertPoll: StatementSync;
  readonly #insertSnapshot: StatementSync;
  readonly #snapshotById: StatementSync;
  /** The latest snapshot of each kind, so an unchanged table costs no write. */
  readonly #latest = new Map<SnapshotKind, { id: number; bytes: Uint8Array }>();

  private constructor(db: DatabaseSync) {
    this.#db = db;
    this.#insertPoll = db.prepare(
      "INSERT OR IGNORE INTO polls (ts, duration_ms, calculations, parameters_id, visibilities_id) VALUES (?, ?, ?, ?, ?)",
    );
    this.#insertSnapshot = db.prepare("INSERT INTO snapshots (kind, data) VALUES (?, ?)");
    this.#snapshotById = db.prepare("SELECT data FROM snapshots WHERE id = ?");
    this.#loadLatestSnapshots();
  }

  /** Opens (and creates, with its folder) the database at `path`. */
  static open(path: string): Storage {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path);
      db.exec("PRAGMA busy_timeout = 5000");
      db.exec("PRAGMA journal_mode = WAL");
      // FULL: a reading reported as stored survives a power cut (see README, Durability).
      db.exec("PRAGMA synchronous = FULL");
      db.exec(SCHEMA);
    } catch (error) {
      throw new StorageError(`cannot open database ${path}: ${(error as Error).message}`);
    }
    return new Storage(db);
  }

  /** Stores one poll in its own transaction. Returns false if that instant was already stored. */
  insertPoll(poll: Poll): boolean {
    return this.insertPolls([poll]) === 1;
  }

  /** Stores polls in one transaction; returns how many were new. */
  insertPolls(polls: Iterable<Poll>): number {
    let inserted = 0;
    this.#transaction(() => {
      for (const poll of polls) {
        const parametersId = this.#snapshotId("parameters", poll.parameters);
        const visibilitiesId = this.#snapshotId("visibilities", poll.visibilities);
        const result = this.#insertPoll.run(
          poll.ts,
          poll.durationMs ?? null,
          poll.calculations ? toBytes(poll.calculations) : null,
          parametersId,
          visibilitiesId,
        );
        inserted += Number(result.changes);
      }
    });
    return inserted;
  }

  insertGap(ts: number, reason: string): void {
    this.#db.prepare("INSERT INTO gaps (ts, reason) VALUES (?, ?)").run(ts, reason);
  }

  gaps(from: number, to: number): Gap[] {
    return this.#db.prepare("SELECT ts, reason FROM gaps WHERE ts >= ? AND ts < ? ORDER BY ts")
      .all(from, to) as unknown as Gap[];
  }

  /** Polls with `from <= ts < to` in time order, streamed row by row. */
  *polls(from: number, to: number): Generator<StoredPoll> {
    const cache = new Map<number, Uint8Array>();
    const snapshot = (id: number | null): Uint8Array | null => {
      if (id === null) return null;
      let bytes = cache.get(id);
      if (!bytes) {
        bytes = (this.#snapshotById.get(id) as { data: Uint8Array }).data;
        cache.set(id, bytes);
      }
      return bytes;
    };
    const rows = this.#db.prepare(
      "SELECT ts, duration_ms, calculations, parameters_id, visibilities_id FROM polls WHERE ts >= ? AND ts < ? ORDER BY ts",
    ).iterate(from, to);
    for (const row of rows) {
      const r = row as {
        ts: number;
        duration_ms: number | null;
        calculations: Uint8Array | null;
        parameters_id: number | null;
        visibilities_id: number | null;
      };
      const parameters = snapshot(r.parameters_id);
      const visibilities = snapshot(r.visibilities_id);
      yield {
        ts: r.ts,
        durationMs: r.duration_ms,
        calculations: r.calculations ? int32From(r.calculations) : null,
        parameters: parameters ? int32From(parameters) : null,
        visibilities: visibilities ? new Int8Array(visibilities.slice().buffer) : null,
      };
    }
  }

  /** The longest table of each kind among polls with `from <= ts < to` (0 if none). */
  tableLengths(from: number, to: number): Record<"calculations" | SnapshotKind, number> {
    const row = this.#db.prepare(`
      SELECT max(length(p.calculations)) / 4 AS calculations,
             max(length(sp.data)) / 4 AS parameters,
             max(length(sv.data)) AS visibilities
      FROM polls p
      LEFT JOIN snapshots sp ON sp.id = p.parameters_id
      LEFT JOIN snapshots sv ON sv.id = p.visibilities_id
      WHERE p.ts >= ? AND p.ts < ?`).get(from, to) as Record<string, number | null>;
    return {
      calculations: row.calculations ?? 0,
      parameters: row.parameters ?? 0,
      visibilities: row.visibilities ?? 0,
    };
  }

  /** Instant of the newest stored poll, or null. */
  lastPollTs(): number | null {
    const row = this.#db.prepare("SELECT max(ts) AS ts FROM polls").get() as { ts: number | null };
    return row.ts;
  }

  countPolls(): number {
    return Number((this.#db.prepare("SELECT count(*) AS n FROM polls").get() as { n: number }).n);
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

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** The id of the snapshot equal to `values`, storing it if it differs from the latest. */
  #snapshotId(kind: SnapshotKind, values: Int32Array | Int8Array | null): number | null {
    const latest = this.#latest.get(kind);
    if (values === null) return latest?.id ?? null;
    const bytes = toBytes(values);
    if (latest && sameBytes(latest.bytes, bytes)) return latest.id;
    const id = Number(this.#insertSnapshot.run(kind, bytes).lastInsertRowid);
    this.#latest.set(kind, { id, bytes });
    return id;
  }

  #transaction(work: () => void): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      work();
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      // A rolled-back snapshot must not be referenced by the next poll.
      this.#loadLatestSnapshots();
      throw error;
    }
  }

  #loadLatestSnapshots(): void {
    this.#latest.clear();
    const latest = this.#db.prepare(
      "SELECT id, data FROM snapshots WHERE kind = ? ORDER BY id DESC LIMIT 1",
    );
    for (const kind of ["parameters", "visibilities"] as const) {
      const row = latest.get(kind) as { id: number; data: Uint8Array } | undefined;
      if (row) this.#latest.set(kind, { id: row.id, bytes: row.data });
    }
  }
}
