/**
 * `rollup --db PATH [--at T]`: writes the roll-up files the schedule writes at instant T
 * (default: now), with the same catch-up and exactly-once record, and also the latest due
 * file of each kind if it is missing. Existing complete files are left alone.
 */
import { rollupOptionsFromConfig, Rollups } from "../rollup.ts";
import { Storage } from "../storage.ts";
import {
  commandConfig,
  commandLogger,
  parseCommandArgs,
  parseInstant,
  requireDatabase,
  SETTING_FLAGS,
  UsageError,
} from "./common.ts";

export async function rollupCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("rollup", args, {
    ...SETTING_FLAGS,
    db: { type: "string" },
    at: { type: "string" },
  });
  if (typeof values.db !== "string") throw new UsageError("rollup: --db PATH is required");
  const at = values.at === undefined
    ? Temporal.Now.instant()
    : Temporal.Instant.fromEpochMilliseconds(parseInstant("--at", values.at));
  await requireDatabase("rollup", values.db);
  const config = commandConfig(values, { CACHE_PATH: values.db });
  const logger = commandLogger(config);
  const storage = Storage.open(values.db);
  try {
    const rollups = new Rollups(storage, rollupOptionsFromConfig(config), logger);
    const report = await rollups.runDue(at, true);
    return report.failures.length === 0 ? 0 : 1;
  } finally {
    storage.close();
  }
}
