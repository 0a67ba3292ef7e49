/**
 * lux-logger: logs a Luxtronik 2.x heat pump to SQLite and writes daily and weekly CSVs.
 * This file only dispatches the command (see ../shared/docs/cli.md, kept in README.md);
 * each command lives in src/commands/.
 */
import denoJson from "./deno.json" with { type: "json" };
import { ConfigError } from "./src/config.ts";
import { UsageError } from "./src/commands/common.ts";
import { demoCommand } from "./src/commands/demo.ts";
import { dumpCommand } from "./src/commands/dump.ts";
import { exportCommand } from "./src/commands/export.ts";
import { healthCommand } from "./src/commands/health.ts";
import { ingestCommand } from "./src/commands/ingest.ts";
import { rollupCommand } from "./src/commands/rollup.ts";
import { runCommand } from "./src/commands/run.ts";
import { simulateCommand } from "./src/commands/simulate.ts";

export const VERSION: string = denoJson.version;

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  run: runCommand,
  simulate: simulateCommand,
  dump: dumpCommand,
  ingest: ingestCommand,
  export: exportCommand,
  rollup: rollupCommand,
  demo: demoCommand,
  health: healthCommand,
};

const USAGE = `lux-logger ${VERSION}: logs a Luxtronik 2.x heat pump

usage: lux-logger [command] [flags]

commands:
  run                      the service (default): poll, store, roll up, until SIGTERM
  simulate --port N        a simulated heat pump on 127.0.0.1 [--fixture FILE] [--fault MODE]
  dump --host H            one read of all tables, decoded [--port P] [--json]
  ingest --db PATH FILE    store recorded polls (JSON lines; - for standard input)
  export --db PATH --from T --to T   stored polls as CSV [--fields LIST] [--format csv|json] [--out FILE]
  rollup --db PATH         write the roll-ups the schedule writes at T [--at T] (default: now)
  demo                     simulator + service on loopback, writing ./demo-data/
  health                   exit 0 if the last stored poll is recent, else 1 (HEALTH_MAX_AGE_SEC)

Settings come from flags (--interval-sec 5), the environment, .env and --config FILE.
See README.md for every setting.`;

/** Runs the CLI; returns the exit code (0 ok, 1 runtime failure, 2 bad usage/config). */
export async function main(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  if (first === "--version" || first === "-V") {
    console.log(VERSION);
    return 0;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    console.log(USAGE);
    return 0;
  }
  const name = first === undefined || first.startsWith("-") ? "run" : first;
  const commandArgs = name === first ? rest : args;
  const command = COMMANDS[name];
  try {
    if (!command) {
      throw new UsageError(`unknown command ${JSON.stringify(name)}; see lux-logger --help`);
    }
    if (commandArgs.includes("--help") || commandArgs.includes("-h")) {
      console.log(USAGE);
      return 0;
    }
    return await command(commandArgs);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      console.error(`lux-logger: ${error.message}`);
      return 2;
    }
    console.error(`lux-logger: ${error instanceof Error ? error.message : String(error)}`);
    const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
    if (cause instanceof Deno.errors.NotCapable) console.error(PERMISSION_HINT);
    return 1;
  }
}

/** The compiled binary cannot be given more rights at run time; say what it may touch. */
const PERMISSION_HINT = `lux-logger: the compiled binary may read and write only ./data, ./logs and
  ./demo-data (and read ./.env) below its working directory; keep CACHE_PATH, OUTPUT_DIRS_*
  and the files given to commands there, or use - for standard input/output (README: Deployment).`;

if (import.meta.main) Deno.exit(await main(Deno.args));
