/**
 * The byte formats of the store, pure functions only (no SQLite, no I/O):
 *
 * - varints: unsigned LEB128 on plain JS numbers (exact up to 2^53, so int32 differences
 *   and epoch milliseconds fit), zigzag for signed values;
 * - sparse deltas: a recent poll's calculations as the few entries that differ from a base
 *   table, so a poll written on its own costs tens of bytes, not a kilobyte;
 * - chunks: up to CHUNK_MAX_POLLS polls column by column (each calculation index as
 *   differences over time, which are mostly 0 or tiny), then deflated. A counter that
 *   grows by the same step every poll, or a value that never changes, costs almost nothing.
 *
 * Every encoder has an exact inverse: the round trip returns the integers that went in.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";

/** Polls per chunk: a day at 60 s, half a day at 30 s; decoded it is about 1.5 MB. */
export const CHUNK_MAX_POLLS = 1440;
/** Chunk layout version, the first byte after inflating. */
const CHUNK_FORMAT = 1;
/** Column encodings in a chunk: one value for all polls, or differences poll to poll. */
const COLUMN_CONSTANT = 0;
const COLUMN_DIFFERENCES = 1;
const EMPTY = new Int32Array(0);
/** zlib level: 9 packs the noisy sensor columns a few percent tighter than 6, at a small cost. */
const DEFLATE_LEVEL = 9;

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CodecError";
  }
}

/** A growable byte buffer with varint writers. */
export class ByteWriter {
  #bytes: Uint8Array;
  #length = 0;

  constructor(initialCapacity = 256) {
    this.#bytes = new Uint8Array(initialCapacity);
  }

  get length(): number {
    return this.#length;
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#bytes.length) return;
    let capacity = this.#bytes.length * 2;
    while (capacity < this.#length + extra) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
  }

  byte(value: number): void {
    this.#reserve(1);
    this.#bytes[this.#length++] = value;
  }

  /** An unsigned integer 0..2^53 as LEB128. */
  uint(value: number): void {
    this.#reserve(8);
    const bytes = this.#bytes;
    let pos = this.#length;
    // Above 31 bits, arithmetic instead of bit operations (which work on int32).
    while (value > 0x7fffffff) {
      bytes[pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    while (value >= 0x80) {
      bytes[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    bytes[pos++] = value;
    this.#length = pos;
  }

  /**
   * A signed integer (magnitude below 2^52) as zigzag LEB128: small magnitudes of either
   * sign stay short.
   */
  int(value: number): void {
    this.uint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  raw(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#bytes.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.#bytes.slice(0, this.#length);
  }
}

/** Reads what ByteWriter wrote; running past the end is a CodecError, not garbage. */
export class ByteReader {
  #pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.#pos >= this.bytes.length;
  }

  byte(): number {
    if (this.#pos >= this.bytes.length) throw new CodecError("unexpected end of data");
    return this.bytes[this.#pos++];
  }

  uint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new CodecError("varint too long");
    }
  }

  int(): number {
    const z = this.uint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  raw(length: number): Uint8Array {
    if (this.#pos + length > this.bytes.length) throw new CodecError("unexpected end of data");
    const out = this.bytes.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return out;
  }
}

export function deflate(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(deflateRawSync(bytes, { level: DEFLATE_LEVEL }));
}

export function inflate(bytes: Uint8Array): Uint8Array {
  try {
    return new Uint8Array(inflateRawSync(bytes));
  } catch (error) {
    throw new CodecError(`corrupt compressed data: ${(error as Error).message}`);
  }
}

/** The raw bytes of a table (platform order, as the old format stored them). */
export function tableBytes(values: Int32Array | Int8Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Whether two tables of the same kind hold the same values. */
export function sameValues(a: Int32Array | Int8Array, b: Int32Array | Int8Array): boolean {
  if (a.length !== b.length || a.BYTES_PER_ELEMENT !== b.BYTES_PER_ELEMENT) return false;
  // Compared four bytes at a time where the layout allows: this runs for every poll.
  const bytes = a.byteLength;
  if (bytes % 4 === 0 && a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const x = new Int32Array(a.buffer, a.byteOffset, bytes / 4);
    const y = new Int32Array(b.buffer, b.byteOffset, bytes / 4);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** How many entries of `values` differ from `base` (both of the same length). */
export function countChanged(values: Int32Array, base: Int32Array): number {
  let changed = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== base[i]) changed++;
  return changed;
}

/**
 * `values` as the entries that differ from `base` (same length): for each, the gap to the
 * previous changed index and the zigzag difference.
 */
export function encodeSparseDelta(values: Int32Array, base: Int32Array): Uint8Array {
  if (values.length !== base.length) {
    throw new CodecError(`sparse delta needs equal lengths (${values.length} vs ${base.length})`);
  }
  const out = new ByteWriter(64);
  let previous = -1;
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== base[i]) {
      out.uint(i - previous - 1);
      out.int(values[i] - base[i]);
      previous = i;
    }
  }
  return out.finish();
}

/** The inverse of encodeSparseDelta: a new table, `base` is left alone. */
export function decodeSparseDelta(delta: Uint8Array, base: Int32Array): Int32Array {
  const values = base.slice();
  const input = new ByteReader(delta);
  let index = -1;
  while (!input.done) {
    index += input.uint() + 1;
    if (index >= values.length) throw new CodecError("sparse delta points past the table");
    values[index] = base[index] + input.int();
  }
  return values;
}

/** One poll as a chunk holds it: the instant, read duration, snapshot ids and calculations. */
export interface ChunkPoll {
  ts: number;
  durationMs: number | null;
  parametersId: number | null;
  visibilitiesId: number | null;
  calculations: Int32Array | null;
}

/** `null` as 0 and n as n + 1, so "absent" costs one byte. */
function writeOptional(out: ByteWriter, value: number | null, previous: number): number {
  const coded = value === null ? 0 : value + 1;
  out.int(coded - previous);
  return coded;
}

/**
 * Encodes polls (strictly increasing ts) into one deflated chunk. Layout before deflating:
 * format byte, count, timestamps as differences of differences, then per poll the
 * duration, snapshot ids and calculation length (each as a difference to the previous
 * poll), then the calculations column by column: a marker byte, then either the one
 * value of a constant column or the differences over time.
 */
export function encodeChunk(polls: readonly ChunkPoll[]): Uint8Array {
  const out = new ByteWriter(4096);
  out.byte(CHUNK_FORMAT);
  out.uint(polls.length);
  let previousTs = 0;
  let previousStep = 0;
  for (const poll of polls) {
    const step = poll.ts - previousTs;
    out.int(step - previousStep);
    previousStep = step;
    previousTs = poll.ts;
  }
  let duration = 0;
  let parameters = 0;
  let visibilities = 0;
  let length = 0;
  let maxLength = 0;
  for (const poll of polls) {
    duration = writeOptional(out, poll.durationMs, duration);
    parameters = writeOptional(out, poll.parametersId, parameters);
    visibilities = writeOptional(out, poll.visibilitiesId, visibilities);
    const calcLength = poll.calculations?.length ?? null;
    length = writeOptional(out, calcLength, length);
    if (calcLength !== null && calcLength > maxLength) maxLength = calcLength;
  }
  const tables = polls.map((poll) => poll.calculations ?? EMPTY);
  for (let column = 0; column < maxLength; column++) {
    // Most columns hold one value for the whole chunk: a marker and the value, not a
    // run of zero differences (less to write, deflate and read back).
    let constant: number | null = null;
    let varies = false;
    for (const table of tables) {
      if (table.length <= column) continue;
      if (constant === null) constant = table[column];
      else if (table[column] !== constant) {
        varies = true;
        break;
      }
    }
    if (!varies) {
      out.byte(COLUMN_CONSTANT);
      out.int(constant ?? 0);
      continue;
    }
    out.byte(COLUMN_DIFFERENCES);
    let previous = 0;
    for (const table of tables) {
      if (table.length <= column) continue;
      out.int(table[column] - previous);
      previous = table[column];
    }
  }
  return deflate(out.finish());
}

/** Reads the format byte, count and instants at the start of an inflated chunk. */
function readTimestamps(input: ByteReader): number[] {
  const format = input.byte();
  if (format !== CHUNK_FORMAT) throw new CodecError(`unknown chunk format ${format}`);
  const count = input.uint();
  const timestamps: number[] = new Array(count);
  let ts = 0;
  let step = 0;
  for (let i = 0; i < count; i++) {
    step += input.int();
    ts += step;
    timestamps[i] = ts;
  }
  return timestamps;
}

/** Only the instants of a chunk: enough to tell whether a poll is already stored. */
export function decodeChunkTimestamps(data: Uint8Array): number[] {
  return readTimestamps(new ByteReader(inflate(data)));
}

/**
 * A decoded chunk, column by column: plain number arrays and one buffer holding every
 * calculation, so decoding allocates a handful of objects however many polls it holds
 * (a long export then keeps flat memory). `null` is NaN in the optional columns and -1
 * in `lengths`.
 */
export interface ChunkColumns {
  count: number;
  ts: Float64Array;
  durationMs: Float64Array;
  parametersId: Float64Array;
  visibilitiesId: Float64Array;
  lengths: Int32Array;
  offsets: Int32Array;
  values: Int32Array;
}

/** The inverse of encodeChunk, as columns. */
export function decodeChunkColumns(data: Uint8Array): ChunkColumns {
  const input = new ByteReader(inflate(data));
  const ts = Float64Array.from(readTimestamps(input));
  const count = ts.length;
  const durationMs = new Float64Array(count);
  const parametersId = new Float64Array(count);
  const visibilitiesId = new Float64Array(count);
  const lengths = new Int32Array(count);
  const offsets = new Int32Array(count);
  const previous = [0, 0, 0, 0];
  const next = (column: number): number => {
    previous[column] += input.int();
    return previous[column] === 0 ? NaN : previous[column] - 1;
  };
  let total = 0;
  let maxLength = 0;
  for (let i = 0; i < count; i++) {
    durationMs[i] = next(0);
    parametersId[i] = next(1);
    visibilitiesId[i] = next(2);
    const length = next(3);
    lengths[i] = Number.isNaN(length) ? -1 : length;
    offsets[i] = total;
    total += Math.max(lengths[i], 0);
    maxLength = Math.max(maxLength, lengths[i]);
  }
  const values = new Int32Array(total);
  for (let column = 0; column < maxLength; column++) {
    const kind = input.byte();
    if (kind === COLUMN_CONSTANT) {
      const value = input.int();
      for (let i = 0; i < count; i++) if (lengths[i] > column) values[offsets[i] + column] = value;
      continue;
    }
    if (kind !== COLUMN_DIFFERENCES) throw new CodecError(`unknown column encoding ${kind}`);
    let value = 0;
    for (let i = 0; i < count; i++) {
      if (lengths[i] <= column) continue;
      value += input.int();
      values[offsets[i] + column] = value;
    }
  }
  if (!input.done) throw new CodecError("trailing bytes after chunk");
  return { count, ts, durationMs, parametersId, visibilitiesId, lengths, offsets, values };
}

const orNull = (value: number): number | null => (Number.isNaN(value) ? null : value);

/** Poll `i` of decoded columns; its calculations are a view of the chunk's buffer. */
export function chunkPollAt(columns: ChunkColumns, i: number): ChunkPoll {
  const length = columns.lengths[i];
  return {
    ts: columns.ts[i],
    durationMs: orNull(columns.durationMs[i]),
    parametersId: orNull(columns.parametersId[i]),
    visibilitiesId: orNull(columns.visibilitiesId[i]),
    calculations: length < 0
      ? null
      : columns.values.subarray(columns.offsets[i], columns.offsets[i] + length),
  };
}

/** The inverse of encodeChunk. */
export function decodeChunk(data: Uint8Array): ChunkPoll[] {
  const columns = decodeChunkColumns(data);
  return Array.from({ length: columns.count }, (_, i) => chunkPollAt(columns, i));
}

/** A snapshot table (parameters, visibilities, a calculation base) as stored: deflated. */
export function encodeSnapshot(values: Int32Array | Int8Array): Uint8Array {
  return deflate(tableBytes(values));
}

export function decodeInt32Snapshot(data: Uint8Array): Int32Array {
  const bytes = inflate(data);
  if (bytes.length % 4 !== 0) throw new CodecError("int32 snapshot length is not a multiple of 4");
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4).slice();
}

export function decodeInt8Snapshot(data: Uint8Array): Int8Array {
  const bytes = inflate(data);
  return new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length).slice();
}
