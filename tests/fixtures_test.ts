/**
 * Decodes the real-world fixtures in ../shared/fixtures/real and compares with what
 * the sources printed, wherever that comparison says something about our decoder.
 * Read ../shared/fixtures/real/README.md for where each file comes from.
 */
import assert from "node:assert/strict";
import { decodeTable, formatCell, type Value } from "../src/luxtronik/decode.ts";
import {
  FIELDS,
  SECONDARY_FIELDS,
  TABLE_KINDS,
  type TableKind,
  unknownFieldName,
} from "../src/luxtronik/fields.ts";
import { REAL_FIXTURES_DIR } from "./helpers.ts";

const FIXTURES = REAL_FIXTURES_DIR;
const SHARED_FIXTURES = new URL("../../shared/fixtures/real/", import.meta.url);

interface Fixture {
  source: string;
  firmware: string;
  model: string;
  parameters: (number | null)[] | null;
  calculations: (number | null)[] | null;
  visibilities: (number | null)[] | null;
  decoded: Record<string, unknown> | null;
}

async function loadFixtures(): Promise<Map<string, Fixture> | null> {
  const fixtures = new Map<string, Fixture>();
  try {
    for await (const entry of Deno.readDir(FIXTURES)) {
      if (entry.isFile && entry.name.endsWith(".json")) {
        fixtures.set(
          entry.name,
          JSON.parse(await Deno.readTextFile(new URL(entry.name, FIXTURES))),
        );
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  return fixtures;
}

const fixtures = await loadFixtures();
const ignoreWithoutShared = fixtures === null;
if (ignoreWithoutShared) console.warn("fixture tests skipped: ../shared/fixtures/real not found");

function fixture(name: string): Fixture {
  const found = fixtures?.get(name);
  assert.ok(found, `fixture ${name}`);
  return found;
}

/** Sparse fixture arrays hold null for "not captured"; the decoder treats that as missing. */
function rawTable(values: (number | null)[] | null): number[] | null {
  return values as number[] | null;
}

/**
 * HA diagnostics (BenPru#62) print every value as a string. All its fields are identity
 * types, so the printed string must equal our value formatted as a cell.
 */
const STRINGIFIED_FILES = new Set(["benpru-luxtronik-62-diagnostics.json"]);

/**
 * Printed values that are python-luxtronik output, but of an older release whose
 * definitions differ from the reference commit. For these we check the value the
 * reference gives today instead: "<file> <key>" → [why, value under the reference].
 */
const OLDER_LIBRARY_OUTPUT: Record<string, [reason: string, reference: Value]> = {
  "benpru-luxtronik-59-v3.88.0.json parameters.ID_Einst_Minimale_Ruecklaufsolltemperatur": [
    "printed as raw 150 while P979 was Unknown; the reference now types it Celsius",
    15,
  ],
};

/**
 * Keys whose name is not a field of the reference definitions, so there is nothing of
 * ours to compare with: names annotated by the fixture author with another project's
 * scaling (BenPru's 0.01 kWh counters, #269's reading of calc 244/252), and
 * `Unknown_Calculation_267`, printed before calc 267 was named Desired_Room_Temperature
 * (its raw value is checked separately below).
 */
const NOT_REFERENCE_NAMES = new Set([
  "benpru-luxtronik-752-v2.88.3-ld9.json parameters.ID_Waermemenge_ZWE (kWh, web page)",
  "benpru-luxtronik-758-v1.73-heatmeter.json parameters.ID_Waermemenge_Hz (0.01 kWh/count)",
  "benpru-luxtronik-758-v1.73-heatmeter.json calculations.ID_WEB_WMZ_Heizung (0.1 kWh/count)",
  "python-luxtronik-143-v3.89.4.json calculations.Unknown_Calculation_267",
  "python-luxtronik-269-v3.90.4.json calculations.Unknown_Calculation_244 (max flow setpoint, degC)",
  "python-luxtronik-269-v3.90.4.json calculations.Unknown_Calculation_252 (max hot-gas setpoint, degC)",
]);

/** Slots (index, count) of a name in decoded output of a table of `length` values. */
function slotsOfName(kind: TableKind, name: string, length: number): [number, number] | null {
  const def = [...FIELDS[kind], ...SECONDARY_FIELDS[kind]].find((d) => d.name === name);
  if (def) return [def.index, def.count];
  for (let index = FIELDS[kind].length; index < length; index++) {
    if (unknownFieldName(kind, index) === name) return [index, 1];
  }
  return null;
}

function isTableKind(text: string): text is TableKind {
  return (TABLE_KINDS as readonly string[]).includes(text);
}

Deno.test({
  name: "fixtures: decoded values equal ours wherever the raw value was captured",
  ignore: ignoreWithoutShared,
  fn() {
    let compared = 0;
    let olderSeen = 0;
    const unmatchedNames: string[] = [];
    for (const [file, data] of fixtures!) {
      if (data.decoded === null) continue;
      const decodedByKind = new Map<TableKind, Record<string, Value>>();
      for (const kind of TABLE_KINDS) {
        const raw = rawTable(data[kind]);
        if (raw !== null) decodedByKind.set(kind, decodeTable(kind, raw));
      }
      for (const [key, printed] of Object.entries(data.decoded)) {
        const dot = key.indexOf(".");
        const kind = key.slice(0, dot);
        const name = key.slice(dot + 1);
        // Keys without a table prefix ("ws.", "webui.", DTA columns) come from other
        // interfaces (web socket, web UI, the heat pump's own logger): no raw values.
        if (!isTableKind(kind)) continue;
        const decoded = decodedByKind.get(kind);
        if (decoded === undefined) continue; // that table was not captured at all
        const raw = data[kind]!;
        const slots = slotsOfName(kind, name, raw.length);
        if (slots === null) {
          unmatchedNames.push(`${file} ${key}`);
          continue;
        }
        const [index, count] = slots;
        // null = not captured (e.g. the printed value was ambiguous or already
        // converted to local time); nothing to compare.
        if (raw.slice(index, index + count).some((v) => v === null || v === undefined)) continue;
        const ours = decoded[name];
        const older = OLDER_LIBRARY_OUTPUT[`${file} ${key}`];
        if (older !== undefined) {
          assert.notEqual(ours, printed, `${file} ${key} should differ: ${older[0]}`);
          assert.equal(ours, older[1], `${file} ${key}`);
          olderSeen++;
        } else if (STRINGIFIED_FILES.has(file)) {
          assert.equal(formatCell(ours), printed, `${file} ${key}`);
        } else {
          assert.equal(ours, printed, `${file} ${key}`);
        }
        compared++;
      }
    }
    assert.deepEqual(new Set(unmatchedNames), NOT_REFERENCE_NAMES);
    assert.equal(
      olderSeen,
      Object.keys(OLDER_LIBRARY_OUTPUT).length,
      "every older-output entry used",
    );
    // 123 printed values have a captured raw value in a reference-named field; a lower
    // count would mean comparisons are silently being skipped.
    assert.equal(compared, 123, "values compared");
  },
});

Deno.test({
  name: "fixtures: every raw table decodes without throwing, also as a full poll",
  ignore: ignoreWithoutShared,
  fn() {
    for (const [file, data] of fixtures!) {
      for (const kind of TABLE_KINDS) {
        const raw = rawTable(data[kind]);
        const decoded = decodeTable(kind, raw, { timeZone: "Europe/Berlin" });
        assert.ok(Object.keys(decoded).length >= FIELDS[kind].length, `${file} ${kind}`);
      }
    }
  },
});

Deno.test({
  name: "fixture coolchip#7 (V1.76, raw calculations 122-151, no printed values)",
  ignore: ignoreWithoutShared,
  fn() {
    const calcs = decodeTable(
      "calculations",
      rawTable(fixture("coolchip-luxtronik2-7-v1.76.json").calculations),
    );
    assert.equal(calcs.ID_WEB_AktuelleTimeStamp, "2018-12-31T09:03:56"); // calc 134, UTC
    assert.equal(calcs.ID_WEB_Sollwert_TVL_MK3, 20); // calc 136 = 200
    assert.equal(calcs.ID_WEB_Temperatur_TFB3, 75); // calc 137 = 750
    assert.equal(calcs.ID_WEB_SH_SW, 3); // calc 144, Icon
    assert.equal(calcs.ID_WEB_AnalogIn, 0.2); // calc 147 = 2, Voltage
    assert.equal(calcs.ID_WEB_SH_BWW, true); // calc 124 = 1, Bool
    assert.equal(calcs.ID_WEB_WMZ_Heizung, 0); // calc 151, Energy
    assert.equal(calcs.ID_WEB_Temperatur_TVL, null); // calc 10 not captured
  },
});

Deno.test({
  name: "fixture #143 (V3.89.4): real length 268, INT32_MAX placeholder in calc 267",
  ignore: ignoreWithoutShared,
  fn() {
    const raw = rawTable(fixture("python-luxtronik-143-v3.89.4.json").calculations)!;
    assert.equal(raw.length, 268);
    const calcs = decodeTable("calculations", raw);
    assert.equal(calcs.Desired_Room_Temperature, 214748364.70000002);
    assert.equal(formatCell(calcs.Desired_Room_Temperature), "214748364.7");
    assert.equal(calcs.AC_Power_Input, null); // index 268 is beyond this firmware's table
    assert.equal(Object.keys(calcs).length, 280);
  },
});

Deno.test({
  name: "fixtures #758/#752: energy counters follow the reference (x0.1 kWh)",
  ignore: ignoreWithoutShared,
  fn() {
    const heatmeter = fixture("benpru-luxtronik-758-v1.73-heatmeter.json");
    assert.equal(heatmeter.parameters!.length, 1022); // real length on V1.73
    const params = decodeTable("parameters", rawTable(heatmeter.parameters));
    const calcs = decodeTable("calculations", rawTable(heatmeter.calculations));
    // Calc 151 matches the controller's display (64492.6 kWh) exactly as a cell.
    assert.equal(calcs.ID_WEB_WMZ_Heizung, 64492.600000000006);
    assert.equal(formatCell(calcs.ID_WEB_WMZ_Heizung), "64492.6");
    // P854 and P1059 are ×0.01 on the controller according to BenPru; the reference
    // (and so our contract) types them as Energy ×0.1, a documented disagreement.
    assert.equal(params.ID_Waermemenge_Hz, 644926);
    assert.equal(params.Unknown_Parameter_1022, undefined);
    assert.equal(params.ID_Einst_WW_Nachheizung_max, null); // P1020 exists; not captured
    const ld9 = decodeTable(
      "parameters",
      rawTable(fixture("benpru-luxtronik-752-v2.88.3-ld9.json").parameters),
    );
    assert.equal(ld9.ID_Waermemenge_ZWE, 14714);
  },
});

Deno.test({
  name: "fixture #269 (V3.90.4): calcs 244/252 are Unknown in the reference, raw passes through",
  ignore: ignoreWithoutShared,
  fn() {
    const calcs = decodeTable(
      "calculations",
      rawTable(fixture("python-luxtronik-269-v3.90.4.json").calculations),
    );
    assert.equal(calcs.Unknown_Calculation_244, 660);
    assert.equal(calcs.Unknown_Calculation_252, 1150);
  },
});

Deno.test("the in-repo copy of the real fixtures equals ../shared/fixtures/real", async () => {
  const shared = new Map<string, string>();
  try {
    for await (const entry of Deno.readDir(SHARED_FIXTURES)) {
      if (entry.isFile && entry.name.endsWith(".json")) {
        shared.set(entry.name, await Deno.readTextFile(new URL(entry.name, SHARED_FIXTURES)));
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    console.warn("skipped: ../shared/fixtures/real not found next to the repo");
    return;
  }
  const copies = new Map<string, string>();
  for await (const entry of Deno.readDir(REAL_FIXTURES_DIR)) {
    copies.set(entry.name, await Deno.readTextFile(new URL(entry.name, REAL_FIXTURES_DIR)));
  }
  assert.deepEqual([...copies.keys()].sort(), [...shared.keys()].sort(), "same files");
  for (const [name, text] of shared) {
    assert.deepEqual(JSON.parse(copies.get(name)!), JSON.parse(text), `${name} is current`);
  }
});
