/**
 * One line per event on standard error: time, level, message and key=value details,
 * or one JSON object per line for log collectors (LOG_FORMAT=json). Standard output
 * stays free for what commands produce for programs (dump, export --out -).
 */
import { LOG_LEVELS, type LogLevel } from "./config.ts";

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: "text" | "json";
  /** Where lines go; default standard error. */
  write?: (line: string) => void;
  now?: () => Date;
}

function formatValue(value: string | number | boolean | null): string {
  const text = String(value);
  return /[\s"=]/.test(text) ? JSON.stringify(text) : text;
}

/** Renders one log line (pure, so tests can pin the format). */
export function formatLine(
  format: "text" | "json",
  time: Date,
  level: LogLevel,
  message: string,
  fields: LogFields = {},
): string {
  const defined = Object.entries(fields).filter(([, v]) => v !== undefined) as [
    string,
    string | number | boolean | null,
  ][];
  if (format === "json") {
    return JSON.stringify({
      time: time.toISOString(),
      level,
      msg: message,
      ...Object.fromEntries(defined),
    });
  }
  const details = defined.map(([k, v]) => ` ${k}=${formatValue(v)}`).join("");
  return `${time.toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${details}`;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level ?? "info");
  const format = options.format ?? "text";
  const encoder = new TextEncoder();
  const write = options.write ??
    ((line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n")));
  const now = options.now ?? (() => new Date());
  const at = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(level) >= threshold) {
      write(formatLine(format, now(), level, message, fields));
    }
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A logger that discards everything, for library callers and quiet tests. */
export const silentLogger: Logger = createLogger({ write: () => {} });
