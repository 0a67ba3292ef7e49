/** `run`: the service. Polls, stores and rolls up until SIGTERM/SIGINT, then exits 0. */
import { type Config, ConfigError } from "../config.ts";
import type { Logger } from "../log.ts";
import { DiskFullBuffer } from "../diskwatch.ts";
import { diskWatchFor, runMaintenance } from "../maintenance.ts";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { rollupOptionsFromConfig, Rollups, startRollupSchedule } from "../rollup.ts";
import { Poller } from "../service.ts";
import { Storage } from "../storage.ts";
import { type Dashboard, DashboardError, startDashboard } from "../http/server.ts";
import {
  commandConfig,
  commandLogger,
  parseCommandArgs,
  SETTING_FLAGS,
  shutdownSignal,
} from "./common.ts";

/** Runs the service with `config` until `signal` aborts; closes the database at the end. */
export async function runService(
  config: Config,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  if (!config.host) throw new ConfigError(["HOST: required for run (the heat pump's address)"]);
  // A disk that filled up while the service was down (reboot, restart after a crash) is
  // freed before the database is opened, or the service could never start again.
  if (existsSync(dirname(config.cachePath))) diskWatchFor(config, logger).check();
  // The writer lock makes a second service on the same file exit with a clear message.
  const storage = Storage.open(config.cachePath, {
    lock: true,
    synchronous: config.dbSynchronous,
  });
  const buffer = new DiskFullBuffer(storage, logger);
  logger.info("service started", {
    host: config.host,
    port: config.port,
    interval_sec: config.intervalSec,
    db: config.cachePath,
  });
  const rollups = new Rollups(storage, rollupOptionsFromConfig(config), logger);
  let dashboard: Dashboard | null = null;
  try {
    await startRollupSchedule(rollups, signal);
    dashboard = startDashboardIfEnabled(config, storage, logger);
    const maintenance = runMaintenance({ config, storage, logger, buffer }, signal);
    await new Poller({ config, storage, logger, sink: buffer, lastStoredAt: storage.lastPollTs() })
      .run(signal);
    await maintenance;
  } finally {
    await dashboard?.close();
    await rollups.idle();
    if (!buffer.flush()) {
      logger.error("disk still full at shutdown: held polls are lost", { ...buffer.held });
    }
    storage.close();
    logger.info("service stopped");
  }
}

/** The web dashboard (read-only), when HTTP_PORT is set; it shares the service's storage. */
function startDashboardIfEnabled(
  config: Config,
  storage: Storage,
  logger: Logger,
): Dashboard | null {
  if (config.httpPort === null) return null;
  try {
    const dashboard = startDashboard({
      hostname: config.httpHost,
      port: config.httpPort,
      storage,
      config,
      logger,
    });
    logger.info("dashboard listening", { url: dashboard.url });
    return dashboard;
  } catch (error) {
    // Logging matters more than the page: a taken port must not stop the polling.
    if (!(error instanceof DashboardError)) throw error;
    logger.error("dashboard not started; polling goes on without it", { error: error.message });
    return null;
  }
}

export async function runCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("run", args, SETTING_FLAGS);
  // Every configuration problem, including unwritable paths, before anything starts.
  const config = commandConfig(values, {}, true);
  const shutdown = shutdownSignal();
  await runService(config, commandLogger(config), shutdown.signal);
  return 0;
}
