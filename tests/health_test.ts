import { match as assertMatch } from "node:assert/strict";
import { assert, assertEquals, tempDir } from "./helpers.ts";
import { healthCommand, healthMaxAgeSec, judgeHealth } from "../src/commands/health.ts";
import { main } from "../main.ts";
import { Storage } from "../src/storage.ts";

function assertIncludes(actual: string, expected: string): void {
  assert(actual.includes(expected), `expected ${JSON.stringify(expected)} in:\n${actual}`);
}

const DEFAULTS = { intervalSec: 30, timeoutSec: 60, retries: 3, healthMaxAgeSec: null };
const NOW_MS = Date.parse("2026-03-29T07:00:00Z");

/** Runs `fn` with console.log/error collected, so messages can be checked. */
async function captured(
  fn: () => Promise<number>,
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...args: unknown[]) => out.push(args.join(" "));
  console.error = (...args: unknown[]) => err.push(args.join(" "));
  try {
    const code = await fn();
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** A real database with one poll stored `ageSec` before NOW_MS. */
function databaseWithPoll(dir: string, ageSec: number | null): string {
  const path = `${dir}/data/cache.db`;
  const storage = Storage.open(path);
  if (ageSec !== null) {
    storage.insertPoll({
      ts: NOW_MS - ageSec * 1000,
      parameters: Int32Array.from([1, 2, 3]),
      calculations: Int32Array.from([10, 20, 30]),
      visibilities: Int8Array.from([1, 0]),
    });
  }
  storage.close();
  return path;
}

Deno.test("healthMaxAgeSec: 3 intervals plus one poll failing in every attempt", () => {
  assertEquals(healthMaxAgeSec(DEFAULTS), 3 * 30 + 60 * 4);
  assertEquals(healthMaxAgeSec({ intervalSec: 5, timeoutSec: 2, retries: 0 }), 17);
  assertEquals(healthMaxAgeSec({ ...DEFAULTS, healthMaxAgeSec: 900 }), 900);
});

Deno.test("judgeHealth: no poll, a recent poll, a stale poll", () => {
  assertEquals(judgeHealth(null, NOW_MS, 330), { healthy: false, message: "no poll stored yet" });
  const recent = judgeHealth(NOW_MS - 30_000, NOW_MS, 330);
  assert(recent.healthy);
  assertIncludes(recent.message, "30 s ago (2026-03-29T06:59:30.000Z)");
  const limit = judgeHealth(NOW_MS - 330_000, NOW_MS, 330);
  assert(limit.healthy, "exactly at the limit is still healthy");
  const stale = judgeHealth(NOW_MS - 331_000, NOW_MS, 330);
  assert(!stale.healthy);
  assertIncludes(stale.message, "331 s ago");
  assertIncludes(stale.message, "limit of 330 s");
  // A few seconds ahead (clocks drift) is fine; far in the future is a wrong clock.
  const ahead = judgeHealth(NOW_MS + 5_000, NOW_MS, 330);
  assert(ahead.healthy);
  assertIncludes(ahead.message, "last poll just now");
  const future = judgeHealth(NOW_MS + 3_600_000, NOW_MS, 330);
  assert(!future.healthy);
  assertIncludes(future.message, "3600 s in the future");
});

Deno.test("health: exit 0 when the newest stored poll is recent", async () => {
  await using dir = await tempDir();
  const path = databaseWithPoll(dir.path, 45);
  const result = await captured(() => healthCommand(["--cache-path", path], () => NOW_MS));
  assertEquals(result.code, 0);
  assertMatch(result.out, /^lux-logger health: ok: last poll 45 s ago/);
  assertEquals(result.err, "");
});

Deno.test("health: exit 1 with the age and the limit when the newest poll is too old", async () => {
  await using dir = await tempDir();
  const path = databaseWithPoll(dir.path, 3600);
  const result = await captured(() => healthCommand(["--cache-path", path], () => NOW_MS));
  assertEquals(result.code, 1);
  assertIncludes(result.err, "unhealthy: last poll 3600 s ago");
  assertIncludes(result.err, "limit of 330 s");
  assertIncludes(result.err, path);
});

Deno.test("health: HEALTH_MAX_AGE_SEC and INTERVAL_SEC move the limit", async () => {
  await using dir = await tempDir();
  const path = databaseWithPoll(dir.path, 3600);
  const relaxed = await captured(() =>
    healthCommand(["--cache-path", path, "--health-max-age-sec", "7200"], () => NOW_MS)
  );
  assertEquals(relaxed.code, 0);
  assertIncludes(relaxed.out, "limit 7200 s");
  const slowPolling = await captured(() =>
    healthCommand(["--cache-path", path, "--interval-sec", "1200"], () => NOW_MS)
  );
  assertEquals(slowPolling.code, 0, "3 × 1200 s + 240 s > 3600 s");
});

Deno.test("health: a database without polls is unhealthy", async () => {
  await using dir = await tempDir();
  const path = databaseWithPoll(dir.path, null);
  const result = await captured(() => healthCommand(["--cache-path", path], () => NOW_MS));
  assertEquals(result.code, 1);
  assertIncludes(result.err, "unhealthy: no poll stored yet");
});

Deno.test("health: a missing database is unhealthy and is not created", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/data/cache.db`;
  const result = await captured(() => healthCommand(["--cache-path", path]));
  assertEquals(result.code, 1);
  assertIncludes(result.err, `no database at ${path} (CACHE_PATH)`);
  assertEquals([...Deno.readDirSync(dir.path)], [], "health must not create the data folder");
});

Deno.test("health: bad flags and settings exit 2 through main", async () => {
  const unknown = await captured(() => main(["health", "--max-age", "5"]));
  assertEquals(unknown.code, 2);
  assertIncludes(unknown.err, "health:");
  const invalid = await captured(() => main(["health", "--health-max-age-sec", "soon"]));
  assertEquals(invalid.code, 2);
  assertIncludes(invalid.err, "HEALTH_MAX_AGE_SEC");
});
