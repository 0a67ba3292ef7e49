/**
 * A plausible air-to-water heat pump as a pure function of time, for the simulator and
 * the storage benchmark: the outdoor temperature follows the day, the compressor cycles
 * (25 minutes on, 15 off), flow and return temperatures follow it, counters count and
 * sensors carry a little noise. Every value is derived from the instant alone, so a
 * given second always yields the same tables: tests and benchmarks are reproducible.
 */
import type { RawTables } from "./client.ts";

export const MODEL_CALCULATIONS = 269;
export const MODEL_PARAMETERS = 1160;
export const MODEL_VISIBILITIES = 380;

const CYCLE_SEC = 40 * 60;
const COMPRESSOR_ON_SEC = 25 * 60;
/** Counters start from a heat pump that has already run for a few years. */
const EPOCH_OFFSET_SEC = 1_600_000_000;
const FIRMWARE = "V3.89.4";
const LOOPBACK_ADDRESS = 0x7f000001; // 127.0.0.1: the simulator never advertises another host

/** Deterministic noise in -amplitude..amplitude for one sensor at one second. */
function noise(sensor: number, second: number, amplitude: number): number {
  let h = Math.imul(sensor ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(second, 0xc2b2ae35);
  h ^= h >>> 13;
  h = Math.imul(h, 0x27d4eb2f);
  h ^= h >>> 16;
  return ((h >>> 0) % (2 * amplitude + 1)) - amplitude;
}

/** Seconds the compressor has run from EPOCH_OFFSET_SEC up to `second`. */
function compressorSeconds(second: number): number {
  const since = second - EPOCH_OFFSET_SEC;
  const cycles = Math.floor(since / CYCLE_SEC);
  return cycles * COMPRESSOR_ON_SEC + Math.min(since - cycles * CYCLE_SEC, COMPRESSOR_ON_SEC);
}

/** Tenths of a degree: the outdoor temperature, 3 °C ± 5 °C over the day. */
function outdoorTenths(second: number): number {
  const dayPhase = ((second % 86_400) / 86_400) * 2 * Math.PI;
  return Math.round(30 - 50 * Math.cos(dayPhase - Math.PI / 6));
}

/** The three tables the modelled heat pump shows at Unix time `second`. */
export function modelTables(second: number): RawTables {
  const s = Math.floor(second);
  const calculations = new Int32Array(MODEL_CALCULATIONS);
  const parameters = new Int32Array(MODEL_PARAMETERS);
  const visibilities = new Int8Array(MODEL_VISIBILITIES);

  const cyclePos = (s - EPOCH_OFFSET_SEC) % CYCLE_SEC;
  const running = cyclePos < COMPRESSOR_ON_SEC;
  // Flow temperature rises towards 35 °C while running and falls back towards 24 °C.
  const flow = running
    ? 350 - Math.round(100 * Math.exp(-cyclePos / 300))
    : 240 + Math.round(110 * Math.exp(-(cyclePos - COMPRESSOR_ON_SEC) / 400));
  const outdoor = outdoorTenths(s);

  calculations[10] = flow + noise(10, s, 1); // ID_WEB_Temperatur_TVL
  calculations[11] = flow - (running ? 50 : 10) + noise(11, s, 1); // TRL
  calculations[12] = 290 - Math.round(outdoor / 3); // Sollwert_TRL_HZ (heating curve)
  calculations[13] = 50; // TRL_ext not fitted
  calculations[14] = (running ? 720 : 300) + noise(14, s, 3); // hot gas
  calculations[15] = outdoor + noise(15, s, 1); // TA
  calculations[16] = outdoor + 5; // Mitteltemperatur
  calculations[17] = 480 - Math.floor(cyclePos / 240) + noise(17, s, 1); // hot water
  calculations[18] = 490; // hot water target
  calculations[19] = outdoor - (running ? 40 : 0) + noise(19, s, 1); // heat source in
  calculations[20] = outdoor - (running ? 80 : 0) + noise(20, s, 1); // heat source out
  calculations[31] = 1; // EVU input: grid released
  calculations[39] = 1; // HUP running
  calculations[44] = running ? 1 : 0; // VD1 compressor
  calculations[56] = compressorSeconds(s); // VD1 operating seconds
  calculations[57] = Math.floor((s - EPOCH_OFFSET_SEC) / CYCLE_SEC) + 1; // compressor starts
  calculations[63] = compressorSeconds(s); // heat pump operating seconds
  calculations[64] = Math.round(compressorSeconds(s) * 0.85); // of which heating
  calculations[65] = Math.round(compressorSeconds(s) * 0.15); // of which hot water
  calculations[67] = running ? cyclePos : 0; // running since
  calculations[78] = 41; // heat pump type LD5
  calculations[79] = 1; // bivalence level
  calculations[80] = running ? 0 : 5; // heating / no request
  for (let i = 0; i < FIRMWARE.length; i++) calculations[81 + i] = FIRMWARE.charCodeAt(i);
  calculations[91] = LOOPBACK_ADDRESS;
  calculations[92] = -256; // 255.255.255.0
  calculations[95] = 1_700_000_000; // time of the last stored error
  calculations[100] = 717; // flow rate error, long ago
  calculations[105] = 1;
  calculations[117] = running ? 0 : 1; // heatpump running / idle
  calculations[119] = running ? 0 : 1; // heating / no request
  calculations[120] = running ? cyclePos : cyclePos - COMPRESSOR_ON_SEC;
  calculations[134] = s; // controller clock
  calculations[151] = Math.floor(compressorSeconds(s) * 0.0016); // heat energy, 0.1 kWh steps
  calculations[152] = Math.floor(compressorSeconds(s) * 0.0003);
  calculations[154] = Math.floor(compressorSeconds(s) * 0.0019);
  calculations[155] = running ? 1200 : 0; // flow l/h
  calculations[173] = running ? 2800 : 0;
  calculations[180] = running ? 2450 + noise(180, s, 5) : 1300; // high pressure, 0.01 bar
  calculations[181] = running ? 780 + noise(181, s, 5) : 1290; // low pressure
  calculations[231] = running ? 58 : 0; // compressor frequency
  calculations[241] = running ? 70 : 0; // circulation pump %
  calculations[257] = running ? 5200 + 10 * noise(257, s, 20) : 0; // heat output W
  calculations[258] = 112; // room unit version 1.12
  calculations[267] = 2_147_483_647; // "not available" placeholder, as real V3.89 units send
  calculations[268] = running ? 1500 + 5 * noise(268, s, 20) : 10; // electrical input W

  parameters[1] = 0; // heating curve offset
  parameters[2] = 490; // hot water target 49.0 °C
  parameters[3] = 0; // heating mode Automatic
  parameters[4] = 0; // hot water mode Automatic
  parameters[107] = 0; // access level user
  parameters[222] = 0; // timer program week
  parameters[1087] = 0; // silent mode off
  for (let i = 0; i < MODEL_VISIBILITIES; i += 3) visibilities[i] = 1;

  return { parameters, calculations, visibilities };
}
