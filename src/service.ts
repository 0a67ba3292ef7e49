/**
 * The long-running service: polls the heat pump every INTERVAL_SEC, stores each
 * reading (or a gap with its reason), retries gently, and stops cleanly on a signal.
 *
 * Pure timing decisions (when the next poll is due, how long to back off) are plain
 * functions; the loop only wires them to the client and the store. Time comes from a
 * Clock, so tests can run an hour of outage in milliseconds.
 *
 * Failure policy (README "Fragile heat pumps"):
 * - A healthy poll makes up to 1 + RETRIES attempts, each on a fresh connection, with
 *   exponential backoff plus jitter between them (5 s after "busy"), then records a gap.
 * - Once a poll has failed, the heat pump counts as unreachable: each further poll is a
 *   single attempt, and the polls thin out (2, 4, 8 … intervals apart) up to
 *   BACKOFF_MAX_SEC (default 5 minutes), so a struggling controller is never hammered.
 * - The first successful poll ends the backoff: the next poll is back on the normal
 *   interval grid. So the logger resumes at most one backoff step after the heat pump's
 *   return, and within one interval when BACKOFF_MAX_SEC <= INTERVAL_SEC.
 */
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import {
  type ClientOptions,
  failureKind,
  readAllTables,
  type Reading,
} from "./luxtronik/client.ts";
import { ProtocolError } from "./luxtronik/protocol.ts";
import type { Poll, Storage } from "./storage.ts";

/** How long to wait after an unexpected error before the loop starts again. */
export const SUPERVISOR_RESTART_MS = 5_000;
/** The controller says "busy" while it applies changed parameters; it needs a few seconds. */
export const BUSY_RETRY_MS = 5_000;
/** However long the heat pump stays away, we try again at least this often (default). */
export const OFFLINE_BACKOFF_CAP_MS = 5 * 60_000;
/** The first retry inside a poll waits 1-2 s, the next 2-4 s, then 4-8 s. */
export const RETRY_BASE_MS = 1_000;

/** Every duration the poll loop uses, in ms; derived from the config, overridable in tests. */
export interface PollTiming {
  intervalMs: number;
  /** Connect timeout and the time each table's reply may take. */
  timeoutMs: number;
  retryBaseMs: number;
  busyRetryMs: number;
  /** Longest spacing between polls while the heat pump is unreachable. */
  backoffCapMs: number;
  /** Pause before the supervisor restarts the loop after an unexpected error. */
  restartMs: number;
}

/** Where the loop gets the time and how it waits; tests pass a virtual clock. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The start of the next poll slot strictly after `now`, on the grid `start + k * interval`. */
export function nextSlot(start: number, now: number, intervalMs: number): number {
  return start + (Math.floor((now - start) / intervalMs) + 1) * intervalMs;
}

/**
 * Delay before retry number `attempt` (1-based) inside one poll: exponential with full
 * jitter on top, so several loggers restarting together do not hit the device in step.
 */
export function retryDelayMs(
  attempt: number,
  error: unknown,
  random: () => number,
  timing: Pick<PollTiming, "retryBaseMs" | "busyRetryMs"> = {
    retryBaseMs: RETRY_BASE_MS,
    busyRetryMs: BUSY_RETRY_MS,
  },
): number {
  if (error instanceof ProtocolError && error.kind === "busy") return timing.busyRetryMs;
  const base = timing.retryBaseMs * 2 ** (attempt - 1);
  return Math.round(base + base * random());
}

/**
 * Least spacing between the start of the last poll and the next one after
 * `failedPolls` consecutive failed polls: none after the first (the next poll is on
 * schedule), then 2, 4, 8 … intervals, capped at `capMs` (never below one interval).
 */
export function offlineDelayMs(
  failedPolls: number,
  intervalMs: number,
  capMs: number = OFFLINE_BACKOFF_CAP_MS,
): number {
  if (failedPolls <= 1) return 0;
  // The exponent is bounded so a week of failures cannot overflow to Infinity.
  return Math.min(intervalMs * 2 ** Math.min(failedPolls - 1, 30), Math.max(capMs, intervalMs));
}

/**
 * Least time between two stored polls. CSV and JSON timestamps have whole seconds, so a
 * retried poll stored just before the next slot must not share its second with the next
 * poll (two rows with one timestamp break a spreadsheet's or pandas' time index).
 */
export const MIN_POLL_SPACING_MS = 1_000;

/** MIN_POLL_SPACING_MS, never more than one interval (tests poll every few ms; INTERVAL_SEC >= 1). */
function pollSpacingMs(intervalMs: number): number {
  return Math.min(MIN_POLL_SPACING_MS, intervalMs);
}

/** How long the loop waits after a poll that started at `pollStartedAt` and ended at `now`. */
export function nextPollDelayMs(p: {
  start: number;
  now: number;
  pollStartedAt: number;
  intervalMs: number;
  failedPolls: number;
  capMs: number;
  /** When the last poll was stored, if one was. */
  lastStoredAt?: number | null;
}): number {
  const slot = nextSlot(p.start, p.now, p.intervalMs);
  const backoffUntil = p.pollStartedAt + offlineDelayMs(p.failedPolls, p.intervalMs, p.capMs);
  const spacedUntil = p.lastStoredAt == null
    ? -Infinity
    : p.lastStoredAt + pollSpacingMs(p.intervalMs);
  return Math.max(slot, backoffUntil, spacedUntil) - p.now;
}

/** A short, stable description of an error: its name and message, never a stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Why a poll failed, as stored in the gap record: "<kind>: <message>". */
export function gapReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `${failureKind(error)}: ${message}`;
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}

/** Real time. */
export const systemClock: Clock = { now: () => Date.now(), sleep };

/**
 * Where readings and gaps go. By default straight into the storage; the service passes a
 * DiskFullBuffer (diskwatch.ts), which holds them in memory while the disk is full.
 * "held" = not on disk yet.
 */
export interface PollSink {
  storePoll(poll: Poll): "stored" | "duplicate" | "held";
  storeGap(ts: number, reason: string): "stored" | "held";
}

export interface PollerOptions {
  config:
    & Pick<Config, "host" | "port" | "intervalSec" | "timeoutSec" | "retries">
    & Partial<Pick<Config, "backoffMaxSec">>;
  storage: Storage;
  logger: Logger;
  /** The transport; tests may pass a different reader, the service uses the real client. */
  read?: (options: ClientOptions) => Promise<Reading>;
  random?: () => number;
  /** Default: `storage` itself, with no holding on a full disk. */
  sink?: PollSink;
  /** Called after each stored poll (roll-ups, dashboard, tests). */
  onStored?: (ts: number) => void;
  /**
   * The newest poll already stored (the service passes the database's): a restart within
   * a second of it then keeps the spacing of MIN_POLL_SPACING_MS, as a running loop does.
   */
  lastStoredAt?: number | null;
  clock?: Clock;
  /** Overrides of the durations derived from the config (tests use milliseconds). */
  timing?: Partial<PollTiming>;
}

/** Polls until the signal aborts; never returns early on its own. */
export class Poller {
  #failedPolls = 0;
  #failingSince = 0;
  /** Origin of the poll grid and start of the latest poll; both outlive a loop restart. */
  #gridStart: number | null = null;
  #lastPollStartedAt: number | null = null;
  #lastStoredAt: number | null = null;
  storedPolls = 0;
  readonly #read: (options: ClientOptions) => Promise<Reading>;
  readonly #random: () => number;
  readonly #sink: PollSink;
  readonly #clock: Clock;
  readonly timing: PollTiming;

  constructor(private readonly options: PollerOptions) {
    this.#read = options.read ?? readAllTables;
    this.#random = options.random ?? Math.random;
    const { storage } = options;
    this.#sink = options.sink ?? {
      storePoll: (poll) => storage.insertPoll(poll) ? "stored" : "duplicate",
      storeGap: (ts, reason) => (storage.insertGap(ts, reason), "stored"),
    };
    this.#clock = options.clock ?? systemClock;
    // Not after now: a poll stored in the future (the clock was set back since) would
    // otherwise hold the next poll back by the difference.
    if (options.lastStoredAt != null) {
      this.#lastStoredAt = Math.min(options.lastStoredAt, this.#clock.now());
    }
    const { config } = options;
    this.timing = {
      intervalMs: config.intervalSec * 1000,
      timeoutMs: config.timeoutSec * 1000,
      retryBaseMs: RETRY_BASE_MS,
      busyRetryMs: BUSY_RETRY_MS,
      backoffCapMs: (config.backoffMaxSec ?? OFFLINE_BACKOFF_CAP_MS / 1000) * 1000,
      restartMs: SUPERVISOR_RESTART_MS,
      ...options.timing,
    };
  }

  /** Consecutive failed polls so far (0 while the heat pump answers). */
  get failedPolls(): number {
    return this.#failedPolls;
  }

  /** Runs the loop under a supervisor: an unexpected error restarts it after 5 s. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#loop(signal);
      } catch (error) {
        if (signal.aborted) break;
        this.options.logger.error("poll loop failed; restarting", {
          error: describeError(error),
          restart_in_s: this.timing.restartMs / 1000,
        });
        // The stack helps a bug report, but is noise in normal logs.
        this.options.logger.debug("poll loop failure stack", {
          stack: error instanceof Error ? error.stack : undefined,
        });
        await this.#clock.sleep(this.timing.restartMs, signal);
      }
    }
  }

  async #loop(signal: AbortSignal): Promise<void> {
    const { intervalMs, backoffCapMs } = this.timing;
    const start = this.#gridStart ??= this.#clock.now();
    const delayAfter = (pollStartedAt: number) =>
      nextPollDelayMs({
        start,
        now: this.#clock.now(),
        pollStartedAt,
        intervalMs,
        failedPolls: this.#failedPolls,
        capMs: backoffCapMs,
        lastStoredAt: this.#lastStoredAt,
      });
    // After a restart the next poll still waits for its slot and any backoff: a failure
    // that repeats on every poll (a read-only database) must not poll once per restart.
    if (this.#lastPollStartedAt !== null) {
      await this.#clock.sleep(delayAfter(this.#lastPollStartedAt), signal);
    } else if (this.#lastStoredAt !== null) {
      // A fresh start right after the previous run's last poll.
      const wait = this.#lastStoredAt + pollSpacingMs(intervalMs) - this.#clock.now();
      if (wait > 0) await this.#clock.sleep(wait, signal);
    }
    let loggedBackoffMs = 0;
    while (!signal.aborted) {
      const pollStartedAt = this.#lastPollStartedAt = this.#clock.now();
      await this.pollOnce(signal);
      if (signal.aborted) return;
      const failedPolls = this.#failedPolls;
      const backoffMs = offlineDelayMs(failedPolls, intervalMs, backoffCapMs);
      const wait = delayAfter(pollStartedAt);
      // One line each time the backoff grows, not one per poll: quiet during long outages.
      if (backoffMs > loggedBackoffMs) {
        this.options.logger.info("heat pump unreachable; polling less often", {
          failed_polls: failedPolls,
          next_poll_in_s: Math.round(wait / 100) / 10,
        });
      }
      loggedBackoffMs = backoffMs;
      await this.#clock.sleep(wait, signal);
    }
  }

  /**
   * One poll: up to 1 + RETRIES attempts (a single one while the heat pump is
   * unreachable), each on a fresh connection. Stores the reading or a gap; returns true
   * if stored. Only a complete, validated reading is ever stored.
   */
  async pollOnce(signal?: AbortSignal): Promise<boolean> {
    const { config, logger } = this.options;
    const ts = this.#clock.now();
    const attempts = this.#failedPolls > 0 ? 1 : 1 + config.retries;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) {
        await this.#clock.sleep(
          retryDelayMs(attempt - 1, lastError, this.#random, this.timing),
          signal,
        );
      }
      if (signal?.aborted) return false;
      let reading: Reading;
      try {
        reading = await this.#read({
          host: config.host!,
          port: config.port,
          timeoutMs: this.timing.timeoutMs,
          signal,
        });
      } catch (error) {
        if (signal?.aborted) return false;
        lastError = error;
        logger.debug("poll attempt failed", {
          attempt,
          kind: failureKind(error),
          error: describeError(error),
        });
        continue;
      }
      // A complete reading is stored even if shutdown began meanwhile: that is the
      // "current write" a clean shutdown finishes.
      const storedAt = this.#clock.now();
      const outcome = this.#sink.storePoll({ ts: storedAt, ...reading });
      this.#lastStoredAt = storedAt;
      if (this.#failedPolls > 0) {
        logger.info("heat pump reachable again", {
          failed_polls: this.#failedPolls,
          offline_s: Math.round((storedAt - this.#failingSince) / 1000),
        });
      }
      this.#failedPolls = 0;
      // Held in memory on a full disk: not stored yet, so not reported as stored.
      if (outcome === "held") return false;
      this.storedPolls++;
      logger.info("poll stored", {
        ts: new Date(storedAt).toISOString(),
        duration_ms: reading.durationMs,
        attempts: attempt,
      });
      this.options.onStored?.(storedAt);
      return true;
    }
    if (this.#failedPolls === 0) this.#failingSince = ts;
    this.#failedPolls++;
    const reason = gapReason(lastError);
    this.#sink.storeGap(ts, reason);
    logger.warn("poll failed; gap recorded", {
      kind: failureKind(lastError),
      reason,
      attempts,
      consecutive_failures: this.#failedPolls,
    });
    return false;
  }
}
