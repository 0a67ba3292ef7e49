import {
  assert,
  assertEquals,
  assertSamePolls,
  assertThrows,
  expectedPolls,
  lengthsOf,
  plain,
  random,
  randomPolls,
  tempDb,
} from "./storage_helpers.ts";
import { DatabaseSync } from "node:sqlite";
import { basename, dirname } from "node:path";
import {
  DamagedChunkError,
  DatabaseLockedError,
  isDiskFullError,
  type Poll,
  pruneOlderThan,
  SCHEMA_VERSION,
  SchemaError,
  Storage,
} from "../src/storage.ts";
import { CHUNK_MAX_POLLS } from "../src/storage/codec.ts";
import { modelTables } from "../src/luxtronik/heatpump_model.ts";

Deno.test("round trip: random tables, int32 extremes, varying lengths, any range", async () => {
  const path = await tempDb();
  const polls = randomPolls(42, 2 * CHUNK_MAX_POLLS + 500);
  // A small fold threshold mixes recent rows and chunks; the batches mix both write paths.
  const storage = Storage.open(path, { foldThreshold: 97 });
  try {
    let stored = 0;
    for (let i = 0; i < polls.length; i += 211) {
      stored += i % 2 === 0
        ? storage.insertPolls(polls.slice(i, i + 211))
        : polls.slice(i, i + 211).filter((p) => storage.insertPoll(p)).length;
    }
    assertEquals(stored, polls.length);
    const expected = expectedPolls(polls);
    assertSamePolls(storage.polls(-Infinity, Infinity), expected);
    assertEquals(storage.countPolls(), polls.length);
    assertEquals(storage.lastPollTs(), expected[expected.length - 1].ts);

    const rand = random(7);
    const first = expected[0].ts;
    const span = expected[expected.length - 1].ts - first;
    for (let k = 0; k < 25; k++) {
      const from = first + Math.floor(rand() * span) - 1000;
      const to = from + Math.floor(rand() * span / 3) + 1;
      const inRange = expected.filter((p) => p.ts >= from && p.ts < to);
      assertSamePolls(storage.polls(from, to), inRange);
      assertEquals(storage.countPolls(from, to), inRange.length, `count ${from}..${to}`);
      assertEquals(storage.tableLengths(from, to), lengthsOf(inRange), `lengths ${from}..${to}`);
    }
    assertEquals(storage.integrityCheck(), "ok");
  } finally {
    storage.close();
  }
  // And the same after reopening, with everything folded into chunks.
  const reopened = Storage.open(path);
  try {
    reopened.fold();
    assertSamePolls(reopened.polls(-Infinity, Infinity), expectedPolls(polls));
  } finally {
    reopened.close();
  }
});

Deno.test("an instant already stored is refused, whether recent or in a chunk", async () => {
  const storage = Storage.open(await tempDb(), { foldThreshold: 10 });
  try {
    const polls = randomPolls(1, 25).sort((a, b) => a.ts - b.ts);
    assertEquals(storage.insertPolls(polls), 25);
    // 20 are in chunks, 5 are recent rows now.
    assertEquals(storage.insertPoll(polls[3]), false);
    assertEquals(storage.insertPoll(polls[24]), false);
    assertEquals(storage.insertPolls([...polls, { ...polls[0], ts: polls[0].ts + 1 }]), 1);
    assertEquals(storage.countPolls(), 26);
    // A poll in the middle of a chunk's span that is not there yet goes in.
    assert(storage.insertPoll({ ...polls[5], ts: polls[5].ts + 1 }));
    assertEquals(storage.countPolls(), 27);
  } finally {
    storage.close();
  }
});

Deno.test("a day of the dynamic model packs below 100 bytes per poll", async () => {
  const path = await tempDb();
  const storage = Storage.open(path);
  const start = Date.UTC(2026, 2, 28);
  for (let i = 0; i < 2880; i++) {
    storage.insertPoll({
      ts: start + i * 30_000,
      durationMs: 40,
      ...modelTables(start / 1000 + i * 30),
    });
  }
  storage.close();
  const size = Deno.statSync(path).size;
  assert(size / 2880 <= 100, `${size / 2880} bytes per poll`);
  const reopened = Storage.open(path);
  try {
    const polls = [...reopened.polls(start, start + 86_400_000)];
    assertEquals(polls.length, 2880);
    assertEquals(
      Array.from(polls[1234].calculations!),
      Array.from(modelTables(start / 1000 + 1234 * 30).calculations),
    );
    const firmware = String.fromCharCode(...polls[0].calculations!.subarray(81, 88));
    assertEquals(firmware, "V3.89.4");
    assertEquals(polls[0].durationMs, 40);
  } finally {
    reopened.close();
  }
});

Deno.test("DB_SYNCHRONOUS=normal checkpoints on its own schedule, so a power cut costs minutes", async () => {
  const mainFileSize = async (checkpointEveryMs: number) => {
    const path = await tempDb();
    const storage = Storage.open(path, { synchronous: "normal", checkpointEveryMs });
    try {
      const start = Date.UTC(2026, 2, 28);
      for (let i = 0; i < 20; i++) {
        storage.insertPoll({ ts: start + i * 30_000, ...modelTables(start / 1000 + i * 30) });
      }
      // Still open: whatever is in the main file got there by a checkpoint (synced).
      return Deno.statSync(path).size;
    } finally {
      storage.close();
    }
  };
  const unsynced = await mainFileSize(3_600_000);
  const synced = await mainFileSize(0);
  assert(
    synced > unsynced,
    `checkpointed: the polls reached the database file (${synced} > ${unsynced})`,
  );
});

Deno.test("a poll without calculations and a store without parameters read back as null", async () => {
  const storage = Storage.open(await tempDb());
  try {
    storage.insertPoll({ ts: 1000, calculations: null, parameters: null, visibilities: null });
    storage.insertPoll({
      ts: 2000,
      calculations: Int32Array.of(1, 2),
      parameters: null,
      visibilities: null,
    });
    const polls = [...storage.polls(0, 3000)].map(plain);
    assertEquals(polls, [
      { ts: 1000, durationMs: null, calculations: null, parameters: null, visibilities: null },
      { ts: 2000, durationMs: null, calculations: [1, 2], parameters: null, visibilities: null },
    ]);
    assertEquals(storage.tableLengths(0, 3000), {
      calculations: 2,
      parameters: 0,
      visibilities: 0,
    });
    assertEquals([...storage.polls(3000, 4000)], []);
    assertEquals(storage.tableLengths(3000, 4000), {
      calculations: 0,
      parameters: 0,
      visibilities: 0,
    });
    assertEquals(storage.lastPollTs(), 2000);
  } finally {
    storage.close();
  }
});

Deno.test("meta, gaps, empty store", async () => {
  const storage = Storage.open(await tempDb());
  try {
    assertEquals(storage.lastPollTs(), null);
    assertEquals(storage.countPolls(), 0);
    assertEquals(storage.getMeta("rollup.daily"), undefined);
    storage.setMeta("rollup.daily", "2026-03-28");
    storage.setMeta("rollup.daily", "2026-03-29");
    assertEquals(storage.getMeta("rollup.daily"), "2026-03-29");
    storage.insertGap(5000, "TimeoutError: no reply");
    storage.insertGaps([{ ts: 1000, reason: "a" }, { ts: 9000, reason: "b" }]);
    assertEquals(storage.gaps(1000, 9000), [
      { ts: 1000, reason: "a" },
      { ts: 5000, reason: "TimeoutError: no reply" },
    ]);
    assertEquals(storage.integrityCheck(), "ok");
  } finally {
    storage.close();
  }
});

/** The first format's schema and writes, as the code on main before this change had them. */
const VERSION_0_SCHEMA = `
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

function bytesOf(values: Int32Array | Int8Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
}

/** Writes `polls` the way the version-0 Storage did (snapshot when the table changed). */
function writeVersion0(path: string, polls: readonly Poll[]): void {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(VERSION_0_SCHEMA);
  const insertPoll = db.prepare(
    "INSERT OR IGNORE INTO polls (ts, duration_ms, calculations, parameters_id, visibilities_id) VALUES (?, ?, ?, ?, ?)",
  );
  const insertSnapshot = db.prepare("INSERT INTO snapshots (kind, data) VALUES (?, ?)");
  const latest = new Map<string, { id: number; bytes: string }>();
  const snapshotId = (kind: string, values: Int32Array | Int8Array | null) => {
    const last = latest.get(kind);
    if (values === null) return last?.id ?? null;
    const bytes = bytesOf(values);
    if (last && last.bytes === bytes.join()) return last.id;
    const id = Number(insertSnapshot.run(kind, bytes).lastInsertRowid);
    latest.set(kind, { id, bytes: bytes.join() });
    return id;
  };
  db.exec("BEGIN");
  for (const poll of polls) {
    insertPoll.run(
      poll.ts,
      poll.durationMs ?? null,
      poll.calculations ? bytesOf(poll.calculations) : null,
      snapshotId("parameters", poll.parameters),
      snapshotId("visibilities", poll.visibilities),
    );
  }
  db.exec("INSERT INTO gaps (ts, reason) VALUES (123, 'ConnectionClosedError: reset')");
  db.exec("INSERT INTO meta (key, value) VALUES ('rollup.daily', '2026-03-28')");
  db.exec("COMMIT");
  db.close();
}

Deno.test("a database of the first format is migrated without loss", async () => {
  const path = await tempDb("old.db");
  const polls = randomPolls(3, CHUNK_MAX_POLLS + 300);
  writeVersion0(path, polls);
  const sizeBefore = Deno.statSync(path).size;
  const storage = Storage.open(path);
  try {
    assertSamePolls(storage.polls(-Infinity, Infinity), expectedPolls(polls));
    assertEquals(storage.gaps(0, 1000), [{ ts: 123, reason: "ConnectionClosedError: reset" }]);
    assertEquals(storage.getMeta("rollup.daily"), "2026-03-28");
    assertEquals(storage.integrityCheck(), "ok");
    // New polls go on after the migrated ones.
    const next = { ...polls[0], ts: Math.max(...polls.map((p) => p.ts)) + 30_000 };
    assert(storage.insertPoll(next));
    assertEquals(storage.countPolls(), polls.length + 1);
  } finally {
    storage.close();
  }
  const db = new DatabaseSync(path);
  try {
    assertEquals(
      (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      SCHEMA_VERSION,
    );
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()
      .map((r) => (r as { name: string }).name);
    assert(!tables.includes("polls") && !tables.includes("snapshots"), tables.join());
  } finally {
    db.close();
  }
  assert(Deno.statSync(path).size < sizeBefore, "the migrated file is smaller");
});

Deno.test("a database of a newer schema is refused with a clear message", async () => {
  const path = await tempDb();
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  const error = assertThrows(() => Storage.open(path), SchemaError);
  assert(error.message.includes("newer than this lux-logger understands"), error.message);
});

Deno.test("another program's SQLite database is refused and left exactly as it was", async () => {
  // Names of ours with other columns, a view, a table of ours next to a foreign one.
  const foreign = [
    "CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('Ada')",
    "CREATE TABLE meta (id INTEGER PRIMARY KEY, info TEXT)",
    "CREATE TABLE polls (id INTEGER PRIMARY KEY, question TEXT, votes INTEGER)",
    "CREATE TABLE gaps (start INTEGER, stop INTEGER)",
    "CREATE VIEW answers AS SELECT 42 AS answer",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); CREATE TABLE notes (t TEXT)",
    "PRAGMA user_version = 1; CREATE TABLE settings (k TEXT, v TEXT)",
  ];
  for (const sql of foreign) {
    const path = await tempDb();
    const db = new DatabaseSync(path);
    db.exec(sql);
    db.close();
    const before = Deno.readFileSync(path);
    const error = assertThrows(() => Storage.open(path), SchemaError);
    assert(error.message.includes("is not a lux-logger database"), error.message);
    assertEquals(Deno.readFileSync(path), before, `not a byte changed: ${sql}`);
    assertEquals([...Deno.readDirSync(dirname(path))].map((e) => e.name), [basename(path)]);
  }
  // Ours, of both versions, and a new empty file open as before.
  const path = await tempDb();
  Storage.open(path).close();
  Storage.open(path).close();
  const old = await tempDb("old.db");
  writeVersion0(old, randomPolls(2, 10));
  Storage.open(old).close();
});

Deno.test("a file that is not a database gives a StorageError naming it", async () => {
  const path = await tempDb();
  Deno.writeTextFileSync(path, "this is not sqlite ".repeat(100));
  const error = assertThrows(() => Storage.open(path));
  assert(error.message.includes(`cannot open database ${path}`), error.message);
  assert(error.message.includes(`move ${path} aside`), error.message);
  assertEquals(Deno.readTextFileSync(path), "this is not sqlite ".repeat(100), "left untouched");
});

Deno.test("the writer lock admits one service per database and is released on close", async () => {
  const path = await tempDb();
  const first = Storage.open(path, { lock: true });
  try {
    const error = assertThrows(() => Storage.open(path, { lock: true }), DatabaseLockedError);
    assert(error.message.includes(`pid ${Deno.pid}`), error.message);
    assert(error.message.includes("already in use"), error.message);
    // Readers (export) need no lock.
    const reader = Storage.open(path);
    reader.close();
  } finally {
    first.close();
  }
  Storage.open(path, { lock: true }).close();
});

Deno.test("two connections writing the same file see each other's snapshots and folds", async () => {
  const path = await tempDb();
  const a = Storage.open(path, { foldThreshold: 5 });
  const b = Storage.open(path, { foldThreshold: 5 });
  try {
    const polls = randomPolls(9, 60).sort((x, y) => x.ts - y.ts);
    for (let i = 0; i < polls.length; i++) {
      // Fresh parameter tables every few polls, written by either connection.
      const poll = i % 7 === 0 ? { ...polls[i], parameters: Int32Array.of(i, i + 1) } : polls[i];
      polls[i] = poll;
      assert((i % 3 === 0 ? a : b).insertPoll(poll));
    }
    assertSamePolls(a.polls(-Infinity, Infinity), expectedPolls(polls));
    assertSamePolls(b.polls(-Infinity, Infinity), expectedPolls(polls));
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("retention deletes older polls and gaps in batches, and unused snapshots", async () => {
  const path = await tempDb();
  const storage = Storage.open(path, { foldThreshold: 50 });
  try {
    const polls = randomPolls(5, CHUNK_MAX_POLLS + 700).sort((a, b) => a.ts - b.ts);
    storage.insertPolls(polls.slice(0, polls.length - 30));
    storage.insertPolls(polls.slice(polls.length - 30));
    for (const poll of polls.slice(0, 700)) storage.insertGap(poll.ts, "gap");
    const cutoff = polls[1000].ts + 1;
    let batches = 0;
    for (;;) {
      const removed = storage.pruneBatch(cutoff);
      if (removed === 0) break;
      assert(removed <= CHUNK_MAX_POLLS, `batch of ${removed}`);
      batches++;
    }
    assert(batches >= 2, `${batches} batches`);
    assertSamePolls(
      storage.polls(-Infinity, Infinity),
      expectedPolls(polls).filter((p) => p.ts >= cutoff),
    );
    assertEquals(storage.gaps(-Infinity, Infinity).length, 0);
    assertEquals(storage.integrityCheck(), "ok");
    // Everything after a later cutoff, via the yielding loop.
    const later = polls[polls.length - 10].ts;
    assertEquals(await pruneOlderThan(storage, later), polls.length - 10 - 1001);
    assertEquals(storage.countPolls(), 10);
    assertSamePolls(storage.polls(-Infinity, Infinity), expectedPolls(polls).slice(-10));
  } finally {
    storage.close();
  }
  const db = new DatabaseSync(path);
  const kinds = db.prepare("SELECT kind, count(*) AS n FROM table_snapshots GROUP BY kind").all();
  db.close();
  for (const row of kinds as { kind: string; n: number }[]) {
    assert(row.n <= 3, `${row.n} ${row.kind} snapshots left`);
  }
});

Deno.test("a full database (max_page_count) refuses writes without damage, then takes them", async () => {
  const path = await tempDb();
  const storage = Storage.open(path, { maxPageCount: 16 });
  try {
    const polls = randomPolls(11, 400).sort((a, b) => a.ts - b.ts);
    let stored = 0;
    let error: unknown;
    for (const poll of polls) {
      try {
        storage.insertPoll(poll);
        stored++;
      } catch (e) {
        error = e;
        break;
      }
    }
    assert(isDiskFullError(error), String(error));
    assertEquals(storage.integrityCheck(), "ok");
    assertEquals(storage.countPolls(), stored);
    storage.setMaxPageCount(100_000);
    assertEquals(storage.insertPolls(polls), polls.length - stored);
    assertSamePolls(storage.polls(-Infinity, Infinity), expectedPolls(polls));
  } finally {
    storage.close();
  }
});

Deno.test("isDiskFullError recognises SQLite's and the file system's wording only", () => {
  assert(isDiskFullError(new Error("database or disk is full")));
  assert(isDiskFullError(new Error("No space left on device (os error 28)")));
  assert(!isDiskFullError(new Error("database is locked")));
  assert(!isDiskFullError("database or disk is full"));
});

Deno.test("a refused duplicate instant leaves the tables in force as they were", async () => {
  const table = (n: number) => Int32Array.of(n, n);
  const polls = (count: number): Poll[] => [
    {
      ts: 1000,
      calculations: Int32Array.of(1),
      parameters: table(1),
      visibilities: Int8Array.of(1),
    },
    // Same instant, other tables: refused, and its tables must not count as last known.
    {
      ts: 1000,
      calculations: Int32Array.of(2),
      parameters: table(2),
      visibilities: Int8Array.of(2),
    },
    ...Array.from({ length: count }, (_, i) => ({
      ts: 2000 + i,
      calculations: Int32Array.of(3),
      parameters: null,
      visibilities: null,
    })),
  ];
  // A small batch goes through recent rows, a big one straight into chunks: same result.
  for (const count of [3, 300]) {
    const storage = Storage.open(await tempDb());
    try {
      assertEquals(storage.insertPolls(polls(count)), count + 1);
      assertEquals(storage.insertPoll({ ...polls(0)[1], ts: 2000 }), false);
      assertSamePolls(
        storage.polls(-Infinity, Infinity),
        expectedPolls(polls(count).slice(0, 1).concat(polls(count).slice(2))),
      );
    } finally {
      storage.close();
    }
  }
});

Deno.test("a reader in another process streams on while the service folds and drops old bases", async () => {
  const path = await tempDb();
  const writer = Storage.open(path, { foldThreshold: 30 });
  const reader = Storage.open(path); // `export` or `rollup` while the service runs
  try {
    // Three calculation bases (each poll changes more than REBASE_AFTER_CHANGES entries
    // of the one before), all still used by recent rows.
    const polls: Poll[] = [];
    for (let base = 0; base < 3; base++) {
      for (let k = 0; k < 9; k++) {
        polls.push({
          ts: 1_000_000 + polls.length * 1000,
          calculations: Int32Array.from({ length: 100 }, (_, j) => (j < 60 ? base * 1000 + j : k)),
          parameters: null,
          visibilities: null,
        });
      }
    }
    for (const poll of polls) writer.insertPoll(poll);
    const stream = reader.polls(-Infinity, Infinity);
    const read = [stream.next().value!];
    // The writer folds all rows into a chunk and deletes the bases only they used.
    const more = polls.slice(-3).map((p) => ({ ...p, ts: p.ts + 100_000 }));
    for (const poll of more) writer.insertPoll(poll);
    for (const poll of stream) read.push(poll);
    assertSamePolls(read, expectedPolls(polls));
    assertSamePolls(reader.polls(-Infinity, Infinity), expectedPolls([...polls, ...more]));
  } finally {
    reader.close();
    writer.close();
  }
});

Deno.test("a service that rebases often keeps a bounded cache of decoded tables", async () => {
  const storage = Storage.open(await tempDb(), { foldThreshold: 20, synchronous: "normal" });
  try {
    const parameters = Int32Array.of(1, 2, 3);
    const visibilities = Int8Array.of(1);
    for (let i = 0; i < 2_000; i++) {
      // Every poll changes more entries than a delta may carry: each one starts a base.
      const calculations = Int32Array.from({ length: 120 }, (_, j) => i * 7 + j);
      storage.insertPoll({ ts: 1_000_000 + i * 1000, calculations, parameters, visibilities });
    }
    // The bases of recent rows (up to the fold threshold) and the two snapshots, not 2,000.
    assert(storage.cachedTables <= 2 * (20 + 3), `${storage.cachedTables} tables cached`);
    assertEquals(storage.countPolls(), 2_000);
  } finally {
    storage.close();
  }
});

Deno.test("a damaged chunk: polling and folding go on, reads name it, retention removes it", async () => {
  const path = await tempDb();
  const polls = randomPolls(13, 600).sort((a, b) => a.ts - b.ts);
  const storage = Storage.open(path, { foldThreshold: 50 });
  try {
    storage.insertPolls(polls.slice(0, 500)); // one chunk of 500, not full
    const db = new DatabaseSync(path);
    // Bit rot inside the blob: SQLite's integrity_check still says "ok".
    db.exec("UPDATE poll_chunks SET data = substr(data, 1, 20) || randomblob(length(data) - 20)");
    db.close();
    // Later polls are stored and folded into a new chunk instead of failing with the old one.
    for (const poll of polls.slice(500)) assert(storage.insertPoll(poll));
    const later = polls[500].ts;
    assertSamePolls(storage.polls(later, Infinity), expectedPolls(polls).slice(500));
    const error = assertThrows(() => [...storage.polls(-Infinity, Infinity)], DamagedChunkError);
    assert(error.message.includes(`500 polls stored for ${new Date(polls[0].ts).toISOString()}`));
    assert(error.message.includes("cannot be read"), error.message);
    // Once all its polls are past retention, the damaged chunk goes without being read.
    assertEquals(await pruneOlderThan(storage, later), 500);
    assertSamePolls(storage.polls(-Infinity, Infinity), expectedPolls(polls).slice(500));
  } finally {
    storage.close();
  }
});
