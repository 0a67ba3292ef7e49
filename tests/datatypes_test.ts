import assert from "node:assert/strict";
import {
  datatypeOf,
  DATATYPES,
  decodeBool,
  decodeCharacter,
  decodeFullVersion,
  decodeHeatPumpStatus,
  decodeHours2,
  decodeIPv4Address,
  decodeMajorMinorVersion,
  decodeTimeOfDay,
  decodeTimeOfDay2,
  decodeTimestamp,
  decodeVersion,
  isKnownDatatype,
  LABEL_TABLE_SIZES,
  type RawSlot,
  toRawSlot,
  type Value,
} from "../src/luxtronik/datatypes.ts";

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const BOUNDARIES = [INT32_MIN, INT32_MIN + 1, -65536, -1, 0, 1, 65535, 65536, INT32_MAX];
const UTC = { timeZone: "UTC" };

/** Decodes one raw value (or several slots) with the named datatype. */
function decode(type: string, raw: RawSlot | RawSlot[], timeZone = "UTC"): Value {
  return datatypeOf(type).decode(Array.isArray(raw) ? raw : [raw], { timeZone });
}

const SHARED = new URL("../../shared/reference/", import.meta.url);

async function readShared(file: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(new URL(file, SHARED));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

Deno.test("toRawSlot keeps int32 values and treats everything else as missing", () => {
  for (const raw of BOUNDARIES) assert.equal(toRawSlot(raw), raw);
  for (const junk of [null, undefined, NaN, 1.5, INT32_MAX + 1, INT32_MIN - 1, "1", Infinity]) {
    assert.equal(toRawSlot(junk), null, String(junk));
  }
});

Deno.test("scaling types multiply by a float factor exactly like python", () => {
  const examples: [string, number, number][] = [
    ["Celsius", 227, 22.700000000000003],
    ["Celsius", -35, -3.5],
    ["Celsius", 0, 0],
    ["Celsius", INT32_MAX, 214748364.70000002],
    ["Celsius", INT32_MIN, -214748364.8],
    ["CelsiusInt16", 65535, -0.1],
    ["CelsiusInt16", 32767, 3276.7000000000003],
    ["CelsiusInt16", 32768, -3276.8],
    ["CelsiusInt16", INT32_MAX, -0.1], // 2^31-1 = 32767 * 2^16 + 65535 reduces to -1
    ["CelsiusInt16", -5, -0.5], // negatives are left alone
    ["CelsiusUInt16", 65535, 6553.5],
    ["Kelvin", 45, 4.5],
    ["Kelvin", 449, 44.900000000000006],
    ["KelvinInt16", 65526, -1],
    ["Pressure", 1546, 15.46],
    ["Pressure", INT32_MAX, 21474836.47],
    ["Percent", 995, 99.5],
    ["Energy", 311630, 31163],
    ["Voltage", 33, 3.3000000000000003],
    ["Hours", 15, 1.5],
    ["PowerKW", 35, 3.5],
  ];
  for (const [type, raw, expected] of examples) {
    assert.equal(decode(type, raw), expected, `${type}(${raw})`);
  }
  for (const type of ["Celsius", "Kelvin", "Pressure", "Energy", "Voltage", "Hours"]) {
    assert.equal(decode(type, null), null, `${type}(missing)`);
    for (const raw of BOUNDARIES) {
      const factor = type === "Pressure" ? 0.01 : 0.1;
      assert.equal(decode(type, raw), raw * factor, `${type}(${raw})`);
    }
  }
});

Deno.test("identity types pass the raw integer through", () => {
  const identities = ["Base", "Unknown", "Frequency", "Seconds", "Percent2", "Speed", "Power"];
  identities.push("Minutes", "Flow", "Level", "Count", "Icon");
  for (const type of identities) {
    for (const raw of BOUNDARIES) assert.equal(decode(type, raw), raw, `${type}(${raw})`);
    assert.equal(decode(type, null), null);
  }
});

Deno.test("units follow the datatype class", () => {
  const units: Record<string, string> = {
    Celsius: "°C",
    CelsiusInt16: "°C",
    CelsiusUInt16: "°C",
    Kelvin: "K",
    KelvinInt16: "K",
    Pressure: "bar",
    Percent: "%",
    Percent2: "%",
    Energy: "kWh",
    Voltage: "V",
    Hours: "h",
    Hours2: "h",
    PowerKW: "kW",
    Power: "W",
    Seconds: "s",
    Minutes: "min",
    Frequency: "Hz",
    Speed: "rpm",
    Flow: "l/h",
  };
  for (const [type, datatype] of Object.entries(DATATYPES)) {
    assert.equal(datatype.unit, units[type] ?? "", type);
  }
});

Deno.test("Bool: any non-zero is true, missing is false", () => {
  assert.equal(decodeBool(0), false);
  assert.equal(decodeBool(null), false);
  for (const raw of [1, -1, 2, INT32_MIN, INT32_MAX]) assert.equal(decodeBool(raw), true);
  assert.equal(decode("Bool", []), false);
});

Deno.test("Timestamp: naive wall time in the given zone, raw <= 0 is the epoch", () => {
  assert.equal(decodeTimestamp(1735689600, "UTC"), "2025-01-01T00:00:00");
  assert.equal(decodeTimestamp(INT32_MAX, "UTC"), "2038-01-19T03:14:07");
  assert.equal(decodeTimestamp(1546247036, "UTC"), "2018-12-31T09:03:56");
  for (const raw of [0, -5, -1, INT32_MIN]) {
    assert.equal(decodeTimestamp(raw, "UTC"), "1970-01-01T00:00:00");
  }
  assert.equal(decodeTimestamp(1, "UTC"), "1970-01-01T00:00:01");
  assert.equal(decodeTimestamp(null, "UTC"), null);
  // Local wall time: winter (+01:00) and summer (+02:00) in Berlin.
  assert.equal(decodeTimestamp(1735689600, "Europe/Berlin"), "2025-01-01T01:00:00");
  assert.equal(decodeTimestamp(1751328000, "Europe/Berlin"), "2025-07-01T02:00:00");
  assert.equal(decodeTimestamp(0, "Europe/Berlin"), "1970-01-01T01:00:00");
  assert.equal(decode("Timestamp", 1735689600, "America/New_York"), "2024-12-31T19:00:00");
});

Deno.test("IPv4Address: big-endian bytes of the signed int32", () => {
  assert.equal(decodeIPv4Address(16909060), "1.2.3.4");
  assert.equal(decodeIPv4Address(-1062731775), "192.168.0.1");
  assert.equal(decodeIPv4Address(-256), "255.255.255.0");
  assert.equal(decodeIPv4Address(-1), "255.255.255.255");
  assert.equal(decodeIPv4Address(0), "0.0.0.0");
  assert.equal(decodeIPv4Address(INT32_MAX), "127.255.255.255");
  assert.equal(decodeIPv4Address(INT32_MIN), "128.0.0.0");
  assert.equal(decodeIPv4Address(null), null);
});

Deno.test("Character: code point, 0 is empty, invalid code points are null", () => {
  assert.equal(decodeCharacter(0), "");
  assert.equal(decodeCharacter(86), "V");
  assert.equal(decodeCharacter(46), ".");
  assert.equal(decodeCharacter(0xe9), "é");
  assert.equal(decodeCharacter(0x10ffff), "\u{10ffff}");
  for (const raw of [-1, INT32_MIN, 0x110000, INT32_MAX, null]) {
    assert.equal(decodeCharacter(raw), null, String(raw));
  }
});

Deno.test("Version: characters joined, NULs trimmed only at both ends", () => {
  assert.equal(decodeVersion([86, 51, 46, 56, 57, 46, 52, 0, 0, 0]), "V3.89.4");
  const interior = [..."V3.90.1\0X"].map((c) => c.codePointAt(0)!);
  assert.equal(decodeVersion([0, ...interior]), "V3.90.1\0X");
  assert.equal(decodeVersion(Array(10).fill(0)), "");
  assert.equal(decodeVersion([86, 51, null]), null);
  assert.equal(decodeVersion([86, -1]), null);
  assert.equal(decodeVersion([86, INT32_MAX]), null);
  assert.equal(decode("Version", [86, 51, 0]), "V3");
});

Deno.test("MajorMinorVersion: minor not padded, <= 0 is '0', missing is null", () => {
  assert.equal(decodeMajorMinorVersion(112), "1.12");
  assert.equal(decodeMajorMinorVersion(12), "0.12");
  assert.equal(decodeMajorMinorVersion(305), "3.5");
  assert.equal(decodeMajorMinorVersion(100), "1.0");
  assert.equal(decodeMajorMinorVersion(1), "0.1");
  assert.equal(decodeMajorMinorVersion(INT32_MAX), "21474836.47");
  for (const raw of [0, -1, -305, INT32_MIN]) assert.equal(decodeMajorMinorVersion(raw), "0");
  assert.equal(decodeMajorMinorVersion(null), null);
});

Deno.test("TimeOfDay: H:MM[:SS] with python floor semantics", () => {
  const cases: [number, string][] = [
    [0, "0:00"],
    [23400, "6:30"],
    [86400, "24:00"],
    [3661, "1:01:01"],
    [59, "0:00:59"],
    [-60, "-1:59"],
    [-1, "-1:59:59"],
    [INT32_MAX, "596523:14:07"],
    [INT32_MIN, "-596524:45:52"],
  ];
  for (const [raw, text] of cases) assert.equal(decodeTimeOfDay(raw), text, String(raw));
  assert.equal(decodeTimeOfDay(null), null);
});

Deno.test("TimeOfDay2: start in the low 16 bits, end in the arithmetic high part", () => {
  const cases: [number, string][] = [
    [(1050 << 16) + 525, "8:45-17:30"],
    [68813325, "8:45-17:30"],
    [0, "0:00-0:00"],
    [-1, "1092:15--1:59"],
    [INT32_MAX, "1092:15-546:07"],
    [INT32_MIN, "0:00--547:52"],
    [(24 * 60) << 16, "0:00-24:00"],
  ];
  for (const [raw, text] of cases) assert.equal(decodeTimeOfDay2(raw), text, String(raw));
  assert.equal(decodeTimeOfDay2(null), null);
});

Deno.test("Hours2: 1 + raw / 2", () => {
  const cases: [number, number][] = [[0, 1], [3, 2.5], [8, 5], [-1, 0.5], [
    INT32_MAX,
    1073741824.5,
  ], [INT32_MIN, -1073741823]];
  for (const [raw, value] of cases) assert.equal(decodeHours2(raw), value, String(raw));
  assert.equal(decodeHours2(null), null);
});

Deno.test("FullVersion (Modbus): three slots give a.b.c, anything else '0'", () => {
  assert.equal(decodeFullVersion([3, 91, 0]), "3.91.0");
  assert.equal(decodeFullVersion([1, 2, 3, 4]), "1.2.3");
  assert.equal(decodeFullVersion([1, 2]), "0");
  assert.equal(decodeFullVersion([1, null, 3]), "0");
  assert.equal(decode("FullVersion", [3, 90, 4]), "3.90.4");
});

Deno.test("HeatPumpStatus (Modbus bit mask)", () => {
  assert.equal(decodeHeatPumpStatus(0), "Idle");
  assert.equal(decodeHeatPumpStatus(5), "VD1, ZWE1 running");
  assert.equal(decodeHeatPumpStatus(32), "Unknown_5 running");
  const all = ["VD1", "VD2", "ZWE1", "ZWE2", "ZWE3"];
  for (let bit = 5; bit < 32; bit++) all.push(`Unknown_${bit}`);
  assert.equal(decodeHeatPumpStatus(-1), `${all.join(", ")} running`);
  assert.equal(decodeHeatPumpStatus(INT32_MIN), "Unknown_31 running");
  assert.equal(decodeHeatPumpStatus(null), null);
});

Deno.test("enumerations: spot checks, duplicates and unknown codes", () => {
  const cases: [string, number, string][] = [
    ["HeatingMode", 0, "Automatic"],
    ["HeatingMode", 4, "Off"],
    ["HotWaterMode", 1, "Second heatsource"],
    ["CoolingMode", 1, "Automatic"],
    ["PoolMode", 1, "Unknown_1"],
    ["MixedCircuitMode", 2, "Party"],
    ["SolarMode", 3, "Holidays"],
    ["VentilationMode", 3, "Off"],
    ["OperationMode", 5, "no request"],
    ["OperationMode", 1, "hot water"],
    ["MainMenuStatusLine1", 0, "heatpump running"],
    ["MainMenuStatusLine1", 7, "pump forerun"],
    ["MainMenuStatusLine2", 1, "in"],
    ["MainMenuStatusLine3", 11, "Unknown_11"],
    ["MainMenuStatusLine3", 17, "second heat generator 1 active"],
    ["MainMenuStatusLine3", 19, "Unknown_19"],
    ["BivalenceLevel", 0, "Unknown_0"],
    ["BivalenceLevel", 1, "one compressor allowed to run"],
    ["SwitchoffFile", 4, "Unknown_4"],
    ["SwitchoffFile", 22, "no request"],
    ["SwitchoffFile", 25, "restart"],
    ["SwitchoffFile", 27, "Unknown_27"],
    ["Errorcode", 0, "no error"],
    ["Errorcode", 700, "sensor external return"],
    ["Errorcode", 718, "max. outdoor temp."],
    ["Errorcode", 740, "Unknown_740"],
    ["Errorcode", 753, "Unknown_753"],
    ["Errorcode", 760, "error defrosting"],
    ["Errorcode", 801, "Unknown_801"],
    ["Errorcode", 807, "Lost modbus connection"],
    ["Errorcode", 808, "Unknown_808"],
    ["HeatpumpCode", 0, "ERC"],
    ["HeatpumpCode", 35, "ERC"],
    ["HeatpumpCode", 47, "LD7 (230 V)"],
    ["HeatpumpCode", 72, "MSW 12S"],
    ["HeatpumpCode", 77, "LD9V"],
    ["HeatpumpCode", 88, "LP8V"],
    ["HeatpumpCode", 89, "Unknown_89"],
    ["SecOperationMode", 12, "evu lock"],
    ["AccessLevel", 1, "after sales service"],
    ["TimerProgram", 1, "5+2"],
    ["OnOffMode", 1, "On"],
    ["ModeStatus", 3, "Running"],
    ["ControlMode", 2, "Offset"],
    ["LpcMode", 2, "Hard limit"],
    ["LockMode", 0, "Off"],
    ["LevelMode", 2, "Increased2"],
    ["BufferType", 2, "multifunction buffer"],
  ];
  for (const [type, raw, label] of cases) assert.equal(decode(type, raw), label, `${type}(${raw})`);
  assert.deepEqual(LABEL_TABLE_SIZES, {
    Errorcode: 96,
    HeatpumpCode: 89,
    SwitchoffFile: 25,
    MainMenuStatusLine3: 16,
  });
  for (const raw of [-3, -1, INT32_MIN, INT32_MAX]) {
    assert.equal(decode("HeatingMode", raw), `Unknown_${raw}`);
    assert.equal(decode("Errorcode", raw), `Unknown_${raw}`);
  }
  assert.equal(decode("HeatingMode", null), null);
});

/** Parses every "#### <Type>" label table (`| code | label |`) from datatypes.md. */
function parseLabelTables(markdown: string): Map<string, Map<number, string>> {
  const tables = new Map<string, Map<number, string>>();
  let current: Map<number, string> | null = null;
  for (const line of markdown.split("\n")) {
    const heading = /^#### (\w+)/.exec(line);
    if (heading) {
      current = new Map();
      tables.set(heading[1], current);
      continue;
    }
    const row = /^\| *(-?\d+) *\| (.*) \|$/.exec(line);
    if (row && current) current.set(Number(row[1]), row[2]);
    else if (line.startsWith("#")) current = null;
  }
  return tables;
}

Deno.test("enumerations: every label table equals datatypes.md", async (t) => {
  const markdown = await readShared("datatypes.md");
  if (markdown === null) {
    console.warn("skipped: ../shared/reference/datatypes.md not found next to the repo");
    return;
  }
  const tables = parseLabelTables(markdown);
  assert.equal(tables.size, 25, "label tables in datatypes.md");
  for (const [type, labels] of tables) {
    await t.step(type, () => {
      assert.ok(isKnownDatatype(type), `${type} is implemented`);
      const maxCode = Math.max(...labels.keys());
      for (let code = -2; code <= maxCode + 2; code++) {
        assert.equal(decode(type, code), labels.get(code) ?? `Unknown_${code}`, `${type}(${code})`);
      }
    });
  }
});

Deno.test("no converter throws on any int32, missing or multi-slot input", () => {
  const samples: RawSlot[] = [...BOUNDARIES, null, 0xd800, 0x10ffff, 0x110000];
  for (let i = 0; i < 2000; i++) samples.push((Math.random() * 2 ** 32 - 2 ** 31) | 0);
  for (const [type, datatype] of Object.entries(DATATYPES)) {
    for (const raw of samples) {
      const value = datatype.decode([raw, raw, raw], UTC);
      assert.ok(value === null || ["number", "string", "boolean"].includes(typeof value), type);
    }
    assert.doesNotThrow(() => datatype.decode([], UTC), type);
  }
});

Deno.test("datatypeOf rejects unknown names, including Object.prototype keys", () => {
  assert.throws(() => datatypeOf("NoSuchType"), /unknown Luxtronik datatype "NoSuchType"/);
  assert.equal(isKnownDatatype("constructor"), false);
  assert.equal(isKnownDatatype("Celsius"), true);
});
