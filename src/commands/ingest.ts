/** `ingest`: stores recorded polls through the same storage path the service uses. */
import { createLogger } from "../log.ts";
import { Progress } from "../progress.ts";
import { parseRecordedPoll, readLines, RecordError } from "../recorded.ts";
import { type Poll, Storage } from "../storage.ts";
import { inContext, parseCommandArgs, UsageError } from "./common.ts";

/** Polls per transaction: big enough to be fast, small enough to lose little on a crash. */
const BATCH_SIZE = 5_000;

/**
 * A recording is of the past. A poll dated later than this after now is a wrong clock: it
 * would make `health` report a poll from the future and outlive retention.
 */
const MAX_FUTURE_MS = 86_400_000;

export interface IngestResult {
  read: number;
  stored: number;
  rejected: number;
}

/** Reads recorded polls from `stream` into `storage`; bad lines are reported and skipped. */
export async function ingestStream(
  stream: ReadableStream<Uint8Array>,
  storage: Storage,
  report: (lineNumber: number, reason: string) => void,
  progress?: Progress,
  now: () => number = Date.now,
): Promise<IngestResult> {
  const result: IngestResult = { read: 0, stored: 0, rejected: 0 };
  let batch: Poll[] = [];
  let lineNumber = 0;
  for await (const line of readLines(stream)) {
    lineNumber++;
    if (line.trim() === "") continue;
    result.read++;
    try {
      const poll = parseRecordedPoll(line);
      if (poll.ts > now() + MAX_FUTURE_MS) {
        throw new RecordError(
          `"ts" ${new Date(poll.ts).toISOString()} is more than a day in the future`,
        );
      }
      batch.push(poll);
    } catch (error) {
      if (!(error instanceof RecordError)) throw error;
      result.rejected++;
      report(lineNumber, error.message);
      continue;
    }
    if (batch.length >= BATCH_SIZE) {
      result.stored += storage.insertPolls(batch);
      batch = [];
      progress?.update(result.read);
    }
  }
  result.stored += storage.insertPolls(batch);
  // Pack the last partial batch too, so the file is as small as it gets right away.
  storage.fold();
  progress?.finish(result.read);
  return result;
}

export async function ingestCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    "ingest",
    args,
    { db: { type: "string" } },
    true,
  );
  if (typeof values.db !== "string") throw new UsageError("ingest: --db PATH is required");
  if (positionals.length !== 1) {
    throw new UsageError("ingest: give exactly one FILE (or - for standard input)");
  }
  const logger = createLogger();
  const source = positionals[0] === "-"
    ? Deno.stdin.readable
    : (await inContext(`cannot read ${positionals[0]}`, () => Deno.open(positionals[0]))).readable;
  const storage = Storage.open(values.db);
  try {
    const result = await ingestStream(source, storage, (line, reason) => {
      logger.warn("line rejected", { line, reason });
    }, new Progress({ label: "ingest" }));
    // Re-ingesting a recording is harmless: instants already stored are skipped.
    const duplicates = result.read - result.rejected - result.stored;
    logger.info("ingest finished", { ...result, already_stored: duplicates });
    return result.rejected > 0 ? 1 : 0;
  } finally {
    storage.close();
  }
}
