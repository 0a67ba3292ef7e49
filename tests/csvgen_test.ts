import {
  csvLines,
  defaultColumns,
  formatTimestamp,
  headerCell,
  jsonLines,
  matchesPattern,
  quoteCell,
  selectColumns,
  writeChunks,
} from "../src/csvgen.ts";
import { csvColumns, decodeTable } from "../src/luxtronik/decode.ts";
import type { StoredPoll } from "../src/storage.ts";
import { assert, assertEquals } from "./helpers.ts";

function poll(ts: string, calc: Record<number, number>, length = 269): StoredPoll {
  const calculations = new Int32Array(length);
  for (const [i, v] of Object.entries(calc)) calculations[Number(i)] = v;
  return {
    ts: Temporal.Instant.from(ts).epochMilliseconds,
    calculations,
    parameters: Int32Array.from([0, 10, 500, 0, 3]),
    visibilities: Int8Array.from([1, 0]),
    durationMs: 5,
  };
}

Deno.test("timestamps carry the configured zone's offset, including across DST", () => {
  assertEquals(
    formatTimestamp(Date.UTC(2026, 2, 29, 0, 59, 59), "Europe/Berlin"),
    "2026-03-29T01:59:59+01:00",
  );
  assertEquals(
    formatTimestamp(Date.UTC(2026, 2, 29, 1, 0, 0), "Europe/Berlin"),
    "2026-03-29T03:00:00+02:00",
  );
  assertEquals(
    formatTimestamp(Date.UTC(2026, 2, 29, 5, 0, 30, 999), "UTC"),
    "2026-03-29T05:00:30+00:00",
  );
});

Deno.test("cells are quoted per RFC 4180 only when needed", () => {
  assertEquals(quoteCell("plain", ","), "plain");
  assertEquals(quoteCell("a,b", ","), '"a,b"');
  assertEquals(quoteCell("a,b", ";"), "a,b");
  assertEquals(quoteCell('say "hi"', ","), '"say ""hi"""');
  assertEquals(quoteCell("two\nlines", ";"), '"two\nlines"');
});

Deno.test("the CSV has a header with units, one CRLF row per poll, decoded cells", () => {
  const columns = selectColumns([
    "ID_WEB_Temperatur_TVL",
    "ID_WEB_WP_BZ_akt",
    "parameters.ID_Ba_Hz_akt",
  ], {
    calculations: 269,
    parameters: 5,
    visibilities: 2,
  });
  assertEquals(columns.map((c) => headerCell(c)), [
    "ID_WEB_Temperatur_TVL [°C]",
    "ID_WEB_WP_BZ_akt",
    "ID_Ba_Hz_akt",
  ]);
  const lines = [...csvLines(
    [
      poll("2026-03-29T05:00:30Z", { 10: 227, 80: 1 }),
      poll("2026-03-29T05:01:00Z", { 10: -35, 80: 99 }, 50),
    ],
    columns,
    { timeZone: "Europe/Berlin" },
  )];
  assertEquals(lines, [
    "timestamp,ID_WEB_Temperatur_TVL [°C],ID_WEB_WP_BZ_akt,ID_Ba_Hz_akt\r\n",
    "2026-03-29T07:00:30+02:00,22.7,hot water,Automatic\r\n",
    "2026-03-29T07:01:00+02:00,-3.5,,Automatic\r\n",
  ]);
});

Deno.test("German Excel dialect: semicolon, decimal comma, BOM", () => {
  const columns = selectColumns(["ID_WEB_Temperatur_TVL"], {
    calculations: 269,
    parameters: 0,
    visibilities: 0,
  });
  const text = [...csvLines([poll("2026-01-01T00:00:00Z", { 10: 257 })], columns, {
    timeZone: "UTC",
    delimiter: ";",
    decimal: ",",
    bom: true,
  })].join("");
  assertEquals(
    text,
    "\uFEFFtimestamp;ID_WEB_Temperatur_TVL [°C]\r\n2026-01-01T00:00:00+00:00;25,7\r\n",
  );
});

Deno.test("column selection: default all calculations, globs, table prefixes", () => {
  assertEquals(defaultColumns(269).length, csvColumns("calculations", 269).length);
  assert(defaultColumns(272).some((c) => c.name === "Unknown_Calculation_271"));
  const temps = selectColumns(["ID_WEB_Temperatur_T?L"], {
    calculations: 269,
    parameters: 0,
    visibilities: 0,
  });
  assertEquals(temps.map((c) => c.name), ["ID_WEB_Temperatur_TVL", "ID_WEB_Temperatur_TRL"]);
  const column = csvColumns("parameters", 5)[3];
  assert(matchesPattern(column, "parameters.*"));
  assert(!matchesPattern(column, "calculations.*"));
  assert(!matchesPattern(column, "ID_Ba_Hz"), "a name must match whole");
});

Deno.test("JSON export is one decoded object per poll in an array", () => {
  const parsed = JSON.parse(
    [...jsonLines([poll("2026-03-29T05:00:30Z", { 10: 227 })], "UTC")].join(""),
  );
  assertEquals(parsed.length, 1);
  assertEquals(parsed[0].ts, "2026-03-29T05:00:30+00:00");
  assertEquals(parsed[0].calculations.ID_WEB_Temperatur_TVL, 227 * 0.1);
  assertEquals(parsed[0].parameters.ID_Einst_BWS_akt, 50);
  assertEquals(parsed[0].visibilities.ID_Visi_NieAnzeigen, 1);
  assertEquals(JSON.parse([...jsonLines([], "UTC")].join("")), []);
});

Deno.test("JSON export of selected fields has the entries of the full decode", () => {
  const short = poll("2026-03-29T05:00:30Z", { 10: 227 }, 40); // ends before ID_WEB_VD1out (44)
  const long = poll("2026-03-29T05:01:00Z", { 10: 227, 44: 1, 271: -7 }, 272);
  const lengths = { calculations: 272, parameters: 5, visibilities: 2 };
  const patterns = ["ID_WEB_VD1out", "ID_WEB_Temperatur_TVL", "ID_WEB_SoftStand", "Unknown_*_27?"];
  const columns = selectColumns(patterns, lengths);
  const parsed = JSON.parse([...jsonLines([short, long], "UTC", columns)].join(""));
  for (const [i, stored] of [short, long].entries()) {
    const full = decodeTable("calculations", stored.calculations, { timeZone: "UTC" });
    const expected = Object.fromEntries(
      columns.filter((c) => c.name in full).map((c) => [c.name, full[c.name]]),
    );
    assertEquals(parsed[i].calculations, expected);
  }
  // A Bool the table is too short for is false (as in the reference), not null, and an
  // index beyond the definitions that this poll did not send is absent, not null.
  assertEquals(parsed[0].calculations.ID_WEB_VD1out, false);
  assertEquals(parsed[0].calculations.ID_WEB_SoftStand, null);
  assert(!("Unknown_Calculation_271" in parsed[0].calculations));
  assertEquals(parsed[1].calculations.ID_WEB_VD1out, true);
  assertEquals(parsed[1].calculations.Unknown_Calculation_271, -7);
});

Deno.test("writeChunks writes everything, in chunks, however short the sink's writes", async () => {
  const received: number[] = [];
  let calls = 0;
  const sink = {
    write(bytes: Uint8Array) {
      calls++;
      const n = Math.min(bytes.length, 1000); // a sink that accepts at most 1000 bytes per call
      received.push(...bytes.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  const pieces = Array.from({ length: 2000 }, (_, i) => `line ${i}\n`);
  const total = await writeChunks(pieces, sink);
  assertEquals(new TextDecoder().decode(new Uint8Array(received)), pieces.join(""));
  assertEquals(total, received.length);
  assert(calls > 1);
});

Deno.test("READABLE_HEADERS: plain-English names where known, reference names otherwise", () => {
  const columns = selectColumns([
    "ID_WEB_Temperatur_TVL",
    "ID_WEB_WP_BZ_akt",
    "Unknown_Calculation_0",
  ], {
    calculations: 269,
    parameters: 0,
    visibilities: 0,
  });
  const [header] = csvLines([], columns, { timeZone: "UTC", readableHeaders: true });
  assertEquals(header, "timestamp,Unknown_Calculation_0,Flow temperature [°C],Operating mode\r\n");
  const all = selectColumns(["*"], { calculations: 269, parameters: 1160, visibilities: 380 });
  const names = all.map((c) => headerCell(c, true));
  assertEquals(new Set(names).size, names.length, "readable names never collide");
});

Deno.test("a delimiter that occurs in the timestamp (CSV_DELIMITER=: or -) quotes it", () => {
  const columns = selectColumns(["ID_WEB_Temperatur_TVL"], {
    calculations: 269,
    parameters: 0,
    visibilities: 0,
  });
  for (const delimiter of [":", "-", "+"]) {
    const [, row] = [...csvLines([poll("2026-03-29T05:00:30Z", { 10: -215 })], columns, {
      timeZone: "Europe/Berlin",
      delimiter,
    })];
    assertEquals(
      row,
      `"2026-03-29T07:00:30+02:00"${delimiter}${quoteCell("-21.5", delimiter)}\r\n`,
    );
  }
});
