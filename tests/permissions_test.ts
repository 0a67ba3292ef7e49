/**
 * The compiled binary runs with the permission flags of `deno task compile`, nothing
 * more. This machine cannot build it (no compile runtime to download), so the same
 * flags, read from deno.json so they cannot drift, run main.ts here: the whole flow of
 * a user's day (simulated heat pump, service, health check, export) must work under
 * them, and what lies outside them must fail with a clear message.
 */
import {
  assert,
  assertEquals,
  CliProcess,
  realFixture,
  REPO_ROOT,
  runCli,
  tempDir,
} from "./helpers.ts";
import { compileRuntimeFlags } from "../scripts/check-packaging.ts";
import denoJson from "../deno.json" with { type: "json" };

const FLAGS = compileRuntimeFlags(REPO_ROOT.pathname);
/** A real controller's tables (BenPru/luxtronik#59, V3.88.0): all three tables captured. */
const FIXTURE = realFixture("benpru-luxtronik-59-v3.88.0.json");
const WAIT_MS = 90_000;

/** Dashboard routes that read files or the disk, with the content type they answer. */
const DASHBOARD_PATHS = [
  ["/", "text/html"],
  ["/static/app.js", "text/javascript"],
  ["/static/vendor/uPlot.iife.min.js", "text/javascript"],
  ["/api/health", "application/json"],
  ["/metrics", "text/plain"],
] as const;

/** A port that was free a moment ago (HTTP_PORT cannot be 0). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Settings that would move files elsewhere are blanked (= defaults) whatever CI's env is. */
const DEFAULT_PATHS = { CACHE_PATH: "", OUTPUT_DIRS_DAILY: "", OUTPUT_DIRS_WEEKLY: "", TZ: "UTC" };

Deno.test("compile flags: listed permissions, no --allow-all", () => {
  assert(!FLAGS.includes("-A") && !FLAGS.includes("--allow-all"), FLAGS.join(" "));
  assert(FLAGS.some((f) => f.startsWith("--allow-read=")), "reads are limited to folders");
  assert(FLAGS.some((f) => f.startsWith("--allow-write=")), "writes are limited to folders");
  assert(FLAGS.some((f) => f.startsWith("--allow-env=")), "env is limited to the settings");
  assert(FLAGS.includes("--unstable-cron"));
});

Deno.test({
  name:
    "compile flags: simulate + run + dashboard + health + export work under exactly these flags",
  fn: async () => {
    await using dir = await tempDir();
    const cwd = dir.path;
    // The binary may read only its own folders, so the fixture is copied into ./data.
    // ./logs is not made: the service creates it, though it may not read the folder above.
    await Deno.mkdir(`${cwd}/data`);
    await Deno.copyFile(FIXTURE, `${cwd}/data/fixture.json`);

    const simulator = new CliProcess(
      ["simulate", "--port", "0", "--fixture", "./data/fixture.json"],
      { cwd, flags: FLAGS },
    );
    const service = { process: null as CliProcess | null };
    try {
      const listening = await simulator.waitFor(/listening on 127\.0\.0\.1:\d+/, WAIT_MS);
      const port = /:(\d+)/.exec(listening)![1];
      service.process = new CliProcess(["run"], {
        cwd,
        flags: FLAGS,
        env: {
          ...DEFAULT_PATHS,
          HOST: "127.0.0.1",
          PORT: port,
          INTERVAL_SEC: "1",
          HTTP_PORT: String(freePort()),
        },
      });
      await service.process.waitForCount(/poll stored/, 3, WAIT_MS);

      // The dashboard: its embedded page files, and disk usage (statfs) for health/metrics.
      const url = /url=(\S+)/.exec(await service.process.waitFor(/dashboard listening/))![1];
      for (const [path, type] of DASHBOARD_PATHS) {
        const response = await fetch(new URL(path, url));
        const body = await response.text();
        assertEquals(response.status, 200, `${path}: ${body}`);
        assert(response.headers.get("content-type")?.startsWith(type), path);
      }

      const health = await runCli(["health"], { cwd, flags: FLAGS, env: DEFAULT_PATHS });
      assertEquals(health.code, 0, health.stderr);
      assert(health.stdout.includes("ok: last poll"), health.stdout);

      // A YAML settings file (--config) inside ./data: the yaml package reads env too.
      await Deno.writeTextFile(`${cwd}/data/lux.yaml`, "HEALTH_MAX_AGE_SEC: 600\n");
      const yamlHealth = await runCli(["health", "--config", "./data/lux.yaml"], {
        cwd,
        flags: FLAGS,
        env: DEFAULT_PATHS,
      });
      assertEquals(yamlHealth.code, 0, yamlHealth.stderr);
      assert(yamlHealth.stdout.includes("limit 600 s"), yamlHealth.stdout);

      assertEquals(await service.process.stop("SIGTERM"), 0, "SIGTERM ends the service cleanly");
      const stored = service.process.count(/poll stored/);
      const range = ["--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z"];

      const json = await runCli(
        [
          "export",
          "--db",
          "./data/cache.db",
          ...range,
          "--format",
          "json",
          "--out",
          "./logs/all.json",
        ],
        { cwd, flags: FLAGS, env: DEFAULT_PATHS },
      );
      assertEquals(json.code, 0, json.stderr);
      const polls = JSON.parse(await Deno.readTextFile(`${cwd}/logs/all.json`));
      assertEquals(polls.length, stored, "one object per stored poll");
      // Values as the fixture's source decoded them, one from each table.
      for (const poll of polls) {
        assertEquals(poll.calculations.ID_WEB_Time_HRW_akt, 4109);
        assertEquals(poll.calculations.Unknown_Calculation_236, 1380);
        assertEquals(poll.parameters.ID_Einst_PKuehlTime_akt, 20);
        assertEquals(poll.visibilities.ID_Visi_MK1, 1);
      }

      const csv = await runCli(["export", "--db", "./data/cache.db", ...range, "--out", "-"], {
        cwd,
        flags: FLAGS,
        env: DEFAULT_PATHS,
      });
      assertEquals(csv.code, 0, csv.stderr);
      const lines = csv.stdout.split("\r\n").filter((l) => l !== "");
      assert(lines[0].startsWith("timestamp,"), lines[0]);
      assertEquals(lines.length, stored + 1, "header + one row per poll");
    } finally {
      await service.process?.stop("SIGKILL");
      await simulator.stop("SIGTERM");
    }
  },
});

Deno.test("compile flags: --version prints the version from deno.json", async () => {
  await using dir = await tempDir();
  const result = await runCli(["--version"], { cwd: dir.path, flags: FLAGS });
  assertEquals(result.code, 0, result.stderr);
  assertEquals(result.stdout.trim(), denoJson.version);
});

Deno.test("compile flags: writing outside ./data and ./logs fails clearly, writes nothing", async () => {
  await using dir = await tempDir();
  await using outside = await tempDir();
  const cwd = dir.path;
  const range = ["--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z"];
  const ingest = await runCli(["ingest", "--db", "./data/cache.db", "-"], {
    cwd,
    flags: FLAGS,
    stdin: '{"ts": "2026-03-28T00:00:30Z", "calculations": [1, 2, 3], "parameters": null, ' +
      '"visibilities": null}\n',
  });
  assertEquals(ingest.code, 0, ingest.stderr);

  const target = `${outside.path}/export.csv`;
  const result = await runCli(["export", "--db", "./data/cache.db", ...range, "--out", target], {
    cwd,
    flags: FLAGS,
    env: DEFAULT_PATHS,
  });
  assertEquals(result.code, 1, result.stderr);
  assert(
    result.stderr.includes(`cannot write --out ${target}: Requires write access`),
    result.stderr,
  );
  assert(result.stderr.includes("may read and write only ./data, ./logs"), result.stderr);
  assert(!result.stderr.includes("    at "), "no stack trace");
  assertEquals([...Deno.readDirSync(outside.path)], [], "nothing written outside");

  // A --config file it may not read: said so, without Deno's advice to add --allow-read.
  await Deno.writeTextFile(`${outside.path}/lux.yaml`, "INTERVAL_SEC: 5\n");
  const config = await runCli([
    "export",
    "--db",
    "./data/cache.db",
    ...range,
    "--config",
    `${outside.path}/lux.yaml`,
  ], {
    cwd,
    flags: FLAGS,
    env: DEFAULT_PATHS,
  });
  assertEquals(config.code, 2, config.stderr);
  assert(config.stderr.includes("outside what this program may read"), config.stderr);
  assert(!config.stderr.includes("--allow-read"), config.stderr);
  await Deno.remove(`${outside.path}/lux.yaml`);

  // `run` checks its paths first: one it may not touch is a configuration error.
  const run = await runCli(["run"], {
    cwd,
    flags: FLAGS,
    env: { ...DEFAULT_PATHS, HOST: "127.0.0.1", CACHE_PATH: `${outside.path}/cache.db` },
  });
  assertEquals(run.code, 2, run.stderr);
  assert(run.stderr.includes(`CACHE_PATH="${outside.path}/cache.db"`), run.stderr);
  assertEquals([...Deno.readDirSync(outside.path)], [], "no database created outside");
});

Deno.test("compile flags: a database outside ./data is named as a permission, not as missing", async () => {
  await using dir = await tempDir();
  await using outside = await tempDir();
  const db = `${outside.path}/cache.db`;
  // Made with all permissions, as a database from another installation would be.
  const ingest = await runCli(["ingest", "--db", db, "-"], {
    stdin: '{"ts": "2026-03-28T00:00:30Z", "calculations": [1, 2, 3], "parameters": null, ' +
      '"visibilities": null}\n',
  });
  assertEquals(ingest.code, 0, ingest.stderr);
  const range = ["--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z"];
  for (const args of [["export", "--db", db, ...range, "--out", "-"], ["rollup", "--db", db]]) {
    const result = await runCli(args, { cwd: dir.path, flags: FLAGS, env: DEFAULT_PATHS });
    assertEquals(result.code, 1, `${args[0]}: ${result.stderr}`);
    assert(result.stderr.includes(`Requires read access to "${db}"`), result.stderr);
    assert(result.stderr.includes("may read and write only ./data, ./logs"), result.stderr);
    assert(!result.stderr.includes("no such database"), result.stderr);
  }
});
