/**
 * A chart series of one field over a range: iterates the stored polls once, decodes only
 * that field's column and downsamples on the fly, so memory stays flat for any range.
 */
import type { Column, DecodeOptions } from "../luxtronik/decode.ts";
import type { Storage } from "../storage.ts";
import { Downsampler, type Series } from "./downsample.ts";
import { decodeColumn, numericValue } from "./fields.ts";

export function fieldSeries(
  storage: Pick<Storage, "polls">,
  column: Column,
  range: { from: number; to: number; points: number },
  options: DecodeOptions,
): Series {
  const sampler = new Downsampler(range.from, range.to, range.points);
  for (const poll of storage.polls(range.from, range.to)) {
    const value = numericValue(decodeColumn(poll, column, options));
    if (value !== null) sampler.add(poll.ts, value);
  }
  return sampler.result();
}
