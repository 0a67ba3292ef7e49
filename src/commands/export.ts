/** `export`: every stored poll with `from <= ts < to` as CSV or JSON. */
import {
  csvLines,
  csvOptionsFromConfig,
  jsonLines,
  selectColumns,
  unmatchedPatterns,
  writeChunks,
} from "../csvgen.ts";
import { basename, dirname } from "node:path";
import { writeFileAtomically } from "../atomic_file.ts";
import { Progress, withProgress } from "../progress.ts";
import { Storage } from "../storage.ts";
import {
  commandConfig,
  inContext,
  parseCommandArgs,
  parseInstant,
  requireDatabase,
  SETTING_FLAGS,
  UsageError,
} from "./common.ts";

export async function exportCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("export", args, {
    ...SETTING_FLAGS,
    db: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
    fields: { type: "string" },
    format: { type: "string" },
    out: { type: "string" },
  });
  if (typeof values.db !== "string") throw new UsageError("export: --db PATH is required");
  const from = parseInstant("--from", values.from);
  const to = parseInstant("--to", values.to);
  if (to <= from) throw new UsageError("export: --to must be later than --from");
  const format = values.format ?? "csv";
  if (format !== "csv" && format !== "json") {
    throw new UsageError(`export: --format must be csv or json, got ${JSON.stringify(format)}`);
  }
  await requireDatabase("export", values.db);
  const config = commandConfig(
    values,
    typeof values.fields === "string" ? { CSV_FIELDS: values.fields } : {},
  );
  const outPath = typeof values.out !== "string" || values.out === "-" ? null : values.out;
  if (outPath !== null) await refuseDatabaseAsOut(outPath, values.db);
  const storage = Storage.open(values.db);
  try {
    const lengths = storage.tableLengths(from, to);
    const typos = unmatchedPatterns(config.csvFields ?? [], lengths);
    if (typos.length > 0) {
      throw new UsageError(
        `export: no field matches ${typos.map((t) => JSON.stringify(t)).join(", ")}`,
      );
    }
    const columns = selectColumns(config.csvFields, lengths);
    const polls = withProgress(
      storage.polls(from, to),
      new Progress({
        label: "export",
        // Counting costs a moment; only a terminal shows it.
        total: Deno.stderr.isTerminal() ? storage.countPolls(from, to) : null,
      }),
    );
    const pieces = format === "json"
      ? jsonLines(polls, config.timeZone, typeof values.fields === "string" ? columns : null)
      : csvLines(polls, columns, csvOptionsFromConfig(config));
    // A file appears whole when the export has finished: a refused or interrupted export
    // leaves an existing file as it was, never half of a new one.
    if (outPath === null) await writeChunks(pieces, Deno.stdout);
    else {
      await inContext(
        `cannot write --out ${outPath}`,
        () => writeFileAtomically(dirname(outPath), basename(outPath), pieces),
      );
    }
  } catch (error) {
    // `export … | head` closes the pipe early: the reader has what it wanted.
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  } finally {
    storage.close();
  }
  return 0;
}

const SQLITE_HEADER = "SQLite format 3\0";

/**
 * `--out` must not replace the database being read (a slip of `--db x --out x` would lose
 * the whole history) nor any other SQLite file.
 */
async function refuseDatabaseAsOut(out: string, db: string): Promise<void> {
  const realPath = (path: string) => Deno.realPath(path).catch(() => null);
  const target = await realPath(out);
  if (target === null) return; // a new file
  for (const file of [db, `${db}-wal`, `${db}-shm`, `${db}.lock`]) {
    if (target === await realPath(file)) {
      throw new UsageError(`export: --out ${out} is the database given with --db (or its journal)`);
    }
  }
  const head = new Uint8Array(SQLITE_HEADER.length);
  const read = await Deno.open(out).then(async (file) => {
    using handle = file;
    return await handle.read(head);
  }).catch(() => null);
  if (read === head.length && new TextDecoder().decode(head) === SQLITE_HEADER) {
    throw new UsageError(`export: --out ${out} is an SQLite database; give another file`);
  }
}
