/** `export`: every stored poll with `from <= ts < to` as CSV or JSON. */
import {
  csvLines,
  csvOptionsFromConfig,
  jsonLines,
  selectColumns,
  unmatchedPatterns,
  writeChunks,
} from "../csvgen.ts";
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
  const storage = Storage.open(values.db);
  const out = values.out === undefined || values.out === "-" ? Deno.stdout : await inContext(
    `cannot write --out ${values.out}`,
    () => Deno.open(values.out as string, { write: true, create: true, truncate: true }),
  );
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
    await writeChunks(pieces, out);
  } catch (error) {
    // `export … | head` closes the pipe early: the reader has what it wanted.
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  } finally {
    if (out !== Deno.stdout) (out as Deno.FsFile).close();
    storage.close();
  }
  return 0;
}
