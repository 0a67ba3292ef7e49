/**
 * Generates src/luxtronik/field_table.ts from the reference TSVs, so the product
 * carries the field tables as code and never reads ../shared at run time.
 *
 * Usage (from the repo root):
 *
 *   deno run --allow-read --allow-write tools/gen-fields.ts ../shared/reference
 *
 * An optional second argument overrides the output path. The generator validates
 * the input (contiguous indices, known datatypes, units that match the datatype)
 * and fails with a message naming the file and line instead of writing bad data.
 *
 * @module
 */

// Imports only datatypes.ts, never fields.ts: the generator must not depend on the
// file it generates.
import { DATATYPES, isKnownDatatype } from "../src/luxtronik/datatypes.ts";

/** The TSV files this generator reads, by table. */
export const TABLE_FILES = {
  calculations: "calculations.tsv",
  parameters: "parameters.tsv",
  visibilities: "visibilities.tsv",
} as const;
export const EXTRA_FIELDS_FILE = "extra-fields.tsv";

type Table = keyof typeof TABLE_FILES;
const TABLES = Object.keys(TABLE_FILES) as Table[];

/** Contents of the four reference TSVs. */
export interface ReferenceTsvs {
  calculations: string;
  parameters: string;
  visibilities: string;
  extraFields: string;
}

const TABLE_HEADER = ["index", "name", "type", "unit", "writable"];
const EXTRA_HEADER = ["table", "index", "count", "name", "type", "kind", "preferred_name_at_index"];

interface PreferredRow {
  name: string;
  type: string;
}

interface SecondaryRow {
  table: Table;
  index: number;
  count: number;
  name: string;
  type: string;
}

/** Splits a TSV into rows of cells, checking the header; returns [lineNumber, cells][]. */
function parseTsv(text: string, file: string, header: string[]): [number, string[]][] {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  if (lines.at(-1) === "") lines.pop();
  const actual = lines[0]?.split("\t") ?? [];
  if (actual.join("\t") !== header.join("\t")) {
    throw new Error(`${file}: header is "${actual.join(",")}", expected "${header.join(",")}"`);
  }
  return lines.slice(1).map((line, i) => {
    const cells = line.split("\t");
    if (cells.length !== header.length) {
      throw new Error(`${file}:${i + 2}: ${cells.length} columns, expected ${header.length}`);
    }
    return [i + 2, cells];
  });
}

/** Checks that `type` is a datatype we decode and, if given, that `unit` is its unit. */
function checkType(type: string, unit: string | null, where: string): void {
  if (!isKnownDatatype(type)) throw new Error(`${where}: unknown datatype "${type}"`);
  const expected = DATATYPES[type].unit;
  if (unit !== null && unit !== expected) {
    throw new Error(`${where}: unit "${unit}" but datatype ${type} has "${expected}"`);
  }
}

function parseTable(text: string, file: string): PreferredRow[] {
  return parseTsv(text, file, TABLE_HEADER).map(([line, [index, name, type, unit]], position) => {
    const where = `${file}:${line}`;
    if (index !== String(position)) {
      throw new Error(
        `${where}: index ${index}, expected ${position} (indices must be contiguous)`,
      );
    }
    if (name === "") throw new Error(`${where}: empty name`);
    checkType(type, unit, where);
    return { name, type };
  });
}

/**
 * Keeps the extra fields that appear in decoded output (the multi-slot field and the
 * outdated aliases) and drops lookup-only alternative names.
 */
function parseExtraFields(text: string, preferred: Record<Table, PreferredRow[]>): SecondaryRow[] {
  const rows: SecondaryRow[] = [];
  for (const [line, cells] of parseTsv(text, EXTRA_FIELDS_FILE, EXTRA_HEADER)) {
    const [table, indexText, countText, name, type, kind, preferredName] = cells;
    const where = `${EXTRA_FIELDS_FILE}:${line}`;
    if (!TABLES.includes(table as Table)) throw new Error(`${where}: unknown table "${table}"`);
    const index = Number(indexText);
    const count = Number(countText);
    const atIndex = preferred[table as Table][index];
    if (!Number.isInteger(index) || atIndex === undefined) {
      throw new Error(`${where}: index ${indexText} is not in ${table}`);
    }
    if (atIndex.name !== preferredName) {
      throw new Error(
        `${where}: preferred name "${preferredName}" but the table has "${atIndex.name}"`,
      );
    }
    if (!Number.isInteger(count) || count < 1) throw new Error(`${where}: bad count ${countText}`);
    checkType(type, null, where);
    if (kind.startsWith("alternative name")) continue;
    if (kind !== "multi-slot field" && !kind.startsWith("outdated")) {
      throw new Error(`${where}: unknown kind "${kind}"`);
    }
    rows.push({ table: table as Table, index, count, name, type });
  }
  return rows;
}

const str = JSON.stringify;

/** Renders field_table.ts; the output is already `deno fmt` clean. */
export function generateFieldTable(tsvs: ReferenceTsvs): string {
  const preferred = {} as Record<Table, PreferredRow[]>;
  for (const table of TABLES) preferred[table] = parseTable(tsvs[table], TABLE_FILES[table]);
  const secondary = parseExtraFields(tsvs.extraFields, preferred);

  const out: string[] = [
    "// Generated by tools/gen-fields.ts from the reference TSVs. Do not edit by hand;",
    "// regenerate with: deno run --allow-read --allow-write tools/gen-fields.ts ../shared/reference",
    "",
    "/** A preferred field: [name, datatype class]. Its position in the list is its index. */",
    "export type FieldRow = readonly [name: string, type: string];",
    "",
    "/** A secondary field that also appears in decoded output. */",
    "export type SecondaryRow = readonly [",
    '  table: "calculations" | "parameters" | "visibilities",',
    "  index: number,",
    "  count: number,",
    "  name: string,",
    "  type: string,",
    "];",
    "",
    "/** Preferred field per index, per table. */",
    "export const PREFERRED_ROWS: {",
    "  readonly calculations: readonly FieldRow[];",
    "  readonly parameters: readonly FieldRow[];",
    "  readonly visibilities: readonly FieldRow[];",
    "} = {",
  ];
  for (const table of TABLES) {
    out.push(`  ${table}: [`);
    for (const { name, type } of preferred[table]) out.push(`    [${str(name)}, ${str(type)}],`);
    out.push("  ],");
  }
  out.push("};", "");
  out.push(
    "/** Multi-slot field and outdated aliases: [table, index, count, name, type]. */",
    "export const SECONDARY_ROWS: readonly SecondaryRow[] = [",
  );
  for (const { table, index, count, name, type } of secondary) {
    out.push(`  [${str(table)}, ${index}, ${count}, ${str(name)}, ${str(type)}],`);
  }
  out.push("];", "");
  return out.join("\n");
}

/** Reads the four TSVs from a reference directory. */
export async function readReferenceTsvs(dir: URL): Promise<ReferenceTsvs> {
  const read = (file: string) => Deno.readTextFile(new URL(file, dir));
  return {
    calculations: await read(TABLE_FILES.calculations),
    parameters: await read(TABLE_FILES.parameters),
    visibilities: await read(TABLE_FILES.visibilities),
    extraFields: await read(EXTRA_FIELDS_FILE),
  };
}

/** Turns a directory path given on the command line into a URL ending in "/". */
function directoryUrl(path: string): URL {
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  return new URL(`file://${absolute.endsWith("/") ? absolute : `${absolute}/`}`);
}

if (import.meta.main) {
  const [referenceDir, outPath] = Deno.args;
  if (referenceDir === undefined) {
    console.error("usage: gen-fields.ts <reference-dir> [output.ts]");
    Deno.exit(2);
  }
  const target = outPath ?? new URL("../src/luxtronik/field_table.ts", import.meta.url);
  await Deno.writeTextFile(
    target,
    generateFieldTable(await readReferenceTsvs(directoryUrl(referenceDir))),
  );
  console.log(`wrote ${target}`);
}
