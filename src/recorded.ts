/**
 * Recorded polls (cli.md "Recorded polls"): one JSON object per line with the instant
 * and the raw tables. Parsing is pure and strict: a line is taken whole or rejected
 * with the reason, never half-read.
 */
import type { Poll } from "./storage.ts";

export class RecordError extends Error {}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function rawTable(value: unknown, key: string, min: number, max: number): number[] | null {
  if (value === null || value === undefined) return null;
  if (!Array.isArray(value)) throw new RecordError(`"${key}" must be an array of integers or null`);
  for (let i = 0; i < value.length; i++) {
    const v = value[i];
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new RecordError(
        `"${key}[${i}]" = ${JSON.stringify(v)} is not an integer in ${min}..${max}`,
      );
    }
  }
  return value;
}

/** Parses one line of a recording into a Poll. */
export function parseRecordedPoll(line: string): Poll {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch (error) {
    throw new RecordError(`not valid JSON (${(error as Error).message})`);
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw new RecordError("must be a JSON object");
  }
  const r = record as Record<string, unknown>;
  if (typeof r.ts !== "string") throw new RecordError('"ts" must be an ISO 8601 instant string');
  let ts: number;
  try {
    ts = Temporal.Instant.from(r.ts).epochMilliseconds;
  } catch {
    throw new RecordError(
      `"ts" ${JSON.stringify(r.ts)} is not an ISO 8601 instant with offset or Z`,
    );
  }
  // Every poll reads the calculations (cli.md); only the other two tables may be null.
  const calculations = rawTable(r.calculations, "calculations", INT32_MIN, INT32_MAX);
  if (calculations === null) throw new RecordError('"calculations" must be an array of integers');
  const parameters = rawTable(r.parameters, "parameters", INT32_MIN, INT32_MAX);
  const visibilities = rawTable(r.visibilities, "visibilities", -128, 127);
  return {
    ts,
    calculations: Int32Array.from(calculations),
    parameters: parameters ? Int32Array.from(parameters) : null,
    visibilities: visibilities ? Int8Array.from(visibilities) : null,
  };
}

/** Serialises a poll as a recording line (the inverse of parseRecordedPoll). */
export function formatRecordedPoll(poll: Poll): string {
  const list = (t: ArrayLike<number> | null) => (t ? Array.from(t) : null);
  return JSON.stringify({
    ts: new Date(poll.ts).toISOString(),
    calculations: list(poll.calculations),
    parameters: list(poll.parameters),
    visibilities: list(poll.visibilities),
  });
}

/** Splits a byte stream into text lines (LF or CRLF), without holding the whole input. */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const line of lines) yield line.replace(/\r$/, "");
  }
  if (rest !== "") yield rest.replace(/\r$/, "");
}
