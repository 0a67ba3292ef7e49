import assert from "node:assert/strict";
import { join } from "node:path";
import { type Config, resolveConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { csvColumns, formatCell } from "../src/luxtronik/decode.ts";
import { modelTables } from "../src/luxtronik/heatpump_model.ts";
import { startSimulator } from "../src/luxtronik/simulator.ts";
import { type Poll, Storage, type StoredPoll } from "../src/storage.ts";
import { runService } from "../src/commands/run.ts";
import { Downsampler, withGapBreaks } from "../src/http/downsample.ts";
import {
  decodeFields,
  errorMemory,
  findColumn,
  headlineFields,
  numericValue,
  pollColumns,
} from "../src/http/fields.ts";
import { listRollupFiles, rollupFilePath } from "../src/http/files.ts";
import { databaseBytes, diskUsage } from "../src/http/health.ts";
import { escapeLabelValue, formatMetrics, METRICS_CONTENT_TYPE } from "../src/http/metrics.ts";
import {
  contentDisposition,
  COUNTS_MAX_AGE_MS,
  createDashboardHandler,
  cutOffWhen,
  type DashboardContext,
  DEFAULT_POINTS,
  MAX_POINTS,
  parseInstantParam,
  remembered,
} from "../src/http/routes.ts";
import { DashboardError, startDashboard } from "../src/http/server.ts";
import { fieldSeries } from "../src/http/series.ts";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** A fixed "now" for handler tests: 2026-03-29T12:00:00Z. */
const NOW = Date.UTC(2026, 2, 29, 12);
const TVL = "calculations.ID_WEB_Temperatur_TVL";

function modelPoll(ts: number): Poll {
  return { ts, ...modelTables(ts / 1000) };
}

function stored(poll: Poll): StoredPoll {
  return { ...poll, durationMs: null };
}

/** Flow temperature (°C) the model shows at `ts`, decoded as the dashboard decodes it. */
function modelFlow(ts: number): number {
  const calculations = modelTables(ts / 1000).calculations;
  const column = csvColumns("calculations", calculations.length).find((c) =>
    c.name === "ID_WEB_Temperatur_TVL"
  )!;
  return column.decode(calculations) as number;
}

interface Fixture {
  dir: string;
  storage: Storage;
  context: DashboardContext;
  handle: (req: Request) => Promise<Response>;
  logs: string[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** A real database in a temp folder, with `polls` stored, and the handler over it. */
async function fixture(polls: Poll[] = []): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "http_test_" });
  const storage = Storage.open(join(dir, "cache.db"));
  storage.insertPolls(polls);
  const logs: string[] = [];
  const context: DashboardContext = {
    storage,
    config: {
      timeZone: "Europe/Berlin",
      dailyDir: join(dir, "daily"),
      weeklyDir: join(dir, "weekly"),
      cachePath: join(dir, "cache.db"),
      intervalSec: 60,
    },
    logger: createLogger({ write: (line) => logs.push(line) }),
    now: () => NOW,
  };
  return {
    dir,
    storage,
    context,
    handle: createDashboardHandler(context),
    logs,
    async [Symbol.asyncDispose]() {
      storage.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function get(handle: Fixture["handle"], path: string, method = "GET") {
  const response = await handle(new Request(`http://127.0.0.1${path}`, { method }));
  const text = await response.text();
  return { response, text, json: () => JSON.parse(text) };
}

// ---------- downsampling ----------

Deno.test("Downsampler returns samples unaggregated when they fit into the points", () => {
  const sampler = new Downsampler(0, 100, 5);
  sampler.add(10, 1);
  sampler.add(20, 2.5);
  sampler.add(-1, 99); // before the range
  sampler.add(100, 99); // `to` is exclusive
  sampler.add(30, NaN); // not a number: ignored
  assert.deepEqual(sampler.result(), {
    t: [10, 20],
    min: [1, 2.5],
    avg: [1, 2.5],
    max: [1, 2.5],
    bucketMs: 0,
    count: 2,
  });
});

Deno.test("Downsampler aggregates min/avg/max per bucket when there are more samples", () => {
  const sampler = new Downsampler(0, 60_000, 2);
  sampler.add(0, 1);
  sampler.add(10_000, 3);
  sampler.add(40_000, 5);
  assert.deepEqual(sampler.result(), {
    t: [5000, 40_000],
    min: [1, 5],
    avg: [2, 5],
    max: [3, 5],
    bucketMs: 30_000,
    count: 3,
  });
});

Deno.test("Downsampler keeps a year of 30 s samples to the requested points", () => {
  const from = 0;
  const to = 365 * DAY_MS;
  const sampler = new Downsampler(from, to, 1000);
  for (let ts = from; ts < to; ts += 30_000) sampler.add(ts, (ts / DAY_MS) % 7);
  const series = sampler.result();
  assert.equal(series.count, 365 * 2880);
  assert.ok(series.t.length <= 1000, `${series.t.length} points`);
  assert.ok(series.t.length >= 990, `${series.t.length} points`);
  assert.equal(Math.min(...series.min.map(Number)), 0);
  assert.ok(Math.max(...series.max.map(Number)) < 7);
});

Deno.test("Downsampler refuses an empty range or no points", () => {
  assert.throws(() => new Downsampler(10, 10, 5), RangeError);
  assert.throws(() => new Downsampler(0, 10, 0), RangeError);
});

Deno.test("withGapBreaks puts a null between points further apart than three steps", () => {
  const columns = {
    t: [0, 10, 20, 30, 100, 110],
    min: [1, 1, 1, 1, 2, 2],
    avg: [1, 1, 1, 1, 2, 2],
    max: [1, 1, 1, 1, 2, 2],
  };
  const broken = withGapBreaks(columns, 0);
  assert.deepEqual(broken.t, [0, 10, 20, 30, 65, 100, 110]);
  assert.deepEqual(broken.avg, [1, 1, 1, 1, null, 2, 2]);
  // A bucket wider than the gap means the gap is not a hole in the data.
  assert.deepEqual(withGapBreaks(columns, 30).t, columns.t);
  // Two points have no typical step.
  const two = { t: [0, 100], min: [1, 2], avg: [1, 2], max: [1, 2] };
  assert.equal(withGapBreaks(two, 0), two);
});

// ---------- fields ----------

Deno.test("numericValue charts numbers and booleans, not text or missing values", () => {
  assert.equal(numericValue(21.5), 21.5);
  assert.equal(numericValue(true), 1);
  assert.equal(numericValue(false), 0);
  assert.equal(numericValue("Heizbetrieb"), null);
  assert.equal(numericValue(null), null);
  assert.equal(numericValue(Infinity), null);
});

Deno.test("decodeFields decodes every table the poll carries, calculations first", () => {
  const poll = stored(modelPoll(NOW));
  const fields = decodeFields(poll, { timeZone: "UTC" });
  const { calculations } = poll;
  const columnCount = (["calculations", "parameters", "visibilities"] as const)
    .map((kind) => csvColumns(kind, poll[kind]!.length).length)
    .reduce((a, b) => a + b);
  assert.equal(fields.length, columnCount);
  assert.equal(fields[0].table, "calculations");
  const tvl = fields.find((f) => f.id === TVL)!;
  assert.equal(tvl.value, modelFlow(NOW));
  assert.equal(tvl.unit, "°C");
  assert.equal(tvl.numeric, true);
  assert.equal(tvl.text, formatCell(modelFlow(NOW)));
  // A poll without parameters or visibilities shows only its calculations.
  assert.equal(
    pollColumns({ ...poll, parameters: null, visibilities: null }).length,
    csvColumns("calculations", calculations!.length).length,
  );
});

Deno.test("headlineFields picks flow, return, outside, hot water, state and compressor", () => {
  const fields = decodeFields(stored(modelPoll(NOW)), { timeZone: "UTC" });
  const headline = headlineFields(fields);
  assert.deepEqual(headline.map((f) => f.index), [10, 11, 15, 17, 80, 44]);
  assert.deepEqual(
    headline.map((f) => f.label),
    ["Flow", "Return", "Outside", "Hot water", "Operating state", "Compressor"],
  );
  // An old firmware with a short table simply has fewer headline fields.
  assert.deepEqual(headlineFields(fields.filter((f) => f.index < 16)).map((f) => f.index), [
    10,
    11,
    15,
  ]);
});

Deno.test("errorMemory lists filled slots of the controller's error memory", () => {
  const poll = stored(modelPoll(NOW));
  poll.calculations![97] = 1_710_000_000;
  poll.calculations![102] = 730;
  const errors = errorMemory(poll, { timeZone: "UTC" });
  assert.deepEqual(errors.map((e) => e.slot), [0, 2]);
  const columns = csvColumns("calculations", poll.calculations!.length);
  const code = columns.find((c) => c.index === 102)!;
  assert.equal(errors[1].code, formatCell(code.decode(poll.calculations!)));
  assert.deepEqual(errorMemory({ ...poll, calculations: new Int32Array(50) }, {}), []);
  assert.deepEqual(errorMemory({ ...poll, calculations: null }, {}), []);
});

Deno.test("findColumn accepts table.name or a bare name", () => {
  const poll = stored(modelPoll(NOW));
  assert.equal(findColumn(poll, TVL)?.index, 10);
  assert.equal(findColumn(poll, "ID_WEB_Temperatur_TVL")?.index, 10);
  assert.equal(findColumn(poll, "parameters.ID_WEB_Temperatur_TVL"), undefined);
  assert.equal(findColumn(poll, "nonsense"), undefined);
});

// ---------- metrics ----------

Deno.test("escapeLabelValue escapes backslash, quote and newline", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});

Deno.test("formatMetrics writes gauges for known numeric fields and the logger's health", () => {
  const poll = stored(modelPoll(NOW));
  const text = formatMetrics({
    fields: decodeFields(poll, { timeZone: "UTC" }),
    lastPollTs: NOW - 30_000,
    now: NOW,
    pollsStored: 12,
    gapsStored: 3,
    databaseBytes: 4096,
    disk: { totalBytes: 1000, freeBytes: 250, usedPercent: 75 },
  });
  assert.ok(text.endsWith("\n"));
  const lines = text.split("\n");
  assert.ok(lines.includes("# TYPE lux_field_value gauge"));
  assert.ok(
    lines.includes(
      `lux_field_value{table="calculations",field="ID_WEB_Temperatur_TVL",unit="°C"} ${
        formatCell(modelFlow(NOW))
      }`,
    ),
  );
  // Unknown fields are raw integers without meaning: no gauge.
  assert.ok(!text.includes("Unknown_Calculation"));
  assert.ok(lines.includes(`lux_last_poll_timestamp_seconds ${(NOW - 30_000) / 1000}`));
  assert.ok(lines.includes("lux_last_poll_age_seconds 30"));
  assert.ok(lines.includes("lux_polls_stored 12"));
  assert.ok(lines.includes("lux_gaps_stored 3"));
  assert.ok(lines.includes("lux_database_bytes 4096"));
  assert.ok(lines.includes("lux_disk_used_percent 75"));
  assert.ok(lines.includes("lux_disk_free_bytes 250"));
  // Every sample line belongs to a family announced by HELP and TYPE.
  for (const line of lines.filter((l) => l && !l.startsWith("#"))) {
    const name = line.split(/[{ ]/)[0];
    assert.ok(lines.includes(`# TYPE ${name} gauge`), line);
  }
});

Deno.test("formatMetrics before the first poll leaves out poll figures", () => {
  const text = formatMetrics({
    fields: [],
    lastPollTs: null,
    now: NOW,
    pollsStored: 0,
    gapsStored: 0,
    databaseBytes: 0,
    disk: null,
  });
  assert.ok(!text.includes("lux_field_value"));
  assert.ok(!text.includes("lux_last_poll"));
  assert.ok(!text.includes("lux_disk"));
  assert.ok(text.includes("lux_polls_stored 0\n"));
});

// ---------- files and health ----------

Deno.test("listRollupFiles lists visible regular files, newest name first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "http_files_" });
  const daily = join(dir, "daily");
  await Deno.mkdir(join(daily, "subfolder"), { recursive: true });
  await Deno.writeTextFile(join(daily, "2026-03-27_daily.csv"), "a\r\n");
  await Deno.writeTextFile(join(daily, "2026-03-28_daily.csv"), "ab\r\n");
  await Deno.writeTextFile(join(daily, ".2026-03-29_daily.csv.1f.partial"), "half");
  await Deno.writeTextFile(join(dir, "secret.txt"), "not a roll-up");
  await Deno.symlink(join(dir, "secret.txt"), join(daily, "link.csv"));
  const dirs = { daily, weekly: join(dir, "weekly") };
  try {
    const files = await listRollupFiles(dirs, "daily");
    assert.deepEqual(files.map((f) => [f.name, f.bytes]), [
      ["2026-03-28_daily.csv", 4],
      ["2026-03-27_daily.csv", 3],
    ]);
    assert.ok(files.every((f) => f.kind === "daily" && typeof f.modified === "number"));
    assert.deepEqual(await listRollupFiles(dirs, "weekly"), []); // folder not created yet
    assert.equal(
      await rollupFilePath(dirs, "daily", "2026-03-28_daily.csv"),
      join(daily, "2026-03-28_daily.csv"),
    );
    for (
      const name of [
        "../secret.txt",
        "link.csv",
        "subfolder",
        ".2026-03-29_daily.csv.1f.partial",
        "",
      ]
    ) {
      assert.equal(await rollupFilePath(dirs, "daily", name), null, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a roll-up folder that is a file is an error, not an empty list", async () => {
  await using f = await fixture();
  await Deno.writeTextFile(f.context.config.dailyDir, "not a folder");
  await assert.rejects(
    listRollupFiles({ daily: f.context.config.dailyDir, weekly: f.dir }, "daily"),
  );
  const { response } = await get(f.handle, "/api/files");
  assert.equal(response.status, 500);
  assert.match(f.logs[0], /dashboard request failed path=\/api\/files/);
});

Deno.test("diskUsage and databaseBytes measure the database's file system and files", async () => {
  await using f = await fixture([modelPoll(NOW)]);
  const path = f.context.config.cachePath;
  const disk = diskUsage(path)!;
  assert.ok(disk.totalBytes > 0 && disk.freeBytes <= disk.totalBytes);
  assert.ok(disk.usedPercent >= 0 && disk.usedPercent <= 100);
  assert.equal(diskUsage(join(f.dir, "missing", "folder", "db")), null);
  const files = [path, `${path}-wal`, `${path}-shm`];
  let expected = 0;
  for (const file of files) expected += (await Deno.stat(file).catch(() => ({ size: 0 }))).size;
  assert.ok(expected > 0);
  assert.equal(databaseBytes(path), expected);
  assert.equal(databaseBytes(join(f.dir, "none.db")), 0);
});

// ---------- routes ----------

Deno.test("/api/current shows the newest poll decoded, headline first", async () => {
  await using f = await fixture([modelPoll(NOW - 2 * MINUTE_MS), modelPoll(NOW - MINUTE_MS)]);
  const { response, json } = await get(f.handle, "/api/current");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(response.headers.get("cache-control"), "no-store");
  const body = json();
  assert.equal(body.ts, NOW - MINUTE_MS);
  assert.equal(body.time, "2026-03-29T13:59:00+02:00");
  assert.equal(body.ageSec, 60);
  assert.equal(body.headline[0].id, TVL);
  assert.equal(body.headline[0].value, modelFlow(NOW - MINUTE_MS));
  assert.deepEqual(body.errors.map((e: { slot: number }) => e.slot), [0]);
  assert.equal(body.fields.length, decodeFields(stored(modelPoll(NOW)), {}).length);
});

Deno.test("/api/current before the first poll is empty, not an error", async () => {
  await using f = await fixture();
  const { response, json } = await get(f.handle, "/api/current");
  assert.equal(response.status, 200);
  assert.deepEqual(json(), { ts: null, time: null, headline: [], errors: [], fields: [] });
});

Deno.test("/api/series downsamples one field over the range", async () => {
  const polls: Poll[] = [];
  for (let ts = NOW - DAY_MS; ts < NOW; ts += MINUTE_MS) polls.push(modelPoll(ts));
  await using f = await fixture(polls);
  const from = NOW - DAY_MS;
  const { response, json } = await get(f.handle, `/api/series?field=${TVL}&points=100`);
  assert.equal(response.status, 200);
  const body = json();
  assert.equal(body.field, TVL);
  assert.equal(body.unit, "°C");
  assert.equal(body.from, from); // default range: the last 24 h
  assert.equal(body.to, NOW);
  assert.equal(body.count, 1440);
  assert.ok(body.t.length <= 100 && body.t.length >= 95, `${body.t.length} points`);
  assert.equal(body.bucketMs, Math.ceil(DAY_MS / 100));
  const flows = polls.map((p) => modelFlow(p.ts));
  assert.equal(Math.min(...body.min), Math.min(...flows));
  assert.equal(Math.max(...body.max), Math.max(...flows));
  // The first bucket's average is the average of the polls in it.
  const first = flows.slice(0, polls.filter((p) => p.ts < from + body.bucketMs).length);
  const mean = first.reduce((a, b) => a + b, 0) / first.length;
  assert.ok(Math.abs(body.avg[0] - mean) < 1e-9);
});

Deno.test("/api/series takes ISO or epoch-ms ranges and a bare field name", async () => {
  const polls = [0, 1, 2, 3].map((i) => modelPoll(NOW - 10 * MINUTE_MS + i * MINUTE_MS));
  await using f = await fixture(polls);
  const from = encodeURIComponent(new Date(NOW - 9 * MINUTE_MS).toISOString());
  const { json } = await get(
    f.handle,
    `/api/series?field=ID_WEB_Temperatur_TVL&from=${from}&to=${NOW - 7 * MINUTE_MS + 1}`,
  );
  const body = json();
  assert.equal(body.bucketMs, 0);
  assert.deepEqual(body.t, [NOW - 9 * MINUTE_MS, NOW - 8 * MINUTE_MS, NOW - 7 * MINUTE_MS]);
  assert.deepEqual(body.avg, body.t.map(modelFlow));
  assert.equal(body.points, DEFAULT_POINTS);
});

Deno.test("/api/series explains what is wrong with a request", async () => {
  await using f = await fixture([modelPoll(NOW)]);
  const cases: [string, number, RegExp][] = [
    ["/api/series", 400, /field is required/],
    [`/api/series?field=${TVL}&from=yesterday`, 400, /from="yesterday" is not an instant/],
    [`/api/series?field=${TVL}&from=${NOW}&to=${NOW}`, 400, /from must be before to/],
    [`/api/series?field=${TVL}&points=0`, 400, new RegExp(`points must be .* 1 to ${MAX_POINTS}`)],
    [`/api/series?field=${TVL}&points=1.5`, 400, /points must be/],
    ["/api/series?field=nonsense", 404, /unknown field "nonsense"/],
    // An operating state is a label, not a number: nothing to chart.
    ["/api/series?field=ID_WEB_WP_BZ_akt", 400, /calculations.ID_WEB_WP_BZ_akt is not numeric/],
    [`/api/series?field=${TVL}&to=99999999999999999999`, 400, /to=\S+ is outside the range/],
    [`/api/series?field=${TVL}&from=-8640000000000001`, 400, /from=\S+ is outside the range/],
  ];
  for (const [path, status, message] of cases) {
    const { response, json } = await get(f.handle, path);
    assert.equal(response.status, status, path);
    assert.match(json().error, message, path);
  }
  await using empty = await fixture();
  const beforeFirstPoll = await get(empty.handle, `/api/series?field=${TVL}`);
  assert.equal(beforeFirstPoll.response.status, 404);
  assert.match(beforeFirstPoll.json().error, /no poll stored yet/);
});

Deno.test("parseInstantParam falls back when absent and reads both forms", () => {
  assert.equal(parseInstantParam("to", null, 5), 5);
  assert.equal(parseInstantParam("to", "", 5), 5);
  assert.equal(parseInstantParam("to", "1774785600000", 5), 1774785600000);
  assert.equal(parseInstantParam("to", "2026-03-29T14:00:00+02:00", 5), NOW);
});

Deno.test("/api/gaps lists failed polls in the range, the last 30 days by default", async () => {
  await using f = await fixture([modelPoll(NOW - HOUR_MS)]);
  f.storage.insertGap(NOW - 40 * DAY_MS, "too old for the default range");
  f.storage.insertGap(NOW - 2 * HOUR_MS, "TimeoutError: connect timed out after 60000 ms");
  const body = (await get(f.handle, "/api/gaps")).json();
  assert.equal(body.from, NOW - 30 * DAY_MS);
  assert.deepEqual(body.gaps, [{
    ts: NOW - 2 * HOUR_MS,
    reason: "TimeoutError: connect timed out after 60000 ms",
    time: "2026-03-29T12:00:00+02:00",
  }]);
  const all = (await get(f.handle, `/api/gaps?from=0&to=${NOW}`)).json();
  assert.equal(all.gaps.length, 2);
});

Deno.test("/api/files and /files/… offer the roll-ups byte for byte, nothing else", async () => {
  await using f = await fixture();
  const daily = f.context.config.dailyDir;
  await Deno.mkdir(daily, { recursive: true });
  const content = new TextEncoder().encode(
    "\uFEFFtimestamp,ID_WEB_Temperatur_TVL [°C]\r\n2026-03-28T07:00:00+01:00,21.5\r\n",
  );
  await Deno.writeFile(join(daily, "2026-03-28_daily.csv"), content);
  await Deno.writeTextFile(join(f.dir, "secret.txt"), "outside the roll-up folders");
  const list = (await get(f.handle, "/api/files")).json();
  assert.deepEqual(list.weekly, []);
  assert.equal(list.daily.length, 1);
  assert.equal(list.daily[0].url, "/files/daily/2026-03-28_daily.csv");
  assert.equal(list.daily[0].bytes, content.length);

  const response = await f.handle(new Request(`http://127.0.0.1${list.daily[0].url}`));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/csv; charset=utf-8");
  assert.equal(response.headers.get("content-length"), String(content.length));
  assert.equal(
    response.headers.get("content-disposition"),
    'attachment; filename="2026-03-28_daily.csv"',
  );
  assert.deepEqual(new Uint8Array(await response.arrayBuffer()), content);

  // A file a user put there under a name beyond ASCII downloads too.
  await Deno.writeFile(join(daily, "Bericht €.csv"), content);
  const named = await f.handle(new Request("http://127.0.0.1/files/daily/Bericht%20%E2%82%AC.csv"));
  assert.equal(named.status, 200);
  assert.equal(
    named.headers.get("content-disposition"),
    `attachment; filename="Bericht _.csv"; filename*=UTF-8''Bericht%20%E2%82%AC.csv`,
  );
  assert.deepEqual(new Uint8Array(await named.arrayBuffer()), content);

  for (
    const path of [
      "/files/daily/..%2Fsecret.txt",
      "/files/daily/%2E%2E%2Fsecret.txt",
      "/files/monthly/2026-03-28_daily.csv",
      "/files/weekly/2026-03-28_daily.csv",
      "/files/daily/../secret.txt",
      "/files/daily/%E0%A4%A",
    ]
  ) {
    const { response, text } = await get(f.handle, path);
    assert.ok([400, 404].includes(response.status), `${path}: ${response.status}`);
    assert.ok(!text.includes("outside the roll-up folders"), path);
  }
});

Deno.test("/api/health reports the last poll, counts, database and disk", async () => {
  await using f = await fixture([modelPoll(NOW - 5 * MINUTE_MS), modelPoll(NOW - MINUTE_MS)]);
  f.storage.insertGap(NOW - HOUR_MS, "ConnectionRefused");
  f.storage.insertGap(NOW - 2 * DAY_MS, "ConnectionRefused");
  const body = (await get(f.handle, "/api/health")).json();
  assert.equal(body.status, "ok");
  assert.equal(body.lastPollTs, NOW - MINUTE_MS);
  assert.equal(body.lastPollAgeSec, 60);
  assert.equal(body.pollsStored, 2);
  assert.equal(body.gapsLast24h, 1);
  assert.equal(body.timeZone, "Europe/Berlin");
  assert.equal(body.database.bytes, databaseBytes(f.context.config.cachePath));
  assert.ok(body.disk.totalBytes > 0);

  const stale = createDashboardHandler({ ...f.context, now: () => NOW + HOUR_MS });
  assert.equal((await get(stale, "/api/health")).json().status, "stale");
  await using empty = await fixture();
  const none = (await get(empty.handle, "/api/health")).json();
  assert.equal(none.status, "no polls yet");
  assert.equal(none.lastPollAgeSec, null);
});

Deno.test("remembered recomputes only after the given age", () => {
  let clock = 0;
  let computed = 0;
  const value = remembered(60_000, () => clock, () => ++computed);
  assert.equal(value(), 1);
  clock = 59_999;
  assert.equal(value(), 1);
  clock = 60_000;
  assert.equal(value(), 2);
});

Deno.test("poll and gap counts are refreshed at most once a minute", async () => {
  await using f = await fixture([modelPoll(NOW - MINUTE_MS)]);
  let clock = NOW;
  const handle = createDashboardHandler({ ...f.context, now: () => clock });
  assert.match((await get(handle, "/metrics")).text, /^lux_polls_stored 1$/m);
  f.storage.insertPoll(modelPoll(NOW));
  f.storage.insertGap(NOW, "ConnectionRefused");
  clock = NOW + COUNTS_MAX_AGE_MS - 1;
  assert.equal((await get(handle, "/api/health")).json().pollsStored, 1);
  clock = NOW + COUNTS_MAX_AGE_MS;
  const metrics = (await get(handle, "/metrics")).text;
  assert.match(metrics, /^lux_polls_stored 2$/m);
  assert.match(metrics, /^lux_gaps_stored 1$/m);
  // The newest poll itself is never cached.
  assert.match(metrics, new RegExp(`^lux_last_poll_timestamp_seconds ${NOW / 1000}$`, "m"));
});

Deno.test("/metrics serves the Prometheus text format", async () => {
  await using f = await fixture([modelPoll(NOW - MINUTE_MS)]);
  f.storage.insertGap(NOW - 40 * DAY_MS, "old gap");
  const { response, text } = await get(f.handle, "/metrics");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), METRICS_CONTENT_TYPE);
  assert.match(
    text,
    /^lux_field_value\{table="calculations",field="ID_WEB_Temperatur_TVL",unit="°C"\} /m,
  );
  assert.match(text, /^lux_last_poll_age_seconds 60$/m);
  assert.match(text, /^lux_polls_stored 1$/m);
  assert.match(text, /^lux_gaps_stored 1$/m);
  await using empty = await fixture();
  assert.match((await get(empty.handle, "/metrics")).text, /^lux_polls_stored 0$/m);
});

Deno.test("the page and its assets are served; unknown paths are 404", async () => {
  await using f = await fixture();
  const page = await get(f.handle, "/");
  assert.equal(page.response.status, 200);
  assert.equal(page.response.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(page.response.headers.get("content-security-policy")!, /default-src 'self'/);
  assert.match(page.text, /<script src="\/static\/app.js" defer><\/script>/);
  for (
    const path of [
      "/static/app.js",
      "/static/style.css",
      "/static/vendor/uPlot.iife.min.js",
      "/static/vendor/uPlot.min.css",
    ]
  ) {
    const { response, text } = await get(f.handle, path);
    assert.equal(response.status, 200, path);
    assert.ok(text.length > 100, path);
  }
  assert.match((await get(f.handle, "/static/vendor/uPlot.iife.min.js")).text, /uPlot/);
  const missing = await get(f.handle, "/static/../../deno.json");
  assert.equal(missing.response.status, 404);
  assert.equal((await get(f.handle, "/nope")).json().error, "not found: /nope");
});

Deno.test("only GET and HEAD: anything that could change something is 405", async () => {
  await using f = await fixture([modelPoll(NOW)]);
  for (const method of ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
    const { response } = await get(f.handle, "/api/current", method);
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get("allow"), "GET, HEAD");
  }
  assert.equal(f.storage.countPolls(), 1);
  const head = await f.handle(new Request("http://127.0.0.1/api/current", { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
  assert.equal(head.headers.get("content-type"), "application/json; charset=utf-8");
});

Deno.test("an unexpected failure is a 500 with a log line, not a crash", async () => {
  await using f = await fixture([modelPoll(NOW)]);
  const broken = createDashboardHandler({
    ...f.context,
    storage: {
      ...f.storage,
      lastPollTs: () => NOW,
      polls: f.storage.polls.bind(f.storage),
      gaps: f.storage.gaps.bind(f.storage),
      countPolls: () => {
        throw new Error("database disk image is malformed");
      },
    },
  });
  const { response, json } = await get(broken, "/api/health");
  assert.equal(response.status, 500);
  assert.equal(json().error, "internal error; see the service log");
  assert.equal(f.logs.length, 1);
  assert.match(
    f.logs[0],
    /dashboard request failed path=\/api\/health error="database disk image is malformed"/,
  );
});

// ---------- server and service ----------

Deno.test("startDashboard serves over loopback TCP and stops on close", async () => {
  await using f = await fixture([modelPoll(NOW)]);
  const dashboard = startDashboard({ ...f.context, hostname: "127.0.0.1", port: 0 });
  try {
    assert.equal(dashboard.url, `http://127.0.0.1:${dashboard.port}/`);
    const response = await fetch(`${dashboard.url}api/current`);
    assert.equal((await response.json()).ts, NOW);
    // The port is taken now: a second dashboard there is a clear error.
    assert.throws(
      () => startDashboard({ ...f.context, hostname: "127.0.0.1", port: dashboard.port }),
      (error: Error) =>
        error instanceof DashboardError &&
        error.message.startsWith(
          `dashboard: cannot listen on 127.0.0.1:${dashboard.port} (HTTP_HOST/HTTP_PORT)`,
        ),
    );
  } finally {
    await dashboard.close();
  }
  await assert.rejects(fetch(`${dashboard.url}api/current`));
});

Deno.test("contentDisposition: plain names as they are, others in filename* too", () => {
  assert.equal(
    contentDisposition("2026-03-28_daily.csv"),
    'attachment; filename="2026-03-28_daily.csv"',
  );
  assert.equal(
    contentDisposition('a"b\\c.csv'),
    "attachment; filename=\"a_b_c.csv\"; filename*=UTF-8''a%22b%5Cc.csv",
  );
  assert.equal(
    contentDisposition("Wärme (März)'s.csv"),
    "attachment; filename=\"W_rme (M_rz)'s.csv\"; filename*=UTF-8''W%C3%A4rme%20%28M%C3%A4rz%29%27s.csv",
  );
  assert.equal(
    contentDisposition("x\r\n.csv"),
    "attachment; filename=\"x__.csv\"; filename*=UTF-8''x%0D%0A.csv",
  );
});

Deno.test("cutOffWhen ends a body early once the signal aborts", async () => {
  let pulls = 0;
  let cancelled = false;
  const endless = new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull: (controller) => controller.enqueue(new Uint8Array([pulls++])),
    cancel: () => {
      cancelled = true;
    },
  });
  const closing = new AbortController();
  const reader = cutOffWhen(closing.signal, endless).getReader();
  assert.deepEqual((await reader.read()).value, new Uint8Array([0]));
  closing.abort();
  assert.equal((await reader.read()).done, true);
  assert.ok(cancelled, "the file's stream is cancelled, so the file is closed");
  const untouched = new ReadableStream();
  assert.equal(cutOffWhen(undefined, untouched), untouched);
});

Deno.test({
  name: "close() cuts off a download the client stopped reading, instead of waiting for it",
  // The stalled connection is the point of the test; it ends when the client closes it.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using f = await fixture([modelPoll(NOW)]);
    await Deno.mkdir(f.context.config.dailyDir);
    // Larger than the socket buffers of loopback, so the server is left waiting to write.
    const big = new Uint8Array(64 * 1024 * 1024).fill(0x41);
    await Deno.writeFile(join(f.context.config.dailyDir, "2026-03-28_daily.csv"), big);
    const dashboard = startDashboard({
      ...f.context,
      hostname: "127.0.0.1",
      port: 0,
      closeGraceMs: 300,
    });
    const client = await Deno.connect({ hostname: "127.0.0.1", port: dashboard.port });
    try {
      await client.write(
        new TextEncoder().encode(
          "GET /files/daily/2026-03-28_daily.csv HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
      );
      const head = new Uint8Array(4096);
      assert.ok((await client.read(head))! > 0, "the download has started");
      // The client reads no further. Closing the dashboard still ends in good time.
      const started = performance.now();
      await dashboard.close();
      const ms = performance.now() - started;
      assert.ok(ms < 2_000, `close() took ${ms.toFixed(0)} ms`);
    } finally {
      client.close();
    }
  },
});

Deno.test("run serves the dashboard when HTTP_PORT is set and stops it on shutdown", async () => {
  const dir = await Deno.makeTempDir({ prefix: "http_run_" });
  const simulator = startSimulator({ port: 0 });
  const lines: string[] = [];
  const logger = createLogger({ format: "json", write: (line) => lines.push(line) });
  const config: Config = {
    ...resolveConfig({
      HOST: "127.0.0.1",
      PORT: String(simulator.port),
      INTERVAL_SEC: "1",
      TIMEOUT_SEC: "5",
      CACHE_PATH: join(dir, "cache.db"),
      OUTPUT_DIRS_DAILY: join(dir, "daily"),
      OUTPUT_DIRS_WEEKLY: join(dir, "weekly"),
      TZ: "UTC",
    }),
    httpPort: 0, // any free port; the log line says which
  };
  const shutdown = new AbortController();
  const service = runService(config, logger, shutdown.signal);
  try {
    let url: string | undefined;
    let polled = false;
    for (let attempt = 0; attempt < 300 && !(url && polled); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const records = lines.map((line) => JSON.parse(line));
      url ??= records.find((r) => r.msg === "dashboard listening")?.url;
      polled = records.some((r) => r.msg === "poll stored");
    }
    assert.ok(url, `no "dashboard listening" line in ${lines.join("\n")}`);
    assert.ok(polled, "the service stored no poll");
    const current = await (await fetch(`${url}api/current`)).json();
    assert.equal(current.headline[0].id, TVL);
    shutdown.abort();
    await service;
    await assert.rejects(fetch(`${url}api/current`));
  } finally {
    shutdown.abort();
    await service.catch(() => {});
    await simulator.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run without HTTP_PORT starts no dashboard", async () => {
  const dir = await Deno.makeTempDir({ prefix: "http_run_off_" });
  const lines: string[] = [];
  const config = resolveConfig({
    HOST: "127.0.0.1",
    PORT: "1",
    RETRIES: "0",
    CACHE_PATH: join(dir, "cache.db"),
    OUTPUT_DIRS_DAILY: join(dir, "daily"),
    OUTPUT_DIRS_WEEKLY: join(dir, "weekly"),
  });
  assert.equal(config.httpPort, null);
  const shutdown = new AbortController();
  const service = runService(
    config,
    createLogger({ write: (l) => lines.push(l) }),
    shutdown.signal,
  );
  shutdown.abort();
  await service;
  assert.ok(!lines.some((line) => line.includes("dashboard")), lines.join("\n"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a dashboard port that is taken is logged, and polling goes on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "http_run_taken_" });
  const simulator = startSimulator({ port: 0 });
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const lines: string[] = [];
  const config: Config = {
    ...resolveConfig({
      HOST: "127.0.0.1",
      PORT: String(simulator.port),
      INTERVAL_SEC: "1",
      CACHE_PATH: join(dir, "cache.db"),
      OUTPUT_DIRS_DAILY: join(dir, "daily"),
      OUTPUT_DIRS_WEEKLY: join(dir, "weekly"),
    }),
    httpPort: (taken.addr as Deno.NetAddr).port,
  };
  const shutdown = new AbortController();
  const service = runService(
    config,
    createLogger({ write: (l) => lines.push(l) }),
    shutdown.signal,
  );
  try {
    for (let i = 0; i < 300 && !lines.some((l) => l.includes("poll stored")); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(
      lines.some((l) => /ERROR dashboard not started; polling goes on/.test(l)),
      lines.join("\n"),
    );
    assert.ok(lines.some((l) => l.includes("poll stored")), lines.join("\n"));
  } finally {
    shutdown.abort();
    await service;
    taken.close();
    await simulator.close();
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------- series over many days ----------

Deno.test("fieldSeries reads day by day without losing or repeating a poll", async () => {
  const start = Date.UTC(2026, 2, 1);
  const polls: Poll[] = [];
  // Hourly polls, so several fall exactly on the day boundaries of the reading.
  for (let ts = start; ts < start + 3 * DAY_MS; ts += HOUR_MS) polls.push(modelPoll(ts));
  await using f = await fixture(polls);
  const column = findColumn(stored(polls[0]), TVL)!;
  const series = await fieldSeries(
    f.storage,
    column,
    { from: start, to: start + 3 * DAY_MS, points: 1000 },
    {},
  );
  assert.equal(series.count, polls.length);
  assert.deepEqual(series.t, polls.map((p) => p.ts));
  assert.deepEqual(series.avg, polls.map((p) => modelFlow(p.ts)));
});

Deno.test("fieldSeries over a range far wider than the stored polls reads only around them", async () => {
  // Two stored stretches a year apart; the request spans every instant a Date can hold.
  const polls = [365 * 24 + 1, 365 * 24, 3, 2, 1].map((h) => modelPoll(NOW - h * HOUR_MS));
  await using f = await fixture(polls);
  let reads = 0;
  const counting = {
    polls(from: number, to: number) {
      reads++;
      return f.storage.polls(from, to);
    },
  };
  const column = findColumn(stored(polls[0]), TVL)!;
  const series = await fieldSeries(
    counting,
    column,
    { from: -8.64e15, to: 8.64e15, points: 1000 },
    {},
  );
  assert.equal(series.count, polls.length);
  // Day by day this would be 200 million reads; skipping empty days it is a handful.
  assert.ok(reads <= 10, `${reads} reads`);
  const whole = await get(f.handle, `/api/series?field=${TVL}&from=-8640000000000000`);
  assert.equal(whole.response.status, 200);
  assert.equal(whole.json().count, polls.length);
});

Deno.test("fieldSeries lets timers run during a long read", async () => {
  const BUSY_MS = 60; // longer than one slice of reading
  const events: string[] = [];
  const slowStorage = {
    *polls(from: number): Generator<StoredPoll> {
      const until = performance.now() + BUSY_MS;
      while (performance.now() < until) { /* a slow disk */ }
      events.push(`read ${(from - NOW) / DAY_MS}`);
      yield stored(modelPoll(from));
    },
  };
  setTimeout(() => events.push("timer"), 0);
  const column = findColumn(stored(modelPoll(NOW)), TVL)!;
  const series = await fieldSeries(
    slowStorage,
    column,
    { from: NOW, to: NOW + 3 * DAY_MS, points: 10 },
    {},
  );
  assert.deepEqual(events, ["read 0", "timer", "read 1", "read 2"]);
  assert.equal(series.count, 3);
});
