/**
 * The service's housekeeping beside the poll loop: database retention (DB_RETENTION_DAYS,
 * hourly, in small batches) and the disk watch (every minute, plus writing out polls held
 * during a full disk). Each runs on its own timer until the signal aborts; a failure is
 * logged and retried at the next round, never allowed to stop polling.
 */
import type { Config } from "./config.ts";
import { DiskFullBuffer, DiskWatch } from "./diskwatch.ts";
import type { Logger } from "./log.ts";
import { sleep } from "./service.ts";
import { pruneOlderThan, type Storage } from "./storage.ts";
import { dirname } from "node:path";

export const RETENTION_INTERVAL_MS = 60 * 60_000;
export const DISK_CHECK_INTERVAL_MS = 60_000;
const DAY_MS = 86_400_000;

/** The oldest instant kept with `retentionDays` of history at `now` (pure). */
export function retentionCutoff(now: number, retentionDays: number): number {
  return now - retentionDays * DAY_MS;
}

/** Deletes polls and gaps older than DB_RETENTION_DAYS; returns how many went. */
export async function applyRetention(
  storage: Storage,
  retentionDays: number,
  logger: Logger,
  now: number,
  signal?: AbortSignal,
): Promise<number> {
  const cutoff = retentionCutoff(now, retentionDays);
  const removed = await pruneOlderThan(storage, cutoff, signal);
  if (removed > 0) {
    logger.info("old data deleted from the database (DB_RETENTION_DAYS)", {
      removed,
      older_than: new Date(cutoff).toISOString(),
    });
  }
  return removed;
}

export interface MaintenanceOptions {
  config: Pick<
    Config,
    "cachePath" | "dailyDir" | "weeklyDir" | "diskUsageThreshold" | "dbRetentionDays"
  >;
  storage: Storage;
  logger: Logger;
  buffer: DiskFullBuffer;
}

/** The disk watch of a configuration: the database's file system, the roll-up folders. */
export function diskWatchFor(config: MaintenanceOptions["config"], logger: Logger): DiskWatch {
  return new DiskWatch({
    databaseDir: dirname(config.cachePath),
    dailyDir: config.dailyDir,
    weeklyDir: config.weeklyDir,
    thresholdPercent: config.diskUsageThreshold,
    logger,
  });
}

/** Runs retention and the disk watch until `signal` aborts. */
export async function runMaintenance(
  options: MaintenanceOptions,
  signal: AbortSignal,
): Promise<void> {
  const { config, storage, logger, buffer } = options;
  const watch = diskWatchFor(config, logger);
  await Promise.all([
    every(RETENTION_INTERVAL_MS, signal, logger, "retention", async () => {
      await applyRetention(storage, config.dbRetentionDays, logger, Date.now(), signal);
    }),
    every(DISK_CHECK_INTERVAL_MS, signal, logger, "disk watch", () => {
      watch.check();
      buffer.flush();
      return Promise.resolve();
    }),
  ]);
}

async function every(
  intervalMs: number,
  signal: AbortSignal,
  logger: Logger,
  name: string,
  task: () => Promise<void>,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await task();
    } catch (error) {
      logger.error(`${name} failed; trying again later`, { error: (error as Error).message });
    }
    await sleep(intervalMs, signal);
  }
}
