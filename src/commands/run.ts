/** `run`: the service. Polls, stores and rolls up until SIGTERM/SIGINT, then exits 0. */
import { type Config, ConfigError } from "../config.ts";
import type { Logger } from "../log.ts";
import { rollupOptionsFromConfig, Rollups, startRollupSchedule } from "../rollup.ts";
import { Poller } from "../service.ts";
import { Storage } from "../storage.ts";
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
  const storage = Storage.open(config.cachePath);
  logger.info("service started", {
    host: config.host,
    port: config.port,
    interval_sec: config.intervalSec,
    db: config.cachePath,
  });
  const rollups = new Rollups(storage, rollupOptionsFromConfig(config), logger);
  try {
    await startRollupSchedule(rollups, signal);
    await new Poller({ config, storage, logger }).run(signal);
  } finally {
    await rollups.idle();
    storage.close();
    logger.info("service stopped");
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
