/**
 * Turns stored polls into CSV or JSON text, line by line, so an export of any range
 * streams with flat memory. The line producers are pure; `writeChunks` is the thin I/O.
 */
import {
  type Column,
  csvColumns,
  decodeTable,
  formatCell,
  type Value,
} from "./luxtronik/decode.ts";
import { FIELDS, TABLE_KINDS, type TableKind } from "./luxtronik/fields.ts";
import type { Config } from "./config.ts";
import { readableName } from "./luxtronik/readable_names.ts";
import type { StoredPoll } from "./storage.ts";

export interface CsvOptions {
  timeZone: string;
  delimiter?: string;
  decimal?: "." | ",";
  /** Prefix a UTF-8 byte order mark (helps Excel detect the encoding). */
  bom?: boolean;
  /** Plain-English column names instead of the reference names (READABLE_HEADERS). */
  readableHeaders?: boolean;
}

/** The CSV dialect a configuration asks for; every CSV writer takes it from here. */
export function csvOptionsFromConfig(config: Config): CsvOptions {
  return {
    timeZone: config.timeZone,
    delimiter: config.csvDelimiter,
    decimal: config.csvDecimal,
    bom: config.csvBom,
    readableHeaders: config.readableHeaders,
  };
}

/** The `timestamp` cell: the poll's instant with the UTC offset of the configured zone. */
export function formatTimestamp(ts: number, timeZone: string): string {
  return Temporal.Instant.fromEpochMilliseconds(ts).toZonedDateTimeISO(timeZone).toString({
    timeZoneName: "never",
    smallestUnit: "second",
    roundingMode: "trunc",
  });
}

/** Quotes a cell per RFC 4180 when it holds the delimiter, a quote or a line break. */
export function quoteCell(cell: string, delimiter: string): string {
  if (cell.includes(delimiter) || /["\r\n]/.test(cell)) return `"${cell.replaceAll('"', '""')}"`;
  return cell;
}

/**
 * Header cell of a column: the reference name (or, with `readable`, a plain-English
 * name where we have one), then the unit in brackets if it has one.
 */
export function headerCell(column: Column, readable = false): string {
  const name = readable ? readableName(column) : column.name;
  return column.unit ? `${name} [${column.unit}]` : name;
}

/** The default column set: every calculation of a table of `length` values. */
export function defaultColumns(calculationLength: number): Column[] {
  return csvColumns("calculations", calculationLength);
}

const LINE_END = "\r\n";

/** CSV lines (each ending in CRLF, RFC 4180) for polls, header first. */
export function* csvLines(
  polls: Iterable<StoredPoll>,
  columns: readonly Column[],
  options: CsvOptions,
): Generator<string> {
  const delimiter = options.delimiter ?? ",";
  const decimal = options.decimal ?? ".";
  const header = ["timestamp", ...columns.map((c) => headerCell(c, options.readableHeaders))]
    .map((c) => quoteCell(c, delimiter));
  yield (options.bom ? "\uFEFF" : "") + header.join(delimiter) + LINE_END;
  for (const poll of polls) {
    const cells = [quoteCell(formatTimestamp(poll.ts, options.timeZone), delimiter)];
    for (const column of columns) {
      cells.push(
        quoteCell(formatCell(cellValue(poll, column, options.timeZone), decimal), delimiter),
      );
    }
    yield cells.join(delimiter) + LINE_END;
  }
}

/** The value of `column` in a poll, or null when that table did not reach it. */
function cellValue(poll: StoredPoll, column: Column, timeZone: string): Value {
  const table = poll[column.table];
  return table && column.index + column.count <= table.length
    ? column.decode(table, { timeZone })
    : null;
}

/**
 * The entries of `columns` in a poll's decoded `kind` table, exactly as `decodeTable` has
 * them: a defined field is always there, with the reference's missing value when the table
 * is too short (null; Bool false), while an index beyond the definitions is there only if
 * this poll's table reaches it. (A CSV cell differs on purpose: not sent = empty.)
 */
function selectedEntries(
  poll: StoredPoll,
  kind: TableKind,
  columns: readonly Column[],
  timeZone: string,
): Record<string, Value> {
  const table = poll[kind] ?? [];
  const entries: Record<string, Value> = {};
  for (const column of columns) {
    if (column.table !== kind) continue;
    if (column.index >= FIELDS[kind].length && column.index >= table.length) continue;
    entries[column.name] = column.decode(table, { timeZone });
  }
  return entries;
}

/**
 * A JSON array of decoded polls (cli.md "Decoded values"), one poll per line: every
 * field, or only `columns` when a selection was asked for.
 */
export function* jsonLines(
  polls: Iterable<StoredPoll>,
  timeZone: string,
  columns: readonly Column[] | null = null,
): Generator<string> {
  yield "[";
  let first = true;
  for (const poll of polls) {
    const decoded: Record<string, unknown> = { ts: formatTimestamp(poll.ts, timeZone) };
    for (const kind of TABLE_KINDS) {
      decoded[kind] = columns === null
        ? decodeTable(kind, poll[kind], { timeZone })
        : selectedEntries(poll, kind, columns, timeZone);
    }
    yield (first ? "\n" : ",\n") + JSON.stringify(decoded);
    first = false;
  }
  yield "\n]\n";
}

const CHUNK_BYTES = 64 * 1024;

/** Writes text pieces to `sink` in chunks of about 64 KiB; returns the bytes written. */
export async function writeChunks(
  pieces: Iterable<string>,
  sink: { write(bytes: Uint8Array): Promise<number> },
): Promise<number> {
  const encoder = new TextEncoder();
  let pending: string[] = [];
  let pendingLength = 0;
  let total = 0;
  const flush = async () => {
    const bytes = encoder.encode(pending.join(""));
    let written = 0;
    while (written < bytes.length) written += await sink.write(bytes.subarray(written));
    total += bytes.length;
    pending = [];
    pendingLength = 0;
  };
  for (const piece of pieces) {
    pending.push(piece);
    pendingLength += piece.length;
    if (pendingLength >= CHUNK_BYTES) await flush();
  }
  if (pendingLength > 0) await flush();
  return total;
}

/** Matches a column against a pattern: `NAME`, `table.NAME`, with `*` and `?` wildcards. */
export function matchesPattern(column: Column, pattern: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll(
    "?",
    ".",
  );
  const regex = new RegExp(`^${source}$`);
  return regex.test(column.name) || regex.test(`${column.table}.${column.name}`);
}

/** The patterns that match no field at all: most likely typos. */
export function unmatchedPatterns(
  patterns: readonly string[],
  lengths: Record<TableKind, number>,
): string[] {
  const all = TABLE_KINDS.flatMap((kind) => csvColumns(kind, lengths[kind]));
  return patterns.filter((p) => !all.some((c) => matchesPattern(c, p)));
}

/**
 * The columns to write: every calculation by default, or those matching any of
 * `patterns` (names or globs, from any table), in table order then index order.
 */
export function selectColumns(
  patterns: readonly string[] | null,
  lengths: Record<TableKind, number>,
): Column[] {
  if (patterns === null) return defaultColumns(lengths.calculations);
  return (["calculations", "parameters", "visibilities"] as const).flatMap((kind) =>
    csvColumns(kind, lengths[kind]).filter((c) => patterns.some((p) => matchesPattern(c, p)))
  );
}
