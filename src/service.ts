/**
 * The long-running service: polls the heat pump every INTERVAL_SEC, stores each
 * reading (or a gap with its reason), retries gently, and stops cleanly on a signal.
 *
 * Pure timing decisions (when the next poll is due, how long to back off) are plain
 * functions; the loop only wires them to the client and the store.
 */
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import { type ClientOptions, readAllTables, type Reading } from "./luxtronik/client.ts";
import { ProtocolError } from "./luxtronik/protocol.ts";
import type { Storage } from "./storage.ts";

/** How long to wait after an unexpected error before the loop starts again. */
export const SUPERVISOR_RESTART_MS = 5_000;
/** The controller says "busy" while it applies changed parameters; it needs a few seconds. */
export const BUSY_RETRY_MS = 5_000;
/** However long the heat pump stays away, we try again at least this often. */
export const OFFLINE_BACKOFF_CAP_MS = 5 * 60_000;
const RETRY_BASE_MS = 1_000;

/** The start of the next poll slot strictly after `now`, on the grid `start + k * interval`. */
export function nextSlot(start: number, now: number, intervalMs: number): number {
  return start + (Math.floor((now - start) / intervalMs) + 1) * intervalMs;
}

/**
 * Delay before retry number `attempt` (1-based) inside one poll: exponential with full
 * jitter on top, so several loggers restarting together do not hit the device in step.
 */
export function retryDelayMs(attempt: number, error: unknown, random: () => number): number {
  if (error instanceof ProtocolError && error.kind === "busy") return BUSY_RETRY_MS;
  const base = RETRY_BASE_MS * 2 ** (attempt - 1);
  return Math.round(base + base * random());
}

/**
 * Extra wait after `failedPolls` consecutive failed polls: none after the first, then
 * doubling, capped, so an offline controller sees one connection attempt every few
 * minutes at most.
 */
export function offlineDelayMs(failedPolls: number, intervalMs: number): number {
  if (failedPolls <= 1) return 0;
  return Math.min(
    intervalMs * 2 ** (failedPolls - 1),
    Math.max(OFFLINE_BACKOFF_CAP_MS, intervalMs),
  );
}

/** A short, stable description of why a poll failed, for logs and gap records. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
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

export interface PollerOptions {
  config: Pick<Config, "host" | "port" | "intervalSec" | "timeoutSec" | "retries">;
  storage: Storage;
  logger: Logger;
  /** The transport; tests may pass a different reader, the service uses the real client. */
  read?: (options: ClientOptions) => Promise<Reading>;
  random?: () => number;
  /** Called after each stored poll (roll-ups, dashboard, tests). */
  onStored?: (ts: number) => void;
}

/** Polls until the signal aborts; never returns early on its own. */
export class Poller {
  #failedPolls = 0;
  storedPolls = 0;
  readonly #read: (options: ClientOptions) => Promise<Reading>;
  readonly #random: () => number;

  constructor(private readonly options: PollerOptions) {
    this.#read = options.read ?? readAllTables;
    this.#random = options.random ?? Math.random;
  }

  /** Runs the loop under a supervisor: an unexpected error restarts it after 5 s. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#loop(signal);
      } catch (error) {
        this.options.logger.error("poll loop failed; restarting in 5 s", {
          error: describeError(error),
        });
        await sleep(SUPERVISOR_RESTART_MS, signal);
      }
    }
  }

  async #loop(signal: AbortSignal): Promise<void> {
    const intervalMs = this.options.config.intervalSec * 1000;
    const start = Date.now();
    while (!signal.aborted) {
      await this.pollOnce(signal);
      if (signal.aborted) return;
      const wait = Math.max(
        nextSlot(start, Date.now(), intervalMs) - Date.now(),
        offlineDelayMs(this.#failedPolls, intervalMs),
      );
      await sleep(wait, signal);
    }
  }

  /** One poll with retries; stores the reading or a gap. Returns true if stored. */
  async pollOnce(signal?: AbortSignal): Promise<boolean> {
    const { config, storage, logger } = this.options;
    const ts = Date.now();
    let lastError: unknown;
    for (let attempt = 0; attempt <= config.retries; attempt++) {
      if (attempt > 0) {
        await sleep(retryDelayMs(attempt, lastError, this.#random), signal);
      }
      if (signal?.aborted) return false;
      try {
        const reading = await this.#read({
          host: config.host!,
          port: config.port,
          timeoutMs: config.timeoutSec * 1000,
          signal,
        });
        if (signal?.aborted) return false;
        storage.insertPoll({ ts: Date.now(), ...reading });
        this.storedPolls++;
        if (this.#failedPolls > 0) {
          logger.info("heat pump reachable again", { after_failed_polls: this.#failedPolls });
        }
        this.#failedPolls = 0;
        logger.info("poll stored", { duration_ms: reading.durationMs, attempts: attempt + 1 });
        this.options.onStored?.(ts);
        return true;
      } catch (error) {
        if (signal?.aborted) return false;
        lastError = error;
        logger.debug("poll attempt failed", { attempt: attempt + 1, error: describeError(error) });
      }
    }
    this.#failedPolls++;
    const reason = describeError(lastError);
    storage.insertGap(ts, reason);
    logger.warn("poll failed; gap recorded", {
      attempts: config.retries + 1,
      consecutive_failures: this.#failedPolls,
      reason,
    });
    return false;
  }
}
