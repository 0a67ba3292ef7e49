/**
 * When roll-ups are due: pure functions over `Temporal`, plus a thin `Deno.cron` trigger.
 *
 * Every roll-up window is anchored on `CSV_TIME` in the configured zone:
 *
 * - **daily**: `[CSV_TIME on day S, CSV_TIME on day S+1)`: 24 h, 23 h on the spring-forward
 *   day, 25 h on the fall-back day. It is due at its end.
 * - **weekly**: `[CSV_TIME on day S, CSV_TIME on day S+7)`, due at its end, which falls on
 *   `WEEKLY_DAY` (so S is that weekday too). `WEEKLY_DAY=daily` reproduces the original
 *   logger's rolling weekly file: every day at `CSV_TIME`, the 7 days before it (the windows
 *   then overlap on purpose).
 *
 * **File names** carry S, the local date on which the window *starts*: the daily file written
 * at 07:00 on 2026-03-29 covers 2026-03-28 07:00 .. 2026-03-29 07:00 and is
 * `2026-03-28_daily.csv` (as the original logger named its roll-up after "yesterday"); a
 * Monday-due weekly file is named after the Monday that starts the week it covers.
 *
 * **DST**: a `CSV_TIME` that does not exist on a day (inside the spring-forward gap, e.g. 02:30
 * in Europe/Berlin on 2026-03-29) is moved forward by the length of the gap (03:30 CEST); one
 * that exists twice (inside the fall-back overlap) means its first occurrence. This is
 * Temporal's `"compatible"` disambiguation (the RFC 5545 rule). Because every boundary is
 * "CSV_TIME on a date" computed the same way, the end of one window is exactly the start of
 * the next, whatever the zone does.
 *
 * @example
 * ```ts
 * const settings = { timeZone: "Europe/Berlin", csvTime: parseCsvTime("07:00"), weeklyDay: "mon" as const };
 * const due = dueWindows("daily", null, Temporal.Instant.from("2026-03-29T06:00:00Z"), settings);
 * // [{ kind: "daily", date: 2026-03-28, start: 2026-03-28T06:00Z, end: 2026-03-29T05:00Z }]
 * rollupFileName(due[0]); // "2026-03-28_daily.csv"
 * ```
 */

export type RollupKind = "daily" | "weekly";

export const ROLLUP_KINDS: readonly RollupKind[] = ["daily", "weekly"];

/** Weekday names as `WEEKLY_DAY` accepts them, index 0 = Monday (ISO day 1). */
export const WEEKDAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

export type Weekday = typeof WEEKDAY_NAMES[number];

/** A weekday, or `"daily"` for the original logger's rolling 7-day file written every day. */
export type WeeklyDay = Weekday | "daily";

export interface ScheduleSettings {
  /** IANA zone (`TZ`), e.g. `Europe/Berlin`. */
  timeZone: string;
  /** Local time of the daily roll-up (`CSV_TIME`). */
  csvTime: Temporal.PlainTime;
  /** When the weekly roll-up is due (`WEEKLY_DAY`). */
  weeklyDay: WeeklyDay;
}

/** One roll-up: the polls with `start <= ts < end` go into the file named after `date`. */
export interface RollupWindow {
  kind: RollupKind;
  /** Local date on which the window starts on the schedule's grid; names the file. */
  date: Temporal.PlainDate;
  /** Inclusive. */
  start: Temporal.Instant;
  /** Exclusive; also the instant the window becomes due. */
  end: Temporal.Instant;
}

/** Parses `CSV_TIME` (`HH:MM` or `HH:MM:SS`, 24-hour clock). Throws a `RangeError` that says what is accepted. */
export function parseCsvTime(text: string): Temporal.PlainTime {
  const match = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (match) {
    const [hour, minute, second] = [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
    if (hour <= 23 && minute <= 59 && second <= 59) {
      return new Temporal.PlainTime(hour, minute, second);
    }
  }
  throw new RangeError(`CSV_TIME: expected HH:MM (00:00 to 23:59), got "${text}"`);
}

/** Parses `WEEKLY_DAY` (`mon`..`sun`, or `daily`; case-insensitive). */
export function parseWeeklyDay(text: string): WeeklyDay {
  const value = text.trim().toLowerCase();
  if (value === "daily" || (WEEKDAY_NAMES as readonly string[]).includes(value)) {
    return value as WeeklyDay;
  }
  throw new RangeError(
    `WEEKLY_DAY: expected one of ${WEEKDAY_NAMES.join(", ")} or daily, got "${text}"`,
  );
}

/** The instant at which `CSV_TIME` falls on the local `date` (DST rule in the module doc). */
export function csvTimeOn(date: Temporal.PlainDate, settings: ScheduleSettings): Temporal.Instant {
  return date.toPlainDateTime(settings.csvTime)
    .toZonedDateTime(settings.timeZone, { disambiguation: "compatible" })
    .toInstant();
}

/** The local date of an instant in the configured zone. */
export function localDate(instant: Temporal.Instant, timeZone: string): Temporal.PlainDate {
  return instant.toZonedDateTimeISO(timeZone).toPlainDate();
}

/** Days a window of this kind spans on the calendar. */
export function windowDays(kind: RollupKind): number {
  return kind === "daily" ? 1 : 7;
}

/** Whether windows of this kind follow each other without overlap (all but the rolling weekly). */
export function tiles(kind: RollupKind, settings: ScheduleSettings): boolean {
  return kind === "daily" || settings.weeklyDay !== "daily";
}

/** Whether a window of this kind can start on the local `date` (weekly: only on `WEEKLY_DAY`). */
export function startsOn(
  kind: RollupKind,
  date: Temporal.PlainDate,
  settings: ScheduleSettings,
): boolean {
  if (kind === "daily" || settings.weeklyDay === "daily") return true;
  return WEEKDAY_NAMES[date.dayOfWeek - 1] === settings.weeklyDay;
}

/** The window of `kind` that starts at `CSV_TIME` on the local `date` (the grid window). */
export function windowStartingOn(
  kind: RollupKind,
  date: Temporal.PlainDate,
  settings: ScheduleSettings,
): RollupWindow {
  return {
    kind,
    date,
    start: csvTimeOn(date, settings),
    end: csvTimeOn(date.add({ days: windowDays(kind) }), settings),
  };
}

/** The daily window `[CSV_TIME yesterday, CSV_TIME today)` that is due on the local date `today`. */
export function dailyWindow(today: Temporal.PlainDate, settings: ScheduleSettings): RollupWindow {
  return windowStartingOn("daily", today.subtract({ days: 1 }), settings);
}

/** The weekly window (the 7 days before `CSV_TIME` on the local date `dueDay`). */
export function weeklyWindow(dueDay: Temporal.PlainDate, settings: ScheduleSettings): RollupWindow {
  return windowStartingOn("weekly", dueDay.subtract({ days: 7 }), settings);
}

/**
 * Whether `instant` is where a grid window of `kind` ends under `settings`. A recorded end
 * that is not was reached under another `CSV_TIME`, `WEEKLY_DAY` or `TZ`.
 */
export function endsGridWindow(
  kind: RollupKind,
  instant: Temporal.Instant,
  settings: ScheduleSettings,
): boolean {
  const date = localDate(instant, settings.timeZone);
  return csvTimeOn(date, settings).equals(instant) &&
    startsOn(kind, date.subtract({ days: windowDays(kind) }), settings);
}

/** The latest grid window of `kind` whose end is at or before `now`. */
export function latestDueWindow(
  kind: RollupKind,
  now: Temporal.Instant,
  settings: ScheduleSettings,
): RollupWindow {
  // The local date of `now` plus one: a window that starts today ends tomorrow at the
  // earliest, so walking back from here finds the latest one due; at most 8 steps.
  let start = localDate(now, settings.timeZone).subtract({ days: windowDays(kind) - 1 });
  for (;;) {
    if (startsOn(kind, start, settings)) {
      const window = windowStartingOn(kind, start, settings);
      if (Temporal.Instant.compare(window.end, now) <= 0) return window;
    }
    start = start.subtract({ days: 1 });
  }
}

/**
 * Every window of `kind` that is due at `now` and not yet written, oldest first.
 *
 * - `lastCompletedEnd` is the end of the last window written (recorded in the database).
 *   Every grid window that ends after it and at or before `now` is due, so after downtime
 *   each missed window comes back exactly once. For the tiling kinds the first of them starts
 *   exactly at `lastCompletedEnd`, even when `CSV_TIME` or `WEEKLY_DAY` changed since (that one
 *   window is then shorter or longer than usual): no poll is ever in two files or in none.
 * - `lastCompletedDate` is the date (file name) of that last window, if recorded. Windows
 *   start on later dates only: after `TZ` moved west, the local date of the last end can be
 *   the last file's own date, and a window of that name would find the old file and be
 *   taken as done, leaving its polls in no file.
 * - With no history (`null`), only the latest due window is returned: a first start does not
 *   invent a year of empty files.
 * - If `lastCompletedEnd` lies after `now` (clock set back, `--at` in the past), nothing is due.
 */
export function dueWindows(
  kind: RollupKind,
  lastCompletedEnd: Temporal.Instant | null,
  now: Temporal.Instant,
  settings: ScheduleSettings,
  lastCompletedDate: Temporal.PlainDate | null = null,
): RollupWindow[] {
  if (lastCompletedEnd === null) return [latestDueWindow(kind, now, settings)];
  const due: RollupWindow[] = [];
  const isTiling = tiles(kind, settings);
  // Tiling kinds: the window starting on the local date of the last end (or the next
  // weekday) is the first one that ends after it. Rolling weekly: walk from 7 days back.
  let date = localDate(lastCompletedEnd, settings.timeZone)
    .subtract({ days: isTiling ? 0 : windowDays(kind) });
  if (lastCompletedDate !== null && Temporal.PlainDate.compare(date, lastCompletedDate) <= 0) {
    date = lastCompletedDate.add({ days: 1 });
  }
  for (;;) {
    if (startsOn(kind, date, settings)) {
      const window = windowStartingOn(kind, date, settings);
      if (Temporal.Instant.compare(window.end, now) > 0) return due;
      if (Temporal.Instant.compare(window.end, lastCompletedEnd) > 0) {
        due.push(isTiling && due.length === 0 ? { ...window, start: lastCompletedEnd } : window);
      }
    }
    date = date.add({ days: 1 });
  }
}

/** `YYYY-MM-DD_daily.csv` / `YYYY-MM-DD_weekly.csv`, the date being the window's start date. */
export function rollupFileName(window: Pick<RollupWindow, "kind" | "date">): string {
  return `${window.date.toString()}_${window.kind}.csv`;
}

const ROLLUP_FILE_NAME = /^(\d{4}-\d{2}-\d{2})_(daily|weekly)\.csv$/;

/** The kind and date a roll-up file name stands for, or `null` for any other name. */
export function parseRollupFileName(
  name: string,
): { kind: RollupKind; date: Temporal.PlainDate } | null {
  const match = ROLLUP_FILE_NAME.exec(name);
  if (!match) return null;
  try {
    return { kind: match[2] as RollupKind, date: Temporal.PlainDate.from(match[1]) };
  } catch {
    return null; // e.g. 2026-02-30: not a file we wrote
  }
}

/**
 * Whether the roll-up of `kind` named after `date` is older than `retentionDays` at `now`.
 * A roll-up's age counts from the local date its window ends (the day it was written), so a
 * weekly file is kept as long as the daily file written the same morning.
 */
export function isExpired(
  kind: RollupKind,
  date: Temporal.PlainDate,
  now: Temporal.Instant,
  retentionDays: number,
  timeZone: string,
): boolean {
  const endDate = date.add({ days: windowDays(kind) });
  const cutoff = localDate(now, timeZone).subtract({ days: retentionDays });
  return Temporal.PlainDate.compare(endDate, cutoff) < 0;
}

/** The `Deno.cron` signature this module needs (injectable for tests). */
export type CronFunction = (
  name: string,
  schedule: string,
  options: { signal?: AbortSignal },
  handler: () => Promise<void> | void,
) => Promise<void>;

const MINUTE_MS = 60_000;

/** Milliseconds from `nowMs` to the next full UTC minute (never 0: a full minute waits 60 s). */
export function msToNextMinute(nowMs: number): number {
  return MINUTE_MS - (((nowMs % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
}

/** The fallback when `Deno.cron` is unavailable (run without --unstable-cron): a timer per full minute. */
export const timerCron: CronFunction = (_name, _schedule, options, handler) =>
  new Promise<void>((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = () => {
      clearTimeout(timer);
      resolve();
    };
    const arm = () => {
      timer = setTimeout(async () => {
        await handler();
        if (!options.signal?.aborted) arm();
      }, msToNextMinute(Date.now()));
    };
    if (options.signal?.aborted) return resolve();
    options.signal?.addEventListener("abort", stop, { once: true });
    arm();
  });

/** `Deno.cron` when the runtime has it (`--unstable-cron`), else `timerCron`. */
export function defaultCron(): CronFunction {
  return typeof Deno.cron === "function" ? Deno.cron : timerCron;
}

/**
 * Calls `tick(now)` at every full minute (Deno.cron schedules in UTC; what is due is decided
 * by the pure functions above, in the configured zone). Ticks do not overlap: a tick that
 * comes while the previous one still runs is skipped. Abort `signal` to stop; the returned
 * promise settles once the trigger has stopped.
 */
export function startMinuteTrigger(
  name: string,
  tick: (now: Temporal.Instant) => Promise<void>,
  signal: AbortSignal,
  cron: CronFunction = defaultCron(),
): Promise<void> {
  let running = false;
  return cron(name, "* * * * *", { signal }, async () => {
    if (running) return;
    running = true;
    try {
      await tick(Temporal.Now.instant());
    } finally {
      running = false;
    }
  });
}
