/**
 * What every command shares: argument parsing that turns mistakes into UsageError
 * (exit 2), and config loading with the command's flags layered on top.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { type Config, flagName, loadConfig, SETTING_NAMES, type Settings } from "../config.ts";
import { createLogger, type Logger } from "../log.ts";

/** A mistake on the command line: exit code 2 with this message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Every setting as a flag (`--interval-sec 5`) plus `--config FILE`. */
export const SETTING_FLAGS: Options = Object.fromEntries([
  ...SETTING_NAMES.map((name) => [flagName(name), { type: "string" as const }]),
  ["config", { type: "string" as const }],
]);

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parses `args` strictly; unknown flags and missing values become UsageError. */
export function parseCommandArgs(
  command: string,
  args: string[],
  options: Options,
  allowPositionals = false,
): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true,
    });
    return { values: values as ParsedArgs["values"], positionals };
  } catch (error) {
    throw new UsageError(`${command}: ${(error as Error).message}`);
  }
}

/** Flags given for settings, keyed by variable name (HOST, PORT, …). */
export function settingFlags(values: ParsedArgs["values"], extra: Settings = {}): Settings {
  const flags: Settings = {};
  for (const name of SETTING_NAMES) {
    const value = values[flagName(name)];
    if (typeof value === "string") flags[name] = value;
  }
  return { ...flags, ...extra };
}

/**
 * Loads the config for a command, layering its flags over env, .env and --config.
 * `service`: also check what `run` needs (HOST, writable paths) in the same pass.
 */
export function commandConfig(
  values: ParsedArgs["values"],
  extra: Settings = {},
  service = false,
): Config {
  return loadConfig({
    flags: settingFlags(values, extra),
    configFile: typeof values.config === "string" ? values.config : undefined,
    service,
  });
}

export function commandLogger(config: Config): Logger {
  return createLogger({ level: config.logLevel, format: config.logFormat });
}

/** Parses an ISO 8601 instant with an offset or Z (cli.md `T`) into epoch ms. */
export function parseInstant(flag: string, value: unknown): number {
  if (typeof value !== "string") {
    throw new UsageError(`${flag} is required (ISO 8601, e.g. 2026-03-29T07:00:00+02:00)`);
  }
  try {
    return Temporal.Instant.from(value).epochMilliseconds;
  } catch {
    throw new UsageError(
      `${flag} ${
        JSON.stringify(value)
      } is not an ISO 8601 instant with offset (e.g. 2026-03-29T07:00:00+02:00 or 2026-03-29T05:00:00Z)`,
    );
  }
}

/**
 * `--db PATH` of a command that reads an existing database: a missing file is a usage
 * mistake (exit 2); any other failure (no permission in the compiled binary) stays a
 * runtime failure with its cause, so main.ts can explain it.
 */
export async function requireDatabase(command: string, path: string): Promise<void> {
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      throw new UsageError(`${command}: --db ${path}: no such database`);
    }
    throw new Error(`${command}: --db ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Parses a TCP port flag. */
export function parsePort(flag: string, value: unknown, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const n = Number(value);
  if (typeof value !== "string" || !/^\d+$/.test(value) || n < 0 || n > 65535) {
    throw new UsageError(
      `${flag} must be a port number from 0 to 65535, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** Resolves when SIGINT or SIGTERM arrives; the returned signal aborts then. */
export function shutdownSignal(): AbortController {
  const controller = new AbortController();
  const stop = () => controller.abort();
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, stop);
  controller.signal.addEventListener("abort", () => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(sig, stop);
  });
  return controller;
}

/**
 * Runs `work`; a failure is rethrown with `what` in front, so the one-line message a
 * user sees names the host, port or file involved (exit code 1 stays).
 */
export async function inContext<T>(what: string, work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const message = `${what}: ${error instanceof Error ? error.message : String(error)}`;
    throw new Error(message, { cause: error });
  }
}
