/**
 * A simulated Luxtronik controller on loopback that speaks the real protocol: it serves
 * a fixture's tables or the built-in dynamic heat pump, answers 3003/3004/3005, refuses
 * (and counts) any 3002 write, and can misbehave on purpose (fault modes) so the client
 * and service can be tested against what real controllers do.
 */
import type { RawTables } from "./client.ts";
import { modelTables } from "./heatpump_model.ts";
import {
  encodeReply,
  isReadCommand,
  parseRequest,
  READ_CALCULATIONS,
  READ_PARAMETERS,
  type ReadCommand,
  REQUEST_BYTES,
  WRITE_PARAMETER,
} from "./protocol.ts";

/** Ways the simulator can misbehave; see FAULT_MODES for what each does. */
export const FAULT_MODES = {
  split: "send every reply in 1-byte TCP writes",
} as const;

export type FaultMode = keyof typeof FAULT_MODES;

export function isFaultMode(name: string): name is FaultMode {
  return Object.hasOwn(FAULT_MODES, name);
}

export interface SimulatorOptions {
  hostname?: string;
  /** 0 picks a free port. */
  port: number;
  /** Tables to serve at a given instant; default: the built-in dynamic heat pump. */
  tablesAt?: (now: Date) => RawTables;
  faults?: readonly FaultMode[];
  /** Receives one line per notable event (connections are not logged). */
  log?: (message: string) => void;
}

export interface SimulatorStats {
  connections: number;
  reads: Record<ReadCommand, number>;
  writesRefused: number;
}

export interface Simulator {
  hostname: string;
  port: number;
  stats: SimulatorStats;
  close(): Promise<void>;
}

/** A fixture file: raw tables with `null` for values that were not captured. */
export interface FixtureFile {
  parameters?: (number | null)[] | null;
  calculations?: (number | null)[] | null;
  visibilities?: (number | null)[] | null;
}

export class FixtureError extends Error {}

/** Turns a fixture's sparse arrays into tables; `null` entries are served as 0. */
export function fixtureTables(fixture: FixtureFile): RawTables {
  const dense = (values: unknown, name: string): number[] => {
    if (values === undefined || values === null) return [];
    if (!Array.isArray(values)) throw new FixtureError(`"${name}" must be an array or null`);
    return values.map((v, i) => {
      if (v === null) return 0;
      if (!Number.isInteger(v)) throw new FixtureError(`"${name}[${i}]" is not an integer: ${v}`);
      return v;
    });
  };
  return {
    parameters: Int32Array.from(dense(fixture.parameters, "parameters")),
    calculations: Int32Array.from(dense(fixture.calculations, "calculations")),
    visibilities: Int8Array.from(dense(fixture.visibilities, "visibilities")),
  };
}

export async function loadFixture(path: string): Promise<RawTables> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new FixtureError(`cannot read fixture ${path}: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new FixtureError(`fixture ${path} must be a JSON object with table arrays`);
  }
  return fixtureTables(parsed as FixtureFile);
}

function tableFor(tables: RawTables, command: ReadCommand): ArrayLike<number> {
  if (command === READ_PARAMETERS) return tables.parameters;
  if (command === READ_CALCULATIONS) return tables.calculations;
  return tables.visibilities;
}

async function readExactOrNull(conn: Deno.Conn, count: number): Promise<Uint8Array | null> {
  const buffer = new Uint8Array(count);
  let received = 0;
  while (received < count) {
    const n = await conn.read(buffer.subarray(received));
    if (n === null) return null;
    received += n;
  }
  return buffer;
}

async function writeReply(conn: Deno.Conn, bytes: Uint8Array, faults: ReadonlySet<FaultMode>) {
  if (faults.has("split")) {
    for (let i = 0; i < bytes.length; i++) await conn.write(bytes.subarray(i, i + 1));
    return;
  }
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

export function startSimulator(options: SimulatorOptions): Simulator {
  const hostname = options.hostname ?? "127.0.0.1";
  const tablesAt = options.tablesAt ?? ((now: Date) => modelTables(now.getTime() / 1000));
  const faults = new Set(options.faults ?? []);
  const log = options.log ?? (() => {});
  const stats: SimulatorStats = {
    connections: 0,
    reads: { 3003: 0, 3004: 0, 3005: 0 },
    writesRefused: 0,
  };
  const listener = Deno.listen({ hostname, port: options.port, transport: "tcp" });
  const open = new Set<Deno.Conn>();

  async function serve(conn: Deno.Conn) {
    stats.connections++;
    open.add(conn);
    try {
      // One snapshot per connection, so the three reads of a poll are consistent.
      const tables = tablesAt(new Date());
      while (true) {
        const bytes = await readExactOrNull(conn, REQUEST_BYTES);
        if (bytes === null) return;
        const request = parseRequest(bytes);
        if (request.command === WRITE_PARAMETER) {
          stats.writesRefused++;
          log(`refused a write request (3002) for parameter ${request.argument}`);
          return;
        }
        if (!isReadCommand(request.command)) {
          log(`unknown command ${request.command}; closing the connection`);
          return;
        }
        stats.reads[request.command]++;
        await writeReply(
          conn,
          encodeReply(request.command, tableFor(tables, request.command)),
          faults,
        );
      }
    } catch {
      // The client went away mid-reply; that is its business.
    } finally {
      open.delete(conn);
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  }

  const accepting = (async () => {
    try {
      for await (const conn of listener) serve(conn);
    } catch {
      // listener closed
    }
  })();

  const port = (listener.addr as Deno.NetAddr).port;
  return {
    hostname,
    port,
    stats,
    async close() {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await accepting;
    },
  };
}
