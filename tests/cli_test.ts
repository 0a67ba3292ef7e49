/** The command-line contract (../shared/docs/cli.md) through real subprocesses. */
import {
  assert,
  assertEquals,
  ingestThenExport,
  realFixture,
  runCli,
  startSimulatorProcess,
  tempDir,
} from "./helpers.ts";

Deno.test("--version and --help answer and exit 0", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const version = await runCli(["--version"]);
  assertEquals([version.code, version.stdout.trim()], [0, denoJson.version]);
  const help = await runCli(["--help"]);
  assertEquals(help.code, 0);
  assert(help.stdout.includes("simulate --port N"));
});

Deno.test("usage mistakes exit 2 with a message naming the flag, never a stack trace", async () => {
  const cases: [string[], RegExp][] = [
    [["frobnicate"], /unknown command "frobnicate"/],
    [["simulate"], /--port N is required/],
    [["simulate", "--port", "abc"], /--port must be a port number/],
    [
      ["simulate", "--port", "0", "--fault", "explode"],
      /unknown --fault "explode"; accepted: split/,
    ],
    [
      ["export", "--db", "x.db", "--from", "yesterday", "--to", "2026-01-01T00:00:00Z"],
      /--from "yesterday" is not an ISO 8601/,
    ],
    [
      ["export", "--db", "x.db", "--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"],
      /--to must be later/,
    ],
    [[
      "export",
      "--db",
      "missing.db",
      "--from",
      "2026-01-01T00:00:00Z",
      "--to",
      "2026-01-02T00:00:00Z",
    ], /no such database/],
    [["export", "--from", "2026-01-01T00:00:00Z"], /--db PATH is required/],
    [["ingest", "--db", "x.db"], /exactly one FILE/],
    [["dump"], /--host H is required/],
    [["run", "--bogus"], /run: Unknown option '--bogus'/],
    [["run"], /HOST: required for run/],
    [["demo", "--duration", "0"], /--duration must be a number of seconds/],
  ];
  await using dir = await tempDir();
  for (const [args, message] of cases) {
    const result = await runCli(args, { cwd: dir.path, env: { HOST: "" } });
    assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert(message.test(result.stderr), `${args.join(" ")}: ${result.stderr}`);
    assert(!/\n\s+at /.test(result.stderr), `no stack trace: ${result.stderr}`);
  }
});

Deno.test("dump prints every decoded field as text and as JSON", async () => {
  const simulator = await startSimulatorProcess([
    "--fixture",
    realFixture("python-luxtronik-143-v3.89.4.json"),
  ]);
  try {
    const text = await runCli(["dump", "--host", "127.0.0.1", "--port", String(simulator.port)]);
    assertEquals(text.code, 0, text.stderr);
    assert(
      text.stdout.includes("calculations.267 Desired_Room_Temperature = 214748364.7 °C"),
      text.stdout,
    );
    const json = await runCli([
      "dump",
      "--host",
      "127.0.0.1",
      "--port",
      String(simulator.port),
      "--json",
    ]);
    assertEquals(json.code, 0, json.stderr);
    const decoded = JSON.parse(json.stdout);
    assertEquals(decoded.calculations.Desired_Room_Temperature, 2147483647 * 0.1);
    assert(
      !("AC_Power_Input" in decoded.calculations) || decoded.calculations.AC_Power_Input === null,
    );
    // HOST and PORT from the environment (.env) serve as well as the flags.
    const fromEnv = await runCli(["dump", "--json"], {
      env: { HOST: "127.0.0.1", PORT: String(simulator.port) },
    });
    assertEquals(fromEnv.code, 0, fromEnv.stderr);
    assertEquals(JSON.parse(fromEnv.stdout), decoded);
  } finally {
    await simulator.process.stop();
  }
});

Deno.test("dump against a closed port fails with exit 1 and a message", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const result = await runCli([
    "dump",
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--timeout-sec",
    "2",
  ]);
  assertEquals(result.code, 1);
  assert(
    new RegExp(`lux-logger: cannot read from 127\\.0\\.0\\.1:${port}: .*(refused|Connection)`, "i")
      .test(result.stderr),
    result.stderr,
  );
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const takenPort = (taken.addr as Deno.NetAddr).port;
  const simulate = await runCli(["simulate", "--port", String(takenPort)]);
  taken.close();
  assertEquals(simulate.code, 1);
  assert(simulate.stderr.includes(`cannot listen on 127.0.0.1:${takenPort}:`), simulate.stderr);
  const out = await runCli([
    "export",
    "--db",
    "/nonexistent/dir/x.db",
    "--from",
    "2026-01-01T00:00:00Z",
    "--to",
    "2026-01-02T00:00:00Z",
  ]);
  assertEquals(out.code, 2, "a missing database is a usage error");
});

Deno.test("ingest stores the good lines, reports each bad one and exits 1", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/x.db`;
  const good = (s: number) =>
    JSON.stringify({ ts: `2026-01-01T00:00:${String(s).padStart(2, "0")}Z`, calculations: [s] });
  const input = [
    good(0),
    "not json",
    good(30),
    "",
    '{"ts": "2026-01-01T00:01:00Z", "calculations": [1.5]}',
  ].join("\n");
  const result = await runCli(["ingest", "--db", db, "-"], { stdin: input });
  assertEquals(result.code, 1);
  assert(/line rejected line=2 reason="not valid JSON/.test(result.stderr), result.stderr);
  assert(/line rejected line=5 reason=.*calculations\[0\]/.test(result.stderr), result.stderr);
  const exported = await runCli([
    "export",
    "--db",
    db,
    "--from",
    "2026-01-01T00:00:00Z",
    "--to",
    "2026-01-02T00:00:00Z",
    "--fields",
    "Unknown_Calculation_0",
  ], { env: { TZ: "UTC" } });
  assertEquals(
    exported.stdout,
    [
      "timestamp,Unknown_Calculation_0",
      "2026-01-01T00:00:00+00:00,0",
      "2026-01-01T00:00:30+00:00,30",
      "",
    ].join("\r\n"),
  );
  const missing = await runCli(["ingest", "--db", db, `${dir.path}/nope.jsonl`]);
  assertEquals(missing.code, 1);
  assert(missing.stderr.includes("nope.jsonl"), missing.stderr);
});

Deno.test("demo polls the built-in simulator and writes a CSV into ./demo-data", async () => {
  await using dir = await tempDir();
  const result = await runCli(["demo", "--duration", "7", "--interval-sec", "1"], {
    cwd: dir.path,
  });
  assertEquals(result.code, 0, result.stderr);
  const csv = await Deno.readTextFile(`${dir.path}/demo-data/demo.csv`);
  const rows = csv.trim().split("\r\n");
  assert(rows[0].startsWith("timestamp,"));
  assert(rows[0].includes("ID_WEB_Temperatur_TVL [°C]"));
  assert(rows.length >= 3, `at least two polls in the CSV, got ${rows.length - 1}`);
});

Deno.test("export: --fields selects JSON keys too, a typo exits 2, a closed pipe is not an error", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/x.db`;
  const lines = Array.from({ length: 3000 }, (_, s) =>
    JSON.stringify({
      ts: new Date(Date.UTC(2026, 0, 1) + s * 30_000).toISOString(),
      calculations: Array.from({ length: 20 }, (_, i) => (i === 10 ? 257 : s)),
    })).join("\n");
  assertEquals((await runCli(["ingest", "--db", db, "-"], { stdin: lines })).code, 0);
  const range = ["--from", "2026-01-01T00:00:00Z", "--to", "2026-01-03T00:00:00Z"];
  const json = await runCli([
    "export",
    "--db",
    db,
    ...range,
    "--format",
    "json",
    "--fields",
    "ID_WEB_Temperatur_TVL",
  ]);
  assertEquals(json.code, 0, json.stderr);
  const polls = JSON.parse(json.stdout);
  assertEquals(polls.length, 3000);
  assertEquals(polls[0].calculations, { ID_WEB_Temperatur_TVL: 257 * 0.1 });
  assertEquals([polls[0].parameters, polls[0].visibilities], [{}, {}]);

  const typo = await runCli([
    "export",
    "--db",
    db,
    ...range,
    "--fields",
    "ID_WEB_Temperatur_TVL,ID_WEB_Temp_XX",
  ]);
  assertEquals(typo.code, 2);
  assert(typo.stderr.includes('no field matches "ID_WEB_Temp_XX"'), typo.stderr);

  const child = new Deno.Command("bash", {
    args: [
      "-c",
      `"${Deno.execPath()}" run -A main.ts export --db "${db}" ${range.join(" ")} | head -n 2`,
    ],
    cwd: new URL("../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  });
  const { stdout, stderr } = await child.output();
  assertEquals(new TextDecoder().decode(stdout).split("\n").length, 3);
  assertEquals(new TextDecoder().decode(stderr), "", "no 'Broken pipe' error for a closed pipe");
});

Deno.test("export --out never replaces a database, and a refused export leaves the file as it was", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/x.db`;
  const line = JSON.stringify({ ts: "2026-01-01T00:00:30Z", calculations: [1, 2, 3] });
  assertEquals((await runCli(["ingest", "--db", db, "-"], { stdin: `${line}\n` })).code, 0);
  const range = ["--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z"];
  const dbBytes = await Deno.readFile(db);
  const other = `${dir.path}/other.db`;
  await Deno.copyFile(db, other);
  for (const out of [db, `./x.db`, other]) {
    const result = await runCli(["export", "--db", db, ...range, "--out", out], { cwd: dir.path });
    assertEquals(result.code, 2, `${out}: ${result.stderr}`);
    assert(
      /is the database given with --db|is an SQLite database/.test(result.stderr),
      result.stderr,
    );
  }
  assertEquals(await Deno.readFile(db), dbBytes, "the database is untouched");
  assertEquals(await Deno.readFile(other), dbBytes, "another database is untouched");

  const keep = `${dir.path}/keep.csv`;
  await Deno.writeTextFile(keep, "yesterday's export\n");
  const refused = await runCli([
    "export",
    "--db",
    db,
    ...range,
    "--fields",
    "NOMATCH",
    "--out",
    keep,
  ]);
  assertEquals(refused.code, 2, refused.stderr);
  assertEquals(await Deno.readTextFile(keep), "yesterday's export\n");
  const written = await runCli(["export", "--db", db, ...range, "--out", keep]);
  assertEquals(written.code, 0, written.stderr);
  assert((await Deno.readTextFile(keep)).startsWith("timestamp,"));
  assertEquals(
    [...Deno.readDirSync(dir.path)].map((e) => e.name).filter((n) => n.endsWith(".partial")),
    [],
    "no temporary file left",
  );
});

Deno.test("an empty TZ (Docker's --env-file passing TZ= from .env.sample) means UTC", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/cache.db`;
  const line = JSON.stringify({ ts: "2026-03-29T05:00:30Z", calculations: [0, 1] });
  const exported = await ingestThenExport(db, `${line}\n`, {
    from: "2026-03-29T00:00:00Z",
    to: "2026-03-30T00:00:00Z",
  }, { env: { TZ: "" } });
  assertEquals(exported.code, 0, exported.stderr);
  assert(exported.stdout.includes("\r\n2026-03-29T05:00:30+00:00,"), exported.stdout);
});
