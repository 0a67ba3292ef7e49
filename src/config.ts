/**
 * Configuration: command-line flags beat the environment, which beats `.env`, which
 * beats a YAML file (`--config`), which beats the defaults. The names are the original
 * logger's, so an existing `.env` keeps working. Every problem is collected and
 * reported at once, each by the name of the variable and what it accepts.
 */
import { dirname, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  host: string | null;
  port: number;
  intervalSec: number;
  csvTime: { hour: number; minute: number };
  timeZone: string;
  cachePath: string;
  dailyDir: string;
  weeklyDir: string;
  csvRetentionDays: number;
  diskUsageThreshold: number;
  timeoutSec: number;
  retries: number;
  /** Longest spacing between polls while the heat pump is unreachable. */
  backoffMaxSec: number;
  dbRetentionDays: number;
  dbSynchronous: "full" | "normal";
  weeklyDay: Weekday | "daily";
  csvDelimiter: string;
  csvDecimal: "." | ",";
  csvBom: boolean;
  csvFields: string[] | null;
  readableHeaders: boolean;
  httpPort: number | null;
  httpHost: string;
  logLevel: LogLevel;
  logFormat: "text" | "json";
  /** `health` fails when the newest poll is older than this; null = derived from the interval. */
  healthMaxAgeSec?: number | null;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** One source of raw setting strings, keyed by variable name (HOST, PORT, …). */
export type Settings = Record<string, string | undefined>;

type Parser<T> = (raw: string) => T | { error: string };

const integer = (min: number, max: number): Parser<number> => (raw) => {
  const n = Number(raw.trim());
  if (!/^-?\d+$/.test(raw.trim()) || n < min || n > max) {
    return { error: `must be a whole number from ${min} to ${max}` };
  }
  return n;
};

const boolean: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off", ""].includes(v)) return false;
  return { error: "must be true or false" };
};

const text: Parser<string> = (raw) =>
  raw.trim() === "" ? { error: "must not be empty" } : raw.trim();

/** A host name or IP address; `http://…` or `host:port` are common slips worth naming. */
const hostName: Parser<string> = (raw) => {
  const host = raw.trim();
  const ipv6 = (host.match(/:/g) ?? []).length > 1;
  // Letters, digits, dots and hyphens (names, IPv4) or hex digits and colons (IPv6): a
  // stray quote or a scheme is caught here, not as an "unexpected" failure of every poll.
  const valid = ipv6 ? /^[0-9A-Fa-f:.]+$/.test(host) : /^[A-Za-z0-9._-]+$/.test(host);
  if (!valid) {
    return {
      error: "must be a host name or IP address only (letters, digits, . _ - or an IPv6 " +
        "address), without quotes, http:// or :port (the port goes in PORT)",
    };
  }
  return host;
};

const oneOf = <T extends string>(values: readonly T[]): Parser<T> => (raw) => {
  const v = raw.trim().toLowerCase() as T;
  return values.includes(v) ? v : { error: `must be one of ${values.join(", ")}` };
};

const clockTime: Parser<{ hour: number; minute: number }> = (raw) => {
  const match = /^(\d{1,2}):(\d{2})$/.exec(raw.trim());
  const hour = Number(match?.[1]);
  const minute = Number(match?.[2]);
  if (!match || hour > 23 || minute > 59) {
    return { error: "must be a time HH:MM from 00:00 to 23:59" };
  }
  return { hour, minute };
};

const timeZone: Parser<string> = (raw) => {
  try {
    // glibc accepts TZ=":Europe/Berlin" (a zone file name); the zone is the same.
    return Temporal.Now.zonedDateTimeISO(raw.trim().replace(/^:/, "")).timeZoneId;
  } catch {
    return { error: `"${raw}" is not a known IANA time zone (e.g. Europe/Berlin, UTC)` };
  }
};

const fieldList: Parser<string[] | null> = (raw) => {
  const fields = raw.split(",").map((f) => f.trim()).filter((f) => f !== "");
  return fields.length === 0 ? null : fields;
};

/**
 * The machine's zone. An empty `TZ` in the environment (Docker's `--env-file` passes
 * `TZ=` from .env.sample as set-but-empty) makes Temporal report "Etc/Unknown", which
 * it then refuses; POSIX reads an empty TZ as UTC, and so do we.
 */
export function systemTimeZone(): string {
  const id = Temporal.Now.timeZoneId();
  try {
    return Temporal.Now.zonedDateTimeISO(id).timeZoneId;
  } catch {
    return "UTC";
  }
}

/** Every setting: its variable name, the flag that overrides it, default and parser. */
const SETTINGS = {
  host: { env: "HOST", parse: hostName, fallback: null },
  port: { env: "PORT", parse: integer(1, 65535), fallback: 8889 },
  intervalSec: { env: "INTERVAL_SEC", parse: integer(1, 86_400), fallback: 30 },
  csvTime: { env: "CSV_TIME", parse: clockTime, fallback: { hour: 7, minute: 0 } },
  timeZone: { env: "TZ", parse: timeZone, fallback: "" },
  cachePath: { env: "CACHE_PATH", parse: text, fallback: "./data/cache.db" },
  dailyDir: { env: "OUTPUT_DIRS_DAILY", parse: text, fallback: "./logs/daily" },
  weeklyDir: { env: "OUTPUT_DIRS_WEEKLY", parse: text, fallback: "./logs/weekly" },
  csvRetentionDays: { env: "CSV_RETENTION_DAYS", parse: integer(1, 36_500), fallback: 30 },
  diskUsageThreshold: { env: "DISK_USAGE_THRESHOLD", parse: integer(1, 100), fallback: 90 },
  timeoutSec: { env: "TIMEOUT_SEC", parse: integer(1, 3600), fallback: 60 },
  retries: { env: "RETRIES", parse: integer(0, 10), fallback: 3 },
  backoffMaxSec: { env: "BACKOFF_MAX_SEC", parse: integer(1, 86_400), fallback: 300 },
  dbRetentionDays: { env: "DB_RETENTION_DAYS", parse: integer(1, 36_500), fallback: 365 },
  dbSynchronous: {
    env: "DB_SYNCHRONOUS",
    parse: oneOf(["full", "normal"] as const),
    fallback: "full",
  },
  weeklyDay: { env: "WEEKLY_DAY", parse: oneOf([...WEEKDAYS, "daily"]), fallback: "mon" },
  csvDelimiter: {
    env: "CSV_DELIMITER",
    parse: ((raw) => {
      const delimiter = raw === "\\t" || raw.toLowerCase() === "tab" ? "\t" : raw;
      return delimiter.length === 1 && !/["\r\n]/.test(delimiter)
        ? delimiter
        : { error: "must be a single character such as , or ; or tab" };
    }) as Parser<string>,
    fallback: ",",
  },
  csvDecimal: { env: "CSV_DECIMAL", parse: oneOf([".", ","] as const), fallback: "." },
  csvBom: { env: "CSV_BOM", parse: boolean, fallback: false },
  csvFields: { env: "CSV_FIELDS", parse: fieldList, fallback: null },
  readableHeaders: { env: "READABLE_HEADERS", parse: boolean, fallback: false },
  httpPort: { env: "HTTP_PORT", parse: integer(1, 65535), fallback: null },
  httpHost: { env: "HTTP_HOST", parse: text, fallback: "127.0.0.1" },
  logLevel: { env: "LOG_LEVEL", parse: oneOf(LOG_LEVELS), fallback: "info" },
  logFormat: { env: "LOG_FORMAT", parse: oneOf(["text", "json"] as const), fallback: "text" },
  healthMaxAgeSec: { env: "HEALTH_MAX_AGE_SEC", parse: integer(1, 31_536_000), fallback: null },
} as const;

/** The variable names this program reads, for documentation and `--help`. */
export const SETTING_NAMES: string[] = [
  ...Object.values(SETTINGS).map((s) => s.env),
  "OUTPUT_DIRS",
];

/** `--interval-sec` for INTERVAL_SEC: every setting can be given as a flag. */
export function flagName(env: string): string {
  return env.toLowerCase().replaceAll("_", "-");
}

/**
 * Parses a `.env` file: KEY=VALUE lines, `#` comments, optional quotes and `export`.
 * Any other non-blank line is passed to `onBadLine` (1-based number) and skipped.
 */
export function parseDotenv(
  content: string,
  onBadLine: (lineNumber: number, line: string) => void = () => {},
): Settings {
  const result: Settings = {};
  for (const [i, line] of content.split(/\r?\n/).entries()) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match) {
      if (!/^\s*(#.*)?$/.test(line)) onBadLine(i + 1, line);
      continue;
    }
    // A quoted value may be followed by a comment: KEY="06:30" # morning
    const quoted = /^(['"])(.*?)\1\s*(?:#.*)?$/.exec(match[2]);
    result[match[1]] = quoted ? quoted[2] : match[2].replace(/\s+#.*$/, "");
  }
  return result;
}

/** Parses the YAML config file: a mapping of the same variable names (any case). */
export function parseYamlSettings(content: string, path: string): Settings {
  let doc: unknown;
  try {
    doc = parseYaml(content);
  } catch (error) {
    throw new ConfigError([`--config ${path}: not valid YAML (${(error as Error).message})`]);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError([
      `--config ${path}: must be a mapping of settings, e.g. "HOST: 192.0.2.10"`,
    ]);
  }
  const result: Settings = {};
  for (const [key, value] of Object.entries(doc)) {
    result[key.toUpperCase()] = yamlValue(value);
  }
  return result;
}

/**
 * A YAML value as the setting string an env variable would hold: empty (`HOST:`) means
 * not set, a list (`CSV_FIELDS: [a, b]`) is the comma list, a mapping (`OUTPUT_DIRS`) JSON.
 */
function yamlValue(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (Array.isArray(value)) return value.map(String).join(",");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/**
 * The winning raw value of each variable: flags > env > .env > YAML. An empty value
 * means "not set" in every source, so the blanks of a copied .env.sample (or `TZ=` passed
 * by Docker's --env-file) let the next source down, or the default, apply.
 */
export function mergeSources(
  layers: { flags: Settings; env: Settings; dotenv: Settings; yaml: Settings },
): Settings {
  const merged: Settings = {};
  for (const layer of [layers.yaml, layers.dotenv, layers.env, layers.flags]) {
    for (const [key, value] of Object.entries(layer)) {
      if (value !== undefined && value.trim() !== "") merged[key] = value;
    }
  }
  return merged;
}

export interface ResolveOptions {
  /**
   * Also check what the service (`run`) needs before it starts: HOST is set, and the
   * database file and roll-up folders can be written (missing folders count as
   * writable if they can be created where they would go; nothing is created here).
   */
  service?: boolean;
}

/** Validates merged settings into a Config, or throws ConfigError listing every problem. */
export function resolveConfig(settings: Settings, options: ResolveOptions = {}): Config {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(SETTINGS)) {
    const raw = settings[spec.env];
    // An empty value means "not set", so a copied .env.sample with blanks is valid.
    if (raw === undefined || raw === "") {
      values[key] = spec.fallback;
      continue;
    }
    const parsed = (spec.parse as Parser<unknown>)(raw);
    if (typeof parsed === "object" && parsed !== null && "error" in parsed) {
      problems.push(`${spec.env}=${JSON.stringify(raw)}: ${(parsed as { error: string }).error}`);
    } else {
      values[key] = parsed;
    }
  }
  if (settings.OUTPUT_DIRS !== undefined) applyOutputDirs(settings, values, problems);
  if (values.csvDelimiter === "," && values.csvDecimal === ",") {
    problems.push('CSV_DECIMAL=",": needs a CSV_DELIMITER other than "," (e.g. CSV_DELIMITER=;)');
  }
  if (options.service) problems.push(...serviceProblems(values));
  if (problems.length > 0) throw new ConfigError(problems);
  const config = values as unknown as Config;
  if (config.timeZone === "") config.timeZone = systemTimeZone();
  return config;
}

/** What `run` needs beyond valid values: a HOST and writable paths. */
function serviceProblems(values: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (values.host === null) problems.push("HOST: required for run (the heat pump's address)");
  const check = (name: string, path: unknown, problem: (path: string) => string | null) => {
    if (typeof path !== "string") return; // unparsable: already reported
    const reason = problem(path);
    if (reason !== null) problems.push(`${name}=${JSON.stringify(path)}: ${reason}`);
  };
  check("CACHE_PATH", values.cachePath, databaseProblem);
  check("OUTPUT_DIRS_DAILY", values.dailyDir, folderProblem);
  check("OUTPUT_DIRS_WEEKLY", values.weeklyDir, folderProblem);
  return problems;
}

/** Not there (or a parent is a file): judged by the nearest existing parent instead. */
function isMissing(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory;
}

/** Why the database file at `path` cannot be opened for writing, or null if it can. */
export function databaseProblem(path: string): string | null {
  if (path === ":memory:") return null;
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) return "is not a file";
    Deno.openSync(path, { read: true, write: true }).close();
    return null;
  } catch (error) {
    if (isMissing(error)) return folderProblem(dirname(path));
    return `cannot be written (${(error as Error).message})`;
  }
}

/**
 * Why files cannot be created in folder `dir`, or null if they can. A missing folder
 * is judged by its nearest existing parent, where a probe file is created and removed.
 */
export function folderProblem(dir: string): string | null {
  let existing = resolve(dir);
  while (true) {
    try {
      if (!Deno.statSync(existing).isDirectory) return `${existing} is not a folder`;
      break;
    } catch (error) {
      // The compiled binary may use ./logs but not read the folder above it: a missing
      // folder that it is allowed to create is fine, its parent cannot be probed.
      if (error instanceof Deno.errors.NotCapable && existing !== resolve(dir)) return null;
      if (!isMissing(error)) {
        return `cannot be used (${(error as Error).message})`;
      }
      existing = dirname(existing);
    }
  }
  const probe = join(existing, `.lux-logger-write-test-${Deno.pid}`);
  try {
    Deno.writeFileSync(probe, new Uint8Array(), { createNew: true });
    Deno.removeSync(probe);
    return null;
  } catch (error) {
    return `cannot be written (${(error as Error).message})`;
  }
}

/** OUTPUT_DIRS is the original logger's JSON form; the specific variables beat it. */
function applyOutputDirs(settings: Settings, values: Record<string, unknown>, problems: string[]) {
  let dirs: unknown;
  try {
    dirs = JSON.parse(settings.OUTPUT_DIRS!);
  } catch {
    dirs = undefined;
  }
  const record = dirs as Record<string, unknown> | undefined;
  if (
    typeof record !== "object" || record === null || Array.isArray(record) ||
    Object.values(record).some((v) => typeof v !== "string")
  ) {
    problems.push(
      'OUTPUT_DIRS: must be a JSON object like {"daily": "./logs/daily", "weekly": "./logs/weekly"}',
    );
    return;
  }
  const unknown = Object.keys(record).filter((key) => key !== "daily" && key !== "weekly");
  if (unknown.length > 0) {
    problems.push(`OUTPUT_DIRS: unknown key ${unknown.join(", ")} (the keys are daily, weekly)`);
    return;
  }
  const blank = Object.entries(record).filter(([, v]) => (v as string).trim() === "");
  if (blank.length > 0) {
    problems.push(`OUTPUT_DIRS: ${blank.map(([k]) => k).join(", ")} must name a folder`);
    return;
  }
  if (typeof record.daily === "string" && settings.OUTPUT_DIRS_DAILY === undefined) {
    values.dailyDir = record.daily;
  }
  if (typeof record.weekly === "string" && settings.OUTPUT_DIRS_WEEKLY === undefined) {
    values.weeklyDir = record.weekly;
  }
}

/** Reads a file if it exists; a missing file is an empty source. */
function readOptional(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    // Deno's "run again with --allow-read" cannot help a compiled binary: say what can.
    const reason = error instanceof Deno.errors.NotCapable
      ? "outside what this program may read (the compiled binary reads only ./data, ./logs, " +
        "./demo-data and ./.env below its working directory; README: Deployment)"
      : (error as Error).message;
    throw new ConfigError([`cannot read ${path}: ${reason}`]);
  }
}

export interface LoadOptions {
  /** Flag values already mapped to variable names (e.g. {"HOST": "127.0.0.1"}). */
  flags?: Settings;
  /** The YAML file given with --config. */
  configFile?: string;
  /** Defaults to the process environment. */
  env?: Settings;
  /** Where `.env` is looked for; defaults to the working directory. */
  dotenvPath?: string;
  /** Check what the service needs too (see ResolveOptions). */
  service?: boolean;
  /** Receives non-fatal remarks (unknown settings in a file); default standard error. */
  warn?: (message: string) => void;
}

/**
 * Only the variables this program knows, read one by one: the compiled binary may read
 * exactly these (`--allow-env=HOST,PORT,…`), and `Deno.env.toObject()` would need them all.
 */
function settingsFromEnvironment(): Settings {
  return Object.fromEntries(SETTING_NAMES.map((name) => [name, Deno.env.get(name)]));
}

/** Names in a settings file that this program does not read. */
export function unknownSettings(settings: Settings): string[] {
  return Object.keys(settings).filter((name) => !SETTING_NAMES.includes(name));
}

/** Loads and validates the configuration from all sources. */
export function loadConfig(options: LoadOptions = {}): Config {
  let yaml: Settings = {};
  if (options.configFile !== undefined) {
    const content = readOptional(options.configFile);
    if (content === null) throw new ConfigError([`--config ${options.configFile}: file not found`]);
    yaml = parseYamlSettings(content, options.configFile);
  }
  // A typo in a file (INTERVALL_SEC) would silently fall back to the default: say so.
  const warn = options.warn ??
    ((message: string) => console.error(`lux-logger: warning: ${message}`));
  const dotenvPath = options.dotenvPath ?? ".env";
  const dotenvContent = readOptional(dotenvPath);
  const dotenv = dotenvContent === null ? {} : parseDotenv(
    dotenvContent,
    (n, line) => warn(`.env line ${n}: not a NAME=value line (ignored): ${line.trim()}`),
  );
  for (const [source, settings] of [[".env", dotenv], [options.configFile, yaml]] as const) {
    for (const name of unknownSettings(settings)) {
      warn(`${source}: unknown setting ${name} (ignored)`);
    }
  }
  const env = options.env ?? settingsFromEnvironment();
  return resolveConfig(
    mergeSources({
      flags: options.flags ?? {},
      env,
      dotenv,
      yaml,
    }),
    { service: options.service },
  );
}
