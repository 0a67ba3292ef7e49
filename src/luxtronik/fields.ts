/**
 * The three Luxtronik field tables (calculations, parameters, visibilities) as
 * typed definitions. The data itself lives in the generated `field_table.ts`.
 *
 * @module
 */

import { DATATYPES } from "./datatypes.ts";
import { type FieldRow, PREFERRED_ROWS, SECONDARY_ROWS } from "./field_table.ts";

/** The three tables the controller sends. */
export type TableKind = "parameters" | "calculations" | "visibilities";

/** All table kinds, in the order the product polls them. */
export const TABLE_KINDS: readonly TableKind[] = ["parameters", "calculations", "visibilities"];

/** One named field: `count` raw slots starting at `index`, decoded as `type`. */
export interface FieldDef {
  table: TableKind;
  index: number;
  count: number;
  name: string;
  type: string;
  unit: string;
}

/** Physical unit of a datatype class (`°C`, `kWh`, …), `""` if it has none or is unknown. */
export function unitOf(type: string): string {
  return Object.hasOwn(DATATYPES, type) ? DATATYPES[type].unit : "";
}

/** Singular word used in `Unknown_<Kind>_<i>` names. */
const KIND_WORDS: Readonly<Record<TableKind, string>> = {
  calculations: "Calculation",
  parameters: "Parameter",
  visibilities: "Visibility",
};

/**
 * Name for an index beyond the known definitions, e.g. `Unknown_Calculation_270`.
 * Capitalised on purpose (our output contract); the reference lowercases these.
 */
export function unknownFieldName(kind: TableKind, index: number): string {
  return `Unknown_${KIND_WORDS[kind]}_${index}`;
}

function toFieldDef(
  table: TableKind,
  index: number,
  count: number,
  name: string,
  type: string,
): FieldDef {
  return Object.freeze({ table, index, count, name, type, unit: unitOf(type) });
}

function preferredFields(kind: TableKind): readonly FieldDef[] {
  return Object.freeze(
    PREFERRED_ROWS[kind].map(([name, type]: FieldRow, index) =>
      toFieldDef(kind, index, 1, name, type)
    ),
  );
}

function secondaryFields(kind: TableKind): readonly FieldDef[] {
  return Object.freeze(
    SECONDARY_ROWS.filter(([table]) => table === kind)
      .map(([table, index, count, name, type]) => toFieldDef(table, index, count, name, type))
      .sort((a, b) => a.index - b.index),
  );
}

/** The preferred field per index (the one a lookup by index returns), sorted by index. */
export const FIELDS: Record<TableKind, readonly FieldDef[]> = {
  calculations: preferredFields("calculations"),
  parameters: preferredFields("parameters"),
  visibilities: preferredFields("visibilities"),
};

/**
 * Further fields that also appear in decoded output: the multi-slot `ID_WEB_SoftStand`
 * (calc 81, 10 slots, Version) and the outdated aliases kept next to their successor.
 * Lookup-only alternative names are not here: they never appear in output.
 */
export const SECONDARY_FIELDS: Record<TableKind, readonly FieldDef[]> = {
  calculations: secondaryFields("calculations"),
  parameters: secondaryFields("parameters"),
  visibilities: secondaryFields("visibilities"),
};
