import {
  BoundedQueue,
  DiskFullBuffer,
  type DiskUsage,
  diskUsage,
  DiskWatch,
  listRollupFiles,
  parseRollupName,
  planRollupDeletions,
  type RollupFile,
  usageFromStatfs,
} from "../src/diskwatch.ts";
import { createLogger } from "../src/log.ts";
import { applyRetention, retentionCutoff, runMaintenance } from "../src/maintenance.ts";
import { Storage } from "../src/storage.ts";
import {
  assert,
  assertEquals,
  assertSamePolls,
  assertThrows,
  expectedPolls,
  randomPolls,
  tempDb,
} from "./storage_helpers.ts";

function recordingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: "debug", write: (line) => lines.push(line) }) };
}

const MIB = 1024 * 1024;

function usage(usedMib: number, availableMib: number): DiskUsage {
  return {
    totalBytes: (usedMib + availableMib) * MIB,
    usedBytes: usedMib * MIB,
    availableBytes: availableMib * MIB,
    percent: Math.ceil((100 * usedMib) / (usedMib + availableMib)),
  };
}

function rollup(date: string, kind: "daily" | "weekly", sizeMib: number): RollupFile {
  return { path: `/logs/${kind}/${date}_${kind}.csv`, kind, date, sizeBytes: sizeMib * MIB };
}

Deno.test("usage figures follow df: used / (used + available), rounded up", () => {
  // 4 KiB blocks: 1000 total, 300 free of which 200 available to users.
  const figures = usageFromStatfs({ bsize: 4096, blocks: 1000, bfree: 300, bavail: 200 });
  assertEquals(figures, {
    totalBytes: 4_096_000,
    usedBytes: 2_867_200,
    availableBytes: 819_200,
    percent: 78,
  });
  assertEquals(usageFromStatfs({ bsize: 4096, blocks: 0, bfree: 0, bavail: 0 }).percent, 100);
  const real = diskUsage(Deno.cwd());
  assert(real.totalBytes > 0 && real.percent >= 0 && real.percent <= 100, JSON.stringify(real));
});

Deno.test("only YYYY-MM-DD_daily.csv and YYYY-MM-DD_weekly.csv are roll-ups", () => {
  assertEquals(parseRollupName("2026-03-28_daily.csv"), { date: "2026-03-28", kind: "daily" });
  assertEquals(parseRollupName("2026-03-23_weekly.csv"), { date: "2026-03-23", kind: "weekly" });
  for (
    const name of ["cache.db", "2026-03-28_daily.csv.tmp", "x2026-03-28_daily.csv", "notes.csv"]
  ) {
    assertEquals(parseRollupName(name), null, name);
  }
});

Deno.test("deletion plan: oldest first, just enough, never the newest of each kind", () => {
  const files = [
    rollup("2026-03-03", "daily", 10),
    rollup("2026-03-01", "daily", 10),
    rollup("2026-03-02", "daily", 10),
    rollup("2026-02-23", "weekly", 30),
    rollup("2026-03-02", "weekly", 30),
  ];
  // 95 % used of 1000 MiB; 90 % wanted: 50 MiB must go.
  const plan = planRollupDeletions(files, usage(950, 50), 90);
  assertEquals(plan.map((f) => f.path), [
    "/logs/weekly/2026-02-23_weekly.csv",
    "/logs/daily/2026-03-01_daily.csv",
    "/logs/daily/2026-03-02_daily.csv",
  ]);
  // Under the threshold: nothing.
  assertEquals(planRollupDeletions(files, usage(800, 200), 90), []);
  // Far over: everything but the newest of each kind, and no more.
  assertEquals(
    planRollupDeletions(files, usage(999, 1), 50).map((f) => f.date),
    ["2026-02-23", "2026-03-01", "2026-03-02"],
  );
  assertEquals(planRollupDeletions([], usage(999, 1), 50), []);
});

Deno.test("the disk watch warns with the figures and deletes the oldest roll-ups, logging each", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lux-diskwatch-" });
  const daily = `${dir}/daily`;
  const weekly = `${dir}/weekly`;
  await Deno.mkdir(daily);
  await Deno.mkdir(weekly);
  for (const date of ["2026-03-01", "2026-03-02", "2026-03-03"]) {
    await Deno.writeTextFile(`${daily}/${date}_daily.csv`, "x".repeat(1000));
  }
  await Deno.writeTextFile(`${daily}/keep-me.csv`, "not a roll-up");
  await Deno.writeTextFile(`${weekly}/2026-02-23_weekly.csv`, "w");
  assertEquals(listRollupFiles(daily, "daily").length, 3);
  assertEquals(listRollupFiles(daily, "weekly"), []);
  assertEquals(listRollupFiles(`${dir}/missing`, "daily"), []);

  const { lines, logger } = recordingLogger();
  let used = 2_400;
  const watch = new DiskWatch({
    databaseDir: dir,
    dailyDir: daily,
    weeklyDir: weekly,
    thresholdPercent: 50,
    logger,
    // A 4,000-byte disk: each deleted roll-up of 1,000 bytes brings usage down.
    usage: () => ({
      totalBytes: 4_000,
      usedBytes: used,
      availableBytes: 4_000 - used,
      percent: Math.ceil(used / 40),
    }),
  });
  const deleted = watch.check();
  assertEquals(deleted, [`${daily}/2026-03-01_daily.csv`]);
  assert(
    lines.some((l) =>
      l.includes("disk usage above DISK_USAGE_THRESHOLD") && l.includes("used_percent=60")
    ),
  );
  assert(
    lines.some((l) =>
      l.includes("roll-up deleted to free disk space") && l.includes("2026-03-01_daily.csv")
    ),
  );
  assert(await Deno.stat(`${daily}/keep-me.csv`));
  assert(await Deno.stat(`${weekly}/2026-02-23_weekly.csv`), "the only weekly file stays");
  // Below the threshold: quiet, nothing deleted.
  used = 1_000;
  lines.length = 0;
  assertEquals(watch.check(), []);
  assertEquals(lines, []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the disk watch without statfs permission warns once and stays off", () => {
  const { lines, logger } = recordingLogger();
  const watch = new DiskWatch({
    databaseDir: "/nowhere",
    dailyDir: "/nowhere",
    weeklyDir: "/nowhere",
    thresholdPercent: 90,
    logger,
    usage: () => {
      throw new Deno.errors.NotCapable("Requires sys access");
    },
  });
  assertEquals(watch.check(), []);
  assertEquals(watch.check(), []);
  assertEquals(lines.filter((l) => l.includes("--allow-sys")).length, 1);
});

Deno.test("bounded queue: first in, first out, drops the oldest when full", () => {
  const queue = new BoundedQueue<number>(3);
  assertEquals(queue.last(), undefined);
  for (let i = 1; i <= 3; i++) assertEquals(queue.push(i), undefined);
  assertEquals(queue.push(4), 1);
  assertEquals(queue.push(5), 2);
  assertEquals(queue.peekAll(), [3, 4, 5]);
  assertEquals(queue.length, 3);
  assertEquals(queue.dropped, 2);
  for (let i = 6; i <= 20; i++) queue.push(i);
  assertEquals(queue.peekAll(), [18, 19, 20]);
  assertEquals(queue.last(), 20);
  queue.clear();
  assertEquals(queue.length, 0);
  assertThrows(() => new BoundedQueue(0), RangeError);
});

Deno.test("full database: polls and gaps are held, then written once space returns", async () => {
  const storage = Storage.open(await tempDb(), { maxPageCount: 12 });
  const { lines, logger } = recordingLogger();
  const buffer = new DiskFullBuffer(storage, logger, { polls: 50 });
  try {
    const polls = randomPolls(21, 120).sort((a, b) => a.ts - b.ts);
    const outcomes = polls.map((poll) => buffer.storePoll(poll));
    const held = outcomes.filter((o) => o === "held").length;
    assert(held > 0 && outcomes[0] === "stored", outcomes.join());
    assertEquals(buffer.storeGap(1, "TimeoutError"), "held");
    assertEquals(buffer.held, { polls: 50, gaps: 1 });
    assertEquals(lines.filter((l) => l.includes("disk full: cannot write")).length, 1);
    assertEquals(lines.filter((l) => l.includes("dropping the oldest held polls")).length, 1);
    assertEquals(buffer.flush(), false);
    assertEquals(storage.integrityCheck(), "ok");

    storage.setMaxPageCount(100_000);
    const next = { ...polls[0], ts: polls[polls.length - 1].ts + 30_000 };
    assertEquals(buffer.storePoll(next), "stored");
    assertEquals(buffer.held, { polls: 0, gaps: 0 });
    assert(lines.some((l) => l.includes("disk space is back") && l.includes("polls=50")));
    // The stored ones, the last 50 held, and the new one; the oldest held were dropped.
    const storedFirst = outcomes.indexOf("held");
    const expected = [...polls.slice(0, storedFirst), ...polls.slice(-50), next];
    assertSamePolls(storage.polls(-Infinity, Infinity), expectedPolls(expected));
    assertEquals(storage.gaps(0, 10), [{ ts: 1, reason: "TimeoutError" }]);
    assertEquals(buffer.storeGap(2, "again"), "stored");
    assertEquals(buffer.storePoll(next), "duplicate");
  } finally {
    storage.close();
  }
});

Deno.test("held polls keep their own tables when they differ (shared only when equal)", async () => {
  const storage = Storage.open(await tempDb(), { maxPageCount: 12 });
  const buffer = new DiskFullBuffer(storage, createLogger({ write: () => {} }));
  try {
    const first = Int32Array.from({ length: 1000 }, (_, i) => i);
    const changed = first.map((v, i) => (i === 500 ? -1 : v));
    const polls = [];
    for (let i = 0; buffer.held.polls < 4 && i < 10_000; i++) {
      const poll = {
        ts: i * 1000,
        calculations: Int32Array.of(i),
        parameters: (buffer.held.polls === 2 ? changed : first).slice(),
        visibilities: Int8Array.of(1, 0, i % 2),
      };
      polls.push(poll);
      buffer.storePoll(poll);
    }
    assertEquals(buffer.held.polls, 4);
    storage.setMaxPageCount(100_000);
    assert(buffer.flush());
    assertSamePolls(storage.polls(-Infinity, Infinity), expectedPolls(polls));
  } finally {
    storage.close();
  }
});

Deno.test("other storage errors are not held but thrown", async () => {
  const storage = Storage.open(await tempDb());
  const buffer = new DiskFullBuffer(storage, createLogger({ write: () => {} }));
  storage.close();
  assertThrows(() =>
    buffer.storePoll({ ts: 1, calculations: null, parameters: null, visibilities: null })
  );
  assertThrows(() => buffer.storeGap(1, "x"));
});

Deno.test("retention: cutoff arithmetic and the logged batch deletion", async () => {
  assertEquals(retentionCutoff(10 * 86_400_000, 3), 7 * 86_400_000);
  const storage = Storage.open(await tempDb(), { foldThreshold: 20 });
  const { lines, logger } = recordingLogger();
  try {
    const polls = randomPolls(4, 300).sort((a, b) => a.ts - b.ts);
    storage.insertPolls(polls);
    const now = polls[200].ts + 86_400_000;
    assertEquals(await applyRetention(storage, 1, logger, now), 200);
    assertEquals(storage.countPolls(), 100);
    assert(lines.some((l) => l.includes("old data deleted") && l.includes("removed=200")));
    lines.length = 0;
    assertEquals(await applyRetention(storage, 1, logger, now), 0);
    assertEquals(lines, []);
  } finally {
    storage.close();
  }
});

Deno.test("maintenance runs retention and the disk watch until aborted, logging failures", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lux-maintenance-" });
  const storage = Storage.open(`${dir}/cache.db`);
  const { lines, logger } = recordingLogger();
  const controller = new AbortController();
  try {
    const old = Date.now() - 400 * 86_400_000;
    storage.insertPoll({
      ts: old,
      calculations: Int32Array.of(1),
      parameters: null,
      visibilities: null,
    });
    storage.insertPoll({
      ts: Date.now(),
      calculations: Int32Array.of(2),
      parameters: null,
      visibilities: null,
    });
    const buffer = new DiskFullBuffer(storage, logger);
    const config = {
      cachePath: `${dir}/cache.db`,
      dailyDir: `${dir}/daily`,
      weeklyDir: `${dir}/weekly`,
      // 1 %: the disk watch warns on any real disk.
      diskUsageThreshold: 1,
      dbRetentionDays: 365,
    };
    const running = runMaintenance({ config, storage, logger, buffer }, controller.signal);
    const deadline = Date.now() + 30_000;
    while (storage.countPolls() !== 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    controller.abort();
    await running;
    assertEquals(storage.countPolls(), 1);
    assert(lines.some((l) => l.includes("old data deleted")), lines.join("\n"));
    assert(
      lines.some((l) => l.includes("disk usage above DISK_USAGE_THRESHOLD")),
      lines.join("\n"),
    );

    // A failing task is logged and does not end the loop.
    storage.close();
    lines.length = 0;
    const again = new AbortController();
    const failing = runMaintenance({ config, storage, logger, buffer }, again.signal);
    await new Promise((resolve) => setTimeout(resolve, 50));
    again.abort();
    await failing;
    assert(lines.some((l) => l.includes("retention failed; trying again later")), lines.join("\n"));
  } finally {
    storage.close();
    await Deno.remove(dir, { recursive: true });
  }
});
