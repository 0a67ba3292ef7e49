/**
 * The service as a whole: supervision of the poll loop, and the real `main.ts run`
 * subprocess for clean shutdown and for configuration errors.
 */
import { startSimulator } from "../src/luxtronik/simulator.ts";
import { describeError, gapReason, Poller } from "../src/service.ts";
import { Storage } from "../src/storage.ts";
import { silentLogger } from "../src/log.ts";
import { ProtocolError } from "../src/luxtronik/protocol.ts";
import { assert, assertEquals, CliProcess, runCli, tempDir } from "./helpers.ts";
import { FIXTURE, sameTables, startHarness } from "./poller_harness.ts";

Deno.test("supervision: an unexpected error in the loop is logged and the loop restarts", async () => {
  let failures = 0;
  const h = await startHarness({
    timing: { restartMs: 77 },
    onStored: () => {
      // A roll-up or dashboard hook that fails twice, as a bug would.
      if (failures < 2) {
        failures++;
        throw new TypeError("hook exploded");
      }
    },
  });
  try {
    await h.until(() => h.poller.storedPolls >= 5, "5 stored polls after two loop failures");
    assert(!h.finished, "run() must not return on its own");
    const failuresLogged = h.logs.filter((l) => l.msg === "poll loop failed; restarting");
    assertEquals(failuresLogged.length, 2);
    assertEquals(failuresLogged[0].level, "error");
    assertEquals(failuresLogged[0].error, "TypeError: hook exploded");
    assertEquals(failuresLogged[0].restart_in_s, 0.077);
    // The restart waited the supervisor's pause, once per failure.
    assertEquals(h.waits.filter((w) => w === 77).length, 2);
    // The stack is only in the debug log, never in the error line.
    assert(!String(failuresLogged[0].error).includes(" at "));
    assert(h.polls().every((p) => sameTables(p, FIXTURE)));
  } finally {
    await h.stop();
  }
});

Deno.test("a storage failure is not a gap: it goes to the supervisor, the loop survives", async () => {
  await using dir = await tempDir();
  const simulator = startSimulator({ port: 0, tablesAt: () => FIXTURE });
  const storage = Storage.open(`${dir.path}/cache.db`);
  const lines: string[] = [];
  const poller = new Poller({
    config: { host: "127.0.0.1", port: simulator.port, intervalSec: 1, timeoutSec: 1, retries: 0 },
    storage,
    logger: { ...silentLogger, error: (message) => lines.push(message) },
    timing: { intervalMs: 30, restartMs: 30, timeoutMs: 1_000 },
  });
  const controller = new AbortController();
  storage.close(); // every write now throws
  const running = poller.run(controller.signal);
  try {
    const deadline = Date.now() + 20_000;
    while (lines.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert(lines.length >= 3, "the loop restarted after each failure");
    assertEquals(poller.storedPolls, 0);
  } finally {
    controller.abort();
    await running;
    await simulator.close();
  }
});

Deno.test("Poller timing comes from the config: TIMEOUT_SEC, INTERVAL_SEC, BACKOFF_MAX_SEC", () => {
  const storage = Storage.open(":memory:");
  const config = { host: "h", port: 1, intervalSec: 30, timeoutSec: 60, retries: 3 };
  const defaults = new Poller({ config, storage, logger: silentLogger }).timing;
  assertEquals(defaults, {
    intervalMs: 30_000,
    timeoutMs: 60_000,
    retryBaseMs: 1_000,
    busyRetryMs: 5_000,
    backoffCapMs: 300_000,
    restartMs: 5_000,
  });
  const capped = new Poller({
    config: { ...config, backoffMaxSec: 45 },
    storage,
    logger: silentLogger,
  }).timing;
  assertEquals(capped.backoffCapMs, 45_000);
  storage.close();
});

Deno.test("gap reasons and log errors are one short line: kind and message, no stack", () => {
  assertEquals(
    gapReason(new ProtocolError("busy", "controller busy (status 1)")),
    "busy: controller busy (status 1)",
  );
  assertEquals(
    gapReason(new Deno.errors.ConnectionRefused("Connection refused")),
    "refused: Connection refused",
  );
  assertEquals(gapReason("weird"), "unexpected: weird");
  assertEquals(describeError(new RangeError("bad")), "RangeError: bad");
  assertEquals(describeError(42), "42");
});

/** Environment for a `run` subprocess writing into `dir`. */
function runEnv(dir: string, port: number, extra: Record<string, string> = {}) {
  return {
    HOST: "127.0.0.1",
    PORT: String(port),
    TZ: "UTC",
    CACHE_PATH: `${dir}/data/cache.db`,
    OUTPUT_DIRS_DAILY: `${dir}/daily`,
    OUTPUT_DIRS_WEEKLY: `${dir}/weekly`,
    LOG_FORMAT: "json",
    ...extra,
  };
}

Deno.test("SIGTERM during a read that would stall for 60 s: exit 0 at once, database closed", async () => {
  await using dir = await tempDir();
  const simulator = startSimulator({
    port: 0,
    tablesAt: () => FIXTURE,
    faults: ["stall"],
    faultSettings: { probability: 1 },
  });
  const service = new CliProcess(["run"], {
    cwd: dir.path,
    env: runEnv(dir.path, simulator.port, { TIMEOUT_SEC: "60", INTERVAL_SEC: "30" }),
  });
  try {
    await service.waitFor(/service started/);
    // The first poll is now waiting on a controller that never answers.
    const deadline = Date.now() + 30_000;
    while (simulator.stats.connections < 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(simulator.stats.connections, 1);
    const stopping = Date.now();
    const code = await service.stop("SIGTERM");
    const stoppedAfterMs = Date.now() - stopping;
    assertEquals(code, 0);
    // Well below the 60 s read timeout: the in-flight read was abandoned, not awaited.
    assert(stoppedAfterMs < 30_000, `took ${stoppedAfterMs} ms to stop`);
    assert(service.lines.some((l) => l.includes("service stopped")), service.lines.join("\n"));
    assert(!service.lines.some((l) => /^\s+at /.test(l)), "no stack trace");
    const storage = Storage.open(`${dir.path}/data/cache.db`);
    assertEquals(storage.integrityCheck(), "ok");
    assertEquals(storage.countPolls(), 0);
    storage.close();
  } finally {
    await simulator.close();
  }
});

Deno.test("SIGINT while polling normally: exit 0, every stored poll intact", async () => {
  await using dir = await tempDir();
  const simulator = startSimulator({ port: 0, tablesAt: () => FIXTURE });
  const service = new CliProcess(["run", "--interval-sec", "1"], {
    cwd: dir.path,
    env: runEnv(dir.path, simulator.port),
  });
  try {
    await service.waitForCount(/poll stored/, 2);
    assertEquals(await service.stop("SIGINT"), 0);
    const storage = Storage.open(`${dir.path}/data/cache.db`);
    assertEquals(storage.integrityCheck(), "ok");
    const polls = [...storage.polls(0, Number.MAX_SAFE_INTEGER)];
    assert(polls.length >= 2);
    assert(polls.every((p) => sameTables(p, FIXTURE)));
    storage.close();
    // Quiet at info: one line per poll, none per field.
    const pollLines = service.lines.filter((l) => l.includes("poll stored"));
    assertEquals(pollLines.length, polls.length);
    assert(service.lines.length <= polls.length + 6, service.lines.join("\n"));
    const line = JSON.parse(pollLines[0]);
    assertEquals(line.level, "info");
    assert(typeof line.duration_ms === "number" && typeof line.time === "string");
  } finally {
    await simulator.close();
  }
});

Deno.test("bad configuration: exit 2 before anything starts, every problem named, no stack", async () => {
  await using dir = await tempDir();
  const aFile = `${dir.path}/a-file`;
  await Deno.writeTextFile(aFile, "");
  const result = await runCli(["run"], {
    cwd: dir.path,
    env: {
      HOST: "",
      TZ: "Mars/Olympus_Mons",
      CSV_TIME: "25:00",
      PORT: "abc",
      INTERVAL_SEC: "0",
      CACHE_PATH: `${aFile}/cache.db`,
      OUTPUT_DIRS_DAILY: `${aFile}/daily`,
      OUTPUT_DIRS_WEEKLY: "/proc/lux-logger/weekly",
    },
  });
  assertEquals(result.code, 2);
  for (
    const name of [
      "HOST",
      "TZ",
      "CSV_TIME",
      "PORT",
      "INTERVAL_SEC",
      "CACHE_PATH",
      "OUTPUT_DIRS_DAILY",
      "OUTPUT_DIRS_WEEKLY",
    ]
  ) {
    assert(result.stderr.includes(`  - ${name}`), `${name} missing from:\n${result.stderr}`);
  }
  assert(!/^\s+at /m.test(result.stderr), "no stack trace");
  // Nothing started: no database, no folders.
  assertEquals([...Deno.readDirSync(dir.path)].map((e) => e.name), ["a-file"]);
});
