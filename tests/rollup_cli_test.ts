/**
 * `rollup --at` through the real CLI over an ingested fortnight writes the same files as the
 * running schedule (fake clock) over the same polls.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import FakeTimers from "@sinonjs/fake-timers";
import { main } from "../main.ts";
import { Storage } from "../src/storage.ts";
import { silentLogger } from "../src/log.ts";
import { rollupOptionsFromConfig, Rollups, startRollupSchedule } from "../src/rollup.ts";
import { resolveConfig } from "../src/config.ts";
import type { CronFunction } from "../src/scheduler.ts";

const MINUTE_MS = 60_000;
const FIRST = Date.parse("2026-03-21T00:00:00Z");
const LAST = Date.parse("2026-04-05T00:00:00Z");

function recording(): string {
  const lines: string[] = [];
  for (let ts = FIRST; ts < LAST; ts += 10 * MINUTE_MS) {
    const calculations = Array.from({ length: 12 }, (_, i) => (ts / MINUTE_MS + i) % 1000);
    lines.push(JSON.stringify({
      ts: new Date(ts).toISOString(),
      calculations,
      parameters: [0, 1, 2, 3],
      visibilities: null,
    }));
  }
  return lines.join("\n") + "\n";
}

async function tree(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const kind of ["daily", "weekly"]) {
    for await (const entry of Deno.readDir(join(dir, kind))) {
      files.set(`${kind}/${entry.name}`, await Deno.readTextFile(join(dir, kind, entry.name)));
    }
  }
  return files;
}

function flags(dir: string): string[] {
  return [
    "--tz",
    "Europe/Berlin",
    "--csv-time",
    "07:00",
    "--output-dirs-daily",
    join(dir, "daily"),
    "--output-dirs-weekly",
    join(dir, "weekly"),
    "--csv-retention-days",
    "3650",
    "--log-level",
    "error",
  ];
}

Deno.test("rollup --at over an ingested fortnight writes the same files as the schedule", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rollup_cli_test_" });
  try {
    const input = join(dir, "fortnight.jsonl");
    await Deno.writeTextFile(input, recording());
    const cliDb = join(dir, "cli.db");
    const scheduleDb = join(dir, "schedule.db");
    assert.equal(await main(["ingest", "--db", cliDb, input]), 0);
    assert.equal(await main(["ingest", "--db", scheduleDb, input]), 0);

    // The CLI: first at 07:30 on 03-22, then each morning for a week, then once after a gap.
    const cliDir = join(dir, "cli");
    const mornings = ["2026-03-22T07:30:00+01:00"];
    for (let day = 23; day <= 28; day++) mornings.push(`2026-03-${day}T07:30:00+01:00`);
    mornings.push("2026-04-04T07:30:00+02:00");
    for (const at of mornings) {
      assert.equal(await main(["rollup", "--db", cliDb, "--at", at, ...flags(cliDir)]), 0, at);
    }
    // Running it again changes nothing.
    assert.equal(
      await main(["rollup", "--db", cliDb, "--at", mornings.at(-1)!, ...flags(cliDir)]),
      0,
    );

    // The schedule: the service started at the same instant, a tick every 5 minutes until 04-04 08:00.
    const scheduleDir = join(dir, "schedule");
    const config = resolveConfig({
      TZ: "Europe/Berlin",
      OUTPUT_DIRS_DAILY: join(scheduleDir, "daily"),
      OUTPUT_DIRS_WEEKLY: join(scheduleDir, "weekly"),
      CSV_RETENTION_DAYS: "3650",
    });
    const storage = Storage.open(scheduleDb);
    const clock = FakeTimers.createClock(Date.parse(mornings[0]));
    const handlers: (() => Promise<void> | void)[] = [];
    const cron: CronFunction = (_n, _s, _o, handler) => {
      handlers.push(handler);
      return Promise.resolve();
    };
    const rollups = new Rollups(storage, rollupOptionsFromConfig(config), silentLogger);
    const controller = new AbortController();
    try {
      await startRollupSchedule(rollups, controller.signal, {
        cron,
        now: () => Temporal.Instant.fromEpochMilliseconds(clock.now),
      });
      while (clock.now < Date.parse("2026-04-04T08:00:00+02:00")) {
        clock.tick(5 * MINUTE_MS);
        await handlers[0]();
      }
    } finally {
      controller.abort();
      await rollups.idle();
      storage.close();
    }

    const fromCli = await tree(cliDir);
    const fromSchedule = await tree(scheduleDir);
    assert.deepEqual([...fromCli.keys()].sort(), [...fromSchedule.keys()].sort());
    assert.equal([...fromCli.keys()].filter((k) => k.startsWith("daily/")).length, 14);
    assert.equal([...fromCli.keys()].filter((k) => k.startsWith("weekly/")).length, 3);
    for (const [name, content] of fromCli) assert.equal(content, fromSchedule.get(name), name);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rollup: usage mistakes exit 2 with a message naming the flag", async () => {
  assert.equal(await main(["rollup"]), 2);
  assert.equal(await main(["rollup", "--db", "/nonexistent/x.db"]), 2);
  assert.equal(await main(["rollup", "--db", "x.db", "--at", "yesterday"]), 2);
});

Deno.test("rollup --at in the future is refused and records nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rollup_cli_test_" });
  try {
    const db = join(dir, "cache.db");
    Storage.open(db).close();
    const future = Temporal.Now.instant().add({ hours: 24 }).toString();
    assert.equal(await main(["rollup", "--db", db, "--at", future, ...flags(dir)]), 2);
    const storage = Storage.open(db);
    try {
      assert.equal(storage.getMeta("rollup.daily.last_end"), undefined);
    } finally {
      storage.close();
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["cache.db"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rollup without --at rolls up at the current instant", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rollup_cli_test_" });
  try {
    const db = join(dir, "cache.db");
    Storage.open(db).close();
    assert.equal(await main(["rollup", "--db", db, ...flags(dir)]), 0);
    const files = await tree(dir);
    assert.equal(files.size, 2); // the latest daily and weekly windows, header only
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
