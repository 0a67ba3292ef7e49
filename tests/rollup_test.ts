import assert from "node:assert/strict";
import { basename, join } from "node:path";
import FakeTimers from "@sinonjs/fake-timers";
import { Storage } from "../src/storage.ts";
import { createLogger, type Logger } from "../src/log.ts";
import {
  isRollupTempName,
  LAST_DATE_KEY,
  LAST_END_KEY,
  type RollupOptions,
  Rollups,
  startRollupSchedule,
} from "../src/rollup.ts";
import { writeFileAtomically } from "../src/atomic_file.ts";
import { type CronFunction, parseCsvTime } from "../src/scheduler.ts";
import { csvColumns } from "../src/luxtronik/decode.ts";

const BERLIN = "Europe/Berlin";
const MINUTE_MS = 60_000;

interface Fixture {
  dir: string;
  storage: Storage;
  options: RollupOptions;
  logs: string[];
  logger: Logger;
  [Symbol.asyncDispose](): Promise<void>;
}

async function fixture(overrides: Partial<RollupOptions> = {}): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "rollup_test_" });
  const storage = Storage.open(join(dir, "cache.db"));
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", write: (line) => logs.push(line) });
  const options: RollupOptions = {
    schedule: { timeZone: BERLIN, csvTime: parseCsvTime("07:00"), weeklyDay: "mon" },
    dirs: { daily: join(dir, "daily"), weekly: join(dir, "weekly") },
    retentionDays: 3650,
    csv: { timeZone: BERLIN },
    fields: null,
    ...overrides,
  };
  return {
    dir,
    storage,
    options,
    logs,
    logger,
    async [Symbol.asyncDispose]() {
      storage.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A poll whose first calculation carries its own instant in seconds, to trace it into files. */
function poll(ts: number) {
  const calculations = new Int32Array(12);
  calculations[0] = Math.floor(ts / 1000) % 2_000_000_000;
  calculations[10] = 215 + (ts / MINUTE_MS) % 100;
  return { ts, calculations, parameters: new Int32Array([0, 1, 2, 3]), visibilities: null };
}

const ms = (iso: string) => Temporal.Instant.from(iso).epochMilliseconds;

/** Polls every `stepMs` in [from, to), plus polls exactly at, just before and just after each 07:00. */
function pollTimes(from: number, to: number, stepMs: number): number[] {
  const times = new Set<number>();
  for (let ts = from; ts < to; ts += stepMs) times.add(ts);
  let day = Temporal.Instant.fromEpochMilliseconds(from).toZonedDateTimeISO(BERLIN).toPlainDate();
  for (;;) {
    const boundary = day.toZonedDateTime({ timeZone: BERLIN, plainTime: "07:00" })
      .epochMilliseconds;
    if (boundary >= to) break;
    for (const ts of [boundary - 1000, boundary, boundary + 1000]) if (ts >= from) times.add(ts);
    day = day.add({ days: 1 });
  }
  return [...times].sort((a, b) => a - b);
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

/** Rows of a CSV file (header first), split on the delimiter; our test values never need quotes. */
async function readCsv(path: string, delimiter = ","): Promise<string[][]> {
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("\r\n"), `${path} ends with a complete line`);
  return text.slice(0, -2).split("\r\n").map((line) => line.split(delimiter));
}

/** The poll instants of every roll-up file in `dir` (one entry per row, repeats kept). */
async function rowInstants(dir: string): Promise<number[]> {
  const instants: number[] = [];
  for (const name of await listDir(dir)) {
    const rows = await readCsv(join(dir, name));
    instants.push(...rows.slice(1).map((r) => Temporal.Instant.from(r[0]).epochMilliseconds));
  }
  return instants;
}

/** A cron stand-in: the test fires the registered handler itself. */
function manualCron() {
  const handlers: (() => Promise<void> | void)[] = [];
  const cron: CronFunction = (_name, schedule, _options, handler) => {
    assert.equal(schedule, "* * * * *");
    handlers.push(handler);
    return Promise.resolve();
  };
  return { cron, fire: () => Promise.all(handlers.map((h) => h())) };
}

/**
 * Runs the service's roll-up schedule under a fake clock from `startIso` to `endIso`: polls
 * arrive as time passes (stored before the tick of the same minute, as the poll loop does), and
 * the cron handler fires every `tickMinutes`. Returns every poll instant stored.
 */
async function runSchedule(
  f: Fixture,
  startIso: string,
  endIso: string,
  history: number[],
  tickMinutes = 5,
): Promise<number[]> {
  const clock = FakeTimers.createClock(ms(startIso));
  const now = () => Temporal.Instant.fromEpochMilliseconds(clock.now);
  const end = ms(endIso);
  const times = history.filter((ts) => ts <= clock.now);
  f.storage.insertPolls(times.map(poll));
  const upcoming = history.filter((ts) => ts > clock.now && ts <= end);
  const rollups = new Rollups(f.storage, f.options, f.logger);
  const controller = new AbortController();
  const { cron, fire } = manualCron();
  await startRollupSchedule(rollups, controller.signal, { cron, now });
  let next = 0;
  while (clock.now < end) {
    clock.tick(tickMinutes * MINUTE_MS);
    const arrived: number[] = [];
    while (next < upcoming.length && upcoming[next] <= clock.now) arrived.push(upcoming[next++]);
    f.storage.insertPolls(arrived.map(poll));
    times.push(...arrived);
    await fire();
  }
  controller.abort();
  return times;
}

/** Every poll of [from, to) is in exactly one daily file, and each file holds only its window. */
async function assertEveryPollOnce(f: Fixture, times: number[], files: string[]) {
  const seen = new Map<number, string>();
  for (const name of files) {
    const rows = await readCsv(join(f.options.dirs.daily, name));
    assert.equal(rows[0][0], "timestamp");
    for (const row of rows.slice(1)) {
      const ts = Temporal.Instant.from(row[0]).epochMilliseconds;
      assert.equal(
        Number(row[1]),
        Math.floor(ts / 1000) % 2_000_000_000,
        "row belongs to its poll",
      );
      assert.ok(!seen.has(ts), `${row[0]} in ${seen.get(ts)} and ${name}`);
      seen.set(ts, name);
    }
  }
  const first = files[0].slice(0, 10);
  const last = files.at(-1)!.slice(0, 10);
  const from = Temporal.PlainDate.from(first).toZonedDateTime({
    timeZone: BERLIN,
    plainTime: "07:00",
  });
  const to = Temporal.PlainDate.from(last).add({ days: 1 })
    .toZonedDateTime({ timeZone: BERLIN, plainTime: "07:00" });
  const expected = times.filter((ts) => ts >= from.epochMilliseconds && ts < to.epochMilliseconds);
  assert.equal(seen.size, expected.length, "no poll missing");
  for (const ts of expected) assert.ok(seen.has(ts), `poll ${new Date(ts).toISOString()} missing`);
}

/** Hours between the first and last possible instant of a daily file, from its name. */
function spanHours(name: string): number {
  const start = Temporal.PlainDate.from(name.slice(0, 10));
  const at7 = (d: Temporal.PlainDate) =>
    d.toZonedDateTime({ timeZone: BERLIN, plainTime: "07:00" });
  return at7(start).until(at7(start.add({ days: 1 })), { largestUnit: "hours" }).hours;
}

for (
  const [season, startIso, endIso, dstFile, dstHours] of [
    ["March", "2026-03-22T06:00:30Z", "2026-04-04T06:30:00Z", "2026-03-28_daily.csv", 23],
    ["October", "2026-10-18T05:00:30Z", "2026-10-31T06:30:00Z", "2026-10-24_daily.csv", 25],
  ] as const
) {
  Deno.test(`schedule over 14 days across the ${season} DST change: every poll in exactly one daily file`, async () => {
    await using f = await fixture();
    const history = pollTimes(ms(startIso) - 2 * 86_400_000, ms(endIso), 10 * MINUTE_MS);
    const times = await runSchedule(f, startIso, endIso, history);
    const files = await listDir(f.options.dirs.daily);
    assert.equal(files.length, 14, files.join(" "));
    await assertEveryPollOnce(f, times, files);
    assert.ok(files.includes(dstFile));
    assert.equal(spanHours(dstFile), dstHours);
    const dstRows = await readCsv(join(f.options.dirs.daily, dstFile));
    // 10-minute polls over the window plus the 06:59:59 one and the 07:00:00 start (07:00:01 too).
    assert.equal(dstRows.length - 1, dstHours * 6 + 3);
    assert.equal(
      f.logs.filter((l) => l.includes("roll-up written") && l.includes("daily")).length,
      14,
    );
    const weekly = await listDir(f.options.dirs.weekly);
    assert.equal(weekly.length, 3, weekly.join(" "));
    assert.ok(weekly.every((name) => Temporal.PlainDate.from(name.slice(0, 10)).dayOfWeek === 1));
  });
}

Deno.test("downtime over three CSV_TIMEs: three daily files on restart, written once", async () => {
  await using f = await fixture();
  const history = pollTimes(ms("2026-03-20T00:00:00Z"), ms("2026-03-22T12:00:00Z"), 10 * MINUTE_MS);
  await runSchedule(f, "2026-03-21T12:00:00Z", "2026-03-22T12:00:00Z", history);
  assert.deepEqual(await listDir(f.options.dirs.daily), [
    "2026-03-20_daily.csv",
    "2026-03-21_daily.csv",
  ]);
  // Service down from 2026-03-22 12:00 to 2026-03-25 09:00 (CSV_TIMEs of the 23rd, 24th, 25th).
  const before = f.logs.length;
  const during = pollTimes(ms("2026-03-22T12:00:00Z"), ms("2026-03-25T08:00:00Z"), 30 * MINUTE_MS);
  f.storage.insertPolls(during.map(poll)); // e.g. ingested from another recorder
  const rollups = new Rollups(f.storage, f.options, f.logger);
  const { cron, fire } = manualCron();
  const controller = new AbortController();
  const report = await startRollupSchedule(rollups, controller.signal, {
    cron,
    now: () => Temporal.Instant.from("2026-03-25T08:00:00Z"),
  });
  assert.deepEqual(report.results.filter((r) => r.window.kind === "daily").map((r) => r.status), [
    "written",
    "written",
    "written",
  ]);
  await fire();
  await fire();
  controller.abort();
  assert.deepEqual(await listDir(f.options.dirs.daily), [
    "2026-03-20_daily.csv",
    "2026-03-21_daily.csv",
    "2026-03-22_daily.csv",
    "2026-03-23_daily.csv",
    "2026-03-24_daily.csv",
  ]);
  const written = f.logs.slice(before).filter((l) => l.includes("roll-up written"));
  assert.equal(written.filter((l) => l.includes("daily")).length, 3, written.join("\n"));
  assert.equal(written.filter((l) => l.includes("weekly")).length, 1); // Monday 2026-03-23
  assert.equal(f.storage.getMeta(LAST_END_KEY.daily), "2026-03-25T06:00:00Z");
  await assertEveryPollOnce(f, [...history, ...during], await listDir(f.options.dirs.daily));
});

Deno.test("shutdown during a long catch-up: the file in progress is finished, the rest waits for the next start", async () => {
  await using f = await fixture();
  const history = pollTimes(ms("2026-03-20T00:00:00Z"), ms("2026-03-22T12:00:00Z"), 10 * MINUTE_MS);
  await runSchedule(f, "2026-03-21T12:00:00Z", "2026-03-22T12:00:00Z", history);
  // Down until 2026-03-25 08:00: three dailies and a weekly are due at the next start.
  const during = pollTimes(ms("2026-03-22T12:00:00Z"), ms("2026-03-25T08:00:00Z"), 30 * MINUTE_MS);
  f.storage.insertPolls(during.map(poll));
  const now = () => Temporal.Instant.from("2026-03-25T08:00:00Z");
  const controller = new AbortController();
  // SIGTERM arrives while the first of them is being written.
  const stopping = new Rollups(f.storage, f.options, f.logger, {
    beforeRename: () => Promise.resolve(controller.abort()),
  });
  const report = await startRollupSchedule(stopping, controller.signal, {
    cron: manualCron().cron,
    now,
  });
  assert.deepEqual(report.results.map((r) => [rollupName(r.path), r.status]), [
    ["2026-03-22_daily.csv", "written"],
  ]);
  assert.equal(f.storage.getMeta(LAST_END_KEY.daily), "2026-03-23T06:00:00Z");
  // The next start writes the rest.
  const restarted = new AbortController();
  const again = await startRollupSchedule(
    new Rollups(f.storage, f.options, f.logger),
    restarted.signal,
    { cron: manualCron().cron, now },
  );
  restarted.abort();
  assert.deepEqual(again.results.map((r) => [rollupName(r.path), r.status]), [
    ["2026-03-23_daily.csv", "written"],
    ["2026-03-24_daily.csv", "written"],
    ["2026-03-16_weekly.csv", "written"],
  ]);
  await assertEveryPollOnce(f, [...history, ...during], await listDir(f.options.dirs.daily));
});

const rollupName = (path: string) => basename(path);

Deno.test("a crash before the rename leaves no partial file; the window is complete after restart", async () => {
  await using f = await fixture();
  const times = pollTimes(ms("2026-03-19T00:00:00Z"), ms("2026-03-20T08:00:00Z"), MINUTE_MS);
  f.storage.insertPolls(times.map(poll));
  const now = Temporal.Instant.from("2026-03-20T08:00:00Z");
  const crashing = new Rollups(f.storage, f.options, f.logger, {
    beforeRename: async (tempPath, finalPath) => {
      assert.ok((await Deno.stat(tempPath)).size > 0);
      assert.ok(isRollupTempName(basename(tempPath)), tempPath);
      await assert.rejects(
        Deno.lstat(finalPath),
        Deno.errors.NotFound,
        "nothing under the name yet",
      );
      throw new Error("simulated crash before rename");
    },
  });
  const report = await crashing.runDue(now);
  assert.equal(report.failures.length, 2);
  assert.match(report.failures[0], /daily roll-up 2026-03-19_daily\.csv failed: simulated crash/);
  assert.deepEqual(await listDir(f.options.dirs.daily), [], "no partial file, no temporary file");
  assert.equal(f.storage.getMeta(LAST_END_KEY.daily), undefined, "not recorded");

  // A hard crash (power cut) leaves the temporary file behind.
  const stale = join(f.options.dirs.daily, ".2026-03-19_daily.csv.0badc0de.partial");
  await Deno.writeTextFile(
    stale,
    "timestamp,Unknown_Calculation_0\r\n2026-03-19T07:00:00+01:00,17",
  );
  assert.ok(isRollupTempName(".2026-03-19_daily.csv.0badc0de.partial"));

  const restarted = new Rollups(f.storage, f.options, f.logger);
  const after = await restarted.runDue(now);
  assert.deepEqual(after.failures, []);
  assert.deepEqual(await listDir(f.options.dirs.daily), ["2026-03-19_daily.csv"]);
  const rows = await readCsv(join(f.options.dirs.daily, "2026-03-19_daily.csv"));
  assert.equal(rows.length - 1, 24 * 60 + 2); // every minute of the day, 06:59:59 and 07:00:01
  assert.ok(f.logs.some((l) => l.includes("removed temporary file") && l.includes("0badc0de")));
  assert.equal(f.storage.getMeta(LAST_END_KEY.daily), "2026-03-20T06:00:00Z");
});

Deno.test("a crash after the rename but before the record keeps the complete file, records once", async () => {
  await using f = await fixture();
  f.storage.insertPolls(
    pollTimes(ms("2026-03-19T00:00:00Z"), ms("2026-03-20T08:00:00Z"), 60 * MINUTE_MS).map(poll),
  );
  const now = Temporal.Instant.from("2026-03-20T08:00:00Z");
  await new Rollups(f.storage, f.options, f.logger).runDue(now);
  const path = join(f.options.dirs.daily, "2026-03-19_daily.csv");
  const content = await Deno.readTextFile(path);
  // As if the record was lost: neither key of it written.
  f.storage.setMeta(LAST_END_KEY.daily, "2026-03-19T06:00:00Z");
  f.storage.setMeta(LAST_DATE_KEY.daily, "2026-03-18");
  const again = await new Rollups(f.storage, f.options, f.logger).runDue(now);
  assert.deepEqual(again.results.filter((r) => r.window.kind === "daily").map((r) => r.status), [
    "kept",
  ]);
  assert.equal(await Deno.readTextFile(path), content);
  assert.equal(f.storage.getMeta(LAST_END_KEY.daily), "2026-03-20T06:00:00Z");
});

Deno.test("an empty window gives a file with the header only, and a log line", async () => {
  await using f = await fixture();
  f.storage.insertPoll(poll(ms("2026-03-10T12:00:00Z"))); // long before: the heat pump was offline since
  const report = await new Rollups(f.storage, f.options, f.logger).runDue(
    Temporal.Instant.from("2026-03-20T08:00:00Z"),
  );
  assert.equal(report.results[0].rows, 0);
  const rows = await readCsv(join(f.options.dirs.daily, "2026-03-19_daily.csv"));
  assert.deepEqual(rows, [["timestamp", ...csvColumns("calculations", 12).map(headerOf)]]);
  assert.ok(
    f.logs.some((l) =>
      l.includes("WARN") && l.includes("no polls") && l.includes("2026-03-19_daily.csv")
    ),
  );
});

Deno.test("an empty database still writes header-only files with every known calculation", async () => {
  await using f = await fixture();
  await new Rollups(f.storage, f.options, f.logger).runDue(
    Temporal.Instant.from("2026-03-20T08:00:00Z"),
  );
  const header = ["timestamp", ...csvColumns("calculations", 0).map(headerOf)].join(",");
  assert.equal(
    await Deno.readTextFile(join(f.options.dirs.daily, "2026-03-19_daily.csv")),
    header + "\r\n",
  );
});

function headerOf(column: { name: string; unit: string }): string {
  return column.unit ? `${column.name} [${column.unit}]` : column.name;
}

Deno.test("retention deletes only roll-up files older than CSV_RETENTION_DAYS, each logged", async () => {
  await using f = await fixture({ retentionDays: 30 });
  const { daily, weekly } = f.options.dirs;
  await Deno.mkdir(daily, { recursive: true });
  await Deno.mkdir(weekly, { recursive: true });
  const keep = [
    "2026-03-31_daily.csv", // ends 04-01: 29 days old on 04-30
    "2026-03-30_daily.csv", // ends 03-31: exactly 30 days
    "notes.txt",
    "2026-01-01_daily.csv.bak",
    "2026-01-01_weekly.csv", // a weekly name in the daily folder is not ours to judge
    "2026-02-30_daily.csv",
  ];
  const expired = ["2026-03-29_daily.csv", "2025-12-31_daily.csv"];
  for (const name of [...keep, ...expired]) await Deno.writeTextFile(join(daily, name), "x");
  await Deno.mkdir(join(daily, "2020-01-01_daily.csv")); // a folder, not a file: left alone
  await Deno.writeTextFile(join(weekly, "2026-03-24_weekly.csv"), "x"); // ends 03-31
  await Deno.writeTextFile(join(weekly, "2026-03-16_weekly.csv"), "x"); // ends 03-23
  const rollups = new Rollups(f.storage, f.options, f.logger);
  const deleted = await rollups.applyRetention(Temporal.Instant.from("2026-04-30T10:00:00Z"));
  assert.deepEqual(deleted.sort(), [
    join(daily, "2025-12-31_daily.csv"),
    join(daily, "2026-03-29_daily.csv"),
    join(weekly, "2026-03-16_weekly.csv"),
  ]);
  assert.deepEqual(await listDir(daily), [...keep, "2020-01-01_daily.csv"].sort());
  assert.deepEqual(await listDir(weekly), ["2026-03-24_weekly.csv"]);
  for (const path of deleted) {
    assert.equal(f.logs.filter((l) => l.includes("deleted roll-up") && l.includes(path)).length, 1);
  }
});

Deno.test("catch-up skips windows already past retention but records them", async () => {
  await using f = await fixture({ retentionDays: 2 });
  f.storage.setMeta(LAST_END_KEY.daily, "2026-03-10T06:00:00Z");
  f.storage.setMeta(LAST_END_KEY.weekly, "2026-03-23T06:00:00Z");
  const report = await new Rollups(f.storage, f.options, f.logger).runDue(
    Temporal.Instant.from("2026-03-20T08:00:00Z"),
  );
  const statuses = report.results.map((r) => `${r.window.date}:${r.status}`);
  assert.equal(statuses.filter((s) => s.endsWith("expired")).length, 7); // 03-10 .. 03-16
  assert.deepEqual(await listDir(f.options.dirs.daily), [
    "2026-03-17_daily.csv",
    "2026-03-18_daily.csv",
    "2026-03-19_daily.csv",
  ]);
  assert.equal(f.storage.getMeta(LAST_END_KEY.daily), "2026-03-20T06:00:00Z");
});

Deno.test("ensureLatest rewrites a missing latest file without moving the record back", async () => {
  await using f = await fixture();
  f.storage.insertPolls(
    pollTimes(ms("2026-03-18T00:00:00Z"), ms("2026-03-20T08:00:00Z"), 60 * MINUTE_MS).map(poll),
  );
  const rollups = new Rollups(f.storage, f.options, f.logger);
  await rollups.runDue(Temporal.Instant.from("2026-03-22T08:00:00Z"));
  assert.equal(f.storage.getMeta(LAST_END_KEY.daily), "2026-03-22T06:00:00Z");
  const past = Temporal.Instant.from("2026-03-20T08:00:00Z");
  assert.deepEqual((await rollups.runDue(past)).results, [], "the schedule has nothing due");
  const report = await rollups.runDue(past, true);
  assert.deepEqual(report.results.map((r) => `${basename(r.path)}:${r.status}`), [
    "2026-03-19_daily.csv:written",
    "2026-03-09_weekly.csv:kept", // the same weekly window was already the latest on 03-22
  ]);
  assert.equal(f.storage.getMeta(LAST_END_KEY.daily), "2026-03-22T06:00:00Z");
  const again = await rollups.runDue(past, true);
  assert.deepEqual(again.results.map((r) => r.status), ["kept", "kept"]);
});

Deno.test("CSV dialect and field selection reach the roll-up files", async () => {
  const parameterNames = csvColumns("parameters", 4).map((c) => c.name);
  await using f = await fixture({
    csv: { timeZone: BERLIN, delimiter: ";", decimal: ",", bom: true },
    fields: [
      "ID_WEB_Temperatur_TVL",
      `parameters.${parameterNames[1]}`,
      parameterNames[3],
      "nope_*",
    ],
  });
  f.storage.insertPoll(poll(ms("2026-03-19T12:00:00Z")));
  await new Rollups(f.storage, f.options, f.logger).runDue(
    Temporal.Instant.from("2026-03-20T08:00:00Z"),
  );
  const text = await Deno.readTextFile(join(f.options.dirs.daily, "2026-03-19_daily.csv"));
  assert.ok(text.startsWith("\uFEFF"));
  const [header, row] = text.slice(1).trimEnd().split("\r\n").map((l) => l.split(";"));
  assert.deepEqual(header, [
    "timestamp",
    "ID_WEB_Temperatur_TVL [°C]",
    headerOf(csvColumns("parameters", 4)[1]),
    headerOf(csvColumns("parameters", 4)[3]),
  ]);
  assert.equal(row[0], "2026-03-19T13:00:00+01:00");
  assert.match(row[1], /^\d+,\d$/); // 0.1 °C with a decimal comma
  assert.ok(
    f.logs.some((l) => l.includes("CSV_FIELDS entry matches no field") && l.includes("nope_*")),
  );
});

Deno.test("writeFileAtomically: the file appears whole, and no temporary file is left", async () => {
  await using f = await fixture();
  const dir = join(f.dir, "out");
  const bytes = await writeFileAtomically(dir, "a.csv", ["x,y\r\n", "1,2\r\n"]);
  assert.equal(bytes, 10);
  assert.equal(await Deno.readTextFile(join(dir, "a.csv")), "x,y\r\n1,2\r\n");
  assert.deepEqual(await listDir(dir), ["a.csv"]);
  await assert.rejects(
    writeFileAtomically(
      dir,
      "b.csv",
      (function* () {
        yield "partial";
        throw new Error("storage failed mid-way");
      })(),
    ),
    /storage failed mid-way/,
  );
  assert.deepEqual(await listDir(dir), ["a.csv"]);
});

Deno.test("moving CSV_TIME later loses no poll, even with `rollup --at` in between", async () => {
  await using f = await fixture();
  const times = pollTimes(ms("2026-03-25T00:00:00Z"), ms("2026-03-31T00:00:00Z"), 5 * MINUTE_MS);
  f.storage.insertPolls(times.map(poll));
  // Yesterday at 07:00 CET the 03-27 file was written; then the user moves CSV_TIME to 09:00.
  await new Rollups(f.storage, f.options, f.logger).runDue(
    Temporal.Instant.from("2026-03-28T07:00:00+01:00"),
  );
  const later = new Rollups(f.storage, {
    ...f.options,
    schedule: { ...f.options.schedule, csvTime: parseCsvTime("09:00") },
  }, f.logger);
  await later.runDue(Temporal.Instant.from("2026-03-28T09:30:00+01:00"), true);
  await later.runDue(Temporal.Instant.from("2026-03-30T09:30:00+02:00"));
  const stamps: string[] = [];
  for await (const entry of Deno.readDir(f.options.dirs.daily)) {
    const path = join(f.options.dirs.daily, entry.name);
    assert.equal(
      (await Deno.stat(path)).mode! & 0o777,
      0o644,
      `${entry.name} is readable by others`,
    );
    const rows = (await Deno.readTextFile(path)).trim().split("\r\n").slice(1);
    stamps.push(...rows.map((r) => r.split(",")[0]));
  }
  const covered = new Set(stamps.map((s) => Temporal.Instant.from(s).epochMilliseconds));
  assert.equal(covered.size, stamps.length, "no poll in two daily files");
  const from = ms("2026-03-27T06:00:00Z");
  const to = ms("2026-03-30T07:00:00Z");
  const missing = times.filter((t) => t >= from && t < to && !covered.has(t));
  assert.deepEqual(missing.map((t) => new Date(t).toISOString()), [], "every poll in a daily file");
});

Deno.test("a TZ change to the west loses no poll: the next file gets a new name", async () => {
  await using f = await fixture({
    schedule: { timeZone: BERLIN, csvTime: parseCsvTime("00:30"), weeklyDay: "mon" },
  });
  const times = pollTimes(ms("2026-03-22T00:00:00Z"), ms("2026-03-27T00:00:00Z"), 10 * MINUTE_MS);
  f.storage.insertPolls(times.map(poll));
  await new Rollups(f.storage, f.options, f.logger).runDue(
    Temporal.Instant.from("2026-03-24T01:00:00+01:00"),
  );
  // 2026-03-23_daily.csv ends at 00:30 CET on the 24th, 23:30 UTC on the 23rd: in UTC, the
  // window starting on the 23rd (00:30Z .. 00:30Z) ends after it and has the same name.
  const utc = new Rollups(f.storage, {
    ...f.options,
    schedule: { ...f.options.schedule, timeZone: "UTC" },
    csv: { timeZone: "UTC" },
  }, f.logger);
  const report = await utc.runDue(Temporal.Instant.from("2026-03-26T01:00:00Z"));
  assert.deepEqual(
    report.results.filter((r) => r.window.kind === "daily").map((r) =>
      `${basename(r.path)}:${r.status}`
    ),
    ["2026-03-24_daily.csv:written", "2026-03-25_daily.csv:written"],
  );
  const stamps = await rowInstants(f.options.dirs.daily);
  assert.equal(new Set(stamps).size, stamps.length, "no poll in two daily files");
  const covered = new Set(stamps);
  const missing = times.filter((t) =>
    t >= ms("2026-03-23T00:30:00+01:00") && t < ms("2026-03-26T00:30:00Z") && !covered.has(t)
  );
  assert.deepEqual(missing.map((t) => new Date(t).toISOString()), [], "every poll in a daily file");
});

Deno.test("rollup --at after a WEEKLY_DAY change writes no weekly file that overlaps the written ones", async () => {
  await using f = await fixture();
  const times = pollTimes(ms("2026-03-22T00:00:00Z"), ms("2026-04-10T00:00:00Z"), 30 * MINUTE_MS);
  f.storage.insertPolls(times.map(poll));
  await new Rollups(f.storage, f.options, f.logger).runDue(
    Temporal.Instant.from("2026-03-30T08:00:00+02:00"),
  );
  const thursday = new Rollups(f.storage, {
    ...f.options,
    schedule: { ...f.options.schedule, weeklyDay: "thu" },
  }, f.logger);
  // Tuesday and Friday: the grid's latest Thursday week (03-19, 03-26) lies over written weeks.
  await thursday.runDue(Temporal.Instant.from("2026-03-31T08:00:00+02:00"), true);
  await thursday.runDue(Temporal.Instant.from("2026-04-03T08:00:00+02:00"), true);
  assert.deepEqual(await listDir(f.options.dirs.weekly), ["2026-03-23_weekly.csv"]);
  await thursday.runDue(Temporal.Instant.from("2026-04-09T08:00:00+02:00"), true);
  assert.deepEqual(await listDir(f.options.dirs.weekly), [
    "2026-03-23_weekly.csv",
    "2026-04-02_weekly.csv", // 03-30 07:00 .. 04-09 07:00: the one longer week after the change
  ]);
  const stamps = await rowInstants(f.options.dirs.weekly);
  assert.equal(new Set(stamps).size, stamps.length, "no poll in two weekly files");
  const expected = times.filter((t) =>
    t >= ms("2026-03-23T07:00:00+01:00") && t < ms("2026-04-09T07:00:00+02:00")
  );
  assert.equal(stamps.length, expected.length, "every poll in a weekly file");
});

Deno.test("a roll-up being written by another run is not taken for an interrupted one", async () => {
  await using f = await fixture();
  f.storage.insertPolls(
    pollTimes(ms("2026-03-19T00:00:00Z"), ms("2026-03-20T08:00:00Z"), 60 * MINUTE_MS).map(poll),
  );
  const now = Temporal.Instant.from("2026-03-20T08:00:00Z");
  // E.g. `rollup --at` by hand while the service's minute tick runs on the same folders.
  const service = new Rollups(f.storage, f.options, f.logger);
  let removed: string[] | null = null;
  const command = new Rollups(f.storage, f.options, f.logger, {
    beforeRename: async () => {
      removed ??= await service.removeStaleTemps();
    },
  });
  const report = await command.runDue(now);
  assert.deepEqual(removed, []);
  assert.deepEqual(report.failures, []);
  assert.deepEqual(await listDir(f.options.dirs.daily), ["2026-03-19_daily.csv"]);
});
