/** `dump`: one read of all three tables, every field decoded, on standard output. */
import { readAllTables } from "../luxtronik/client.ts";
import { csvColumns, decodeTable } from "../luxtronik/decode.ts";
import { TABLE_KINDS } from "../luxtronik/fields.ts";
import { formatCell } from "../luxtronik/decode.ts";
import {
  commandConfig,
  inContext,
  parseCommandArgs,
  parsePort,
  SETTING_FLAGS,
  UsageError,
} from "./common.ts";

export async function dumpCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("dump", args, {
    ...SETTING_FLAGS,
    json: { type: "boolean" },
  });
  const config = commandConfig(values);
  // --host, or HOST from the environment / .env / --config, as `run` would poll.
  const host = config.host;
  if (host === null) throw new UsageError("dump: --host H is required (or HOST in .env)");
  const port = parsePort("--port", values.port, config.port);
  const tables = await inContext(`cannot read from ${host}:${port}`, () =>
    readAllTables({
      host,
      port,
      timeoutMs: config.timeoutSec * 1000,
    }));
  const options = { timeZone: config.timeZone };
  if (values.json) {
    const decoded = Object.fromEntries(
      TABLE_KINDS.map((kind) => [kind, decodeTable(kind, tables[kind], options)]),
    );
    console.log(JSON.stringify(decoded, null, 2));
    return 0;
  }
  for (const kind of TABLE_KINDS) {
    const raw = tables[kind];
    for (const column of csvColumns(kind, raw.length)) {
      if (column.index + column.count > raw.length) continue;
      const value = formatCell(column.decode(raw, options));
      const unit = column.unit ? ` ${column.unit}` : "";
      console.log(`${kind}.${column.index} ${column.name} = ${value}${unit}`);
    }
  }
  return 0;
}
