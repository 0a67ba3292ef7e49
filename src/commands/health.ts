/**
 * `health`: exits 0 when the service is storing polls, 1 otherwise. It only reads the
 * database (CACHE_PATH), so it runs anywhere the service does: as the Docker image's
 * HEALTHCHECK (distroless has no shell or curl), from a systemd timer, or by hand.
 */
import type { Config } from "../config.ts";
import { Storage } from "../storage.ts";
import { commandConfig, parseCommandArgs, SETTING_FLAGS } from "./common.ts";

/** Missed intervals tolerated before the service counts as unhealthy. */
export const MISSED_INTERVALS = 3;

/**
 * How old the newest poll may be: a few missed intervals plus one poll that fails in
 * every attempt (each may wait TIMEOUT_SEC), unless HEALTH_MAX_AGE_SEC says otherwise.
 * With the defaults: 3 × 30 s + 60 s × (3 + 1) = 330 s.
 */
export function healthMaxAgeSec(
  config: Pick<Config, "intervalSec" | "timeoutSec" | "retries" | "healthMaxAgeSec">,
): number {
  if (config.healthMaxAgeSec) return config.healthMaxAgeSec;
  return MISSED_INTERVALS * config.intervalSec + config.timeoutSec * (config.retries + 1);
}

export interface HealthVerdict {
  healthy: boolean;
  message: string;
}

/** Pure judgement of the newest poll's instant (`null`: none stored) against the limit. */
export function judgeHealth(
  lastPollMs: number | null,
  nowMs: number,
  maxAgeSec: number,
): HealthVerdict {
  if (lastPollMs === null) {
    return { healthy: false, message: "no poll stored yet" };
  }
  const ageSec = Math.round((nowMs - lastPollMs) / 1000);
  const when = new Date(lastPollMs).toISOString();
  // A poll from the future means the clock was wrong when it was stored (or is now), so
  // the age says nothing about whether polls are arriving.
  if (ageSec < -maxAgeSec) {
    return {
      healthy: false,
      message: `last poll is ${-ageSec} s in the future (${when}): was the clock set back?`,
    };
  }
  if (ageSec > maxAgeSec) {
    return {
      healthy: false,
      message: `last poll ${ageSec} s ago (${when}), older than the limit of ${maxAgeSec} s`,
    };
  }
  // Slightly ahead (the clocks of two machines, or of one after an NTP step): just now.
  const ago = ageSec < 0 ? "just now" : `${ageSec} s ago`;
  return { healthy: true, message: `last poll ${ago} (${when}), limit ${maxAgeSec} s` };
}

/** The newest poll's instant, without creating a database that is not there. */
async function lastPollOf(path: string): Promise<number | null | "missing"> {
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "missing";
    throw error;
  }
  const storage = Storage.open(path);
  try {
    return storage.lastPollTs();
  } finally {
    storage.close();
  }
}

export async function healthCommand(args: string[], now: () => number = Date.now): Promise<number> {
  const { values } = parseCommandArgs("health", args, SETTING_FLAGS);
  const config = commandConfig(values);
  const last = await lastPollOf(config.cachePath);
  if (last === "missing") {
    console.error(
      `lux-logger health: unhealthy: no database at ${config.cachePath} (CACHE_PATH); has the service started?`,
    );
    return 1;
  }
  const verdict = judgeHealth(last, now(), healthMaxAgeSec(config));
  if (!verdict.healthy) {
    console.error(`lux-logger health: unhealthy: ${verdict.message} (${config.cachePath})`);
    return 1;
  }
  console.log(`lux-logger health: ok: ${verdict.message}`);
  return 0;
}
