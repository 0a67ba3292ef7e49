/**
 * Storage benchmark (`deno task bench`): prints figures, asserts only the size target.
 *
 * - bytes per poll of a realistic day: 2,880 polls of the dynamic heat pump model
 *   (sensor noise, counters, compressor cycles) written one transaction per poll, as the
 *   service does, measured as the database file after a WAL checkpoint; and the
 *   projected size of 365 days from a 28-day database;
 * - ingest: polls/s through Storage.insertPolls (the storage part of `ingest`) and
 *   through the whole `ingest` command on a recording (JSON parsing included);
 * - export: polls/s streamed by Storage.polls, and CSV rows/s of the `export` command;
 * - peak RSS (VmHWM) of a 1-day and a 28-day `export`, each in its own process.
 *
 * usage: deno task bench [--days 28]
 */
import { parseArgs } from "node:util";
import { modelTables } from "../src/luxtronik/heatpump_model.ts";
import { formatRecordedPoll } from "../src/recorded.ts";
import { type Poll, Storage } from "../src/storage.ts";
import { sameValues } from "../src/storage/codec.ts";

const DAY_MS = 86_400_000;
const POLL_INTERVAL_MS = 30_000;
const POLLS_PER_DAY = DAY_MS / POLL_INTERVAL_MS;
const START_MS = Date.UTC(2026, 0, 1);
const TARGET_BYTES_PER_POLL = 100;
/**
 * The recordings for the end-to-end ingest, a week each: long enough that the command's
 * start-up (~0.3 s) does not hide the rate (a single day of full lines read as 9k polls/s).
 */
const RECORDING_DAYS_AS_RECORDED = 7;
const RECORDING_DAYS = 7;

const { values } = parseArgs({ args: Deno.args, options: { days: { type: "string" } } });
const LONG_DAYS = Number(values.days ?? 28);

/** The model's poll number `i`: 30 s apart with a little jitter, as a real clock gives. */
function modelPoll(i: number): Poll {
  const ts = START_MS + i * POLL_INTERVAL_MS + ((i * 7919) % 250);
  return { ts, durationMs: 35 + ((i * 31) % 40), ...modelTables(Math.floor(ts / 1000)) };
}

function* modelPolls(count: number): Generator<Poll> {
  for (let i = 0; i < count; i++) yield modelPoll(i);
}

function fileSize(path: string): number {
  let size = 0;
  for (const suffix of ["", "-wal"]) {
    try {
      size += Deno.statSync(path + suffix).size;
    } catch {
      // No WAL after a truncating checkpoint.
    }
  }
  return size;
}

function checkpoint(path: string): void {
  // Closing the last connection checkpoints the WAL into the file and removes it.
  Storage.open(path).close();
}

function rate(count: number, ms: number): string {
  return `${Math.round(count / (ms / 1000)).toLocaleString("en-US")}`;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function row(label: string, value: string): void {
  console.log(`${label.padEnd(52)} ${value}`);
}

/** Peak RSS of one `export` run in a fresh process. */
async function exportPeakRss(db: string, from: number, to: number): Promise<number> {
  const child = new URL("./export_child.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      child,
      "--db",
      db,
      "--from",
      new Date(from).toISOString(),
      "--to",
      new Date(to).toISOString(),
      "--out",
      "/dev/null",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(new TextDecoder().decode(stderr));
  return Number(new TextDecoder().decode(stdout).trim());
}

const dir = await Deno.makeTempDir({ prefix: "lux-bench-" });
try {
  console.log(`lux-logger storage benchmark (${Deno.build.arch}, deno ${Deno.version.deno})\n`);

  // 1. A realistic day, written the way the service writes: one transaction per poll.
  const dayDb = `${dir}/day.db`;
  let storage = Storage.open(dayDb);
  let started = performance.now();
  for (const poll of modelPolls(POLLS_PER_DAY)) storage.insertPoll(poll);
  const serviceMs = performance.now() - started;
  storage.close();
  checkpoint(dayDb);
  const daySize = fileSize(dayDb);
  const dayBytesPerPoll = daySize / POLLS_PER_DAY;
  row("day: polls (one transaction each)", POLLS_PER_DAY.toLocaleString("en-US"));
  row("day: single-poll writes/s (synchronous=FULL)", rate(POLLS_PER_DAY, serviceMs));
  row("day: database file after checkpoint", `${daySize.toLocaleString("en-US")} bytes`);
  row("day: bytes per poll (target <= 100)", dayBytesPerPoll.toFixed(1));

  // 2. Ingest through Storage.insertPolls in batches, as `ingest` does, for LONG_DAYS.
  const longDb = `${dir}/long.db`;
  const longPolls = LONG_DAYS * POLLS_PER_DAY;
  storage = Storage.open(longDb);
  started = performance.now();
  let batch: Poll[] = [];
  for (const poll of modelPolls(longPolls)) {
    batch.push(poll);
    if (batch.length === 5_000) {
      storage.insertPolls(batch);
      batch = [];
    }
  }
  storage.insertPolls(batch);
  storage.fold();
  const ingestMs = performance.now() - started;
  storage.close();
  checkpoint(longDb);
  const longSize = fileSize(longDb);
  row(`${LONG_DAYS} days: Storage.insertPolls polls/s`, rate(longPolls, ingestMs));
  row(`${LONG_DAYS} days: database file`, mib(longSize));
  row(`${LONG_DAYS} days: bytes per poll`, (longSize / longPolls).toFixed(1));
  row("365 days: projected database file", mib((longSize / LONG_DAYS) * 365));

  // 3. The whole `ingest` command on recordings (JSON lines): as the service records
  //    (parameters and visibilities only when they change: `null` otherwise, cli.md) and
  //    the worst case, all three tables on every line.
  const ingestCommand = async (label: string, days: number, everyTable: boolean) => {
    const recording = `${dir}/recording-${label}.jsonl`;
    const file = await Deno.open(recording, { write: true, create: true });
    const encoder = new TextEncoder();
    let previous: Poll | null = null;
    for (const poll of modelPolls(days * POLLS_PER_DAY)) {
      const changed = (kind: "parameters" | "visibilities") =>
        everyTable || previous === null || !sameValues(poll[kind]!, previous[kind]!);
      await file.write(encoder.encode(
        formatRecordedPoll({
          ...poll,
          parameters: changed("parameters") ? poll.parameters : null,
          visibilities: changed("visibilities") ? poll.visibilities : null,
        }) + "\n",
      ));
      previous = poll;
    }
    file.close();
    const started = performance.now();
    const ingest = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        new URL("../main.ts", import.meta.url).pathname,
        "ingest",
        "--db",
        `${dir}/ingested-${label}.db`,
        recording,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    const commandMs = performance.now() - started;
    if (ingest.code !== 0) throw new Error(new TextDecoder().decode(ingest.stderr));
    row(
      `ingest command, ${label}: polls/s (${mib(Deno.statSync(recording).size)}, with start-up)`,
      rate(days * POLLS_PER_DAY, commandMs),
    );
  };
  await ingestCommand("as recorded", RECORDING_DAYS_AS_RECORDED, false);
  await ingestCommand("all tables every line", RECORDING_DAYS, true);

  // 4. Streaming reads.
  storage = Storage.open(longDb);
  started = performance.now();
  let read = 0;
  for (const _ of storage.polls(START_MS, START_MS + LONG_DAYS * DAY_MS)) read++;
  const readMs = performance.now() - started;
  storage.close();
  row(`${LONG_DAYS} days: Storage.polls polls/s`, rate(read, readMs));

  started = performance.now();
  const dayRss = await exportPeakRss(longDb, START_MS, START_MS + DAY_MS);
  const dayExportMs = performance.now() - started;
  row("export command, 1 day to CSV: rows/s (with start-up)", rate(POLLS_PER_DAY, dayExportMs));
  row("export command, 1 day: peak RSS", mib(dayRss));
  started = performance.now();
  const longRss = await exportPeakRss(longDb, START_MS, START_MS + LONG_DAYS * DAY_MS);
  const longExportMs = performance.now() - started;
  row(`export command, ${LONG_DAYS} days to CSV: rows/s`, rate(longPolls, longExportMs));
  row(`export command, ${LONG_DAYS} days: peak RSS`, mib(longRss));

  if (dayBytesPerPoll > TARGET_BYTES_PER_POLL) {
    console.error(
      `\nFAILED: ${dayBytesPerPoll.toFixed(1)} bytes per poll > ${TARGET_BYTES_PER_POLL}`,
    );
    Deno.exitCode = 1;
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
