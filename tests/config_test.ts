/** Configuration: sources and precedence, validation of every value, run-time checks. */
import {
  ConfigError,
  databaseProblem,
  flagName,
  folderProblem,
  loadConfig,
  mergeSources,
  parseDotenv,
  parseYamlSettings,
  resolveConfig,
  SETTING_NAMES,
} from "../src/config.ts";
import { assert, assertEquals, assertThrows, tempDir } from "./helpers.ts";

/** The problems a ConfigError lists, or [] if the settings are valid. */
function problems(fn: () => unknown): string[] {
  try {
    fn();
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

Deno.test("defaults: an empty configuration is valid and matches .env.sample", () => {
  const config = resolveConfig({ TZ: "UTC" });
  assertEquals(config.host, null);
  assertEquals(config.port, 8889);
  assertEquals(config.intervalSec, 30);
  assertEquals(config.timeoutSec, 60);
  assertEquals(config.retries, 3);
  assertEquals(config.backoffMaxSec, 300);
  assertEquals(config.csvTime, { hour: 7, minute: 0 });
  assertEquals(config.logLevel, "info");
  assertEquals(config.logFormat, "text");
  // No TZ: the system's zone, resolved to a real name.
  assert(resolveConfig({}).timeZone.length > 0);
});

Deno.test("every bad value is reported at once, each by its variable name", () => {
  const found = problems(() =>
    resolveConfig({
      TZ: "Mars/Olympus_Mons",
      CSV_TIME: "25:00",
      PORT: "abc",
      INTERVAL_SEC: "0",
      TIMEOUT_SEC: "1.5",
      RETRIES: "11",
      BACKOFF_MAX_SEC: "-1",
      WEEKLY_DAY: "someday",
      CSV_DELIMITER: "ab",
      CSV_BOM: "maybe",
      LOG_LEVEL: "loud",
      LOG_FORMAT: "xml",
      HTTP_HOST: "   ",
    })
  );
  const names = found.map((p) => p.split("=")[0]);
  assertEquals(names, [
    "PORT",
    "INTERVAL_SEC",
    "CSV_TIME",
    "TZ",
    "TIMEOUT_SEC",
    "RETRIES",
    "BACKOFF_MAX_SEC",
    "WEEKLY_DAY",
    "CSV_DELIMITER",
    "CSV_BOM",
    "HTTP_HOST",
    "LOG_LEVEL",
    "LOG_FORMAT",
  ]);
  assert(found[0].includes("must be a whole number from 1 to 65535"), found[0]);
  assert(found[1].includes("from 1 to 86400"), found[1]);
  assert(found[2].includes("HH:MM"), found[2]);
  assert(found[3].includes("IANA time zone"), found[3]);
  const message = new ConfigError(found).message;
  assert(message.startsWith("invalid configuration:\n  - PORT="), message);
});

Deno.test("accepted spellings: booleans, tab delimiter, case-insensitive choices, field lists", () => {
  const config = resolveConfig({
    TZ: "Europe/Berlin",
    CSV_BOM: "yes",
    READABLE_HEADERS: "1",
    CSV_DELIMITER: "tab",
    CSV_DECIMAL: ",",
    WEEKLY_DAY: "Daily",
    CSV_FIELDS: " ID_WEB_Temperatur_TVL , ,parameters.ID_Ba_Hz_akt ",
    CSV_TIME: "6:05",
    LOG_LEVEL: "DEBUG",
    HOST: "",
  });
  assertEquals(config.csvBom, true);
  assertEquals(config.readableHeaders, true);
  assertEquals(config.csvDelimiter, "\t");
  assertEquals(config.csvDecimal, ",");
  assertEquals(config.weeklyDay, "daily");
  assertEquals(config.csvFields, ["ID_WEB_Temperatur_TVL", "parameters.ID_Ba_Hz_akt"]);
  assertEquals(config.csvTime, { hour: 6, minute: 5 });
  assertEquals(config.logLevel, "debug");
  assertEquals(config.timeZone, "Europe/Berlin");
  assertEquals(config.host, null, "an empty value means not set");
  assertEquals(resolveConfig({ CSV_DELIMITER: "\\t", CSV_FIELDS: " , " }).csvFields, null);
});

Deno.test("OUTPUT_DIRS: the original JSON form, beaten by the specific variables", () => {
  const both = resolveConfig({ OUTPUT_DIRS: '{"daily": "/d", "weekly": "/w"}' });
  assertEquals([both.dailyDir, both.weeklyDir], ["/d", "/w"]);
  const specific = resolveConfig({
    OUTPUT_DIRS: '{"daily": "/d", "weekly": "/w"}',
    OUTPUT_DIRS_DAILY: "/daily",
  });
  assertEquals([specific.dailyDir, specific.weeklyDir], ["/daily", "/w"]);
  for (const bad of ["not json", "[]", '{"daily": 5}', '{"dayly": "/d"}', '{"daily": " "}']) {
    assertEquals(problems(() => resolveConfig({ OUTPUT_DIRS: bad })).length, 1);
  }
  assert(SETTING_NAMES.includes("OUTPUT_DIRS") && SETTING_NAMES.includes("BACKOFF_MAX_SEC"));
  assertEquals(flagName("BACKOFF_MAX_SEC"), "backoff-max-sec");
});

Deno.test(".env parsing: comments, quotes, export, inline comments", () => {
  const badLines: string[] = [];
  const parsed = parseDotenv(
    [
      "# a comment",
      "HOST=192.0.2.10",
      'export CSV_DELIMITER=";"',
      "PORT = 8888   # the old port",
      "CSV_FIELDS='a # not a comment'",
      'CSV_TIME="06:30" # morning',
      "not a setting",
      "",
      "   # indented comment",
    ].join("\r\n"),
    (n, line) => badLines.push(`${n}: ${line}`),
  );
  assertEquals(badLines, ["7: not a setting"], "a line that is no setting is reported");
  assertEquals(parsed, {
    HOST: "192.0.2.10",
    CSV_DELIMITER: ";",
    PORT: "8888",
    CSV_FIELDS: "a # not a comment",
    CSV_TIME: "06:30",
  });
});

Deno.test("a decimal comma needs another delimiter; TZ may carry glibc's leading colon", () => {
  const found = problems(() => resolveConfig({ CSV_DECIMAL: "," }));
  assertEquals(found, [
    'CSV_DECIMAL=",": needs a CSV_DELIMITER other than "," (e.g. CSV_DELIMITER=;)',
  ]);
  assertEquals(resolveConfig({ CSV_DECIMAL: ",", CSV_DELIMITER: ";" }).csvDecimal, ",");
  assertEquals(resolveConfig({ TZ: ":Europe/Berlin" }).timeZone, "Europe/Berlin");
});

Deno.test("unknown names in .env and YAML files are reported, not silently ignored", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/.env`, "INTERVALL_SEC=9\nPORT=8888\n");
    await Deno.writeTextFile(`${dir}/lux.yaml`, "hots: 192.0.2.1\n");
    const warnings: string[] = [];
    const config = loadConfig({
      dotenvPath: `${dir}/.env`,
      configFile: `${dir}/lux.yaml`,
      env: {},
      warn: (m) => warnings.push(m),
    });
    assertEquals(config.port, 8888);
    assertEquals(warnings, [
      ".env: unknown setting INTERVALL_SEC (ignored)",
      `${dir}/lux.yaml: unknown setting HOTS (ignored)`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("YAML: a mapping of the same names, any case; bad YAML is a ConfigError", () => {
  assertEquals(
    parseYamlSettings("host: 192.0.2.10\ninterval_sec: 10\noutput_dirs: {daily: /d}", "x.yaml"),
    {
      HOST: "192.0.2.10",
      INTERVAL_SEC: "10",
      OUTPUT_DIRS: '{"daily":"/d"}',
    },
  );
  assertEquals(parseYamlSettings("", "x.yaml"), {});
  // Empty means not set (not the text "null"); a list is the comma list of the variable.
  const blanks = parseYamlSettings("host:\ntz: ~\ncsv_fields: [ID_WEB_Temperatur_TA, a*]", "x");
  assertEquals([blanks.HOST, blanks.TZ, blanks.CSV_FIELDS], [
    undefined,
    undefined,
    "ID_WEB_Temperatur_TA,a*",
  ]);
  assert(problems(() => parseYamlSettings("a: [", "x.yaml"))[0].includes("not valid YAML"));
  assert(problems(() => parseYamlSettings("- 1\n- 2", "x.yaml"))[0].includes("must be a mapping"));
});

Deno.test("precedence: flags > environment > .env > YAML > defaults", async () => {
  assertEquals(
    mergeSources({
      flags: { A: "flag" },
      env: { A: "env", B: "env", E: undefined },
      dotenv: { A: "dotenv", B: "dotenv", C: "dotenv" },
      yaml: { A: "yaml", B: "yaml", C: "yaml", D: "yaml" },
    }),
    { A: "flag", B: "env", C: "dotenv", D: "yaml" },
  );
  // Empty means "not set" in every source: a blank HOST= in .env leaves YAML's HOST.
  assertEquals(
    mergeSources({
      flags: {},
      env: { INTERVAL_SEC: "", TZ: " " },
      dotenv: { HOST: "" },
      yaml: { HOST: "192.0.2.10", INTERVAL_SEC: "3" },
    }),
    { HOST: "192.0.2.10", INTERVAL_SEC: "3" },
  );
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/.env`, "INTERVAL_SEC=20\nRETRIES=2\nPORT=1");
  await Deno.writeTextFile(`${dir.path}/lux.yaml`, "INTERVAL_SEC: 50\nRETRIES: 5\nTIMEOUT_SEC: 9");
  const config = loadConfig({
    flags: { PORT: "2" },
    env: { RETRIES: "1", TZ: "UTC" },
    dotenvPath: `${dir.path}/.env`,
    configFile: `${dir.path}/lux.yaml`,
  });
  assertEquals([config.port, config.retries, config.intervalSec, config.timeoutSec], [2, 1, 20, 9]);
  assert(
    problems(() => loadConfig({ env: {}, configFile: `${dir.path}/missing.yaml` }))[0]
      .includes("file not found"),
  );
  // A .env that is a folder cannot be read: a config problem, not a crash.
  assert(problems(() => loadConfig({ env: {}, dotenvPath: dir.path }))[0].includes("cannot read"));
});

Deno.test("service checks: HOST required, database and folders writable, nothing created", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/plain-file`;
  await Deno.writeTextFile(file, "");
  const ok = resolveConfig({
    HOST: "127.0.0.1",
    TZ: "UTC",
    CACHE_PATH: `${dir.path}/new/deeper/cache.db`,
    OUTPUT_DIRS_DAILY: `${dir.path}/daily`,
    OUTPUT_DIRS_WEEKLY: `${dir.path}/weekly`,
  }, { service: true });
  assertEquals(ok.host, "127.0.0.1");
  assertEquals([...Deno.readDirSync(dir.path)].map((e) => e.name), ["plain-file"]);

  const found = problems(() =>
    resolveConfig({
      TZ: "UTC",
      CACHE_PATH: `${file}/cache.db`,
      OUTPUT_DIRS_DAILY: file,
      OUTPUT_DIRS_WEEKLY: "/proc/lux-logger-test/weekly",
    }, { service: true })
  );
  assertEquals(found.map((p) => p.split(/[=:]/)[0]), [
    "HOST",
    "CACHE_PATH",
    "OUTPUT_DIRS_DAILY",
    "OUTPUT_DIRS_WEEKLY",
  ]);
  assert(found[1].includes("is not a folder"), found[1]);
  assert(found[3].includes("cannot be written"), found[3]);
  // Without `service`, only values are checked (export, dump need no writable paths).
  assertEquals(problems(() => resolveConfig({ TZ: "UTC", CACHE_PATH: `${file}/x.db` })), []);
});

Deno.test("databaseProblem: an existing file must be writable, a folder is not a database", async () => {
  await using dir = await tempDir();
  assertEquals(databaseProblem(":memory:"), null);
  assertEquals(databaseProblem(dir.path), "is not a file");
  await Deno.writeTextFile(`${dir.path}/cache.db`, "");
  assertEquals(databaseProblem(`${dir.path}/cache.db`), null);
  await Deno.writeTextFile(`${dir.path}/file`, "");
  assert(databaseProblem(`${dir.path}/file/cache.db`)!.endsWith("/file is not a folder"));
  assertEquals(folderProblem(dir.path), null);
  assertThrows(() => resolveConfig({ PORT: "0" }), ConfigError);
});

Deno.test("HOST must be a bare address: no scheme, no port, no path", () => {
  for (
    const bad of ["192.0.2.10:8889", "http://192.0.2.10", "heat pump", '"127.0.0.1', "a/b"]
  ) {
    const found = problems(() => resolveConfig({ HOST: bad }));
    assertEquals(found.length, 1, bad);
    assert(
      found[0].startsWith(`HOST=${JSON.stringify(bad)}: must be a host name or IP address only`),
      found[0],
    );
  }
  assertEquals(resolveConfig({ HOST: " wp.local " }).host, "wp.local");
  assertEquals(resolveConfig({ HOST: "fd00::10" }).host, "fd00::10");
});
