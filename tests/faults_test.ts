/**
 * Every simulator fault mode against the real service loop (Poller + SQLite in a temp
 * dir + the real client over loopback). For each mode: the loop keeps running, every
 * stored poll holds exactly the served tables, the missed polls are gaps with the
 * fault's typed reason, and the service recovers: after each gap a poll is stored
 * again, and the loop never waits longer than the backoff cap, so recovery comes
 * within one backoff step. Timing is checked through the waits the loop asked for and
 * the order of attempts, not through wall-clock measurements.
 */
import {
  type FaultMode,
  type FaultSettings,
  lengthChangedTables,
} from "../src/luxtronik/simulator.ts";
import type { RawTables } from "../src/luxtronik/client.ts";
import { assert, assertEquals } from "./helpers.ts";
import {
  FIXTURE,
  gapKind,
  type Harness,
  sameTables,
  startHarness,
  TEST_TIMING,
} from "./poller_harness.ts";

interface FaultCase {
  faults: FaultMode[];
  /** Failure kinds the gaps may carry. */
  kinds: string[];
  settings?: Partial<FaultSettings>;
  /** The tables a stored poll may hold. */
  served?: RawTables[];
  /** Gaps to wait for (0: the mode must cause none). */
  gaps?: number;
  /** A further condition to wait for before checking. */
  until?: (h: Harness) => boolean;
}

const lastTs = (items: { ts: number }[]) => Math.max(-Infinity, ...items.map((i) => i.ts));

/** The checks every fault mode must pass; returns the harness's record for extra checks. */
async function exerciseFault(c: FaultCase, extra?: (h: Harness) => void): Promise<void> {
  const wantedGaps = c.gaps ?? 2;
  const h = await startHarness({
    faults: c.faults,
    faultSettings: { seed: 3, probability: 0.6, ...c.settings },
  });
  try {
    await h.until(
      () =>
        h.poller.storedPolls >= 4 && h.gaps().length >= wantedGaps &&
        lastTs(h.polls()) > lastTs(h.gaps()) && (c.until?.(h) ?? true),
      `4 stored polls, ${wantedGaps} gaps and a stored poll after the last gap`,
    );
    // The service keeps running: run() has not returned on its own.
    assert(!h.finished, "the poll loop must not exit on its own");

    // No wrong value: every stored poll is exactly one of the served table sets.
    const served = c.served ?? [FIXTURE];
    const polls = h.polls();
    for (const poll of polls) {
      assert(
        served.some((t) => sameTables(poll, t)),
        `poll at ${poll.ts} differs from the fixture`,
      );
    }

    // The misses are recorded, each with the fault's typed reason.
    const gaps = h.gaps();
    if (wantedGaps === 0) assertEquals(gaps, []);
    for (const gap of gaps) {
      assert(c.kinds.includes(gapKind(gap)), `unexpected gap reason ${gap.reason}`);
    }
    for (const fault of c.faults.filter((f) => f !== "split")) {
      assert((h.simulator.stats.faults[fault] ?? 0) >= 1, `fault ${fault} was never injected`);
    }

    // Recovery: a stored poll follows the last gap (checked above), and no wait of the
    // loop exceeded the backoff cap, so the heat pump is polled within one backoff step
    // of its return.
    assert(
      Math.max(...h.waits) <= TEST_TIMING.backoffCapMs,
      `a wait of ${Math.max(...h.waits)} ms exceeds the cap of ${TEST_TIMING.backoffCapMs} ms`,
    );
    // Expected faults are logged as one line each, without a stack trace.
    assert(h.logs.every((l) => !JSON.stringify(l).includes("    at ")), "no stack traces");
    extra?.(h);
  } finally {
    await h.stop();
  }
}

/** After an outage, the first attempt made while the simulator is back must succeed. */
function resumesAtFirstAttempt(h: Harness) {
  let checked = 0;
  for (let i = 1; i < h.attempts.length; i++) {
    if (h.attempts[i - 1].offline && !h.attempts[i].offline) {
      assert(h.attempts[i].ok, `attempt ${i}, the first after an outage, failed`);
      checked++;
    }
  }
  assert(checked >= 1, "the run must include the end of an outage");
}

Deno.test("fault split: 1-byte TCP writes are read whole; nothing is missed", async () => {
  await exerciseFault({ faults: ["split"], kinds: [], gaps: 0 });
});

Deno.test("fault close-mid-reply: the half reply is dropped, a gap says 'closed'", async () => {
  await exerciseFault({ faults: ["close-mid-reply"], kinds: ["closed"] });
});

Deno.test("fault stall: the read times out, a gap says 'timeout'", async () => {
  await exerciseFault({ faults: ["stall"], kinds: ["timeout"] });
});

Deno.test("fault refuse: refused polls are gaps; polling resumes at the first attempt after the outage", async () => {
  await exerciseFault(
    {
      faults: ["refuse"],
      // A connection arriving while the listener is being closed is reset instead.
      kinds: ["refused", "reset"],
      settings: { offlineMs: 500, periodMs: 1_300 },
      until: (h) => (h.simulator.stats.faults.refuse ?? 0) >= 2,
    },
    resumesAtFirstAttempt,
  );
});

Deno.test("fault reset: an abruptly dropped connection is a gap, never a partial table", async () => {
  await exerciseFault({ faults: ["reset"], kinds: ["closed", "reset"] });
});

Deno.test("fault wrong-echo: a reply for another table is rejected ('echo')", async () => {
  await exerciseFault({ faults: ["wrong-echo"], kinds: ["echo"] });
});

Deno.test("fault absurd-length: an impossible length is rejected at once ('length')", async () => {
  await exerciseFault({ faults: ["absurd-length"], kinds: ["length"] });
});

Deno.test("fault garbage: random bytes are rejected ('echo')", async () => {
  await exerciseFault({ faults: ["garbage"], kinds: ["echo"] });
});

Deno.test("fault trailing: bytes beyond the announced length reject the reading", async () => {
  await exerciseFault({ faults: ["trailing"], kinds: ["trailing"] });
});

Deno.test("fault busy: a non-zero 3004 status is dropped and retried ('busy')", async () => {
  await exerciseFault({ faults: ["busy"], kinds: ["busy"], settings: { probability: 0.8 } });
});

Deno.test("fault length-change: tables that grow and shrink between polls are stored exactly", async () => {
  const longer = lengthChangedTables(FIXTURE);
  await exerciseFault(
    { faults: ["length-change"], kinds: [], gaps: 0, served: [FIXTURE, longer] },
    (h) => {
      const polls = h.polls();
      assert(polls.some((p) => sameTables(p, FIXTURE)), "the original tables were stored");
      assert(polls.some((p) => sameTables(p, longer)), "the longer tables were stored");
    },
  );
});

Deno.test("fault reboot: dropped and silent connections are gaps; polling resumes after it", async () => {
  await exerciseFault(
    {
      faults: ["reboot"],
      kinds: ["timeout", "closed", "reset"],
      settings: { offlineMs: 700, periodMs: 1_500 },
      until: (h) => (h.simulator.stats.faults.reboot ?? 0) >= 2,
    },
    resumesAtFirstAttempt,
  );
});

Deno.test("several faults at once: split replies with busy, garbage, wrong echo and early closes", async () => {
  await exerciseFault({
    faults: ["split", "busy", "garbage", "wrong-echo", "close-mid-reply", "length-change"],
    kinds: ["busy", "echo", "closed"],
    served: [FIXTURE, lengthChangedTables(FIXTURE)],
    settings: { probability: 0.7 },
  });
});
