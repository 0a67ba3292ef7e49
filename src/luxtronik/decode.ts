// TEMPORARY stand-in until the field tables land (branch decode); same API.
import type { TableKind } from "./fields.ts";
export type { TableKind };
export type Value = number | string | boolean | null;
export interface DecodeOptions {
  timeZone?: string;
}
export interface Column {
  table: TableKind;
  index: number;
  count: number;
  name: string;
  type: string;
  unit: string;
  decode(raw: ArrayLike<number>, opts?: DecodeOptions): Value;
}
const KIND_NAME = {
  parameters: "Parameter",
  calculations: "Calculation",
  visibilities: "Visibility",
};
function column(table: TableKind, index: number): Column {
  const celsius = table === "calculations" && index === 10;
  return {
    table,
    index,
    count: 1,
    name: celsius ? "ID_WEB_Temperatur_TVL" : `Unknown_${KIND_NAME[table]}_${index}`,
    type: celsius ? "Celsius" : "Unknown",
    unit: celsius ? "°C" : "",
    decode: (raw) => celsius ? raw[index] * 0.1 : raw[index],
  };
}
export function csvColumns(kind: TableKind, length: number): Column[] {
  return Array.from({ length }, (_, i) => column(kind, i));
}
export function decodeTable(
  kind: TableKind,
  raw: ArrayLike<number> | null,
  _opts?: DecodeOptions,
): Record<string, Value> {
  if (!raw) return {};
  return Object.fromEntries(csvColumns(kind, raw.length).map((c) => [c.name, c.decode(raw)]));
}
export function formatCell(v: Value, decimal: "." | "," = "."): string {
  if (v === null) return "";
  if (typeof v === "number") {
    const s = String(Number(v.toPrecision(12)));
    return decimal === "," ? s.replace(".", ",") : s;
  }
  return String(v);
}
