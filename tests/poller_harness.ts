/**
 * Runs the real service loop (Poller + Storage in a temp dir + the real client) against
 * the simulator over loopback, with millisecond timings, and records what happened:
 * every connection attempt, every wait the loop asked for, every log line.
 */
import { createLogger } from "../src/log.ts";
import { type ClientOptions, type RawTables, readAllTables } from "../src/luxtronik/client.ts";
import { modelTables } from "../src/luxtronik/heatpump_model.ts";
import {
  type FaultMode,
  type FaultSettings,
  seededRandom,
  type Simulator,
  startSimulator,
} from "../src/luxtronik/simulator.ts";
import { type Clock, Poller, type PollTiming, sleep } from "../src/service.ts";
import { type Gap, Storage, type StoredPoll } from "../src/storage.ts";

/** The tables every simulator in these tests serves: the model at one fixed instant. */
export const FIXTURE: RawTables = modelTables(1_767_225_600);

/** Small timings so a test sees dozens of polls in a few seconds. */
export const TEST_TIMING: PollTiming = {
  intervalMs: 60,
  timeoutMs: 400,
  retryBaseMs: 10,
  busyRetryMs: 40,
  backoffCapMs: 240,
  restartMs: 50,
};

export interface Attempt {
  /** Wall-clock start of the attempt. */
  at: number;
  /** Whether the simulator was in an outage when the attempt started. */
  offline: boolean;
  ok?: boolean;
}

export interface Harness {
  simulator: Simulator;
  storage: Storage;
  poller: Poller;
  attempts: Attempt[];
  /** Every wait the loop asked its clock for (retries, schedule, backoff, restart). */
  waits: number[];
  logs: Record<string, unknown>[];
  /** True once run() returned (it must not, until stop()). */
  readonly finished: boolean;
  polls(): StoredPoll[];
  gaps(): Gap[];
  /** Waits until `done()` holds, checking every 20 ms; throws after `maxMs`. */
  until(done: () => boolean, what: string, maxMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  faults?: FaultMode[];
  faultSettings?: Partial<FaultSettings>;
  retries?: number;
  timing?: Partial<PollTiming>;
  tablesAt?: (now: Date) => RawTables;
  onStored?: (ts: number) => void;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = await Deno.makeTempDir({ prefix: "lux-faults-" });
  const storage = Storage.open(`${dir}/cache.db`);
  const simulator = startSimulator({
    port: 0,
    tablesAt: options.tablesAt ?? (() => FIXTURE),
    faults: options.faults,
    faultSettings: options.faultSettings,
  });
  const attempts: Attempt[] = [];
  const waits: number[] = [];
  const logs: Record<string, unknown>[] = [];
  const clock: Clock = {
    now: () => Date.now(),
    sleep: (ms, signal) => {
      waits.push(ms);
      return sleep(ms, signal);
    },
  };
  const read = async (clientOptions: ClientOptions) => {
    const attempt: Attempt = { at: Date.now(), offline: simulator.offline };
    attempts.push(attempt);
    const reading = await readAllTables(clientOptions);
    attempt.ok = true;
    return reading;
  };
  const poller = new Poller({
    config: {
      host: "127.0.0.1",
      port: simulator.port,
      intervalSec: 1,
      timeoutSec: 1,
      retries: options.retries ?? 1,
    },
    storage,
    logger: createLogger({
      level: "debug",
      format: "json",
      write: (line) => logs.push(JSON.parse(line)),
    }),
    read,
    random: seededRandom(7),
    onStored: options.onStored,
    clock,
    timing: { ...TEST_TIMING, ...options.timing },
  });
  const controller = new AbortController();
  let finished = false;
  const running = poller.run(controller.signal).finally(() => finished = true);
  return {
    simulator,
    storage,
    poller,
    attempts,
    waits,
    logs,
    get finished() {
      return finished;
    },
    polls: () => [...storage.polls(0, Number.MAX_SAFE_INTEGER)],
    gaps: () => storage.gaps(0, Number.MAX_SAFE_INTEGER),
    async until(done, what, maxMs = 30_000) {
      const deadline = Date.now() + maxMs;
      while (!done()) {
        if (finished) throw new Error(`the poll loop ended while waiting for ${what}`);
        if (Date.now() > deadline) {
          throw new Error(
            `gave up waiting for ${what} after ${maxMs} ms; ${attempts.length} attempts, ` +
              `last log: ${JSON.stringify(logs.at(-1))}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async stop() {
      controller.abort();
      await running;
      storage.close();
      await simulator.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** True when two tables hold exactly the same values (same length, same entries). */
export function sameTable(a: ArrayLike<number> | null, b: ArrayLike<number>): boolean {
  if (a === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when a stored poll holds exactly `tables`. */
export function sameTables(poll: StoredPoll, tables: RawTables): boolean {
  return sameTable(poll.parameters, tables.parameters) &&
    sameTable(poll.calculations, tables.calculations) &&
    sameTable(poll.visibilities, tables.visibilities);
}

/** The failure kind a gap reason starts with ("timeout: …" -> "timeout"). */
export function gapKind(gap: Gap): string {
  return gap.reason.slice(0, gap.reason.indexOf(":"));
}
