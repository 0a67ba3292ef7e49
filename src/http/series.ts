/**
 * A chart series of one field over a range: reads the stored polls once, decodes only
 * that field's column and downsamples on the fly, so memory stays flat for any range.
 *
 * The range is read one day at a time, pausing for the event loop whenever a slice of
 * work has taken SLICE_MS, so a year-long query does not hold up the poll loop or other
 * requests; each day's query is read to its end before a pause, so no SQLite statement
 * stays open across it. Days without polls are skipped to the next stored poll, so the
 * work follows the stored polls, not the width of the requested range.
 */
import type { Column, DecodeOptions } from "../luxtronik/decode.ts";
import type { Storage } from "../storage.ts";
import { Downsampler, type Series } from "./downsample.ts";
import { decodeColumn, numericValue } from "./fields.ts";

export const SERIES_CHUNK_MS = 24 * 3_600_000;
/** Longest stretch of reading before other work gets a turn. */
const SLICE_MS = 50;

/** Lets timers and I/O callbacks run (a macrotask, unlike a resolved promise). */
const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export async function fieldSeries(
  storage: Pick<Storage, "polls">,
  column: Column,
  range: { from: number; to: number; points: number },
  options: DecodeOptions,
): Promise<Series> {
  const sampler = new Downsampler(range.from, range.to, range.points);
  let sliceStart = performance.now();
  let start = range.from;
  while (start < range.to) {
    if (performance.now() - sliceStart >= SLICE_MS) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
    const end = Math.min(start + SERIES_CHUNK_MS, range.to);
    let read = 0;
    for (const poll of storage.polls(start, end)) {
      read++;
      const value = numericValue(decodeColumn(poll, column, options));
      if (value !== null) sampler.add(poll.ts, value);
    }
    start = end;
    // An empty day: go on from the next stored poll, so a range reaching far beyond the
    // stored ones (from=0, or a year-long hole) costs no more than the polls in it.
    if (read === 0 && start < range.to) {
      const next = nextPollTs(storage, start, range.to);
      if (next === null) break;
      start = next;
    }
  }
  return sampler.result();
}

/** Instant of the first stored poll with `from <= ts < to`, or null. */
function nextPollTs(storage: Pick<Storage, "polls">, from: number, to: number): number | null {
  // for…of closes the generator after the first poll, so its statement is reset at once.
  for (const poll of storage.polls(from, to)) return poll.ts;
  return null;
}
