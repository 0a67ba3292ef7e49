/**
 * Server-side downsampling for charts: a year of 30-second polls (a million values)
 * becomes about `points` buckets of min / average / max, so the browser draws a few
 * thousand numbers whatever the range. Short ranges with fewer samples than `points`
 * are returned as they are. Pure: feed samples with `add`, read the result once.
 *
 * @example
 * const sampler = new Downsampler(0, 60_000, 2);
 * sampler.add(0, 1); sampler.add(10_000, 3); sampler.add(40_000, 5);
 * sampler.result();
 * // { t: [5000, 40000], min: [1, 5], avg: [2, 5], max: [3, 5], bucketMs: 30000, count: 3 }
 */

/** Columnar series ready for uPlot: `null` entries break the line where data is missing. */
export interface Series {
  /** Instants (epoch ms): the sample's, or the mean instant of a bucket's samples. */
  t: number[];
  min: (number | null)[];
  avg: (number | null)[];
  max: (number | null)[];
  /** Width of a bucket in ms; 0 when the samples are returned unaggregated. */
  bucketMs: number;
  /** Samples that went in (inside the range). */
  count: number;
}

/** A break is drawn where consecutive points lie further apart than this many typical steps. */
const GAP_FACTOR = 3;

export class Downsampler {
  readonly bucketMs: number;
  readonly #buckets: number;
  readonly #min: Float64Array;
  readonly #max: Float64Array;
  readonly #sum: Float64Array;
  readonly #tsSum: Float64Array;
  readonly #n: Uint32Array;
  /** The first `points` samples, kept so a short range is returned unaggregated. */
  readonly #raw: { ts: number; value: number }[] = [];
  #count = 0;

  /** Samples with `from <= ts < to` go into about `points` (>= 1) equal buckets. */
  constructor(readonly from: number, readonly to: number, readonly points: number) {
    if (!(to > from) || !(points >= 1)) {
      throw new RangeError(`downsampling needs from < to and points >= 1`);
    }
    this.bucketMs = Math.max(1, Math.ceil((to - from) / points));
    this.#buckets = Math.ceil((to - from) / this.bucketMs);
    this.#min = new Float64Array(this.#buckets).fill(Infinity);
    this.#max = new Float64Array(this.#buckets).fill(-Infinity);
    this.#sum = new Float64Array(this.#buckets);
    this.#tsSum = new Float64Array(this.#buckets);
    this.#n = new Uint32Array(this.#buckets);
  }

  add(ts: number, value: number): void {
    if (ts < this.from || ts >= this.to || !Number.isFinite(value)) return;
    this.#count++;
    if (this.#raw.length < this.points) this.#raw.push({ ts, value });
    const i = Math.floor((ts - this.from) / this.bucketMs);
    if (value < this.#min[i]) this.#min[i] = value;
    if (value > this.#max[i]) this.#max[i] = value;
    this.#sum[i] += value;
    this.#tsSum[i] += ts;
    this.#n[i]++;
  }

  result(): Series {
    const raw = this.#count <= this.points;
    const t: number[] = [];
    const min: number[] = [];
    const avg: number[] = [];
    const max: number[] = [];
    if (raw) {
      for (const { ts, value } of this.#raw) {
        t.push(ts);
        min.push(value);
        avg.push(value);
        max.push(value);
      }
    } else {
      for (let i = 0; i < this.#buckets; i++) {
        const n = this.#n[i];
        if (n === 0) continue;
        t.push(Math.round(this.#tsSum[i] / n));
        min.push(this.#min[i]);
        avg.push(Number((this.#sum[i] / n).toPrecision(12)));
        max.push(this.#max[i]);
      }
    }
    return {
      ...withGapBreaks({ t, min, avg, max }, raw ? 0 : this.bucketMs),
      bucketMs: raw ? 0 : this.bucketMs,
      count: this.#count,
    };
  }
}

type Columns = Pick<Series, "t" | "min" | "avg" | "max">;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Inserts a `null` point between consecutive points that lie further apart than
 * GAP_FACTOR typical steps (the median spacing, at least one bucket), so an outage of
 * the logger shows as a hole instead of a straight line across it.
 */
export function withGapBreaks(columns: Columns, bucketMs: number): Columns {
  const { t } = columns;
  if (t.length < 3) return columns;
  const steps = t.slice(1).map((ts, i) => ts - t[i]);
  const threshold = GAP_FACTOR * Math.max(median(steps), bucketMs);
  const out: Columns = {
    t: [t[0]],
    min: [columns.min[0]],
    avg: [columns.avg[0]],
    max: [columns.max[0]],
  };
  for (let i = 1; i < t.length; i++) {
    if (t[i] - t[i - 1] > threshold) {
      out.t.push(Math.round((t[i] + t[i - 1]) / 2));
      out.min.push(null);
      out.avg.push(null);
      out.max.push(null);
    }
    out.t.push(t[i]);
    out.min.push(columns.min[i]);
    out.avg.push(columns.avg[i]);
    out.max.push(columns.max[i]);
  }
  return out;
}
