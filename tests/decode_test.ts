import assert from "node:assert/strict";
import { csvColumns, decodeTable, formatCell, type Value } from "../src/luxtronik/decode.ts";
import {
  type FieldDef,
  FIELDS,
  SECONDARY_FIELDS,
  TABLE_KINDS,
  type TableKind,
  unitOf,
  unknownFieldName,
} from "../src/luxtronik/fields.ts";
import { generateFieldTable, readReferenceTsvs } from "../tools/gen-fields.ts";

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const DEFINED: Record<TableKind, number> = {
  calculations: 269,
  parameters: 1160,
  visibilities: 380,
};

function field(kind: TableKind, name: string): FieldDef {
  const def = [...FIELDS[kind], ...SECONDARY_FIELDS[kind]].find((f) => f.name === name);
  assert.ok(def, `${kind}.${name} exists`);
  return def;
}

/** A raw table of `length` zeros with some slots set. */
function table(length: number, set: Record<number, number> = {}): number[] {
  const raw = new Array<number>(length).fill(0);
  for (const [index, value] of Object.entries(set)) raw[Number(index)] = value;
  return raw;
}

// --- field tables ------------------------------------------------------------------

Deno.test("FIELDS: one preferred field per index, contiguous and sorted", () => {
  assert.deepEqual(TABLE_KINDS, ["parameters", "calculations", "visibilities"]);
  for (const kind of TABLE_KINDS) {
    assert.equal(FIELDS[kind].length, DEFINED[kind], kind);
    FIELDS[kind].forEach((def, index) => {
      assert.equal(def.index, index);
      assert.equal(def.table, kind);
      assert.equal(def.count, 1);
      assert.equal(def.unit, unitOf(def.type));
    });
  }
  assert.ok(FIELDS.visibilities.every((def) => def.type === "Unknown"));
});

Deno.test("FIELDS: spot checks and per-type counts from datatypes.md", () => {
  assert.deepEqual(field("calculations", "ID_WEB_Temperatur_TVL"), {
    table: "calculations",
    index: 10,
    count: 1,
    name: "ID_WEB_Temperatur_TVL",
    type: "Celsius",
    unit: "°C",
  });
  assert.equal(field("parameters", "ID_Einst_BWS_akt").index, 2);
  assert.equal(field("parameters", "LAST_DEFROST_TIMESTAMP").type, "Timestamp");
  assert.equal(FIELDS.calculations[258].name, "RBE_Version");
  assert.equal(FIELDS.visibilities[182].name, "ID_Visi_Heizung_Zeitschaltprogramm");
  const counts = new Map<string, number>();
  for (const kind of TABLE_KINDS) {
    for (const def of FIELDS[kind]) counts.set(def.type, (counts.get(def.type) ?? 0) + 1);
  }
  const expected: Record<string, number> = {
    Unknown: 910,
    TimeOfDay: 500,
    Celsius: 84,
    TimeOfDay2: 81,
    Bool: 47,
    Seconds: 35,
    Timestamp: 18,
    Energy: 15,
    Kelvin: 15,
    Character: 10,
    IPv4Address: 4,
    Hours2: 1,
    MajorMinorVersion: 1,
  };
  for (const [type, count] of Object.entries(expected)) assert.equal(counts.get(type), count, type);
  assert.equal(counts.size, 44, "datatypes in use");
});

Deno.test("SECONDARY_FIELDS: the multi-slot version and outdated aliases only", () => {
  assert.equal(SECONDARY_FIELDS.calculations.length, 11);
  assert.equal(SECONDARY_FIELDS.parameters.length, 28);
  assert.equal(SECONDARY_FIELDS.visibilities.length, 0);
  assert.deepEqual(SECONDARY_FIELDS.calculations[0], {
    table: "calculations",
    index: 81,
    count: 10,
    name: "ID_WEB_SoftStand",
    type: "Version",
    unit: "",
  });
  assert.equal(field("calculations", "Unknown_Calculation_232").type, "Unknown");
  assert.equal(field("parameters", "Unknown_Parameter_1148").index, 1148);
  const names = SECONDARY_FIELDS.parameters.map((def) => def.name);
  for (const lookupOnly of ["Unknown_Parameter_1140", "Unknown_Parameter_1158"]) {
    assert.ok(!names.includes(lookupOnly), lookupOnly);
  }
  assert.ok(!SECONDARY_FIELDS.calculations.some((def) => def.name === "Circulation_Pump"));
});

Deno.test("unitOf: unit of the datatype, '' for none or unknown", () => {
  assert.equal(unitOf("Celsius"), "°C");
  assert.equal(unitOf("Pressure"), "bar");
  assert.equal(unitOf("Flow"), "l/h");
  assert.equal(unitOf("Unknown"), "");
  assert.equal(unitOf("Bool"), "");
  assert.equal(unitOf("NoSuchType"), "");
  assert.equal(unitOf("toString"), "");
});

Deno.test("unknownFieldName is capitalised per table", () => {
  assert.equal(unknownFieldName("calculations", 270), "Unknown_Calculation_270");
  assert.equal(unknownFieldName("parameters", 1160), "Unknown_Parameter_1160");
  assert.equal(unknownFieldName("visibilities", 380), "Unknown_Visibility_380");
});

Deno.test("field_table.ts is in sync with the reference TSVs", async () => {
  const reference = new URL("../../shared/reference/", import.meta.url);
  let tsvs;
  try {
    tsvs = await readReferenceTsvs(reference);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    console.warn("skipped: ../shared/reference not found next to the repo");
    return;
  }
  const committed = await Deno.readTextFile(
    new URL("../src/luxtronik/field_table.ts", import.meta.url),
  );
  assert.equal(
    generateFieldTable(tsvs),
    committed,
    "regenerate: deno run --allow-read --allow-write tools/gen-fields.ts ../shared/reference",
  );
});

// --- decodeTable -------------------------------------------------------------------

Deno.test("decodeTable: full tables give 280 / 1188 / 380 entries in index order", () => {
  const sizes: Record<TableKind, number> = {
    calculations: 280,
    parameters: 1188,
    visibilities: 380,
  };
  for (const kind of TABLE_KINDS) {
    const decoded = decodeTable(kind, table(DEFINED[kind]));
    const keys = Object.keys(decoded);
    assert.equal(keys.length, sizes[kind], kind);
    const all = [...FIELDS[kind], ...SECONDARY_FIELDS[kind]];
    const indexOf = new Map(all.map((def) => [def.name, def.index]));
    const indices = keys.map((key) => indexOf.get(key)!);
    assert.deepEqual(indices, [...indices].sort((a, b) => a - b), `${kind} order`);
  }
  const keys = Object.keys(decodeTable("calculations", table(269)));
  assert.deepEqual(keys.slice(81, 83), ["ID_WEB_SoftStand_0", "ID_WEB_SoftStand"]);
  assert.deepEqual(keys.slice(233, 236), [
    "Vapourisation_Temperature",
    "Unknown_Calculation_232",
    "Liquefaction_Temperature",
  ]);
});

Deno.test("decodeTable: values per datatype from one calculations table", () => {
  const raw = table(269, {
    10: 227, // ID_WEB_Temperatur_TVL, Celsius
    38: -1, // ID_WEB_BUPout, Bool
    78: 72, // ID_WEB_Code_WP_akt, HeatpumpCode
    80: -3, // ID_WEB_WP_BZ_akt, OperationMode (unknown code)
    81: 86,
    82: 51,
    83: 46,
    84: 56,
    85: 57,
    86: 46,
    87: 52, // "V3.89.4" in 81-90
    91: -1062731775, // ID_WEB_AdresseIP_akt
    134: 1735689600, // ID_WEB_AktuelleTimeStamp
    147: 33, // ID_WEB_AnalogIn, Voltage
    232: 160, // Vapourisation_Temperature and its outdated alias
    258: 305, // RBE_Version and its outdated alias
  });
  const decoded = decodeTable("calculations", raw);
  const expected: Record<string, Value> = {
    ID_WEB_Temperatur_TVL: 22.700000000000003,
    ID_WEB_BUPout: true,
    ID_WEB_Code_WP_akt: "MSW 12S",
    ID_WEB_WP_BZ_akt: "Unknown_-3",
    ID_WEB_SoftStand_0: "V",
    ID_WEB_SoftStand_9: "",
    ID_WEB_SoftStand: "V3.89.4",
    ID_WEB_AdresseIP_akt: "192.168.0.1",
    ID_WEB_AktuelleTimeStamp: "2025-01-01T00:00:00",
    ID_WEB_AnalogIn: 3.3000000000000003,
    Vapourisation_Temperature: 16,
    Unknown_Calculation_232: 160,
    RBE_Version: "3.5",
    Unknown_Calculation_258: 305,
    ID_WEB_Code_WP_akt_2: "ERC",
  };
  for (const [name, value] of Object.entries(expected)) assert.equal(decoded[name], value, name);
});

Deno.test("decodeTable: parameters and visibilities", () => {
  const params = decodeTable(
    "parameters",
    table(1160, { 1: 10, 2: 500, 3: 4, 1020: 3, 1087: 1, 1119: -5 }),
  );
  assert.equal(params.ID_Einst_WK_akt, 1);
  assert.equal(params.ID_Einst_BWS_akt, 50);
  assert.equal(params.ID_Ba_Hz_akt, "Off");
  assert.equal(params.ID_Einst_WW_Nachheizung_max, 2.5);
  assert.equal(params.SILENT_MODE, "On");
  assert.equal(params.Unknown_Parameter_1087, 1);
  assert.equal(params.LAST_DEFROST_TIMESTAMP, "1970-01-01T00:00:00");
  const visis = decodeTable("visibilities", table(380, { 0: -128, 1: 1, 379: 127 }));
  assert.equal(visis.ID_Visi_NieAnzeigen, -128);
  assert.equal(visis.ID_Visi_ImmerAnzeigen, 1);
  assert.equal(Object.values(visis).at(-1), 127);
});

Deno.test("decodeTable: a shorter table keeps every field with its missing value", () => {
  const decoded = decodeTable("calculations", table(85, { 81: 86, 82: 51, 10: 227 }));
  assert.equal(Object.keys(decoded).length, 280);
  assert.equal(decoded.ID_WEB_Temperatur_TVL, 22.700000000000003);
  assert.equal(decoded.ID_WEB_SoftStand_0, "V");
  assert.equal(decoded.ID_WEB_SoftStand_3, "");
  assert.equal(decoded.ID_WEB_SoftStand_4, null); // index 85 is past the end
  assert.equal(decoded.ID_WEB_SoftStand, null); // needs all ten slots
  assert.equal(decoded.ID_WEB_AdresseIP_akt, null);
  assert.equal(decoded.ID_WEB_AktuelleTimeStamp, null);
  assert.equal(decoded.RBE_Version, null);
  assert.equal(decoded.ID_WEB_WMZ_Heizung, null);
  assert.equal(decoded.ID_WEB_HZIO_VEN, null);
  assert.equal(decoded.ID_WEB_SH_BWW, false); // Bool: missing is false, as the reference
});

Deno.test("decodeTable: a null table decodes like an empty one", () => {
  for (const kind of TABLE_KINDS) {
    const decoded = decodeTable(kind, null);
    const bools = [...FIELDS[kind], ...SECONDARY_FIELDS[kind]].filter((d) => d.type === "Bool");
    for (const [name, value] of Object.entries(decoded)) {
      assert.equal(value, bools.some((d) => d.name === name) ? false : null, name);
    }
    assert.deepEqual(decoded, decodeTable(kind, []));
  }
});

Deno.test("decodeTable: indices beyond the definitions are Unknown_<Kind>_<i>", () => {
  const calcs = decodeTable("calculations", table(272, { 269: -7, 271: INT32_MAX }));
  assert.equal(Object.keys(calcs).length, 283);
  assert.deepEqual(Object.entries(calcs).slice(-3), [
    ["Unknown_Calculation_269", -7],
    ["Unknown_Calculation_270", 0],
    ["Unknown_Calculation_271", INT32_MAX],
  ]);
  const params = decodeTable("parameters", table(1161, { 1160: INT32_MIN }));
  assert.equal(params.Unknown_Parameter_1160, INT32_MIN);
  const visis = decodeTable("visibilities", table(382, { 381: -1 }));
  assert.equal(visis.Unknown_Visibility_381, -1);
  assert.equal(visis.Unknown_Visibility_380, 0);
});

Deno.test("decodeTable: typed arrays and junk values", () => {
  const typed = new Int32Array(269);
  typed[10] = -35;
  assert.equal(decodeTable("calculations", typed).ID_WEB_Temperatur_TVL, -3.5);
  const junk = table(269) as (number | null)[];
  junk[10] = null; // sparse fixture hole
  junk[11] = 1.5; // not an int: the reference's "raw is not an int" gives None
  junk[12] = NaN;
  const decoded = decodeTable("calculations", junk as number[]);
  assert.equal(decoded.ID_WEB_Temperatur_TVL, null);
  assert.equal(decoded.ID_WEB_Temperatur_TRL, null);
  assert.equal(decoded.ID_WEB_Sollwert_TRL_HZ, null);
});

Deno.test("decodeTable: never throws on int32 extremes or random int32 tables", () => {
  const fills = [INT32_MIN, INT32_MAX, -1, 0, 1, 0x110000];
  for (const kind of TABLE_KINDS) {
    for (const fill of fills) {
      const decoded = decodeTable(kind, new Array(DEFINED[kind] + 3).fill(fill));
      assert.equal(Object.keys(decoded).at(-1), unknownFieldName(kind, DEFINED[kind] + 2));
    }
    for (let run = 0; run < 20; run++) {
      const raw = Array.from({ length: DEFINED[kind] }, () => (Math.random() * 2 ** 32) | 0);
      for (const value of Object.values(decodeTable(kind, raw, { timeZone: "Europe/Berlin" }))) {
        assert.ok(value === null || ["number", "string", "boolean"].includes(typeof value));
      }
    }
  }
  const decoded = decodeTable("calculations", new Array(269).fill(INT32_MAX));
  assert.equal(decoded.ID_WEB_Temperatur_TVL, 214748364.70000002);
  assert.equal(decoded.ID_WEB_SoftStand_0, null); // not a code point
  assert.equal(decoded.ID_WEB_SoftStand, null);
});

Deno.test("decodeTable: Timestamp fields use opts.timeZone, an invalid zone is rejected", () => {
  const raw = table(269, { 134: 1751328000 });
  assert.equal(decodeTable("calculations", raw).ID_WEB_AktuelleTimeStamp, "2025-07-01T00:00:00");
  const berlin = decodeTable("calculations", raw, { timeZone: "Europe/Berlin" });
  assert.equal(berlin.ID_WEB_AktuelleTimeStamp, "2025-07-01T02:00:00");
  assert.throws(() => decodeTable("calculations", raw, { timeZone: "Mars/Base" }), RangeError);
  const stampColumn = csvColumns("calculations", 269).find((c) => c.type === "Timestamp")!;
  assert.throws(() => stampColumn.decode(raw, { timeZone: "" }), RangeError);
});

// --- csvColumns ----------------------------------------------------------------------

Deno.test("csvColumns: preferred fields, multi-slot version, extras; no outdated aliases", () => {
  const calcs = csvColumns("calculations", 269);
  assert.equal(calcs.length, 270);
  assert.deepEqual(calcs.slice(81, 83).map((c) => c.name), [
    "ID_WEB_SoftStand_0",
    "ID_WEB_SoftStand",
  ]);
  assert.ok(!calcs.some((c) => c.name === "Unknown_Calculation_232"));
  assert.equal(csvColumns("calculations", 100).length, 270, "shorter table keeps all columns");
  assert.equal(csvColumns("calculations", 0).length, 270);
  const longer = csvColumns("calculations", 272);
  assert.deepEqual(longer.slice(-3).map((c) => [c.name, c.index, c.type, c.unit]), [
    ["Unknown_Calculation_269", 269, "Unknown", ""],
    ["Unknown_Calculation_270", 270, "Unknown", ""],
    ["Unknown_Calculation_271", 271, "Unknown", ""],
  ]);
  assert.equal(csvColumns("parameters", 1160).length, 1160);
  assert.ok(!csvColumns("parameters", 1160).some((c) => c.name === "Unknown_Parameter_1087"));
  assert.equal(csvColumns("parameters", 1022).length, 1160);
  assert.equal(csvColumns("visibilities", 380).length, 380);
  assert.equal(csvColumns("visibilities", 366).length, 380);
  for (const kind of TABLE_KINDS) {
    const indices = csvColumns(kind, DEFINED[kind] + 5).map((c) => c.index);
    assert.deepEqual(indices, [...indices].sort((a, b) => a - b));
  }
});

Deno.test("csvColumns: each column decodes its own slots from the whole table", () => {
  const columns = csvColumns("calculations", 269);
  const tvl = columns.find((c) => c.name === "ID_WEB_Temperatur_TVL")!;
  assert.deepEqual(
    [tvl.table, tvl.index, tvl.count, tvl.type, tvl.unit],
    ["calculations", 10, 1, "Celsius", "°C"],
  );
  assert.equal(tvl.decode(table(269, { 10: 227 })), 22.700000000000003);
  assert.equal(tvl.decode([]), null);
  const version = columns.find((c) => c.name === "ID_WEB_SoftStand")!;
  assert.equal(version.count, 10);
  assert.equal(version.decode(table(269, { 81: 86, 82: 51 })), "V3");
  const stamp = columns.find((c) => c.index === 134)!;
  assert.equal(
    stamp.decode(table(269, { 134: 1735689600 }), { timeZone: "Asia/Tokyo" }),
    "2025-01-01T09:00:00",
  );
  const extra = csvColumns("calculations", 270).at(-1)!;
  assert.equal(extra.name, "Unknown_Calculation_269");
  assert.equal(extra.decode(table(270, { 269: -42 })), -42);
});

// --- formatCell ----------------------------------------------------------------------

Deno.test("formatCell: null, booleans, strings, integers", () => {
  assert.equal(formatCell(null), "");
  assert.equal(formatCell(true), "true");
  assert.equal(formatCell(false), "false");
  assert.equal(formatCell("8:45-17:30"), "8:45-17:30");
  assert.equal(formatCell("V3.89.4", ","), "V3.89.4", "strings keep their dots");
  assert.equal(formatCell(0), "0");
  assert.equal(formatCell(-0), "0");
  assert.equal(formatCell(INT32_MAX), "2147483647");
  assert.equal(formatCell(INT32_MIN), "-2147483648");
  assert.equal(formatCell(1073741824.5), "1073741824.5");
});

Deno.test("formatCell: float artefacts removed, decimal separator configurable", () => {
  assert.equal(formatCell(22.700000000000003), "22.7");
  assert.equal(formatCell(3.3000000000000003), "3.3");
  assert.equal(formatCell(44.900000000000006), "44.9");
  assert.equal(formatCell(64492.600000000006), "64492.6");
  assert.equal(formatCell(214748364.70000002), "214748364.7");
  assert.equal(formatCell(-214748364.8), "-214748364.8");
  assert.equal(formatCell(21474836.47), "21474836.47");
  assert.equal(formatCell(-0.1), "-0.1");
  assert.equal(formatCell(22.700000000000003, ","), "22,7");
  assert.equal(formatCell(-3.5, ","), "-3,5");
  assert.equal(formatCell(31163, ","), "31163");
  assert.equal(formatCell(22.7, "."), "22.7");
});

/** The exact decimal of raw / 10^places, built from the integer's digits. */
function exactDecimal(raw: number, places: number): string {
  const digits = String(Math.abs(raw)).padStart(places + 1, "0");
  const whole = digits.slice(0, -places);
  const fraction = digits.slice(-places).replace(/0+$/, "");
  const sign = raw < 0 ? "-" : "";
  return `${sign}${whole}${fraction ? `.${fraction}` : ""}`;
}

Deno.test("formatCell: raw * 0.1 and raw * 0.01 print as the exact decimal", () => {
  const raws: number[] = [];
  for (let raw = -100000; raw <= 100000; raw++) raws.push(raw);
  for (let k = 0; k < 100000; k++) {
    raws.push(INT32_MAX - k, INT32_MIN + k, (Math.random() * 2 ** 32) | 0);
  }
  for (let exponent = 1; exponent < 31; exponent++) {
    for (const delta of [-1, 0, 1]) raws.push(2 ** exponent + delta, -(2 ** exponent) + delta);
  }
  for (const raw of raws) {
    const tenth = formatCell(raw * 0.1);
    const hundredth = formatCell(raw * 0.01);
    if (tenth !== exactDecimal(raw, 1)) assert.fail(`${raw} * 0.1 printed as ${tenth}`);
    if (hundredth !== exactDecimal(raw, 2)) assert.fail(`${raw} * 0.01 printed as ${hundredth}`);
  }
});

// --- field table generator -------------------------------------------------------------

const TABLE_HEAD = "index\tname\ttype\tunit\twritable\n";
const EXTRA_HEAD = "table\tindex\tcount\tname\ttype\tkind\tpreferred_name_at_index\n";

/** Minimal valid reference input; `patch` replaces one of the four files. */
function tsvs(patch: Partial<Parameters<typeof generateFieldTable>[0]> = {}) {
  return {
    calculations: `${TABLE_HEAD}0\tA\tCelsius\t°C\tno\n1\tB\tUnknown\t\tno\n`,
    parameters: `${TABLE_HEAD}0\tP\tTimeOfDay\t\tyes\n`,
    visibilities: `${TABLE_HEAD}0\tV\tUnknown\t\tno\n`,
    extraFields: `${EXTRA_HEAD}calculations\t0\t2\tAB\tVersion\tmulti-slot field\tA\n` +
      "calculations\t1\t1\tB_old\tUnknown\toutdated (successor B)\tB\n" +
      "parameters\t0\t1\tP_alt\tUnknown\talternative name (lookup only)\tP\n",
    ...patch,
  };
}

Deno.test("gen-fields: renders preferred rows and decoded secondary rows only", () => {
  const out = generateFieldTable(tsvs());
  assert.match(out, /calculations: \[\n {4}\["A", "Celsius"\],\n {4}\["B", "Unknown"\],\n {2}\],/);
  assert.match(out, /\["calculations", 0, 2, "AB", "Version"\],/);
  assert.match(out, /\["calculations", 1, 1, "B_old", "Unknown"\],/);
  assert.doesNotMatch(out, /P_alt/);
  const crlf = tsvs({ parameters: tsvs().parameters.replaceAll("\n", "\r\n") });
  assert.equal(generateFieldTable(crlf), out, "CRLF line ends are accepted");
});

Deno.test("gen-fields: rejects malformed reference data with a located message", () => {
  const bad: [Partial<Parameters<typeof generateFieldTable>[0]>, RegExp][] = [
    [{ calculations: "idx\tname\n" }, /calculations.tsv: header is/],
    [{ calculations: `${TABLE_HEAD}0\tA\tCelsius\n` }, /calculations.tsv:2: 3 columns, expected 5/],
    [{ parameters: `${TABLE_HEAD}1\tP\tUnknown\t\tno\n` }, /parameters.tsv:2: index 1, expected 0/],
    [{ parameters: `${TABLE_HEAD}0\t\tUnknown\t\tno\n` }, /parameters.tsv:2: empty name/],
    [{ parameters: `${TABLE_HEAD}0\tP\tWeird\t\tno\n` }, /unknown datatype "Weird"/],
    [
      { parameters: `${TABLE_HEAD}0\tP\tCelsius\tK\tno\n` },
      /unit "K" but datatype Celsius has "°C"/,
    ],
    [{ extraFields: `${EXTRA_HEAD}modbus\t0\t1\tX\tUnknown\toutdated\tA\n` }, /unknown table/],
    [
      { extraFields: `${EXTRA_HEAD}calculations\t9\t1\tX\tUnknown\toutdated\tA\n` },
      /index 9 is not/,
    ],
    [
      { extraFields: `${EXTRA_HEAD}calculations\t0\t1\tX\tUnknown\toutdated\tB\n` },
      /preferred name "B"/,
    ],
    [{ extraFields: `${EXTRA_HEAD}calculations\t0\t0\tX\tUnknown\toutdated\tA\n` }, /bad count 0/],
    [{ extraFields: `${EXTRA_HEAD}calculations\t0\t1\tX\tUnknown\tmystery\tA\n` }, /unknown kind/],
  ];
  for (const [patch, message] of bad) {
    assert.throws(() => generateFieldTable(tsvs(patch)), message);
  }
});
