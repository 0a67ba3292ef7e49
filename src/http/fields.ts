/**
 * What the dashboard shows of a poll: every field decoded with its text as the CSV
 * would write it, the headline fields picked by table position (names may change with
 * the field tables, positions do not), the controller's error memory, and the numeric
 * reading of a value for charts and metrics. Pure: no storage, no HTTP.
 */
import {
  type Column,
  csvColumns,
  type DecodeOptions,
  formatCell,
  type Value,
} from "../luxtronik/decode.ts";
import type { TableKind } from "../luxtronik/fields.ts";
import type { StoredPoll } from "../storage.ts";

/** Tables in the order people look for things: live values first. */
export const DISPLAY_ORDER: readonly TableKind[] = ["calculations", "parameters", "visibilities"];

export interface HeadlineField {
  table: TableKind;
  index: number;
  label: string;
}

/** Shown first, in this order: temperatures, then what the machine is doing. */
export const HEADLINE_FIELDS: readonly HeadlineField[] = [
  { table: "calculations", index: 10, label: "Flow" },
  { table: "calculations", index: 11, label: "Return" },
  { table: "calculations", index: 15, label: "Outside" },
  { table: "calculations", index: 17, label: "Hot water" },
  { table: "calculations", index: 80, label: "Operating state" },
  { table: "calculations", index: 44, label: "Compressor" },
];

/** The controller keeps its last five errors: times in calculations 95..99, codes in 100..104. */
const ERROR_TIME_INDEX = 95;
const ERROR_CODE_INDEX = 100;
const ERROR_SLOTS = 5;

export interface FieldValue {
  /** `table.name`: what /api/series?field= and /metrics labels use. */
  id: string;
  table: TableKind;
  index: number;
  name: string;
  type: string;
  unit: string;
  value: Value;
  /** The value as the CSV writes it. */
  text: string;
  /** Whether the field can be charted (a number, or a boolean as 0/1). */
  numeric: boolean;
}

export function fieldId(column: Pick<Column, "table" | "name">): string {
  return `${column.table}.${column.name}`;
}

/** A decoded value as a number for charts and gauges (booleans as 0/1), else null. */
export function numericValue(value: Value): number | null {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  return null;
}

/** The columns of every table the poll carries, in display order. */
export function pollColumns(poll: StoredPoll): Column[] {
  return DISPLAY_ORDER.flatMap((kind) => {
    const table = poll[kind];
    return table ? csvColumns(kind, table.length) : [];
  });
}

/** Decodes one column of a poll; null when the table is missing or too short. */
export function decodeColumn(poll: StoredPoll, column: Column, options: DecodeOptions): Value {
  const table = poll[column.table];
  if (!table || column.index + column.count > table.length) return null;
  return column.decode(table, options);
}

function fieldValue(column: Column, value: Value): FieldValue {
  return {
    id: fieldId(column),
    table: column.table,
    index: column.index,
    name: column.name,
    type: column.type,
    unit: column.unit,
    value,
    text: formatCell(value),
    numeric: numericValue(value) !== null,
  };
}

/** Every field of the poll, decoded, in display order. */
export function decodeFields(poll: StoredPoll, options: DecodeOptions): FieldValue[] {
  return pollColumns(poll).map((column) => fieldValue(column, decodeColumn(poll, column, options)));
}

/** The headline fields found in `fields`, each with its label. */
export function headlineFields(fields: readonly FieldValue[]): (FieldValue & { label: string })[] {
  return HEADLINE_FIELDS.flatMap((headline) => {
    const field = fields.find((f) => f.table === headline.table && f.index === headline.index);
    return field ? [{ ...field, label: headline.label }] : [];
  });
}

export interface StoredError {
  slot: number;
  time: string;
  code: string;
}

/** The controller's error memory (slots with a time of 0 are empty). */
export function errorMemory(poll: StoredPoll, options: DecodeOptions): StoredError[] {
  const calculations = poll.calculations;
  if (!calculations || calculations.length < ERROR_CODE_INDEX + ERROR_SLOTS) return [];
  const columns = csvColumns("calculations", calculations.length);
  const at = (index: number) => columns.find((c) => c.index === index);
  const errors: StoredError[] = [];
  for (let slot = 0; slot < ERROR_SLOTS; slot++) {
    if (calculations[ERROR_TIME_INDEX + slot] === 0) continue;
    const time = at(ERROR_TIME_INDEX + slot);
    const code = at(ERROR_CODE_INDEX + slot);
    errors.push({
      slot,
      time: time ? formatCell(decodeColumn(poll, time, options)) : "",
      code: code ? formatCell(decodeColumn(poll, code, options)) : "",
    });
  }
  return errors;
}

/**
 * The column a `field` parameter names: `table.name`, or a bare name looked up in
 * calculations, then parameters, then visibilities.
 */
export function findColumn(poll: StoredPoll, field: string): Column | undefined {
  const columns = pollColumns(poll);
  return columns.find((c) => fieldId(c) === field) ?? columns.find((c) => c.name === field);
}
