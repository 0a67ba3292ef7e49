/** Assertions for the storage tests (node:assert underneath; no network imports). */
import { deepStrictEqual, ok } from "node:assert/strict";
import type { Poll, StoredPoll } from "../src/storage.ts";

export function assert(condition: unknown, message?: string): asserts condition {
  ok(condition, message);
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

/** Runs `fn`, which must throw (an instance of `type` if given); returns the error. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  type?: new (...args: any[]) => E,
): E {
  try {
    fn();
  } catch (error) {
    if (type && !(error instanceof type)) {
      throw new Error(`expected ${type.name}, got ${String(error)}`);
    }
    return error as E;
  }
  throw new Error("expected an error, none was thrown");
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** A small deterministic generator, so a failing case can be replayed. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export async function tempDb(name = "store.db"): Promise<string> {
  return `${await Deno.makeTempDir({ prefix: "lux-storage-" })}/${name}`;
}

/** A value drawn mostly small, sometimes at the int32 edges, sometimes anywhere. */
function int32(rand: () => number): number {
  const r = rand();
  if (r < 0.05) return INT32_MIN;
  if (r < 0.1) return INT32_MAX;
  if (r < 0.4) return Math.floor(rand() * 2 ** 32) + INT32_MIN;
  return Math.floor(rand() * 200) - 100;
}

/**
 * Random polls over several chunks' worth: lengths vary (firmware updates), tables are
 * sometimes missing, parameters and visibilities change now and then, values include
 * the int32 extremes, instants come out of order.
 */
export function randomPolls(seed: number, count: number): Poll[] {
  const rand = random(seed);
  const polls: Poll[] = [];
  let calcLength = 251;
  let calculations = new Int32Array(calcLength);
  let parameters = Int32Array.from({ length: 1126 }, () => int32(rand));
  let visibilities = Int8Array.from({ length: 355 }, () => Math.floor(rand() * 256) - 128);
  for (let i = 0; i < count; i++) {
    if (rand() < 0.01) {
      calcLength = [251, 260, 269, 0, 300][Math.floor(rand() * 5)];
      calculations = new Int32Array(calcLength);
    }
    calculations = calculations.slice();
    for (let k = 0; k < 8 && calcLength > 0; k++) {
      calculations[Math.floor(rand() * calcLength)] = int32(rand);
    }
    if (calcLength > 0 && rand() < 0.02) calculations.fill(INT32_MIN);
    if (rand() < 0.01) {
      parameters = parameters.slice(0, 1100 + Math.floor(rand() * 100));
      parameters[Math.floor(rand() * parameters.length)] = int32(rand);
    }
    if (rand() < 0.01) {
      visibilities = visibilities.slice();
      visibilities[Math.floor(rand() * visibilities.length)] = rand() < 0.5 ? -128 : 127;
    }
    polls.push({
      ts: 1_700_000_000_000 + i * 30_000 + Math.floor(rand() * 1000),
      calculations: rand() < 0.03 ? null : calculations,
      parameters: rand() < 0.3 ? null : parameters,
      visibilities: rand() < 0.3 ? null : visibilities,
      durationMs: rand() < 0.1 ? null : Math.floor(rand() * 5000),
    });
  }
  // Shuffle a little: ingest may bring older data after newer.
  for (let i = 0; i < count / 10; i++) {
    const a = Math.floor(rand() * count);
    const b = Math.floor(rand() * count);
    [polls[a], polls[b]] = [polls[b], polls[a]];
  }
  return polls;
}

/**
 * What the store must return for polls inserted in this order: tables as given, and a
 * missing parameter/visibility table replaced by the last one stored before it.
 */
export function expectedPolls(inserted: readonly Poll[]): StoredPoll[] {
  let parameters: Int32Array | null = null;
  let visibilities: Int8Array | null = null;
  const out: StoredPoll[] = [];
  for (const poll of inserted) {
    parameters = poll.parameters ?? parameters;
    visibilities = poll.visibilities ?? visibilities;
    out.push({
      ts: poll.ts,
      calculations: poll.calculations,
      parameters,
      visibilities,
      durationMs: poll.durationMs ?? null,
    });
  }
  return out.sort((a, b) => a.ts - b.ts);
}

export function plain(poll: StoredPoll) {
  const list = (t: ArrayLike<number> | null) => (t ? Array.from(t) : null);
  return {
    ts: poll.ts,
    durationMs: poll.durationMs,
    calculations: list(poll.calculations),
    parameters: list(poll.parameters),
    visibilities: list(poll.visibilities),
  };
}

export function assertSamePolls(actual: Iterable<StoredPoll>, expected: readonly StoredPoll[]) {
  const got = [...actual];
  assertEquals(got.length, expected.length, "number of polls");
  for (let i = 0; i < got.length; i++) {
    assertEquals(plain(got[i]), plain(expected[i]), `poll ${i} (ts ${expected[i].ts})`);
  }
}

export function lengthsOf(polls: readonly StoredPoll[]) {
  const max = (f: (p: StoredPoll) => number) => polls.reduce((m, p) => Math.max(m, f(p)), 0);
  return {
    calculations: max((p) => p.calculations?.length ?? 0),
    parameters: max((p) => p.parameters?.length ?? 0),
    visibilities: max((p) => p.visibilities?.length ?? 0),
  };
}
