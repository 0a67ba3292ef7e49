/**
 * How long the dashboard takes to serve a 365-day chart of one field.
 *
 *   deno task bench:dashboard [--interval-sec 300] [--runs 5] [--points 1000]
 *
 * Builds a year of the modelled heat pump (src/luxtronik/heatpump_model.ts) in a
 * temporary database through Storage.insertPolls, starts the dashboard on loopback and
 * times GET /api/series for the whole year over HTTP, plus /api/current and /metrics
 * for comparison. The default is one poll every 5 minutes (105,120 polls); a real
 * 30-second year (1,051,200 polls, about 11 MiB of database) is `--interval-sec 30`.
 * Prints figures only: nothing here passes or fails.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { silentLogger } from "../src/log.ts";
import { modelTables } from "../src/luxtronik/heatpump_model.ts";
import { type Poll, Storage } from "../src/storage.ts";
import { databaseBytes } from "../src/http/health.ts";
import { startDashboard } from "../src/http/server.ts";

const DAY_MS = 86_400_000;
const YEAR_MS = 365 * DAY_MS;
const BATCH_POLLS = 5_000;
const FIELD = "calculations.ID_WEB_Temperatur_TVL";

function* yearOfPolls(start: number, intervalMs: number): Generator<Poll> {
  for (let ts = start; ts < start + YEAR_MS; ts += intervalMs) {
    yield { ts, ...modelTables(ts / 1000) };
  }
}

function ingest(storage: Storage, polls: Iterable<Poll>): number {
  let batch: Poll[] = [];
  let stored = 0;
  for (const poll of polls) {
    batch.push(poll);
    if (batch.length === BATCH_POLLS) {
      stored += storage.insertPolls(batch);
      batch = [];
    }
  }
  return stored + storage.insertPolls(batch);
}

async function timeRequest(url: string): Promise<{ ms: number; bytes: number; body: string }> {
  const started = performance.now();
  const response = await fetch(url);
  const body = await response.text();
  const ms = performance.now() - started;
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${body}`);
  return { ms, bytes: new TextEncoder().encode(body).length, body };
}

function summary(times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return `median ${median.toFixed(0)} ms, min ${sorted[0].toFixed(0)} ms, max ${
    sorted.at(-1)!.toFixed(0)
  } ms`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "interval-sec": { type: "string", default: "300" },
      runs: { type: "string", default: "5" },
      points: { type: "string", default: "1000" },
    },
  });
  const intervalSec = Number(values["interval-sec"]);
  const runs = Number(values.runs);
  const points = Number(values.points);
  if (!(intervalSec >= 1) || !(runs >= 1) || !(points >= 1)) {
    console.error("usage: dashboard_bench.ts [--interval-sec N>=1] [--runs N>=1] [--points N>=1]");
    Deno.exit(2);
  }

  const dir = await Deno.makeTempDir({ prefix: "dashboard_bench_" });
  const dbPath = join(dir, "cache.db");
  const storage = Storage.open(dbPath);
  const to = Math.floor(Date.now() / 60_000) * 60_000;
  const from = to - YEAR_MS;
  try {
    const ingestStarted = performance.now();
    const stored = ingest(storage, yearOfPolls(from, intervalSec * 1000));
    const ingestSec = (performance.now() - ingestStarted) / 1000;
    console.log(
      `ingested ${stored} polls (365 days, one every ${intervalSec} s) in ${
        ingestSec.toFixed(1)
      } s; database ${(databaseBytes(dbPath) / 2 ** 20).toFixed(1)} MiB`,
    );

    const dashboard = startDashboard({
      hostname: "127.0.0.1",
      port: 0,
      storage,
      logger: silentLogger,
      config: {
        timeZone: "UTC",
        dailyDir: join(dir, "daily"),
        weeklyDir: join(dir, "weekly"),
        cachePath: dbPath,
        intervalSec,
      },
    });
    try {
      const seriesUrl = `${dashboard.url}api/series?field=${FIELD}&from=${from}&to=${to}` +
        `&points=${points}`;
      const times: number[] = [];
      let last: { bytes: number; body: string } | undefined;
      for (let run = 0; run < runs; run++) {
        const result = await timeRequest(seriesUrl);
        times.push(result.ms);
        last = result;
      }
      const series = JSON.parse(last!.body);
      console.log(
        `GET /api/series, 365 days of ${FIELD}, ${points} points: ${summary(times)} ` +
          `(${runs} runs; ${series.count} polls read, ${series.t.length} points, ${
            last!.bytes
          } bytes)`,
      );
      for (const path of ["api/current", "metrics", "api/health"]) {
        const pathTimes: number[] = [];
        for (let run = 0; run < runs; run++) {
          pathTimes.push((await timeRequest(`${dashboard.url}${path}`)).ms);
        }
        console.log(`GET /${path}: ${summary(pathTimes)}`);
      }
    } finally {
      await dashboard.close();
    }
  } finally {
    storage.close();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
