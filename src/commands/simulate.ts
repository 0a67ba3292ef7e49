/** `simulate`: a heat pump on loopback that speaks the real protocol. */
import { createLogger } from "../log.ts";
import { FAULT_MODES, isFaultMode, loadFixture, startSimulator } from "../luxtronik/simulator.ts";
import { parseCommandArgs, parsePort, shutdownSignal, UsageError } from "./common.ts";

export async function simulateCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("simulate", args, {
    port: { type: "string" },
    host: { type: "string" },
    fixture: { type: "string" },
    fault: { type: "string", multiple: true },
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
  const logger = createLogger();
  const fixture = typeof values.fixture === "string" ? await loadFixture(values.fixture) : null;
  const simulator = startSimulator({
    hostname: typeof values.host === "string" ? values.host : "127.0.0.1",
    port,
    tablesAt: fixture ? () => fixture : undefined,
    faults: faults.filter(isFaultMode),
    log: (message) => logger.warn(message),
  });
  console.log(`simulator listening on ${simulator.hostname}:${simulator.port}`);
  const shutdown = shutdownSignal();
  await new Promise((resolve) => shutdown.signal.addEventListener("abort", resolve));
  await simulator.close();
  return 0;
}
