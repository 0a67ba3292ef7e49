/**
 * `demo`: the simulator and the service together on loopback, writing into ./demo-data/,
 * so a newcomer sees the whole product work without a heat pump. A CSV of everything
 * polled so far is rewritten every few seconds as ./demo-data/demo.csv.
 */
import { writeFileAtomically } from "../atomic_file.ts";
import { csvLines, csvOptionsFromConfig, selectColumns } from "../csvgen.ts";
import type { Config } from "../config.ts";
import { startSimulator } from "../luxtronik/simulator.ts";
import { sleep } from "../service.ts";
import { Storage } from "../storage.ts";
import {
  commandConfig,
  commandLogger,
  parseCommandArgs,
  SETTING_FLAGS,
  shutdownSignal,
  UsageError,
} from "./common.ts";
import { runService } from "./run.ts";

const DEMO_DIR = "./demo-data";
const DEMO_INTERVAL_SEC = "2";
const DEMO_CSV = "demo.csv";
const CSV_REFRESH_MS = 5_000;

/** Rewrites DEMO_DIR/demo.csv atomically with every poll stored so far. */
async function writeDemoCsv(config: Config): Promise<number> {
  const storage = Storage.open(config.cachePath);
  try {
    const lengths = storage.tableLengths(0, Number.MAX_SAFE_INTEGER);
    await writeFileAtomically(
      DEMO_DIR,
      DEMO_CSV,
      csvLines(
        storage.polls(0, Number.MAX_SAFE_INTEGER),
        selectColumns(config.csvFields, lengths),
        csvOptionsFromConfig(config),
      ),
    );
    return storage.countPolls();
  } finally {
    storage.close();
  }
}

export async function demoCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("demo", args, {
    ...SETTING_FLAGS,
    duration: { type: "string" },
  });
  const durationSec = values.duration === undefined ? null : Number(values.duration);
  if (durationSec !== null && !(durationSec > 0)) {
    throw new UsageError(
      `demo: --duration must be a number of seconds > 0, got ${JSON.stringify(values.duration)}`,
    );
  }
  await Deno.mkdir(DEMO_DIR, { recursive: true });
  const simulator = startSimulator({ hostname: "127.0.0.1", port: 0 });
  const config = commandConfig(values, {
    HOST: "127.0.0.1",
    PORT: String(simulator.port),
    INTERVAL_SEC: typeof values["interval-sec"] === "string"
      ? values["interval-sec"]
      : DEMO_INTERVAL_SEC,
    TIMEOUT_SEC: "5",
    CACHE_PATH: `${DEMO_DIR}/cache.db`,
    OUTPUT_DIRS_DAILY: `${DEMO_DIR}/daily`,
    OUTPUT_DIRS_WEEKLY: `${DEMO_DIR}/weekly`,
  });
  const logger = commandLogger(config);
  logger.info("demo: simulated heat pump started", { port: simulator.port });
  const shutdown = shutdownSignal();
  if (durationSec !== null) setTimeout(() => shutdown.abort(), durationSec * 1000);
  const csvPath = `${DEMO_DIR}/${DEMO_CSV}`;
  const refreshCsv = (async () => {
    while (!shutdown.signal.aborted) {
      await sleep(CSV_REFRESH_MS, shutdown.signal);
      const polls = await writeDemoCsv(config);
      logger.info("demo: CSV updated", { file: csvPath, polls });
    }
  })();
  try {
    await runService(config, logger, shutdown.signal);
    await refreshCsv;
  } finally {
    shutdown.abort();
    await simulator.close();
  }
  return 0;
}
