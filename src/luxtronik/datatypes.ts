/**
 * Raw → value conversion for every Luxtronik datatype, matching python-luxtronik
 * (see ../shared/reference/datatypes.md). Pure functions only; no field knowledge.
 *
 * Every converter is total: for any signed int32 raw value (or a missing one) it
 * returns a value and never throws. Where the reference raises instead (Character,
 * Version, IPv4Address, MajorMinorVersion on odd input), we return `null`, which the
 * rest of the product treats like a missing value.
 *
 * @module
 */

/** A decoded value as it appears in JSON output. */
export type Value = number | string | boolean | null;

/** One raw slot: a signed int32 from the wire, or `null` when the table was too short. */
export type RawSlot = number | null;

/** What a converter needs beyond the raw value. */
export interface DecodeContext {
  /** IANA zone in which Timestamp fields are rendered as naive wall time. */
  readonly timeZone: string;
}

/** A datatype class: its physical unit and its raw → value converter. */
export interface Datatype {
  /** Physical unit (`datatype_unit` in the reference), `""` if none. */
  readonly unit: string;
  /** Converts the raw slots of one field (one slot except for multi-slot types). */
  readonly decode: (slots: readonly RawSlot[], ctx: DecodeContext) => Value;
}

const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const MAX_CODE_POINT = 0x10ffff;

/**
 * Normalises anything found in a raw table to a RawSlot. The wire only carries int32
 * values; anything else (null holes in sparse fixtures, NaN, fractions, out-of-range
 * numbers) is treated as missing, like the reference's "raw value is not an int".
 */
export function toRawSlot(value: unknown): RawSlot {
  return typeof value === "number" && Number.isInteger(value) && value >= INT32_MIN &&
      value <= INT32_MAX
    ? value
    : null;
}

/** Python's `a // n` for a positive divisor. */
function floorDiv(a: number, n: number): number {
  return Math.floor(a / n);
}

/** Python's `a % n` for a positive divisor: never negative. */
function floorMod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

function twoDigits(n: number): string {
  return String(n).padStart(2, "0");
}

/** A datatype that reads exactly one slot. */
function scalar(
  unit: string,
  convert: (raw: number | null, ctx: DecodeContext) => Value,
): Datatype {
  return { unit, decode: (slots, ctx) => convert(slots[0] ?? null, ctx) };
}

/** Identity types: the raw integer is the value. */
function identity(unit = ""): Datatype {
  return scalar(unit, (raw) => raw);
}

/**
 * `ScalingBase`: reduce into the signed range of `bits` (only matters for 16-bit
 * types), then multiply by the float factor. Multiplying (not dividing) keeps the
 * doubles bit-identical to python's, e.g. 227 * 0.1 = 22.700000000000003.
 */
function scaled(unit: string, factor: number, bits = 32, signed = true): Datatype {
  const span = 2 ** bits;
  const max = 2 ** (bits - 1) - 1;
  return scalar(unit, (raw) => {
    if (raw === null) return null;
    let value = raw;
    // Closed form of the reference's "while raw > max: raw -= 2**bits" loop.
    if (signed && value > max) value -= Math.ceil((value - max) / span) * span;
    return value * factor;
  });
}

/** `SelectionBase`: label for a known code, `Unknown_<raw>` otherwise. */
function selection(labels: ReadonlyMap<number, string>): Datatype {
  return scalar("", (raw) => raw === null ? null : labels.get(raw) ?? `Unknown_${raw}`);
}

/** Builds a code → label map from a list whose position is the code. */
function labelsByPosition(labels: readonly string[]): ReadonlyMap<number, string> {
  return new Map(labels.map((label, code) => [code, label]));
}

/** `chr(raw)` where python would succeed; `null` where it would raise ValueError. */
function codePointToString(raw: number): string | null {
  return raw >= 0 && raw <= MAX_CODE_POINT ? String.fromCodePoint(raw) : null;
}

/** Minutes since midnight as `H:MM` (hours unpadded, floor semantics). */
function formatMinutes(minutes: number): string {
  return `${floorDiv(minutes, 60)}:${twoDigits(floorMod(minutes, 60))}`;
}

// --- individual converters (exported for tests) -------------------------------

/** `Bool`: any non-zero raw is true; a missing raw is false (not null), as in the reference. */
export function decodeBool(raw: number | null): boolean {
  return raw !== null && raw !== 0;
}

/**
 * `Timestamp`: Unix seconds as naive wall time `YYYY-MM-DDTHH:MM:SS` in `timeZone`.
 * raw ≤ 0 is the Unix epoch; we render that instant in the same zone (as python's
 * `datetime.fromtimestamp(0)` does in the machine's zone), so with UTC it is
 * `1970-01-01T00:00:00`. int32 seconds always fall into years 1970-2038, so the
 * four-digit ISO form is guaranteed.
 */
export function decodeTimestamp(raw: number | null, timeZone: string): string | null {
  if (raw === null) return null;
  const seconds = Math.max(raw, 0);
  return Temporal.Instant.fromEpochMilliseconds(seconds * 1000)
    .toZonedDateTimeISO(timeZone)
    .toPlainDateTime()
    .toString();
}

/** `IPv4Address`: the int32's four big-endian bytes as a dotted quad. */
export function decodeIPv4Address(raw: number | null): string | null {
  if (raw === null) return null; // the reference raises struct.error here
  return [raw >>> 24, raw >>> 16, raw >>> 8, raw].map((byte) => byte & 0xff).join(".");
}

/**
 * `Character`: 0 → "", otherwise the character with that code point. Negative or
 * > 0x10FFFF raw values (python raises ValueError) and missing ones (TypeError) give
 * `null`: an unreadable character is reported as "no value", never as a guess.
 */
export function decodeCharacter(raw: number | null): string | null {
  if (raw === null) return null;
  return raw === 0 ? "" : codePointToString(raw);
}

/**
 * `Version`: the slots as characters, NULs trimmed only at both ends (an interior NUL
 * stays). If any slot is missing or not a valid code point the reference would raise,
 * so the whole version is `null`.
 */
export function decodeVersion(slots: readonly RawSlot[]): string | null {
  let text = "";
  for (const raw of slots) {
    const char = raw === null ? null : codePointToString(raw);
    if (char === null) return null;
    text += char;
  }
  return text.replace(/^\0+|\0+$/g, "");
}

/** `MajorMinorVersion`: 112 → "1.12", 305 → "3.5" (minor not padded), ≤ 0 → "0". */
export function decodeMajorMinorVersion(raw: number | null): string | null {
  if (raw === null) return null; // the reference raises TypeError here
  return raw > 0 ? `${floorDiv(raw, 100)}.${raw % 100}` : "0";
}

/** `TimeOfDay`: seconds since midnight; 23400 → "6:30", 3661 → "1:01:01", −60 → "-1:59". */
export function decodeTimeOfDay(raw: number | null): string | null {
  if (raw === null) return null;
  const hours = floorDiv(raw, 3600);
  const minutes = floorMod(floorDiv(raw, 60), 60);
  const seconds = floorMod(raw, 60);
  return `${hours}:${twoDigits(minutes)}${seconds > 0 ? `:${twoDigits(seconds)}` : ""}`;
}

/**
 * `TimeOfDay2`: low 16 bits = start minute, arithmetic high part = end minute;
 * 68813325 → "8:45-17:30", −1 → "1092:15--1:59".
 */
export function decodeTimeOfDay2(raw: number | null): string | null {
  if (raw === null) return null;
  return `${formatMinutes(raw & 0xffff)}-${formatMinutes(raw >> 16)}`;
}

/** `Hours2`: 1 + raw / 2 (exact in binary floating point). */
export function decodeHours2(raw: number | null): number | null {
  return raw === null ? null : 1 + raw / 2;
}

/** `FullVersion` (Modbus only): at least three slots give "a.b.c", anything else "0". */
export function decodeFullVersion(slots: readonly RawSlot[]): string {
  const parts = slots.slice(0, 3);
  return parts.length === 3 && parts.every((raw) => raw !== null) ? parts.join(".") : "0";
}

const HEAT_PUMP_STATUS_BITS: readonly string[] = ["VD1", "VD2", "ZWE1", "ZWE2", "ZWE3"];

/** `HeatPumpStatus` (Modbus bit mask): 0 → "Idle", 5 → "VD1, ZWE1 running". */
export function decodeHeatPumpStatus(raw: number | null): string | null {
  if (raw === null) return null;
  if (raw === 0) return "Idle";
  const names: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    if (((raw >>> bit) & 1) === 1) names.push(HEAT_PUMP_STATUS_BITS[bit] ?? `Unknown_${bit}`);
  }
  return `${names.join(", ")} running`;
}

// --- label tables (data from the reference) ------------------------------------

const MODE_LABELS = ["Automatic", "Second heatsource", "Party", "Holidays", "Off"];
const MODE_WITHOUT_SECOND_HEATSOURCE = new Map([
  [0, "Automatic"],
  [2, "Party"],
  [3, "Holidays"],
  [4, "Off"],
]);

const OPERATION_MODE = [
  "heating",
  "hot water",
  "swimming pool/solar",
  "evu",
  "defrost",
  "no request",
  "heating external source",
  "cooling",
];

const MAIN_MENU_STATUS_LINE_1 = [
  "heatpump running",
  "heatpump idle",
  "heatpump coming",
  "errorcode slot 0",
  "defrost",
  "waiting on LIN connection",
  "compressor heating up",
  "pump forerun",
];

const MAIN_MENU_STATUS_LINE_3 = new Map([
  [0, "heating"],
  [1, "no request"],
  [2, "grid switch on delay"],
  [3, "cycle lock"],
  [4, "lock time"],
  [5, "domestic water"],
  [6, "info bake out program"],
  [7, "defrost"],
  [8, "pump forerun"],
  [9, "thermal desinfection"],
  [10, "cooling"],
  [12, "swimming pool/solar"],
  [13, "heating external energy source"],
  [14, "domestic water external energy source"],
  [16, "flow monitoring"],
  [17, "second heat generator 1 active"],
]);

const BIVALENCE_LEVEL = new Map([
  [1, "one compressor allowed to run"],
  [2, "two compressors allowed to run"],
  [3, "additional heat generator allowed to run"],
]);

const SWITCHOFF_FILE = new Map([
  [0, "heatpump error"],
  [1, "system error"],
  [2, "operation mode second heat generator"],
  [3, "evu lock"],
  [5, "air defrost"],
  [6, "maximal usage temperature"],
  [7, "minimal usage temperature"],
  [8, "lower usage limit"],
  [9, "no request"],
  [10, "external energy source"],
  [11, "flow rate"],
  [12, "low pressure pause"],
  [13, "superheating pause"],
  [14, "inverter pause"],
  [15, "desuperheater pause"],
  [16, "operation mode for switching over"],
  [17, "other shutdown"],
  [18, "min.flow cooling"],
  [19, "PV max"],
  [20, "hot gas pause"],
  [21, "overheating hot gas pause"],
  [22, "no request"],
  [23, "min. heat source out cooling"],
  [24, "LPC"],
  [25, "restart"],
]);

/** Errorcode labels for codes 700-807 (0 is "no error"); "" marks unused codes. */
const ERRORCODE_FROM_700 = [
  "sensor external return",
  "error low pressure",
  "low pressure blockade",
  "frost protection",
  "error hot gas",
  "motor protection",
  "motor protection BSUP",
  "encoding heat pump",
  "sensor return",
  "sensor flow",
  "sensor hot gas", // 710
  "sensor outdoor temp.",
  "sensor DHW",
  "sensor heat source in",
  "hot gas DHW",
  "high pressure switch-off",
  "error high pressure",
  "flow rate",
  "max. outdoor temp.",
  "min. outdoor temp.",
  "min. heat source temp.", // 720
  "low pressure switch-off",
  "temp. difference heating",
  "temp. difference DHW",
  "temp. difference defrosting",
  "error DHW",
  "sensor mixing circuit 1",
  "brine pressure",
  "sensor heat source out",
  "error phase sequence",
  "capacity screed heating", // 730
  "interruption TDI",
  "error cooling",
  "error electrical anode",
  "electrical anode DHW",
  "sensor external energy",
  "sensor solar panel",
  "sensor solar tank",
  "sensor mixing circuit 2",
  "sensor mixing circuit 3",
  "", // 740
  "",
  "",
  "",
  "",
  "",
  "",
  "",
  "",
  "",
  "sensor return external", // 750
  "phase sequence monitoring",
  "power supply / flow",
  "",
  "",
  "connection to slave lost",
  "connection to master lost",
  "low pressure block",
  "error defrosting",
  "fault TDI",
  "error defrosting", // 760
  "LIN-connection lost",
  "suction compressor",
  "suction evaporator",
  "compressor oil sump",
  "overheating",
  "operating limits-compressor",
  "STL immersion heater",
  "flow rate control",
  "pump control",
  "low overheat", // 770
  "high overheat",
  "OL too low condensation",
  "OL too high condensation",
  "OL too low evaporation",
  "expansion valve EVI",
  "operating limits-compressor",
  "expansion valve",
  "sensor low pressure",
  "sensor high pressure",
  "sensor EVI", // 780
  "sensor liquid ahead exp. valve",
  "sensor EVi suction gas",
  "communication SEC - Inverter",
  "inverter blocked",
  "SEC-Board defect",
  "communication SEC - Inverter",
  "VD alert",
  "serious inverter error",
  "LIN/encoding not found",
  "serious inverter error", // 790
  "Modbus inverter",
  "LIN-connection lost",
  "serious inverter error",
  "overvoltage",
  "undervoltage",
  "safety shutdown",
  "MLRH is not supported",
  "Modbus fan",
  "Modbus ASB",
  "safety stop desuperheater", // 800
  "",
  "switch box fan",
  "switch box fan",
  "sensor switch box",
  "sensor desuperheater",
  "Modbus SEC",
  "Lost modbus connection", // 807
];

const ERRORCODE = new Map<number, string>([
  [0, "no error"],
  ...ERRORCODE_FROM_700.flatMap((label, offset): [number, string][] =>
    label === "" ? [] : [[700 + offset, label]]
  ),
]);

/** HeatpumpCode labels; the position is the code (0-88). */
const HEATPUMP_CODE = [
  ...["ERC", "SW1", "SW2", "WW1", "WW2", "L1I", "L2I", "L1A", "L2A", "KSW"],
  ...["KLW", "SWC", "LWC", "L2G", "WZS", "L1I407", "L2I407", "L1A407", "L2A407", "L2G407"],
  ...["LWC407", "L1AREV", "L2AREV", "WWC1", "WWC2", "L2G404", "WZW", "L1S", "L1H", "L2H"],
  ...["WZWD", "ERC", "ERC", "ERC", "ERC", "ERC", "ERC", "ERC", "ERC", "ERC"],
  ...["WWB_20", "LD5", "LD7", "SW 37_45", "SW 58_69", "SW 29_56", "LD5 (230V)"],
  ...["LD7 (230 V)", "LD9", "LD5 REV", "LD7 REV", "LD5 REV 230V", "LD7 REV 230V"],
  ...["LD9 REV 230V", "SW 291", "LW SEC", "HMD 2", "MSW 4", "MSW 6", "MSW 8", "MSW 10"],
  ...["MSW 12", "MSW 14", "MSW 17", "MSW 19", "MSW 23", "MSW 26", "MSW 30", "MSW 4S"],
  ...["MSW 6S", "MSW 8S", "MSW 10S", "MSW 12S", "MSW 16S", "MSW2-6S", "MSW4-16", "LD2AG"],
  ...["LD9V", "MSW3-12", "MSW3-12S", "MSW2-9S", "LW 8", "LW 12", "HZ_HMD", "LW V4"],
  ...["LW SEC 2", "MSW1-4S", "LP5V", "LP8V"],
];

const SEC_OPERATION_MODE = [
  "off",
  "cooling",
  "heating",
  "fault",
  "transition",
  "defrost",
  "waiting",
  "waiting",
  "transition",
  "stop",
  "manual",
  "simulation start",
  "evu lock",
];

/** Exposed for tests that spot-check the label tables. */
export const LABEL_TABLE_SIZES = {
  Errorcode: ERRORCODE.size,
  HeatpumpCode: HEATPUMP_CODE.length,
  SwitchoffFile: SWITCHOFF_FILE.size,
  MainMenuStatusLine3: MAIN_MENU_STATUS_LINE_3.size,
} as const;

// --- the registry ---------------------------------------------------------------

/** Every datatype class of the reference, by class name. */
export const DATATYPES: Readonly<Record<string, Datatype>> = Object.freeze({
  // identity types
  Base: identity(),
  Unknown: identity(),
  Count: identity(),
  Level: identity(),
  Icon: identity(),
  Frequency: identity("Hz"),
  Seconds: identity("s"),
  Minutes: identity("min"),
  Percent2: identity("%"),
  Speed: identity("rpm"),
  Power: identity("W"),
  Flow: identity("l/h"),
  // scaling types
  Celsius: scaled("°C", 0.1),
  CelsiusInt16: scaled("°C", 0.1, 16),
  CelsiusUInt16: scaled("°C", 0.1, 16, false),
  Kelvin: scaled("K", 0.1),
  KelvinInt16: scaled("K", 0.1, 16),
  Pressure: scaled("bar", 0.01),
  Percent: scaled("%", 0.1),
  Energy: scaled("kWh", 0.1),
  Voltage: scaled("V", 0.1),
  Hours: scaled("h", 0.1),
  PowerKW: scaled("kW", 0.1),
  // special conversions
  Hours2: scalar("h", decodeHours2),
  Bool: scalar("", decodeBool),
  Timestamp: scalar("", (raw, ctx) => decodeTimestamp(raw, ctx.timeZone)),
  IPv4Address: scalar("", decodeIPv4Address),
  Character: scalar("", decodeCharacter),
  Version: { unit: "", decode: decodeVersion },
  MajorMinorVersion: scalar("", decodeMajorMinorVersion),
  FullVersion: { unit: "", decode: decodeFullVersion },
  TimeOfDay: scalar("", decodeTimeOfDay),
  TimeOfDay2: scalar("", decodeTimeOfDay2),
  HeatPumpStatus: scalar("", decodeHeatPumpStatus),
  // enumerations
  HeatingMode: selection(labelsByPosition(MODE_LABELS)),
  HotWaterMode: selection(labelsByPosition(MODE_LABELS)),
  SolarMode: selection(labelsByPosition(MODE_LABELS)),
  PoolMode: selection(MODE_WITHOUT_SECOND_HEATSOURCE),
  MixedCircuitMode: selection(MODE_WITHOUT_SECOND_HEATSOURCE),
  CoolingMode: selection(labelsByPosition(["Off", "Automatic"])),
  VentilationMode: selection(labelsByPosition(["Automatic", "Party", "Holidays", "Off"])),
  OperationMode: selection(labelsByPosition(OPERATION_MODE)),
  MainMenuStatusLine1: selection(labelsByPosition(MAIN_MENU_STATUS_LINE_1)),
  MainMenuStatusLine2: selection(labelsByPosition(["since", "in"])),
  MainMenuStatusLine3: selection(MAIN_MENU_STATUS_LINE_3),
  BivalenceLevel: selection(BIVALENCE_LEVEL),
  SwitchoffFile: selection(SWITCHOFF_FILE),
  Errorcode: selection(ERRORCODE),
  HeatpumpCode: selection(labelsByPosition(HEATPUMP_CODE)),
  SecOperationMode: selection(labelsByPosition(SEC_OPERATION_MODE)),
  AccessLevel: selection(
    labelsByPosition(["user", "after sales service", "manufacturer", "installer"]),
  ),
  TimerProgram: selection(labelsByPosition(["week", "5+2", "days"])),
  OnOffMode: selection(labelsByPosition(["Off", "On"])),
  // Modbus-only enumerations (no CFI field uses them; kept for completeness)
  ModeStatus: selection(labelsByPosition(["Disabled", "No request", "Requested", "Running"])),
  ControlMode: selection(labelsByPosition(["Off", "Setpoint", "Offset", "Level"])),
  LpcMode: selection(labelsByPosition(["No limit", "Soft limit", "Hard limit"])),
  LockMode: selection(labelsByPosition(["Off", "On"])),
  LevelMode: selection(labelsByPosition(["Normal", "Increased", "Increased2", "Decreased"])),
  BufferType: selection(
    labelsByPosition(["series buffer", "separation buffer", "multifunction buffer"]),
  ),
});

/** Whether `type` names a datatype class we can decode. */
export function isKnownDatatype(type: string): boolean {
  return Object.hasOwn(DATATYPES, type);
}

/** The datatype class `type`; throws for a name that is not a datatype (a table bug). */
export function datatypeOf(type: string): Datatype {
  if (!isKnownDatatype(type)) throw new Error(`unknown Luxtronik datatype "${type}"`);
  return DATATYPES[type];
}
