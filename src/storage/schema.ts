/**
 * The schema and its versions (PRAGMA user_version). Opening a database brings it to
 * SCHEMA_VERSION in one transaction, so a migration either happens whole or not at all.
 *
 * - version 0: the first format: one `polls` row per poll with the calculations as a raw
 *   int32 blob, `snapshots` of parameters/visibilities stored raw.
 * - version 1: recent polls as small deltas (`recent_polls`), folded into compressed
 *   column-wise chunks (`poll_chunks`); snapshots deflated (`table_snapshots`).
 */
import type { DatabaseSync } from "node:sqlite";
import { ChunkTable } from "./chunk_table.ts";
import { CHUNK_MAX_POLLS, type ChunkPoll, encodeSnapshot } from "./codec.ts";

export const SCHEMA_VERSION = 1;

export type SnapshotKind = "parameters" | "visibilities" | "calculations";

const SHARED_TABLES = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gaps (ts INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS gaps_ts ON gaps(ts);
`;

const VERSION_1_TABLES = `
CREATE TABLE table_snapshots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  length INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX table_snapshots_kind ON table_snapshots(kind, id);
CREATE TABLE recent_polls (
  ts INTEGER PRIMARY KEY,
  duration_ms INTEGER,
  parameters_id INTEGER,
  visibilities_id INTEGER,
  calculations_base INTEGER,
  calculations BLOB
);
CREATE TABLE poll_chunks (
  first_ts INTEGER PRIMARY KEY,
  last_ts INTEGER NOT NULL,
  count INTEGER NOT NULL,
  calculations_length INTEGER NOT NULL,
  parameters_length INTEGER NOT NULL,
  visibilities_length INTEGER NOT NULL,
  snapshot_ids TEXT NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX poll_chunks_last_ts ON poll_chunks(last_ts);
`;

export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SchemaError";
  }
}

function userVersion(db: DatabaseSync): number {
  return Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
}

function hasTable(db: DatabaseSync, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !==
    undefined;
}

/**
 * The tables (and their columns, in order) of each schema version, as the code that wrote
 * them created them. A new SCHEMA_VERSION adds its entry here.
 */
const TABLES_OF_VERSION: Readonly<Record<number, Readonly<Record<string, readonly string[]>>>> = {
  0: {
    meta: ["key", "value"],
    gaps: ["ts", "reason"],
    snapshots: ["id", "kind", "data"],
    polls: ["ts", "duration_ms", "calculations", "parameters_id", "visibilities_id"],
  },
  1: {
    meta: ["key", "value"],
    gaps: ["ts", "reason"],
    table_snapshots: ["id", "kind", "length", "data"],
    recent_polls: [
      "ts",
      "duration_ms",
      "parameters_id",
      "visibilities_id",
      "calculations_base",
      "calculations",
    ],
    poll_chunks: [
      "first_ts",
      "last_ts",
      "count",
      "calculations_length",
      "parameters_length",
      "visibilities_length",
      "snapshot_ids",
      "data",
    ],
  },
};

/**
 * Refuses, before anything is written (even the journal mode), a file this lux-logger must
 * not open: one of a newer schema, or one that another program made. A lux-logger database
 * holds exactly the tables of its version, with their columns; a new or empty file holds
 * none. Anything else (a foreign `meta` or `polls` table, a view) leaves the file as it is.
 */
export function refuseForeignDatabase(db: DatabaseSync, path: string): void {
  const version = userVersion(db);
  if (version > SCHEMA_VERSION) {
    throw new SchemaError(
      `database ${path} has schema version ${version}, newer than this lux-logger understands ` +
        `(${SCHEMA_VERSION}); run a newer lux-logger or point CACHE_PATH at another file`,
    );
  }
  const objects = db.prepare(
    "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
  ).all() as { name: string; type: string }[];
  if (version === 0 && objects.length === 0) return; // a new file
  const expected = TABLES_OF_VERSION[version] ?? {};
  const columns = (table: string) =>
    (db.prepare(`PRAGMA table_info("${table.replaceAll('"', '""')}")`).all() as { name: string }[])
      .map((c) => c.name).join();
  const own = objects.length === Object.keys(expected).length &&
    objects.every((o) =>
      o.type === "table" && Object.hasOwn(expected, o.name) &&
      columns(o.name) === expected[o.name].join()
    );
  if (!own) {
    const names = objects.map((o) => o.name).join(", ");
    throw new SchemaError(
      `${path} is not a lux-logger database (it holds ${names}); it was left as it is: ` +
        `point CACHE_PATH or --db at a lux-logger database or a new file`,
    );
  }
}

/**
 * Brings the database to SCHEMA_VERSION. Returns true when it converted data of an older
 * format, so the caller can give the space it left behind back to the disk (VACUUM).
 */
export function migrate(db: DatabaseSync): boolean {
  // refuseForeignDatabase has refused newer versions and other programs' files.
  if (userVersion(db) === SCHEMA_VERSION) return false;
  let converted = false;
  db.exec("BEGIN IMMEDIATE");
  try {
    // Another process may have migrated while we waited for the write lock.
    const current = userVersion(db);
    if (current === 0) {
      db.exec(SHARED_TABLES);
      db.exec(VERSION_1_TABLES);
      if (hasTable(db, "polls")) {
        migrateFromVersion0(db);
        converted = true;
      }
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    }
    db.exec("COMMIT");
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
  return converted;
}

/** Version 0 -> 1: snapshots keep their ids (deflated), polls go straight into chunks. */
function migrateFromVersion0(db: DatabaseSync): void {
  const lengths = new Map<number, number>();
  const insertSnapshot = db.prepare(
    "INSERT INTO table_snapshots (id, kind, length, data) VALUES (?, ?, ?, ?)",
  );
  for (const row of db.prepare("SELECT id, kind, data FROM snapshots ORDER BY id").iterate()) {
    const { id, kind, data } = row as { id: number; kind: string; data: Uint8Array };
    const table = kind === "visibilities"
      ? new Int8Array(data.slice().buffer)
      : new Int32Array(data.slice().buffer);
    lengths.set(id, table.length);
    insertSnapshot.run(id, kind, table.length, encodeSnapshot(table));
  }
  const chunks = new ChunkTable(db);
  const lengthOf = (id: number) => lengths.get(id) ?? 0;
  let batch: ChunkPoll[] = [];
  const rows = db.prepare(
    "SELECT ts, duration_ms, calculations, parameters_id, visibilities_id FROM polls ORDER BY ts",
  ).iterate();
  for (const row of rows) {
    const r = row as {
      ts: number;
      duration_ms: number | null;
      calculations: Uint8Array | null;
      parameters_id: number | null;
      visibilities_id: number | null;
    };
    batch.push({
      ts: r.ts,
      durationMs: r.duration_ms === null ? null : Math.round(r.duration_ms),
      parametersId: r.parameters_id,
      visibilitiesId: r.visibilities_id,
      calculations: r.calculations ? new Int32Array(r.calculations.slice().buffer) : null,
    });
    if (batch.length === CHUNK_MAX_POLLS) {
      chunks.insert(batch, lengthOf);
      batch = [];
    }
  }
  if (batch.length > 0) chunks.insert(batch, lengthOf);
  db.exec("DROP TABLE polls; DROP TABLE snapshots;");
}
