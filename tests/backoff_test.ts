/**
 * The timing policy: retries inside a poll, the backoff while the heat pump is away, and
 * the resume after its return. The hour-long outage runs on a virtual clock (the loop's
 * waits advance it instantly) while the connection attempts are real: the client
 * connects over loopback to a port where nothing listens, then to a live simulator.
 */
import { silentLogger } from "../src/log.ts";
import { type ClientOptions, readAllTables } from "../src/luxtronik/client.ts";
import { ProtocolError } from "../src/luxtronik/protocol.ts";
import { seededRandom, startSimulator } from "../src/luxtronik/simulator.ts";
import {
  BUSY_RETRY_MS,
  type Clock,
  nextPollDelayMs,
  nextSlot,
  OFFLINE_BACKOFF_CAP_MS,
  offlineDelayMs,
  Poller,
  retryDelayMs,
} from "../src/service.ts";
import { Storage } from "../src/storage.ts";
import { assert, assertEquals } from "./helpers.ts";
import { FIXTURE, gapKind, sameTables } from "./poller_harness.ts";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

Deno.test("nextSlot keeps polls on the interval grid", () => {
  assertEquals(nextSlot(1_000, 1_000, 30_000), 31_000);
  assertEquals(nextSlot(1_000, 30_999, 30_000), 31_000);
  assertEquals(nextSlot(1_000, 31_000, 30_000), 61_000);
  // A poll that overran two slots skips them instead of catching up in a burst.
  assertEquals(nextSlot(0, 95_000, 30_000), 120_000);
});

Deno.test("retries back off exponentially with jitter; busy waits 5 s", () => {
  assertEquals(retryDelayMs(1, new Error("x"), () => 0), 1_000);
  assertEquals(retryDelayMs(1, new Error("x"), () => 0.999), 1_999);
  assertEquals(retryDelayMs(2, new Error("x"), () => 0), 2_000);
  assertEquals(retryDelayMs(3, new Error("x"), () => 0.5), 6_000);
  assertEquals(retryDelayMs(1, new ProtocolError("busy", "status 1"), () => 0.9), BUSY_RETRY_MS);
  assertEquals(
    retryDelayMs(2, new Error("x"), () => 0, { retryBaseMs: 10, busyRetryMs: 40 }),
    20,
  );
});

Deno.test("the offline backoff doubles from two intervals and holds at the cap", () => {
  const interval = 30_000;
  const steps = [1, 2, 3, 4, 5, 6, 100, 10_000].map((n) => offlineDelayMs(n, interval));
  assertEquals(steps, [0, 60_000, 120_000, 240_000, 300_000, 300_000, 300_000, 300_000]);
  assertEquals(OFFLINE_BACKOFF_CAP_MS, 300_000);
  // A cap below the interval never makes polls more frequent than the interval.
  assertEquals(offlineDelayMs(5, 600_000, 300_000), 600_000);
  assertEquals(offlineDelayMs(3, 30_000, 30_000), 30_000);
});

Deno.test("nextPollDelayMs: on the grid when healthy, spaced from the last start when failing", () => {
  const base = { start: 0, intervalMs: 30_000, capMs: 300_000 };
  assertEquals(nextPollDelayMs({ ...base, now: 1_200, pollStartedAt: 0, failedPolls: 0 }), 28_800);
  assertEquals(nextPollDelayMs({ ...base, now: 1_200, pollStartedAt: 0, failedPolls: 1 }), 28_800);
  assertEquals(
    nextPollDelayMs({ ...base, now: 90_500, pollStartedAt: 90_000, failedPolls: 3 }),
    119_500,
  );
  // A probe that itself took longer than its backoff is followed by the next slot.
  assertEquals(
    nextPollDelayMs({ ...base, now: 200_000, pollStartedAt: 0, failedPolls: 2 }),
    10_000,
  );
});

Deno.test("nextPollDelayMs: a poll stored just before the next slot keeps a second to the next", () => {
  const base = { start: 1_500, intervalMs: 2_000, failedPolls: 0, capMs: 300_000 };
  // The slot poll at 29.5 s was retried and stored at 31.442 s; the slot at 31.5 s would
  // store within the same whole second, so the next poll waits until 32.442 s.
  assertEquals(
    nextPollDelayMs({ ...base, now: 31_442, pollStartedAt: 29_500, lastStoredAt: 31_442 }),
    1_000,
  );
  // Far enough from the last stored poll: on the grid as before.
  assertEquals(
    nextPollDelayMs({ ...base, now: 30_100, pollStartedAt: 29_500, lastStoredAt: 30_000 }),
    1_400,
  );
});

/** A clock whose waits take no real time: each wait advances it instantly. */
class VirtualClock implements Clock {
  constructor(public time: number, private readonly stopAt: number, private stop: () => void) {}
  now(): number {
    return this.time;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    this.time += ms;
    if (this.time >= this.stopAt) this.stop();
    await Promise.resolve();
  }
}

/** A loopback port where nothing listens: connecting is refused, like an absent service. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function outageRun(opts: { intervalSec: number; backoffMaxSec?: number }) {
  const start = Date.UTC(2026, 0, 1);
  const onlineAt = start + HOUR_MS;
  const stopAt = onlineAt + 20 * opts.intervalSec * 1000;
  const dir = await Deno.makeTempDir({ prefix: "lux-backoff-" });
  const storage = Storage.open(`${dir}/cache.db`);
  const simulator = startSimulator({ port: 0, tablesAt: () => FIXTURE });
  const deadPort = closedPort();
  const controller = new AbortController();
  const clock = new VirtualClock(start, stopAt, () => controller.abort());
  const attempts: number[] = [];
  const read = (options: ClientOptions) => {
    attempts.push(clock.now());
    const port = clock.now() < onlineAt ? deadPort : simulator.port;
    return readAllTables({ ...options, port });
  };
  const poller = new Poller({
    config: {
      host: "127.0.0.1",
      port: deadPort,
      intervalSec: opts.intervalSec,
      timeoutSec: 5,
      retries: 3,
      backoffMaxSec: opts.backoffMaxSec,
    },
    storage,
    logger: silentLogger,
    read,
    random: seededRandom(11),
    clock,
  });
  try {
    await poller.run(controller.signal);
    return {
      start,
      onlineAt,
      attempts,
      polls: [...storage.polls(0, Number.MAX_SAFE_INTEGER)],
      gaps: storage.gaps(0, Number.MAX_SAFE_INTEGER),
    };
  } finally {
    storage.close();
    await simulator.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("an hour offline: connection attempts stay under the cap's budget, then polling resumes", async () => {
  const run = await outageRun({ intervalSec: 30 });
  const offline = run.attempts.filter((t) => t < run.onlineAt);
  // The first poll tries 1 + RETRIES times; then single attempts, 2, 4, 8 intervals
  // apart, then every 5 minutes: 4 + 4 ramp-up probes + about 12 capped ones.
  assert(offline.length <= 4 + 4 + 12, `${offline.length} attempts in an hour offline`);
  // …and it never gives up: at least one attempt per 5 minutes.
  assert(offline.length >= 12, `only ${offline.length} attempts in an hour`);
  for (let i = 1; i < offline.length; i++) {
    const spacing = offline[i] - offline[i - 1];
    assert(spacing <= 5 * MINUTE_MS, `attempts ${spacing} ms apart exceed the 5-minute cap`);
  }
  // Once capped, the spacing is exactly the cap: the device sees one attempt per 5 minutes.
  const last = offline.slice(-5);
  for (let i = 1; i < last.length; i++) assertEquals(last[i] - last[i - 1], 5 * MINUTE_MS);

  // Every failed poll is one gap, with the typed reason.
  const offlineGaps = run.gaps.filter((g) => g.ts < run.onlineAt);
  assertEquals(offlineGaps.length, offline.length - 3);
  assert(offlineGaps.every((g) => gapKind(g) === "refused"), JSON.stringify(offlineGaps[0]));

  // Resume: the first attempt after the return stores a poll, at most one cap later;
  // from then on polls follow every interval again.
  const firstPoll = run.polls[0];
  assert(firstPoll.ts - run.onlineAt <= 5 * MINUTE_MS, "resumed within one backoff step");
  assertEquals(run.attempts.filter((t) => t >= run.onlineAt)[0], firstPoll.ts);
  for (let i = 1; i < run.polls.length; i++) {
    assertEquals(run.polls[i].ts - run.polls[i - 1].ts, 30_000);
  }
  assert(run.polls.length >= 10, `${run.polls.length} polls after the return`);
  assert(run.polls.every((p) => sameTables(p, FIXTURE)));
});

Deno.test("BACKOFF_MAX_SEC = INTERVAL_SEC: one attempt per interval offline, resume within one interval", async () => {
  const run = await outageRun({ intervalSec: 60, backoffMaxSec: 60 });
  const offline = run.attempts.filter((t) => t < run.onlineAt);
  // 4 attempts in the first poll, then one per slot, i.e. one per minute.
  assert(offline.length <= 4 + 60, `${offline.length} attempts`);
  assertEquals(offline[4], run.start + MINUTE_MS);
  for (let i = 5; i < offline.length; i++) assertEquals(offline[i] - offline[i - 1], MINUTE_MS);
  assert(run.polls[0].ts - run.onlineAt <= MINUTE_MS, "resumed within one interval");
});

Deno.test("a failure on every poll (database writes fail) keeps the schedule and the backoff", async () => {
  const hour = async (online: boolean) => {
    const storage = Storage.open(":memory:");
    storage.close(); // every write now throws: each poll ends in the supervisor
    const controller = new AbortController();
    const clock = new VirtualClock(0, HOUR_MS, () => controller.abort());
    const attempts: number[] = [];
    const poller = new Poller({
      config: { host: "127.0.0.1", port: 1, intervalSec: 30, timeoutSec: 5, retries: 3 },
      storage,
      logger: silentLogger,
      read: () => {
        attempts.push(clock.now());
        if (!online) return Promise.reject(new Deno.errors.ConnectionRefused("refused"));
        return Promise.resolve({ ...FIXTURE, durationMs: 1 });
      },
      random: seededRandom(3),
      clock,
    });
    await poller.run(controller.signal);
    return attempts;
  };
  // Online: one poll per 30 s slot, as without the failure, not one per 5 s restart pause.
  const online = await hour(true);
  assertEquals(online.length, HOUR_MS / 30_000);
  for (let i = 1; i < online.length; i++) assertEquals(online[i] - online[i - 1], 30_000);
  // Offline: the backoff still thins the attempts out to the 5-minute cap.
  const offline = await hour(false);
  assert(offline.length <= 4 + 4 + 12, `${offline.length} attempts in an hour offline`);
  const last = offline.slice(-5);
  for (let i = 1; i < last.length; i++) assertEquals(last[i] - last[i - 1], 5 * MINUTE_MS);
});

Deno.test("a restart right after a stored poll keeps a second to it; one from the future does not stall", async () => {
  const firstAttempt = async (lastStoredAt: number) => {
    const controller = new AbortController();
    const clock = new VirtualClock(100_000, 200_000, () => controller.abort());
    let first: number | null = null;
    const poller = new Poller({
      config: { host: "127.0.0.1", port: 1, intervalSec: 30, timeoutSec: 5, retries: 0 },
      storage: Storage.open(":memory:"),
      logger: silentLogger,
      read: () => {
        first ??= clock.now();
        controller.abort();
        return Promise.resolve({ ...FIXTURE, durationMs: 1 });
      },
      clock,
      lastStoredAt,
    });
    await poller.run(controller.signal);
    return first;
  };
  // The previous run stored a poll 150 ms before this start: the first poll waits 850 ms.
  assertEquals(await firstAttempt(99_850), 100_850);
  assertEquals(await firstAttempt(50_000), 100_000, "long enough ago: at once");
  assertEquals(await firstAttempt(5_000_000), 101_000, "a future poll costs one second at most");
});
