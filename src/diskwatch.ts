/**
 * Disk watch: keeps a logger on a small SD card from filling it, and survives when it
 * fills anyway.
 *
 * - Above DISK_USAGE_THRESHOLD percent, warn with the figures and delete the oldest
 *   roll-up files (`YYYY-MM-DD_daily.csv` in OUTPUT_DIRS_DAILY, `YYYY-MM-DD_weekly.csv`
 *   in OUTPUT_DIRS_WEEKLY, nothing else, the newest of each kind kept) until usage is
 *   back under it. Each deletion is logged.
 * - When a write fails because the disk is full, hold polls and gaps in memory (bounded:
 *   the oldest go first) and write them out, in order, as soon as space returns.
 *
 * The decisions (usage figures, which files to delete, what to drop from the queue) are
 * pure functions; DiskWatch and DiskFullBuffer only wire them to the file system.
 */
import { statfsSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "./log.ts";
import type { PollSink } from "./service.ts";
import { isDiskFullError, type Poll, type Storage } from "./storage.ts";
import { sameValues } from "./storage/codec.ts";

/** A day of 30-second polls: about 3 MB of memory at most (parameters are shared). */
export const MAX_HELD_POLLS = 2880;
/** Gaps are a few bytes each; a day of failures at one per second is plenty. */
export const MAX_HELD_GAPS = 86_400;
/** While usage stays above the threshold, the warning repeats at most this often. */
export const USAGE_WARNING_REPEAT_MS = 60 * 60_000;

const MIB = 1024 * 1024;

export interface DiskUsage {
  totalBytes: number;
  usedBytes: number;
  /** What an unprivileged process can still write (df's "Avail"). */
  availableBytes: number;
  /** df's Use%: used / (used + available), rounded up like df. */
  percent: number;
}

/** Usage figures from statfs fields (pure). */
export function usageFromStatfs(
  stat: { bsize: number; blocks: number; bfree: number; bavail: number },
): DiskUsage {
  const totalBytes = stat.blocks * stat.bsize;
  const usedBytes = (stat.blocks - stat.bfree) * stat.bsize;
  const availableBytes = stat.bavail * stat.bsize;
  const usable = usedBytes + availableBytes;
  const percent = usable === 0 ? 100 : Math.ceil((100 * usedBytes) / usable);
  return { totalBytes, usedBytes, availableBytes, percent };
}

/** The usage of the file system holding `path` (needs --allow-sys). */
export function diskUsage(path: string): DiskUsage {
  return usageFromStatfs(statfsSync(path));
}

export type RollupKind = "daily" | "weekly";

export interface RollupFile {
  path: string;
  kind: RollupKind;
  /** The window's date from the name, YYYY-MM-DD (sorts as text). */
  date: string;
  sizeBytes: number;
}

const ROLLUP_NAME = /^(\d{4}-\d{2}-\d{2})_(daily|weekly)\.csv$/;

/** The date and kind of a roll-up file name, or null for any other file (pure). */
export function parseRollupName(name: string): { date: string; kind: RollupKind } | null {
  const match = ROLLUP_NAME.exec(name);
  return match ? { date: match[1], kind: match[2] as RollupKind } : null;
}

/**
 * Which roll-ups to delete, oldest first, so usage falls to `thresholdPercent` or below
 * (pure). The newest file of each kind is never chosen: it is the one a user is most
 * likely to be fetching. Returns fewer (or none) if that is all there is.
 */
export function planRollupDeletions(
  files: readonly RollupFile[],
  usage: DiskUsage,
  thresholdPercent: number,
): RollupFile[] {
  const usable = usage.usedBytes + usage.availableBytes;
  const newest = new Map<RollupKind, string>();
  for (const file of files) {
    if ((newest.get(file.kind) ?? "") < file.date) newest.set(file.kind, file.date);
  }
  const candidates = files
    .filter((file) => file.date !== newest.get(file.kind))
    .sort((a, b) => a.date.localeCompare(b.date) || a.path.localeCompare(b.path));
  const plan: RollupFile[] = [];
  let used = usage.usedBytes;
  for (const file of candidates) {
    if (usable === 0 || (100 * used) / usable <= thresholdPercent) break;
    plan.push(file);
    used -= file.sizeBytes;
  }
  return plan;
}

/** The roll-up files of one kind in `dir` (a missing folder has none). */
export function listRollupFiles(dir: string, kind: RollupKind): RollupFile[] {
  const files: RollupFile[] = [];
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  for (const entry of entries) {
    const parsed = entry.isFile ? parseRollupName(entry.name) : null;
    if (!parsed || parsed.kind !== kind) continue;
    const path = join(dir, entry.name);
    try {
      files.push({ path, kind, date: parsed.date, sizeBytes: Deno.statSync(path).size });
    } catch {
      // Deleted meanwhile (retention, a user): nothing to plan for it.
    }
  }
  return files;
}

export interface DiskWatchOptions {
  /** The folder that holds the database: the file system that must not fill. */
  databaseDir: string;
  dailyDir: string;
  weeklyDir: string;
  thresholdPercent: number;
  logger: Logger;
  /** Injected in tests; default statfs. */
  usage?: (path: string) => DiskUsage;
  now?: () => number;
}

/** Checks usage when asked (the service: every minute) and frees space by deleting roll-ups. */
export class DiskWatch {
  #lastWarning = -Infinity;
  #unavailable = false;
  readonly #usage: (path: string) => DiskUsage;
  readonly #now: () => number;

  constructor(private readonly options: DiskWatchOptions) {
    this.#usage = options.usage ?? diskUsage;
    this.#now = options.now ?? Date.now;
  }

  /** One check; returns the files it deleted. */
  check(): string[] {
    const { logger, thresholdPercent } = this.options;
    let usage: DiskUsage;
    try {
      usage = this.#usage(this.options.databaseDir);
    } catch (error) {
      if (!this.#unavailable) {
        logger.warn("disk watch cannot read disk usage; it stays off (run with --allow-sys)", {
          path: this.options.databaseDir,
          error: (error as Error).message,
        });
        this.#unavailable = true;
      }
      return [];
    }
    this.#unavailable = false;
    if (usage.percent <= thresholdPercent) {
      this.#lastWarning = -Infinity;
      return [];
    }
    const now = this.#now();
    const deviceOf = (path: string) => {
      try {
        return Deno.statSync(path).dev;
      } catch {
        return null;
      }
    };
    // Deleting roll-ups on another file system would lose them and free nothing here.
    const device = deviceOf(this.options.databaseDir);
    const files = [
      ...listRollupFiles(this.options.dailyDir, "daily"),
      ...listRollupFiles(this.options.weeklyDir, "weekly"),
    ].filter((file) => deviceOf(file.path) === device);
    const plan = planRollupDeletions(files, usage, thresholdPercent);
    if (now - this.#lastWarning >= USAGE_WARNING_REPEAT_MS || plan.length > 0) {
      logger.warn("disk usage above DISK_USAGE_THRESHOLD", {
        path: this.options.databaseDir,
        used_percent: usage.percent,
        threshold_percent: thresholdPercent,
        used_mib: Math.round(usage.usedBytes / MIB),
        available_mib: Math.round(usage.availableBytes / MIB),
        total_mib: Math.round(usage.totalBytes / MIB),
        rollups_to_delete: plan.length,
      });
      this.#lastWarning = now;
    }
    const deleted: string[] = [];
    for (const file of plan) {
      try {
        Deno.removeSync(file.path);
        deleted.push(file.path);
        logger.warn("roll-up deleted to free disk space", {
          file: file.path,
          size_bytes: file.sizeBytes,
        });
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue;
        logger.error("cannot delete roll-up", {
          file: file.path,
          error: (error as Error).message,
        });
      }
    }
    return deleted;
  }
}

/** A first-in first-out queue that drops its oldest item when full (pure). */
export class BoundedQueue<T> {
  #items: T[] = [];
  #head = 0;
  dropped = 0;

  constructor(readonly capacity: number) {
    if (capacity < 1) throw new RangeError("capacity must be at least 1");
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Adds `item`; returns the item dropped to make room, if any. */
  push(item: T): T | undefined {
    let dropped: T | undefined;
    if (this.length >= this.capacity) {
      dropped = this.#items[this.#head++];
      this.dropped++;
    }
    this.#items.push(item);
    // Compact now and then, so a long outage does not keep dead slots alive.
    if (this.#head > this.capacity) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return dropped;
  }

  /** The items, oldest first, without removing them. */
  peekAll(): T[] {
    return this.#items.slice(this.#head);
  }

  last(): T | undefined {
    return this.length > 0 ? this.#items[this.#items.length - 1] : undefined;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

/**
 * A PollSink that writes through to the storage and, when the disk is full, holds what
 * it cannot write in memory until a later write (or flush) succeeds. Only disk-full
 * errors are held; any other storage error is thrown as before.
 */
export class DiskFullBuffer implements PollSink {
  readonly #polls: BoundedQueue<Poll>;
  readonly #gaps: BoundedQueue<{ ts: number; reason: string }>;
  #full = false;

  constructor(
    private readonly storage: Storage,
    private readonly logger: Logger,
    limits: { polls?: number; gaps?: number } = {},
  ) {
    this.#polls = new BoundedQueue(limits.polls ?? MAX_HELD_POLLS);
    this.#gaps = new BoundedQueue(limits.gaps ?? MAX_HELD_GAPS);
  }

  /** Polls and gaps waiting for space. */
  get held(): { polls: number; gaps: number } {
    return { polls: this.#polls.length, gaps: this.#gaps.length };
  }

  storePoll(poll: Poll): "stored" | "duplicate" | "held" {
    if (!this.flush()) return this.#holdPoll(poll);
    try {
      return this.storage.insertPoll(poll) ? "stored" : "duplicate";
    } catch (error) {
      if (!isDiskFullError(error)) throw error;
      this.#enterFull(error);
      return this.#holdPoll(poll);
    }
  }

  storeGap(ts: number, reason: string): "stored" | "held" {
    if (this.flush()) {
      try {
        this.storage.insertGap(ts, reason);
        return "stored";
      } catch (error) {
        if (!isDiskFullError(error)) throw error;
        this.#enterFull(error);
      }
    }
    this.#gaps.push({ ts, reason });
    return "held";
  }

  /**
   * Writes what is held, polls in one transaction and gaps in another, so a retry never
   * stores anything twice. Returns true when nothing is held any more.
   */
  flush(): boolean {
    if (this.#polls.length === 0 && this.#gaps.length === 0) return true;
    const polls = this.#polls.length;
    const gaps = this.#gaps.length;
    try {
      if (polls > 0) {
        this.storage.insertPolls(this.#polls.peekAll());
        this.#polls.clear();
      }
      if (gaps > 0) {
        this.storage.insertGaps(this.#gaps.peekAll());
        this.#gaps.clear();
      }
    } catch (error) {
      if (!isDiskFullError(error)) throw error;
      return false;
    }
    this.logger.info("disk space is back: held polls written to the database", {
      polls,
      gaps,
      dropped_polls: this.#polls.dropped,
      dropped_gaps: this.#gaps.dropped,
    });
    this.#polls.dropped = 0;
    this.#gaps.dropped = 0;
    this.#full = false;
    return true;
  }

  #enterFull(error: unknown): void {
    if (this.#full) return;
    this.#full = true;
    this.logger.error(
      "disk full: cannot write to the database; holding polls in memory until space returns",
      { error: (error as Error).message, max_held_polls: this.#polls.capacity },
    );
  }

  #holdPoll(poll: Poll): "held" {
    // Parameters and visibilities rarely change: share the previous poll's arrays, so a
    // held poll costs about its calculations alone.
    const previous = this.#polls.last();
    const held: Poll = { ...poll };
    if (
      previous?.parameters && poll.parameters && sameValues(previous.parameters, poll.parameters)
    ) {
      held.parameters = previous.parameters;
    }
    if (
      previous?.visibilities && poll.visibilities &&
      sameValues(previous.visibilities, poll.visibilities)
    ) {
      held.visibilities = previous.visibilities;
    }
    if (this.#polls.push(held) !== undefined && this.#polls.dropped === 1) {
      this.logger.warn("disk still full: memory queue is full, dropping the oldest held polls", {
        max_held_polls: this.#polls.capacity,
      });
    }
    return "held";
  }
}
