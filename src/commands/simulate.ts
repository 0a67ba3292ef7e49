/** `simulate`: a heat pump on loopback that speaks the real protocol. */
import { createLogger } from "../log.ts";
import {
  DEFAULT_FAULT_SETTINGS,
  FAULT_MODES,
  type FaultSettings,
  isFaultMode,
  loadFixture,
  startSimulator,
} from "../luxtronik/simulator.ts";
import { inContext, parseCommandArgs, parsePort, shutdownSignal, UsageError } from "./common.ts";

/** A number flag within min..max, or the default when absent. */
function numberFlag(flag: string, value: unknown, min: number, max: number, fallback: number) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== "string" || value.trim() === "" || !(n >= min && n <= max)) {
    throw new UsageError(
      `simulate: ${flag} must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** The fault parameters from the flags (seconds on the command line, ms inside). */
function faultSettings(values: Record<string, unknown>): FaultSettings {
  const d = DEFAULT_FAULT_SETTINGS;
  return {
    seed: numberFlag("--fault-seed", values["fault-seed"], 0, 2 ** 32 - 1, d.seed),
    probability: numberFlag(
      "--fault-probability",
      values["fault-probability"],
      0,
      1,
      d.probability,
    ),
    offlineMs: 1000 *
      numberFlag("--offline-sec", values["offline-sec"], 0, 86_400, d.offlineMs / 1000),
    periodMs: 1000 * numberFlag("--period-sec", values["period-sec"], 0, 86_400, d.periodMs / 1000),
  };
}

export async function simulateCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("simulate", args, {
    port: { type: "string" },
    host: { type: "string" },
    fixture: { type: "string" },
    fault: { type: "string", multiple: true },
    "fault-seed": { type: "string" },
    "fault-probability": { type: "string" },
    "offline-sec": { type: "string" },
    "period-sec": { type: "string" },
  });
  if (values.port === undefined) throw new UsageError("simulate: --port N is required");
  const port = parsePort("--port", values.port);
  const faults = ((values.fault as string[] | undefined) ?? []).flatMap((f) => f.split(","));
  for (const fault of faults) {
    if (!isFaultMode(fault)) {
      throw new UsageError(
        `simulate: unknown --fault ${JSON.stringify(fault)}; accepted: ${
          Object.keys(FAULT_MODES).join(", ")
        }`,
      );
    }
  }
  const settings = faultSettings(values);
  const logger = createLogger();
  const fixture = typeof values.fixture === "string" ? await loadFixture(values.fixture) : null;
  const hostname = typeof values.host === "string" ? values.host : "127.0.0.1";
  const simulator = await inContext(`cannot listen on ${hostname}:${port}`, () =>
    startSimulator({
      hostname,
      port,
      tablesAt: fixture ? () => fixture : undefined,
      faults: faults.filter(isFaultMode),
      faultSettings: settings,
      log: (message) => logger.warn(message),
    }));
  console.log(`simulator listening on ${simulator.hostname}:${simulator.port}`);
  if (faults.length > 0) {
    logger.info("simulator faults", {
      faults: faults.join(","),
      seed: settings.seed,
      probability: settings.probability,
      offline_sec: settings.offlineMs / 1000,
      period_sec: settings.periodMs / 1000,
    });
  }
  const shutdown = shutdownSignal();
  await new Promise((resolve) => shutdown.signal.addEventListener("abort", resolve));
  await simulator.close();
  return 0;
}
