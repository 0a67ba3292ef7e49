/**
 * Writing roll-up files: due windows (decided in scheduler.ts) -> stored polls -> CSV files
 * that appear whole, exactly once, plus retention of old roll-ups.
 *
 * Exactly once: a window's file is written under a temporary name in the same folder,
 * synced, renamed into place, the folder synced, and only then is the window's end recorded
 * in the database (meta key per kind). A crash before the rename leaves only a hidden
 * `.NAME.*.partial` file, which the next run deletes before it writes the window again; a
 * crash after the rename but before the record finds the complete file next time and keeps
 * it. Existing roll-up files are never rewritten.
 */
import {
  csvLines,
  type CsvOptions,
  csvOptionsFromConfig,
  selectColumns,
  unmatchedPatterns,
} from "./csvgen.ts";
import type { StoredPoll } from "./storage.ts";
import type { TableKind } from "./luxtronik/fields.ts";
import type { Logger } from "./log.ts";
import type { Config } from "./config.ts";
import {
  type CronFunction,
  dueWindows,
  endsGridWindow,
  isExpired,
  latestDueWindow,
  parseRollupFileName,
  ROLLUP_KINDS,
  rollupFileName,
  type RollupKind,
  type RollupWindow,
  type ScheduleSettings,
  startMinuteTrigger,
} from "./scheduler.ts";
import { join } from "node:path";
import { type AtomicWriteHooks, writeFileAtomically } from "./atomic_file.ts";

/** What roll-ups need from the database (the `Storage` class provides it). */
export interface RollupStore {
  polls(from: number, to: number): Iterable<StoredPoll>;
  /** Longest table of each kind among the polls with `from <= ts < to` (0: none). */
  tableLengths(from: number, to: number): Record<TableKind, number>;
  lastPollTs(): number | null;
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
}

export interface RollupOptions {
  schedule: ScheduleSettings;
  dirs: Record<RollupKind, string>;
  /** Roll-up files older than this many days are deleted (`CSV_RETENTION_DAYS`). */
  retentionDays: number;
  csv: CsvOptions;
  /** `CSV_FIELDS` (see `selectColumns` in csvgen.ts); `null`: every calculation. */
  fields: readonly string[] | null;
}

/** Test seam: runs after the temporary file is complete and synced, before the rename. */
/** Test hooks into a roll-up's file writing (see writeFileAtomically). */
export type RollupHooks = AtomicWriteHooks;

/** Database meta keys holding the end (ISO instant) of the last completed window per kind. */
export const LAST_END_KEY: Readonly<Record<RollupKind, string>> = {
  daily: "rollup.daily.last_end",
  weekly: "rollup.weekly.last_end",
};

/** Database meta keys holding the date (file name) of the last completed window per kind. */
export const LAST_DATE_KEY: Readonly<Record<RollupKind, string>> = {
  daily: "rollup.daily.last_date",
  weekly: "rollup.weekly.last_date",
};

export interface RollupResult {
  window: RollupWindow;
  path: string;
  /** `written`: a new file; `kept`: the file already existed; `expired`: older than retention, skipped. */
  status: "written" | "kept" | "expired";
  rows: number;
}

export interface RollupReport {
  results: RollupResult[];
  /** Roll-up files deleted by retention. */
  deleted: string[];
  /** One message per kind whose roll-up failed (retried on the next run). */
  failures: string[];
}

/** The roll-up settings of a validated configuration. */
export function rollupOptionsFromConfig(config: Config): RollupOptions {
  return {
    schedule: {
      timeZone: config.timeZone,
      csvTime: new Temporal.PlainTime(config.csvTime.hour, config.csvTime.minute),
      weeklyDay: config.weeklyDay,
    },
    dirs: { daily: config.dailyDir, weekly: config.weeklyDir },
    retentionDays: config.csvRetentionDays,
    csv: csvOptionsFromConfig(config),
    fields: config.csvFields,
  };
}

const TEMP_NAME = /^\.(\d{4}-\d{2}-\d{2}_(?:daily|weekly)\.csv)\.[0-9a-f]+\.partial$/;

/** Whether `name` is one of our temporary roll-up files (`.2026-03-28_daily.csv.<random>.partial`). */
export function isRollupTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Roll-ups of one database into the configured folders. */
export class Rollups {
  readonly #store: RollupStore;
  readonly #options: RollupOptions;
  readonly #logger: Logger;
  readonly #hooks: RollupHooks;
  /** Runs are serialised: the start-up catch-up, cron ticks and shutdown never overlap. */
  #idle: Promise<void> = Promise.resolve();

  constructor(store: RollupStore, options: RollupOptions, logger: Logger, hooks: RollupHooks = {}) {
    this.#store = store;
    this.#options = options;
    this.#logger = logger;
    this.#hooks = hooks;
  }

  get logger(): Logger {
    return this.#logger;
  }

  /** End of the last completed window of `kind`, or null before the first one. */
  lastCompletedEnd(kind: RollupKind): Temporal.Instant | null {
    const value = this.#store.getMeta(LAST_END_KEY[kind]);
    return value === undefined ? null : Temporal.Instant.from(value);
  }

  /** Date (file name) of the last completed window of `kind`, or null if not recorded. */
  lastCompletedDate(kind: RollupKind): Temporal.PlainDate | null {
    const value = this.#store.getMeta(LAST_DATE_KEY[kind]);
    return value === undefined ? null : Temporal.PlainDate.from(value);
  }

  /** Path of the file a window is written to. */
  pathOf(window: RollupWindow): string {
    return join(this.#options.dirs[window.kind], rollupFileName(window));
  }

  /**
   * Everything the schedule does at `now`: clean stale temporary files, write every due
   * window of each kind (oldest first, each recorded once done), then apply retention.
   * With `ensureLatest` (the `rollup` command), the latest due window of each kind is also
   * written when its file is missing, even if the database says it was done.
   * Failures are logged and reported, and that kind stops there: its next run retries.
   * Once `signal` aborts (shutdown), the file being written is finished and the rest of a
   * long catch-up is left for the next start.
   */
  runDue(
    now: Temporal.Instant,
    ensureLatest = false,
    signal?: AbortSignal,
  ): Promise<RollupReport> {
    const run = this.#idle.then(() => this.#runDue(now, ensureLatest, signal));
    this.#idle = run.then(() => {}, () => {});
    return run;
  }

  /** Resolves when no run is in progress (before the database is closed). */
  idle(): Promise<void> {
    return this.#idle;
  }

  async #runDue(
    now: Temporal.Instant,
    ensureLatest: boolean,
    signal?: AbortSignal,
  ): Promise<RollupReport> {
    const report: RollupReport = { results: [], deleted: [], failures: [] };
    const attempt = async (what: string, work: () => Promise<void>) => {
      try {
        await work();
      } catch (error) {
        const message = `${what} failed: ${(error as Error).message}`;
        this.#logger.error(message);
        report.failures.push(message);
      }
    };
    await attempt("removing temporary roll-up files", async () => {
      await this.removeStaleTemps();
    });
    for (const kind of ROLLUP_KINDS) {
      let windows = dueWindows(
        kind,
        this.lastCompletedEnd(kind),
        now,
        this.#options.schedule,
        this.lastCompletedDate(kind),
      );
      // The latest grid window is only re-created when its file went missing; it is not
      // part of the recorded chain (after a CSV_TIME change it may not even tile with it),
      // so it must not move the record, or the polls before it would land in no file.
      const record = !(ensureLatest && windows.length === 0);
      if (!record) windows = this.#latestToEnsure(kind, now);
      for (const window of windows) {
        if (signal?.aborted) break;
        try {
          report.results.push(await this.complete(window, now, record));
        } catch (error) {
          const message = `${kind} roll-up ${rollupFileName(window)} failed: ${
            (error as Error).message
          }`;
          this.#logger.error(message, { path: this.pathOf(window) });
          report.failures.push(message);
          break;
        }
      }
    }
    if (signal?.aborted) return report;
    await attempt("roll-up retention", async () => {
      report.deleted = await this.applyRetention(now);
    });
    return report;
  }

  /**
   * The latest grid window for `ensureLatest`, unless the recorded chain ended off the
   * current grid: then the files were written under another CSV_TIME, WEEKLY_DAY or TZ,
   * the grid window would overlap them (polls in two files), and the chain itself gets
   * onto the new grid with its next window.
   */
  #latestToEnsure(kind: RollupKind, now: Temporal.Instant): RollupWindow[] {
    const { schedule } = this.#options;
    const last = this.lastCompletedEnd(kind);
    if (last !== null && !endsGridWindow(kind, last, schedule)) {
      this.#logger.info(
        "latest roll-up not re-created: the schedule changed since it was written",
        {
          kind,
          last_end: last.toString(),
        },
      );
      return [];
    }
    return [latestDueWindow(kind, now, schedule)];
  }

  /**
   * Writes `window` unless its file exists or is already past retention, then records it
   * as the last completed window of its kind (unless `record` is false).
   */
  async complete(
    window: RollupWindow,
    now: Temporal.Instant,
    record = true,
  ): Promise<RollupResult> {
    const path = this.pathOf(window);
    const { retentionDays, schedule } = this.#options;
    let result: RollupResult;
    if (isExpired(window.kind, window.date, now, retentionDays, schedule.timeZone)) {
      this.#logger.info("roll-up skipped: older than CSV_RETENTION_DAYS", { path, retentionDays });
      result = { window, path, status: "expired", rows: 0 };
    } else if (await exists(path)) {
      this.#logger.info("roll-up file exists, left alone", { path });
      result = { window, path, status: "kept", rows: 0 };
    } else {
      const rows = await this.#write(window, path);
      result = { window, path, status: "written", rows };
    }
    if (record) this.#record(window);
    return result;
  }

  /** Deletes roll-up files (only names this program writes) older than CSV_RETENTION_DAYS. */
  async applyRetention(now: Temporal.Instant): Promise<string[]> {
    const deleted: string[] = [];
    const { retentionDays, schedule } = this.#options;
    for (const kind of ROLLUP_KINDS) {
      const dir = this.#options.dirs[kind];
      for (const name of await listNames(dir)) {
        const parsed = parseRollupFileName(name);
        if (!parsed || parsed.kind !== kind) continue;
        if (!isExpired(kind, parsed.date, now, retentionDays, schedule.timeZone)) continue;
        const path = join(dir, name);
        await Deno.remove(path);
        this.#logger.info("deleted roll-up older than CSV_RETENTION_DAYS", { path, retentionDays });
        deleted.push(path);
      }
    }
    return deleted;
  }

  /** Deletes temporary files left by an interrupted roll-up; returns their paths. */
  async removeStaleTemps(): Promise<string[]> {
    const removed: string[] = [];
    for (const dir of new Set(Object.values(this.#options.dirs))) {
      for (const name of await listNames(dir)) {
        if (!isRollupTempName(name)) continue;
        const path = join(dir, name);
        if (await isLocked(path)) {
          this.#logger.debug("temporary roll-up file is being written by another run", { path });
          continue;
        }
        await Deno.remove(path).catch(() => {}); // another run may have removed it already
        this.#logger.warn("removed temporary file of an interrupted roll-up", { path });
        removed.push(path);
      }
    }
    return removed;
  }

  async #write(window: RollupWindow, path: string): Promise<number> {
    const from = window.start.epochMilliseconds;
    const to = window.end.epochMilliseconds;
    const lengths = this.#lengths(from, to);
    const columns = selectColumns(this.#options.fields, lengths);
    for (const field of unmatchedPatterns(this.#options.fields ?? [], lengths)) {
      this.#logger.warn("CSV_FIELDS entry matches no field", { field, path });
    }
    let rows = 0;
    const store = this.#store;
    const polls = (function* () {
      for (const poll of store.polls(from, to)) {
        rows++;
        yield poll;
      }
    })();
    await writeFileAtomically(
      this.#options.dirs[window.kind],
      rollupFileName(window),
      csvLines(polls, columns, this.#options.csv),
      this.#hooks,
    );
    const fields = { path, from: window.start.toString(), to: window.end.toString(), rows };
    if (rows === 0) {
      this.#logger.warn("roll-up window has no polls: wrote a file with the header only", fields);
    } else {
      this.#logger.info("roll-up written", fields);
    }
    return rows;
  }

  /** The table lengths (columns) of a window; an empty one gets those the heat pump last sent. */
  #lengths(from: number, to: number): Record<TableKind, number> {
    const lengths = this.#store.tableLengths(from, to);
    if (lengths.calculations + lengths.parameters + lengths.visibilities > 0) return lengths;
    const last = this.#store.lastPollTs();
    return last === null ? lengths : this.#store.tableLengths(last, last + 1);
  }

  #record(window: RollupWindow): void {
    const last = this.lastCompletedEnd(window.kind);
    if (last === null || Temporal.Instant.compare(window.end, last) > 0) {
      // End first: a crash in between leaves an older date, which only weakens the check
      // in dueWindows; a newer date with the older end would skip a window.
      this.#store.setMeta(LAST_END_KEY[window.kind], window.end.toString());
      this.#store.setMeta(LAST_DATE_KEY[window.kind], window.date.toString());
    }
  }
}

/** Whether a live writer holds the lock of a temporary file (see writeFileAtomically). */
async function isLocked(path: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return false; // gone already
  }
  try {
    return !(await file.tryLock(true));
  } finally {
    file.close();
  }
}

async function listNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) if (entry.isFile) names.push(entry.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return names.sort();
}

/**
 * Starts the roll-up schedule: one run now (catch-up after downtime), then one at every full
 * minute (`Deno.cron`, or a timer without --unstable-cron) until `signal` aborts. Resolves
 * with the report of the first run; wait for `rollups.idle()` before closing the database.
 */
export async function startRollupSchedule(
  rollups: Rollups,
  signal: AbortSignal,
  options: { cron?: CronFunction; now?: () => Temporal.Instant } = {},
): Promise<RollupReport> {
  const now = options.now ?? (() => Temporal.Now.instant());
  const first = await rollups.runDue(now(), false, signal);
  if (!signal.aborted) {
    startMinuteTrigger(
      "lux-logger rollups",
      async () => {
        if (!signal.aborted) await rollups.runDue(now(), false, signal);
      },
      signal,
      options.cron,
    ).catch((error) => {
      rollups.logger.error("roll-up trigger stopped", { error: (error as Error).message });
    });
  }
  return first;
}
