/**
 * Which columns a CSV has (`CSV_FIELDS`), pure.
 *
 * `CSV_FIELDS` is a comma-separated list of field names or glob patterns (`*` = any run of
 * characters, `?` = one character; case-insensitive):
 *
 * - `calculations.NAME`, `parameters.NAME`, `visibilities.NAME` select from that table only.
 * - A bare `NAME` selects from the calculations; if it matches none there, from the
 *   parameters, then the visibilities. So `ID_WEB_Temperatur_*` gives the temperature
 *   calculations and `ID_Ba_Hz_akt` (a parameter) works without a prefix.
 *
 * Columns come in the order of the patterns, and within one pattern in table order; a
 * column selected twice appears once, where it was first selected. Without `CSV_FIELDS`
 * every calculation is a column (the default of cli.md).
 *
 * @example
 * ```ts
 * const { columns, unmatched } = selectColumns(["ID_WEB_Temperatur_T*", "parameters.ID_Ba_Hz_akt"], lengths);
 * ```
 */
import { type Column, csvColumns, type TableKind } from "./luxtronik/decode.ts";

export const TABLE_ORDER: readonly TableKind[] = ["calculations", "parameters", "visibilities"];

/** How many values of each table the polls carry; columns exist up to these lengths. */
export type TableLengths = Record<TableKind, number>;

/** A case-insensitive anchored RegExp for a glob with `*` and `?`. */
export function globToRegExp(glob: string): RegExp {
  const source = glob.split("").map((c) => {
    if (c === "*") return ".*";
    if (c === "?") return ".";
    return c.replace(/[.+^${}()|[\]\\]/, "\\$&");
  }).join("");
  return new RegExp(`^${source}$`, "i");
}

/** Splits `parameters.NAME` into its table and pattern; a bare pattern has no table. */
export function parseFieldPattern(text: string): { table: TableKind | null; pattern: string } {
  const dot = text.indexOf(".");
  if (dot > 0) {
    const table = text.slice(0, dot).toLowerCase();
    if ((TABLE_ORDER as readonly string[]).includes(table)) {
      return { table: table as TableKind, pattern: text.slice(dot + 1) };
    }
  }
  return { table: null, pattern: text };
}

export interface ColumnSelection {
  columns: Column[];
  /** Patterns that selected nothing (worth a warning: probably a typo). */
  unmatched: string[];
}

/** The columns for `fields` (`null`: every calculation) over tables of the given lengths. */
export function selectColumns(
  fields: readonly string[] | null,
  lengths: TableLengths,
): ColumnSelection {
  if (fields === null || fields.length === 0) {
    return { columns: csvColumns("calculations", lengths.calculations), unmatched: [] };
  }
  const available = new Map<TableKind, Column[]>();
  const tableColumns = (table: TableKind) => {
    let columns = available.get(table);
    if (!columns) {
      columns = csvColumns(table, lengths[table]);
      available.set(table, columns);
    }
    return columns;
  };
  const chosen: Column[] = [];
  const seen = new Set<string>();
  const unmatched: string[] = [];
  for (const field of fields) {
    const { table, pattern } = parseFieldPattern(field.trim());
    const regexp = globToRegExp(pattern);
    let matches: Column[] = [];
    for (const candidate of table ? [table] : TABLE_ORDER) {
      matches = tableColumns(candidate).filter((column) => regexp.test(column.name));
      if (matches.length > 0) break;
    }
    if (matches.length === 0) unmatched.push(field);
    for (const column of matches) {
      const key = `${column.table}.${column.index}`;
      if (!seen.has(key)) {
        seen.add(key);
        chosen.push(column);
      }
    }
  }
  return { columns: chosen, unmatched };
}
