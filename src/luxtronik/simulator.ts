/**
 * A simulated Luxtronik controller on loopback that speaks the real protocol: it serves
 * a fixture's tables or the built-in dynamic heat pump, answers 3003/3004/3005, refuses
 * (and counts) any 3002 write, and can misbehave on purpose (fault modes) so the client
 * and service can be tested against what real controllers do.
 *
 * Faults are reproducible: which connection misbehaves, on which table and with which
 * bytes follows from the seed and the connection's number alone, and outages follow a
 * fixed schedule from the simulator's start (see FaultSettings).
 */
import type { RawTables } from "./client.ts";
import { modelTables } from "./heatpump_model.ts";
import {
  encodeReply,
  isReadCommand,
  MAX_TABLE_LENGTH,
  parseRequest,
  READ_CALCULATIONS,
  READ_PARAMETERS,
  READ_VISIBILITIES,
  type ReadCommand,
  REQUEST_BYTES,
  WRITE_PARAMETER,
} from "./protocol.ts";

/** Ways the simulator can misbehave. Several can be combined. */
export const FAULT_MODES = {
  split: "sends every reply in 1-byte TCP writes",
  "close-mid-reply": "closes the connection halfway through a reply",
  stall: "accepts the connection but never answers",
  refuse: "refuses connections (nothing listens) during each outage",
  reset: "drops the connection abruptly on a request, without a reply " +
    "(Deno cannot send a TCP RST: no SO_LINGER)",
  "wrong-echo": "answers with another table's command as the echo word",
  "absurd-length": "announces a table length of -1, 10,001 or 2^31-1",
  garbage: "answers with 12 to 64 random bytes instead of a reply",
  trailing: "sends 1 to 8 extra bytes after the announced values",
  busy: "answers 3004 with a non-zero status word (controller busy)",
  "length-change": "serves longer tables on every other connection (a firmware update)",
  reboot: "at the start of each outage drops every open connection, then accepts " +
    "connections but stays silent until the outage ends",
} as const;

export type FaultMode = keyof typeof FAULT_MODES;

/** Faults that hit a share of connections (FaultSettings.probability), one per connection. */
export const PER_CONNECTION_FAULTS = [
  "close-mid-reply",
  "stall",
  "reset",
  "wrong-echo",
  "absurd-length",
  "garbage",
  "trailing",
  "busy",
] as const satisfies readonly FaultMode[];

export type PerConnectionFault = (typeof PER_CONNECTION_FAULTS)[number];

export function isFaultMode(name: string): name is FaultMode {
  return Object.hasOwn(FAULT_MODES, name);
}

/** The parameters of the fault modes; explicit, so every run can be repeated exactly. */
export interface FaultSettings {
  /** Seed of every pseudo-random choice (which connection, which table, which bytes). */
  seed: number;
  /** Share (0..1) of connections that a per-connection fault hits. */
  probability: number;
  /** refuse, reboot: how long each outage lasts (ms). */
  offlineMs: number;
  /** refuse, reboot: an outage starts every periodMs after start; 0 = only one, at start. */
  periodMs: number;
}

export const DEFAULT_FAULT_SETTINGS: Readonly<FaultSettings> = {
  seed: 1,
  probability: 0.25,
  offlineMs: 20_000,
  periodMs: 120_000,
};

/** Entries appended by `length-change` to each table: what a firmware update does. */
export const LENGTH_CHANGE_EXTRA = { parameters: 4, calculations: 3, visibilities: 5 } as const;

export interface SimulatorOptions {
  hostname?: string;
  /** 0 picks a free port. */
  port: number;
  /** Tables to serve at a given instant; default: the built-in dynamic heat pump. */
  tablesAt?: (now: Date) => RawTables;
  faults?: readonly FaultMode[];
  faultSettings?: Partial<FaultSettings>;
  /** Receives one line per notable event (injected faults, outages; not connections). */
  log?: (message: string) => void;
}

export interface SimulatorStats {
  connections: number;
  reads: Record<ReadCommand, number>;
  writesRefused: number;
  /** Faults injected so far, by mode; refuse and reboot count outages. */
  faults: Partial<Record<FaultMode, number>>;
}

export interface Simulator {
  hostname: string;
  port: number;
  stats: SimulatorStats;
  /** True while a refuse/reboot outage is in progress. */
  readonly offline: boolean;
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
  try {
    return fixtureTables(parsed as FixtureFile);
  } catch (error) {
    if (error instanceof FixtureError) throw new FixtureError(`fixture ${path}: ${error.message}`);
    throw error;
  }
}

/** A small, fast pseudo-random generator (mulberry32) in [0, 1); same seed, same numbers. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The tables after a firmware update that appended entries (see LENGTH_CHANGE_EXTRA). */
export function lengthChangedTables(tables: RawTables): RawTables {
  const extend = <T extends Int32Array | Int8Array>(table: T, extra: number, make: () => T) => {
    const longer = make();
    longer.set(table);
    for (let i = 0; i < extra; i++) longer[table.length + i] = i + 1;
    return longer;
  };
  const { parameters: p, calculations: c, visibilities: v } = LENGTH_CHANGE_EXTRA;
  return {
    parameters: extend(tables.parameters, p, () => new Int32Array(tables.parameters.length + p)),
    calculations: extend(
      tables.calculations,
      c,
      () => new Int32Array(tables.calculations.length + c),
    ),
    visibilities: extend(
      tables.visibilities,
      v,
      () => new Int8Array(tables.visibilities.length + v),
    ),
  };
}

/** What the simulator does on one connection: decided up front, from seed and number. */
export interface ConnectionPlan {
  /** The per-connection fault, or null for a well-behaved connection. */
  fault: PerConnectionFault | null;
  /** The table whose reply carries the fault. */
  command: ReadCommand;
  /** `length-change`: serve the longer tables on this connection. */
  longerTables: boolean;
  /** Further seeded numbers for the fault's bytes. */
  random: () => number;
}

const READ_COMMANDS: readonly ReadCommand[] = [
  READ_PARAMETERS,
  READ_CALCULATIONS,
  READ_VISIBILITIES,
];

/** Plans connection number `index` (0-based); pure, so tests can predict every fault. */
export function planConnection(
  index: number,
  faults: ReadonlySet<FaultMode>,
  settings: FaultSettings,
): ConnectionPlan {
  const random = seededRandom(
    Math.imul(settings.seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b),
  );
  const candidates = PER_CONNECTION_FAULTS.filter((f) => faults.has(f));
  const hit = candidates.length > 0 && random() < settings.probability;
  const fault = hit ? candidates[Math.floor(random() * candidates.length)] : null;
  let command = READ_COMMANDS[Math.floor(random() * READ_COMMANDS.length)];
  // Busy is a 3004 status; a reset mid-stream comes after the first table.
  if (fault === "busy") command = READ_CALCULATIONS;
  if (fault === "reset" && command === READ_PARAMETERS) command = READ_VISIBILITIES;
  return { fault, command, longerTables: faults.has("length-change") && index % 2 === 1, random };
}

/** Whether an outage is in progress `elapsedMs` after the start (refuse, reboot). */
export function inOutage(elapsedMs: number, settings: FaultSettings): boolean {
  if (settings.periodMs <= 0) return elapsedMs < settings.offlineMs;
  return elapsedMs % settings.periodMs < settings.offlineMs;
}

/** Milliseconds from `elapsedMs` to the next start or end of an outage, or null if none. */
export function nextOutageChange(elapsedMs: number, settings: FaultSettings): number | null {
  const { offlineMs, periodMs } = settings;
  if (periodMs <= 0) return elapsedMs < offlineMs ? offlineMs - elapsedMs : null;
  if (offlineMs >= periodMs) return null;
  const phase = elapsedMs % periodMs;
  return phase < offlineMs ? offlineMs - phase : periodMs - phase;
}

/** The bytes of a faulty reply to `command` (the faults that still send something). */
export function faultyReply(
  fault: "wrong-echo" | "absurd-length" | "garbage" | "trailing" | "busy",
  command: ReadCommand,
  values: ArrayLike<number>,
  random: () => number,
): Uint8Array {
  const pick = <T>(choices: readonly T[]) => choices[Math.floor(random() * choices.length)];
  switch (fault) {
    case "wrong-echo":
      return encodeReply(command, values, {
        echo: pick(READ_COMMANDS.filter((c) => c !== command)),
      });
    case "absurd-length":
      return encodeReply(command, values, {
        length: pick([-1, MAX_TABLE_LENGTH + 1, 2 ** 31 - 1]),
      });
    case "busy":
      return encodeReply(command, values, { status: 1 + Math.floor(random() * 3) });
    case "garbage": {
      const bytes = randomBytes(12 + Math.floor(random() * 53), random);
      bytes[0] |= 0x80; // a negative first word can never be the echo of a command
      return bytes;
    }
    case "trailing": {
      const reply = encodeReply(command, values);
      const extra = randomBytes(1 + Math.floor(random() * 8), random);
      const bytes = new Uint8Array(reply.length + extra.length);
      bytes.set(reply);
      bytes.set(extra, reply.length);
      return bytes;
    }
  }
}

function randomBytes(count: number, random: () => number): Uint8Array {
  return Uint8Array.from({ length: count }, () => Math.floor(random() * 256));
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

async function writeAll(conn: Deno.Conn, bytes: Uint8Array, split: boolean) {
  if (split) {
    for (let i = 0; i < bytes.length; i++) await conn.write(bytes.subarray(i, i + 1));
    return;
  }
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

function closeQuietly(closable: { close(): void }) {
  try {
    closable.close();
  } catch {
    // already closed
  }
}

/** Reads and ignores requests until the peer (or the simulator) closes: a silent controller. */
async function holdSilent(conn: Deno.Conn) {
  while (await readExactOrNull(conn, REQUEST_BYTES) !== null) {
    // never answered
  }
}

export function startSimulator(options: SimulatorOptions): Simulator {
  const hostname = options.hostname ?? "127.0.0.1";
  const tablesAt = options.tablesAt ?? ((now: Date) => modelTables(now.getTime() / 1000));
  const faults: ReadonlySet<FaultMode> = new Set(options.faults ?? []);
  const settings: FaultSettings = { ...DEFAULT_FAULT_SETTINGS, ...options.faultSettings };
  const log = options.log ?? (() => {});
  const stats: SimulatorStats = {
    connections: 0,
    reads: { 3003: 0, 3004: 0, 3005: 0 },
    writesRefused: 0,
    faults: {},
  };
  const count = (mode: FaultMode) => stats.faults[mode] = (stats.faults[mode] ?? 0) + 1;
  const open = new Set<Deno.Conn>();
  /** Connections held silent during a reboot; dropped when it ends. */
  const silent = new Set<Deno.Conn>();
  const startedAt = Date.now();
  const outages = faults.has("refuse") || faults.has("reboot");
  let offline = false;
  let closed = false;
  let transitionTimer: ReturnType<typeof setTimeout> | undefined;

  async function serve(conn: Deno.Conn, index: number) {
    const plan = planConnection(index, faults, settings);
    try {
      if (offline && faults.has("reboot")) {
        silent.add(conn);
        return await holdSilent(conn);
      }
      if (plan.fault === "stall") {
        count("stall");
        log(`fault stall: connection ${index} is never answered`);
        return await holdSilent(conn);
      }
      // One snapshot per connection, so the three reads of a poll are consistent.
      const base = tablesAt(new Date());
      const tables = plan.longerTables ? lengthChangedTables(base) : base;
      if (plan.longerTables) count("length-change");
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
        const values = tableFor(tables, request.command);
        const fault = plan.fault !== null && request.command === plan.command ? plan.fault : null;
        if (fault === null) {
          await writeAll(conn, encodeReply(request.command, values), faults.has("split"));
          continue;
        }
        count(fault);
        log(`fault ${fault} on the reply to ${request.command} (connection ${index})`);
        if (fault === "reset") return;
        if (fault === "close-mid-reply") {
          const reply = encodeReply(request.command, values);
          return await writeAll(conn, reply.subarray(0, reply.length >> 1), faults.has("split"));
        }
        await writeAll(
          conn,
          faultyReply(fault, request.command, values, plan.random),
          faults.has("split"),
        );
      }
    } catch {
      // The client went away mid-reply; that is its business.
    } finally {
      open.delete(conn);
      silent.delete(conn);
      closeQuietly(conn);
    }
  }

  function listen(port: number): Deno.TcpListener {
    const listener = Deno.listen({ hostname, port, transport: "tcp" });
    const loop = (async () => {
      try {
        for await (const conn of listener) {
          open.add(conn);
          serve(conn, stats.connections++);
        }
      } catch {
        // listener closed
      }
    })();
    loops.add(loop);
    loop.finally(() => loops.delete(loop));
    return listener;
  }

  const loops = new Set<Promise<void>>();
  let listener: Deno.TcpListener | null = listen(options.port);
  const port = (listener.addr as Deno.NetAddr).port;

  /** Re-listens after a refuse outage; the port may be briefly taken by an outgoing socket. */
  async function relisten() {
    for (let attempt = 0; !closed && listener === null; attempt++) {
      try {
        listener = listen(port);
      } catch (error) {
        if (attempt === 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  function setOffline(value: boolean) {
    if (value === offline) return;
    offline = value;
    if (offline) {
      if (faults.has("refuse")) count("refuse");
      if (faults.has("reboot")) count("reboot");
      log(`outage: ${[...faults].filter((f) => f === "refuse" || f === "reboot").join(", ")}`);
    } else {
      log("outage over");
    }
    // A rebooting controller loses every connection, at the start and again at the end
    // (those it held silent meanwhile).
    if (faults.has("reboot")) { for (const conn of offline ? open : silent) closeQuietly(conn); }
    if (faults.has("refuse")) {
      if (offline) {
        closeQuietly(listener!);
        listener = null;
      } else {
        relisten().catch((error) => log(`cannot listen again: ${(error as Error).message}`));
      }
    }
  }

  function scheduleOutages() {
    const elapsed = Date.now() - startedAt;
    setOffline(inOutage(elapsed, settings));
    const wait = nextOutageChange(elapsed, settings);
    if (wait !== null && !closed) transitionTimer = setTimeout(scheduleOutages, wait);
  }
  if (outages) scheduleOutages();

  return {
    hostname,
    port,
    stats,
    get offline() {
      return offline;
    },
    async close() {
      closed = true;
      clearTimeout(transitionTimer);
      if (listener) closeQuietly(listener);
      for (const conn of open) closeQuietly(conn);
      await Promise.all(loops);
    },
  };
}
