/**
 * End to end over loopback TCP: `main.ts simulate` serves a real heat pump's values,
 * `main.ts run` polls and stores them, `main.ts export` writes the CSV a user opens.
 */
import {
  assert,
  assertEquals,
  CliProcess,
  ingestThenExport,
  realFixture,
  runCli,
  startSimulatorProcess,
  tempDir,
} from "./helpers.ts";

/** Parses our RFC 4180 output (no quoted line breaks in these files) into records. */
function parseCsv(text: string): Record<string, string>[] {
  const lines = text.split("\r\n").filter((l) => l !== "");
  const split = (line: string) => line.split(",");
  const header = split(lines[0]);
  return lines.slice(1).map((line) =>
    Object.fromEntries(split(line).map((cell, i) => [header[i], cell]))
  );
}

Deno.test("simulate + run + export: one CSV row per poll with the fixture's values, decoded", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/cache.db`;
  const simulator = await startSimulatorProcess([
    "--fixture",
    realFixture("coolchip-luxtronik2-7-v1.76.json"),
  ]);
  const env = {
    HOST: "127.0.0.1",
    PORT: String(simulator.port),
    INTERVAL_SEC: "1",
    CACHE_PATH: db,
    TZ: "UTC",
    OUTPUT_DIRS_DAILY: `${dir.path}/daily`,
    OUTPUT_DIRS_WEEKLY: `${dir.path}/weekly`,
  };
  const service = new CliProcess(["run"], { env, cwd: dir.path });
  try {
    await service.waitForCount(/poll stored/, 3);
    assertEquals(await service.stop("SIGTERM"), 0, "SIGTERM ends the service with exit code 0");
    const stored = service.count(/poll stored/);
    assert(stored >= 3, `at least 3 polls stored, saw ${stored}`);
    // The simulator logs every write request (3002) and unknown command it is sent.
    assertEquals(
      simulator.process.count(/write request|unknown command/),
      0,
      "the logger only reads",
    );

    const exported = await runCli([
      "export",
      "--db",
      db,
      "--from",
      "2000-01-01T00:00:00Z",
      "--to",
      "2100-01-01T00:00:00Z",
    ], { env: { TZ: "UTC" }, cwd: dir.path });
    assertEquals(exported.code, 0, exported.stderr);
    const rows = parseCsv(exported.stdout);
    assertEquals(rows.length, stored, "one row per stored poll");
    for (const row of rows) {
      assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/.test(row.timestamp), row.timestamp);
      // Raw values from a real V1.76 controller (coolchip/luxtronik2#7), decoded.
      assertEquals(row["ID_WEB_Sollwert_TVL_MK3 [°C]"], "20");
      assertEquals(row["ID_WEB_Temperatur_TFB3 [°C]"], "75");
      assertEquals(row["ID_WEB_AnalogIn [V]"], "0.2");
      assertEquals(row["ID_WEB_AktuelleTimeStamp"], "2018-12-31T09:03:56");
      assertEquals(row["ID_WEB_SH_SW"], "3");
      assertEquals(row["ID_WEB_Temperatur_TVL [°C]"], "0", "uncaptured values are served as 0");
      assertEquals(
        row["ID_WEB_LIN_ANSAUG_VERDAMPFER [°C]"],
        "",
        "beyond the V1.76 table: empty cell",
      );
    }
  } finally {
    await service.stop("SIGKILL");
    await simulator.process.stop();
  }
});

Deno.test("export as JSON gives decoded objects per poll", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/cache.db`;
  const line = JSON.stringify({
    ts: "2026-03-29T05:00:30Z",
    calculations: Array.from({ length: 269 }, (_, i) => (i === 10 ? 257 : 0)),
    parameters: null,
    visibilities: [1, 0],
  });
  const exported = await ingestThenExport(db, line + "\n", {
    from: "2026-03-29T00:00:00Z",
    to: "2026-03-30T00:00:00Z",
  }, {
    env: { TZ: "Europe/Berlin" },
    flags: ["--format", "json"],
  });
  assertEquals(exported.code, 0, exported.stderr);
  const polls = JSON.parse(exported.stdout);
  assertEquals(polls.length, 1);
  assertEquals(polls[0].ts, "2026-03-29T07:00:30+02:00");
  assertEquals(polls[0].calculations.ID_WEB_Temperatur_TVL, 257 * 0.1);
  assertEquals(polls[0].visibilities.ID_Visi_NieAnzeigen, 1);
});
