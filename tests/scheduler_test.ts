import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import {
  csvTimeOn,
  dailyWindow,
  defaultCron,
  dueWindows,
  isExpired,
  latestDueWindow,
  msToNextMinute,
  parseCsvTime,
  parseRollupFileName,
  parseWeeklyDay,
  rollupFileName,
  type RollupKind,
  type RollupWindow,
  type ScheduleSettings,
  startMinuteTrigger,
  timerCron,
  type WeeklyDay,
  weeklyWindow,
} from "../src/scheduler.ts";

const BERLIN = "Europe/Berlin";
const HOUR_NS = 3_600_000_000_000n;

function settings(csvTime = "07:00", weeklyDay: WeeklyDay = "mon"): ScheduleSettings {
  return { timeZone: BERLIN, csvTime: parseCsvTime(csvTime), weeklyDay };
}

const at = (iso: string) => Temporal.Instant.from(iso);
const date = (iso: string) => Temporal.PlainDate.from(iso);
const hours = (w: RollupWindow) =>
  Number((w.end.epochNanoseconds - w.start.epochNanoseconds) / HOUR_NS);
const show = (w: RollupWindow) => `${rollupFileName(w)} ${w.start} .. ${w.end}`;

/** Runs the schedule as the service does: a check every `stepMinutes`, remembering the last end. */
function simulate(
  kind: RollupKind,
  s: ScheduleSettings,
  from: string,
  to: string,
  stepMinutes = 60,
): RollupWindow[] {
  const written: RollupWindow[] = [];
  let last: Temporal.Instant | null = null;
  for (let now = at(from); Temporal.Instant.compare(now, at(to)) <= 0;) {
    for (const window of dueWindows(kind, last, now, s)) {
      assert.ok(Temporal.Instant.compare(window.end, now) <= 0, "never written before its end");
      written.push(window);
      last = window.end;
    }
    now = now.add({ minutes: stepMinutes });
  }
  return written;
}

function assertTiles(windows: RollupWindow[]) {
  for (let i = 1; i < windows.length; i++) {
    assert.ok(
      windows[i - 1].end.equals(windows[i].start),
      `gap or overlap before ${show(windows[i])}`,
    );
  }
}

Deno.test("parseCsvTime accepts HH:MM and HH:MM:SS, rejects the rest with the accepted form", () => {
  assert.equal(parseCsvTime("07:00").toString(), "07:00:00");
  assert.equal(parseCsvTime(" 7:05 ").toString(), "07:05:00");
  assert.equal(parseCsvTime("23:59:30").toString(), "23:59:30");
  for (const bad of ["24:00", "7", "07:60", "ab:cd", "", "07:00:60"]) {
    assert.throws(() => parseCsvTime(bad), /CSV_TIME: expected HH:MM/);
  }
});

Deno.test("parseWeeklyDay accepts mon..sun and daily, case-insensitive", () => {
  assert.equal(parseWeeklyDay("Mon"), "mon");
  assert.equal(parseWeeklyDay("sun"), "sun");
  assert.equal(parseWeeklyDay("DAILY"), "daily");
  assert.throws(() => parseWeeklyDay("monday"), /WEEKLY_DAY: expected one of mon, tue/);
});

Deno.test("daily window is [CSV_TIME yesterday, CSV_TIME today) and named after its start date", () => {
  const w = dailyWindow(date("2026-03-20"), settings());
  assert.equal(w.start.toString(), "2026-03-19T06:00:00Z");
  assert.equal(w.end.toString(), "2026-03-20T06:00:00Z");
  assert.equal(rollupFileName(w), "2026-03-19_daily.csv");
  assert.deepEqual(parseRollupFileName("2026-03-19_daily.csv"), {
    kind: "daily",
    date: date("2026-03-19"),
  });
});

Deno.test("14 days across the March DST change: daily windows tile, the DST day has 23 h", () => {
  const windows = simulate("daily", settings(), "2026-03-22T06:30:00Z", "2026-04-04T06:00:00Z");
  assert.equal(windows.length, 14);
  assert.equal(windows[0].start.toString(), "2026-03-21T06:00:00Z"); // first start: latest only
  assertTiles(windows);
  assert.deepEqual(
    windows.map((w) => `${w.date}:${hours(w)}`),
    [
      "2026-03-21:24",
      "2026-03-22:24",
      "2026-03-23:24",
      "2026-03-24:24",
      "2026-03-25:24",
      "2026-03-26:24",
      "2026-03-27:24",
      "2026-03-28:23",
      "2026-03-29:24",
      "2026-03-30:24",
      "2026-03-31:24",
      "2026-04-01:24",
      "2026-04-02:24",
      "2026-04-03:24",
    ],
  );
  // Ends are at 07:00 local on both sides of the change.
  assert.equal(windows[7].start.toString(), "2026-03-28T06:00:00Z"); // 07:00 CET
  assert.equal(windows[7].end.toString(), "2026-03-29T05:00:00Z"); // 07:00 CEST
});

Deno.test("14 days across the October DST change: daily windows tile, the DST day has 25 h", () => {
  const windows = simulate("daily", settings(), "2026-10-18T06:00:00Z", "2026-10-31T07:00:00Z", 7);
  assert.equal(windows.length, 14);
  assertTiles(windows);
  const durations = windows.map(hours);
  assert.deepEqual(durations.filter((h) => h !== 24), [25]);
  const dstDay = windows.find((w) => hours(w) === 25)!;
  assert.equal(rollupFileName(dstDay), "2026-10-24_daily.csv");
  assert.equal(dstDay.start.toString(), "2026-10-24T05:00:00Z"); // 07:00 CEST
  assert.equal(dstDay.end.toString(), "2026-10-25T06:00:00Z"); // 07:00 CET
});

Deno.test("CSV_TIME inside the spring-forward gap moves forward by the gap (02:30 -> 03:30 CEST)", () => {
  const s = settings("02:30");
  assert.equal(csvTimeOn(date("2026-03-29"), s).toString(), "2026-03-29T01:30:00Z"); // 03:30+02:00
  const windows = simulate("daily", s, "2026-03-27T12:00:00Z", "2026-03-31T12:00:00Z", 15);
  assertTiles(windows);
  assert.deepEqual(windows.map((w) => `${w.date}:${hours(w)}`), [
    "2026-03-26:24",
    "2026-03-27:24",
    "2026-03-28:24", // 02:30 CET .. 03:30 CEST
    "2026-03-29:23", // 03:30 CEST .. 02:30 CEST
    "2026-03-30:24",
  ]);
});

Deno.test("CSV_TIME inside the fall-back overlap means its first occurrence (02:30 CEST)", () => {
  const s = settings("02:30");
  assert.equal(csvTimeOn(date("2026-10-25"), s).toString(), "2026-10-25T00:30:00Z"); // 02:30+02:00
  const windows = simulate("daily", s, "2026-10-23T12:00:00Z", "2026-10-27T12:00:00Z", 15);
  assertTiles(windows);
  assert.deepEqual(windows.map((w) => `${w.date}:${hours(w)}`), [
    "2026-10-22:24",
    "2026-10-23:24",
    "2026-10-24:24", // 02:30 CEST .. first 02:30 (CEST)
    "2026-10-25:25", // first 02:30 .. 02:30 CET next day
    "2026-10-26:24",
  ]);
});

Deno.test("a window is due exactly at its end, not a nanosecond before", () => {
  const s = settings();
  const end = at("2026-03-20T06:00:00Z");
  const last = at("2026-03-19T06:00:00Z");
  assert.deepEqual(dueWindows("daily", last, end.subtract({ nanoseconds: 1 }), s), []);
  assert.deepEqual(dueWindows("daily", last, end, s).map(show), [
    "2026-03-19_daily.csv 2026-03-19T06:00:00Z .. 2026-03-20T06:00:00Z",
  ]);
});

Deno.test("weekly windows: due Mondays at CSV_TIME, 7 days, named after the Monday they start", () => {
  const windows = simulate("weekly", settings(), "2026-03-16T12:00:00Z", "2026-04-14T12:00:00Z");
  assertTiles(windows);
  assert.deepEqual(windows.map((w) => `${rollupFileName(w)}:${hours(w)}`), [
    "2026-03-09_weekly.csv:168",
    "2026-03-16_weekly.csv:168",
    "2026-03-23_weekly.csv:167", // contains the spring-forward night
    "2026-03-30_weekly.csv:168",
    "2026-04-06_weekly.csv:168",
  ]);
  for (const w of windows) {
    assert.equal(w.date.dayOfWeek, 1);
    assert.equal(w.end.toZonedDateTimeISO(BERLIN).toPlainTime().toString(), "07:00:00");
  }
  assert.deepEqual(weeklyWindow(date("2026-03-30"), settings()), windows[2]);
});

Deno.test("weekly windows honour WEEKLY_DAY and span 169 h across the fall-back night", () => {
  const windows = simulate(
    "weekly",
    settings("07:00", "sun"),
    "2026-10-12T00:00:00Z",
    "2026-11-02T00:00:00Z",
  );
  assertTiles(windows);
  assert.deepEqual(windows.map((w) => `${rollupFileName(w)}:${hours(w)}`), [
    "2026-10-04_weekly.csv:168",
    "2026-10-11_weekly.csv:168",
    "2026-10-18_weekly.csv:169", // contains the fall-back night
    "2026-10-25_weekly.csv:168",
  ]);
  const week = weeklyWindow(date("2026-10-25"), settings("07:00", "sun"));
  assert.equal(hours(week), 169);
});

Deno.test("WEEKLY_DAY=daily: a rolling 7-day file every day at CSV_TIME, as the original logger", () => {
  const windows = simulate(
    "weekly",
    settings("07:00", "daily"),
    "2026-03-25T12:00:00Z",
    "2026-03-31T12:00:00Z",
  );
  assert.deepEqual(windows.map((w) => `${rollupFileName(w)}:${hours(w)}`), [
    "2026-03-18_weekly.csv:168",
    "2026-03-19_weekly.csv:168",
    "2026-03-20_weekly.csv:168",
    "2026-03-21_weekly.csv:168",
    "2026-03-22_weekly.csv:167",
    "2026-03-23_weekly.csv:167",
    "2026-03-24_weekly.csv:167",
  ]);
  for (const w of windows) {
    assert.ok(w.end.equals(csvTimeOn(w.date.add({ days: 7 }), settings())));
  }
  // Catch-up of the rolling kind: every missed day once.
  const missed = dueWindows(
    "weekly",
    windows[2].end,
    at("2026-03-31T12:00:00Z"),
    settings("07:00", "daily"),
  );
  assert.deepEqual(missed.map((w) => w.date.toString()), [
    "2026-03-21",
    "2026-03-22",
    "2026-03-23",
    "2026-03-24",
  ]);
});

Deno.test("catch-up over three missed CSV_TIMEs gives each missed window once, in order", () => {
  const s = settings();
  const last = at("2026-03-27T06:00:00Z"); // the 2026-03-26 file was the last one written
  const now = at("2026-03-30T09:15:00Z"); // machine back on Monday morning, after the DST change
  const missed = dueWindows("daily", last, now, s);
  assert.deepEqual(missed.map((w) => `${rollupFileName(w)}:${hours(w)}`), [
    "2026-03-27_daily.csv:24",
    "2026-03-28_daily.csv:23",
    "2026-03-29_daily.csv:24",
  ]);
  assert.ok(missed[0].start.equals(last));
  assertTiles(missed);
  assert.deepEqual(dueWindows("daily", missed[2].end, now, s), [], "nothing twice");
  const weekly = dueWindows("weekly", at("2026-03-16T06:00:00Z"), now, s);
  assert.deepEqual(weekly.map(rollupFileName), ["2026-03-16_weekly.csv", "2026-03-23_weekly.csv"]);
});

Deno.test("first start (no history) gives only the latest due window of each kind", () => {
  const s = settings();
  const now = at("2026-03-26T05:59:00Z"); // Thursday 06:59 CET
  assert.deepEqual(dueWindows("daily", null, now, s).map(rollupFileName), ["2026-03-24_daily.csv"]);
  assert.deepEqual(dueWindows("weekly", null, now, s).map(rollupFileName), [
    "2026-03-16_weekly.csv",
  ]);
  assert.equal(
    rollupFileName(latestDueWindow("daily", at("2026-03-26T06:00:00Z"), s)),
    "2026-03-25_daily.csv",
  );
});

Deno.test("a recorded end after now (clock set back) makes nothing due", () => {
  assert.deepEqual(
    dueWindows("daily", at("2026-03-30T05:00:00Z"), at("2026-03-20T12:00:00Z"), settings()),
    [],
  );
});

Deno.test("after CSV_TIME changes, the next window starts where the last one ended", () => {
  // Written up to 07:00 on 2026-03-20 (CET = 06:00Z); CSV_TIME is now 06:00, then 08:00.
  const last = at("2026-03-20T06:00:00Z");
  const earlier = dueWindows("daily", last, at("2026-03-22T12:00:00Z"), settings("06:00"));
  assert.deepEqual(earlier.map((w) => `${rollupFileName(w)}:${hours(w)}`), [
    "2026-03-20_daily.csv:23",
    "2026-03-21_daily.csv:24",
  ]);
  assert.ok(earlier[0].start.equals(last));
  const later = dueWindows("daily", last, at("2026-03-22T12:00:00Z"), settings("08:00"));
  assert.deepEqual(later.map((w) => `${rollupFileName(w)}:${hours(w)}`), [
    "2026-03-20_daily.csv:25",
    "2026-03-21_daily.csv:24",
  ]);
  assertTiles(later);
});

Deno.test("parseRollupFileName ignores everything that is not a roll-up name", () => {
  for (
    const name of [
      "notes.txt",
      "2026-03-19_daily.csv.bak",
      ".2026-03-19_daily.csv.partial",
      "2026-02-30_daily.csv",
      "2026-03-19_monthly.csv",
      "x2026-03-19_daily.csv",
    ]
  ) {
    assert.equal(parseRollupFileName(name), null, name);
  }
  assert.equal(parseRollupFileName("2026-03-16_weekly.csv")?.kind, "weekly");
});

Deno.test("isExpired counts a roll-up's age from the day its window ends", () => {
  const now = at("2026-04-30T10:00:00Z");
  // 30 days before 2026-04-30 is 2026-03-31.
  assert.equal(isExpired("daily", date("2026-03-30"), now, 30, BERLIN), false); // ends 03-31
  assert.equal(isExpired("daily", date("2026-03-29"), now, 30, BERLIN), true); // ends 03-30
  assert.equal(isExpired("weekly", date("2026-03-24"), now, 30, BERLIN), false); // ends 03-31
  assert.equal(isExpired("weekly", date("2026-03-23"), now, 30, BERLIN), true); // ends 03-30
});

Deno.test("startMinuteTrigger registers a UTC every-minute cron and never overlaps ticks", async () => {
  const registered: { name: string; schedule: string; handler: () => Promise<void> | void }[] = [];
  const controller = new AbortController();
  let release: () => void = () => {};
  const ticks: Temporal.Instant[] = [];
  await startMinuteTrigger(
    "rollups",
    (now) => {
      ticks.push(now);
      return new Promise<void>((resolve) => release = resolve);
    },
    controller.signal,
    (name, schedule, options, handler) => {
      assert.equal(options.signal, controller.signal);
      registered.push({ name, schedule, handler });
      return Promise.resolve();
    },
  );
  assert.equal(registered.length, 1);
  assert.equal(registered[0].schedule, "* * * * *");
  const first = registered[0].handler();
  await registered[0].handler(); // while the first still runs: skipped
  assert.equal(ticks.length, 1);
  release();
  await first;
  const second = registered[0].handler();
  release();
  await second;
  assert.equal(ticks.length, 2);
});

Deno.test("msToNextMinute waits for the next full UTC minute", () => {
  assert.equal(msToNextMinute(Date.UTC(2026, 2, 29, 5, 59, 59, 500)), 500);
  assert.equal(msToNextMinute(Date.UTC(2026, 2, 29, 6, 0, 0, 0)), 60_000);
  assert.equal(msToNextMinute(Date.UTC(2026, 2, 29, 6, 0, 0, 1)), 59_999);
});

Deno.test("timerCron fires at each full minute under a fake clock until aborted", async () => {
  const clock = FakeTimers.install({
    now: Date.UTC(2026, 2, 29, 5, 58, 30),
    toFake: ["setTimeout", "clearTimeout", "Date"],
  });
  try {
    const fired: number[] = [];
    const controller = new AbortController();
    const stopped = timerCron("t", "* * * * *", { signal: controller.signal }, () => {
      fired.push(Date.now());
    });
    await clock.tickAsync(30_000);
    await clock.tickAsync(60_000);
    await clock.tickAsync(59_999);
    assert.deepEqual(fired.map((t) => new Date(t).toISOString()), [
      "2026-03-29T05:59:00.000Z",
      "2026-03-29T06:00:00.000Z",
    ]);
    controller.abort();
    await stopped;
    await clock.tickAsync(120_000);
    assert.equal(fired.length, 2);
    const aborted = new AbortController();
    aborted.abort();
    await timerCron("t", "* * * * *", { signal: aborted.signal }, () => {
      fired.push(0);
    });
    assert.equal(fired.length, 2);
  } finally {
    clock.uninstall();
  }
});

Deno.test("defaultCron is Deno.cron under --unstable-cron (the test task), else the timer", () => {
  assert.equal(defaultCron(), typeof Deno.cron === "function" ? Deno.cron : timerCron);
});

Deno.test("dueWindows never reuses the name of the last window, even after a TZ change", () => {
  // 2026-03-23_daily.csv (Berlin, CSV_TIME 00:30) ended at 2026-03-23T23:30Z; now in UTC.
  const last = at("2026-03-23T23:30:00Z");
  const utc = { timeZone: "UTC", csvTime: parseCsvTime("00:30"), weeklyDay: "mon" as const };
  const now = at("2026-03-26T01:00:00Z");
  assert.deepEqual(
    dueWindows("daily", last, now, utc, date("2026-03-23")).map(show),
    [
      "2026-03-24_daily.csv 2026-03-23T23:30:00Z .. 2026-03-25T00:30:00Z",
      "2026-03-25_daily.csv 2026-03-25T00:30:00Z .. 2026-03-26T00:30:00Z",
    ],
  );
  // Without a change the recorded date is the day before the last end's: nothing moves.
  const s = settings();
  const end = at("2026-03-27T06:00:00Z");
  assert.deepEqual(
    dueWindows("daily", end, now.add({ hours: 96 }), s, date("2026-03-26")),
    dueWindows("daily", end, now.add({ hours: 96 }), s),
  );
});
