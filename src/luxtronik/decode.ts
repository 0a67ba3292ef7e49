/**
 * Decodes whole raw tables into named values, and builds the CSV column set.
 * Values match python-luxtronik's decoded output (see ../shared/reference/).
 *
 * @module
 */

import { datatypeOf, type RawSlot, toRawSlot, type Value } from "./datatypes.ts";
import {
  type FieldDef,
  FIELDS,
  SECONDARY_FIELDS,
  type TableKind,
  unitOf,
  unknownFieldName,
} from "./fields.ts";

export type { Value };

/** Options for decoding. */
export interface DecodeOptions {
  /** IANA zone in which Timestamp fields are rendered as naive wall time; default "UTC". */
  timeZone?: string;
}

/** A field bound to its decoder: reads its own slots from a whole raw table. */
export interface Column extends FieldDef {
  decode(raw: ArrayLike<number>, opts?: DecodeOptions): Value;
}

const DEFAULT_TIME_ZONE = "UTC";
const validatedZones = new Set<string>([DEFAULT_TIME_ZONE]);

/**
 * Returns the zone to use, checked once per distinct name. An invalid zone is a
 * configuration error, so it throws a RangeError up front, whether or not the
 * table happens to contain a Timestamp value.
 */
function timeZoneOf(opts: DecodeOptions | undefined): string {
  const zone = opts?.timeZone ?? DEFAULT_TIME_ZONE;
  if (!validatedZones.has(zone)) {
    try {
      Temporal.Instant.fromEpochMilliseconds(0).toZonedDateTimeISO(zone);
    } catch {
      throw new RangeError(
        `invalid time zone "${zone}": expected an IANA name like "Europe/Berlin"`,
      );
    }
    validatedZones.add(zone);
  }
  return zone;
}

/** The raw slots of a field; slots past the end of the table are missing (null). */
function slotsOf(raw: ArrayLike<number>, index: number, count: number): RawSlot[] {
  const slots: RawSlot[] = [];
  for (let i = index; i < index + count; i++) slots.push(i < raw.length ? toRawSlot(raw[i]) : null);
  return slots;
}

function toColumn(def: FieldDef): Column {
  const datatype = datatypeOf(def.type);
  return {
    ...def,
    decode: (raw, opts) =>
      datatype.decode(slotsOf(raw, def.index, def.count), { timeZone: timeZoneOf(opts) }),
  };
}

/** Column for an index beyond the definitions: raw integer under `Unknown_<Kind>_<i>`. */
function unknownColumn(kind: TableKind, index: number): Column {
  return toColumn({
    table: kind,
    index,
    count: 1,
    name: unknownFieldName(kind, index),
    type: "Unknown",
    unit: unitOf("Unknown"),
  });
}

function byIndex(a: Column, b: Column): number {
  return a.index - b.index; // Array.prototype.sort is stable: preferred stays first
}

function columnsPerKind(pick: (kind: TableKind) => readonly FieldDef[]) {
  const build = (kind: TableKind) => pick(kind).map(toColumn).sort(byIndex);
  return {
    calculations: build("calculations"),
    parameters: build("parameters"),
    visibilities: build("visibilities"),
  } satisfies Record<TableKind, readonly Column[]>;
}

/** Every field that appears in decoded output: preferred and secondary, in index order. */
const OUTPUT_COLUMNS = columnsPerKind((kind) => [...FIELDS[kind], ...SECONDARY_FIELDS[kind]]);

/**
 * The CSV set: preferred fields plus multi-slot fields. Multi-slot fields (the
 * firmware string) carry information no single column has; outdated aliases only
 * repeat a preferred column's raw slot, so they are left out.
 */
const CSV_COLUMNS = columnsPerKind((kind) => [
  ...FIELDS[kind],
  ...SECONDARY_FIELDS[kind].filter((def) => def.count > 1),
]);

/** Columns for indices `FIELDS[kind].length .. length-1` (none if the table is shorter). */
function extraColumns(kind: TableKind, length: number): Column[] {
  const extras: Column[] = [];
  for (let index = FIELDS[kind].length; index < length; index++) {
    extras.push(unknownColumn(kind, index));
  }
  return extras;
}

/**
 * Decoded output of one raw table, keys in index order: preferred + secondary fields
 * + `Unknown_<Kind>_<i>` for indices beyond the definitions. Fields the table is too
 * short for are still present, with the reference's missing value (null; Bool false).
 * A `null` table (not received) decodes like an empty one.
 */
export function decodeTable(
  kind: TableKind,
  raw: ArrayLike<number> | null,
  opts?: DecodeOptions,
): Record<string, Value> {
  const table = raw ?? [];
  const resolved: DecodeOptions = { timeZone: timeZoneOf(opts) };
  const decoded: Record<string, Value> = {};
  for (const column of [...OUTPUT_COLUMNS[kind], ...extraColumns(kind, table.length)]) {
    decoded[column.name] = column.decode(table, resolved);
  }
  return decoded;
}

/**
 * The CSV column set for a table of `length` values: every preferred field (even if
 * the table is shorter), the multi-slot ID_WEB_SoftStand, and `Unknown_<Kind>_<i>`
 * for indices beyond the definitions. Outdated aliases are not included.
 */
export function csvColumns(kind: TableKind, length: number): Column[] {
  return [...CSV_COLUMNS[kind], ...extraColumns(kind, length)];
}

/**
 * Significant digits for printing numbers. Every scaled value is an int32 times 0.1
 * or 0.01, so its exact decimal has at most 10 significant digits, while the computed
 * double differs from it by less than 2e-16 relative (0.1's representation error plus
 * one rounding). Rounding to 15 digits therefore always lands on the exact decimal
 * (half a unit in the 15th digit is at least 5e-16 relative), and doubles are unique
 * at 15 digits, so `String` of the re-parsed number prints that decimal in its
 * shortest form: 22.700000000000003 → "22.7", 214748364.70000002 → "214748364.7".
 */
const CELL_PRECISION = 15;

/**
 * A value as a CSV cell: null → "", booleans "true"/"false", strings unchanged, numbers
 * without binary float artefacts and with the chosen decimal separator.
 */
export function formatCell(v: Value, decimal: "." | "," = "."): string {
  if (v === null) return "";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "string") return v;
  const text = Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(CELL_PRECISION)));
  return decimal === "," ? text.replace(".", ",") : text;
}
