/**
 * Fuzzing the reply validation. Thousands of seeded random and mutated replies go to
 * the real client over loopback; an independent reference decoder (written here, not
 * shared with the client) says what each byte sequence means: a whole, consistent
 * reply and its values, or nothing. The client must agree in both directions: return
 * exactly those values, or reject with a known failure kind; never hang, never crash.
 */
import {
  type FailureKind,
  failureKind,
  readAllTables,
  type Reading,
} from "../src/luxtronik/client.ts";
import {
  encodeReply,
  headerBytes,
  MAX_TABLE_LENGTH,
  parseReplyHeader,
  ProtocolError,
  READ_CALCULATIONS,
  READ_PARAMETERS,
  READ_VISIBILITIES,
  type ReadCommand,
} from "../src/luxtronik/protocol.ts";
import { seededRandom } from "../src/luxtronik/simulator.ts";
import { assert, assertEquals, fail } from "./helpers.ts";

const COMMANDS: ReadCommand[] = [READ_PARAMETERS, READ_CALCULATIONS, READ_VISIBILITIES];
const LOOPBACK_CASES = 2_000;
const HEADER_CASES = 20_000;
const CLIENT_TIMEOUT_MS = 150;
/** A case that takes this long means the client hangs. */
const HANG_MS = 10_000;

/** The reference meaning of a reply: its values if it is whole and consistent, else null. */
function referenceDecode(command: ReadCommand, bytes: Uint8Array): number[] | null {
  const head = command === READ_CALCULATIONS ? 12 : 8;
  const size = command === READ_VISIBILITIES ? 1 : 4;
  if (bytes.length < head) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getInt32(0) !== command) return null;
  if (command === READ_CALCULATIONS && view.getInt32(4) !== 0) return null;
  const length = view.getInt32(head - 4);
  if (length < 0 || length > MAX_TABLE_LENGTH) return null;
  if (bytes.length !== head + length * size) return null;
  const values: number[] = [];
  for (let i = 0; i < length; i++) {
    values.push(size === 1 ? view.getInt8(head + i) : view.getInt32(head + i * 4));
  }
  return values;
}

interface FuzzCase {
  tables: Record<ReadCommand, number[]>;
  target: ReadCommand;
  bytes: Uint8Array;
  /** The reference meaning of `bytes` (null: must be rejected). */
  expected: number[] | null;
  /** Deliver `bytes` in random small pieces. */
  chunked: boolean;
  /** After an invalid reply, keep the connection open and silent (the client must time out). */
  hold: boolean;
  mutation: string;
}

function makeCase(random: () => number): FuzzCase {
  const int = (n: number) => Math.floor(random() * n);
  const int32 = () => (int(2 ** 32) | 0);
  const bytesOf = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const tables = {
    [READ_PARAMETERS]: Array.from({ length: int(40) }, int32),
    [READ_CALCULATIONS]: Array.from({ length: int(40) }, int32),
    [READ_VISIBILITIES]: Array.from({ length: int(40) }, () => int(256) - 128),
  } as Record<ReadCommand, number[]>;
  const target = COMMANDS[int(3)];
  const valid = encodeReply(target, tables[target]);
  let bytes: Uint8Array = valid.slice();
  const view = () => new DataView(bytes.buffer);
  const lengthOffset = headerBytes(target) - 4;
  const mutations: Record<string, () => void> = {
    none: () => {},
    flip: () => {
      for (let n = 1 + int(3); n > 0; n--) bytes[int(bytes.length)] ^= 1 << int(8);
    },
    truncate: () => bytes = bytes.slice(0, int(bytes.length)),
    append: () => {
      const longer = new Uint8Array(bytes.length + 1 + int(8));
      longer.set(bytes);
      longer.set(bytesOf(longer.length - bytes.length), bytes.length);
      bytes = longer;
    },
    "length-delta": () =>
      view().setInt32(lengthOffset, view().getInt32(lengthOffset) + (int(7) - 3 || 1)),
    "length-random": () => view().setInt32(lengthOffset, int32()),
    echo: () => view().setInt32(0, random() < 0.5 ? COMMANDS[int(3)] : int32()),
    status: () => {
      if (target === READ_CALCULATIONS) view().setInt32(4, int32() || 1);
    },
    garbage: () => bytes = bytesOf(int(41)),
    "other-table": () => {
      const other = COMMANDS[int(3)];
      bytes = encodeReply(other, tables[other]);
    },
  };
  const names = Object.keys(mutations);
  const mutation = names[int(names.length)];
  mutations[mutation]();
  const expected = referenceDecode(target, bytes);
  return {
    tables,
    target,
    bytes,
    expected,
    // Only whole replies are chunked: extra bytes sent in a later piece could arrive after
    // the client finished, which no client can see without waiting.
    chunked: expected !== null && random() < 0.3,
    hold: expected === null && random() < 0.005,
    mutation,
  };
}

async function readRequest(conn: Deno.Conn): Promise<number | null> {
  const buffer = new Uint8Array(8);
  let received = 0;
  while (received < 8) {
    const n = await conn.read(buffer.subarray(received));
    if (n === null) return null;
    received += n;
  }
  return new DataView(buffer.buffer).getInt32(0);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array) {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Serves connection number k with case k: correct replies, except for the target table. */
async function serve(conn: Deno.Conn, c: FuzzCase, random: () => number) {
  try {
    while (true) {
      const command = await readRequest(conn);
      if (command === null) return;
      const cmd = command as ReadCommand;
      if (cmd !== c.target) {
        await writeAll(conn, encodeReply(cmd, c.tables[cmd]));
        continue;
      }
      if (c.chunked) {
        for (let at = 0; at < c.bytes.length;) {
          const piece = 1 + Math.floor(random() * 7);
          await writeAll(conn, c.bytes.subarray(at, at + piece));
          at += piece;
        }
      } else {
        // One write, so extra bytes arrive with the values and the client must see them.
        await writeAll(conn, c.bytes);
      }
      if (c.expected !== null) continue;
      if (c.hold) { while (await readRequest(conn) !== null) { /* silent */ } }
      return;
    }
  } catch {
    // the client closed first
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

function tablesOf(reading: Reading): Record<ReadCommand, number[]> {
  return {
    [READ_PARAMETERS]: Array.from(reading.parameters),
    [READ_CALCULATIONS]: Array.from(reading.calculations),
    [READ_VISIBILITIES]: Array.from(reading.visibilities),
  } as Record<ReadCommand, number[]>;
}

const KNOWN_KINDS: FailureKind[] = ["echo", "length", "busy", "trailing", "timeout", "closed"];

Deno.test(`fuzz: ${LOOPBACK_CASES} random and mutated replies over loopback`, async () => {
  const random = seededRandom(20_260_101);
  const cases = Array.from({ length: LOOPBACK_CASES }, () => makeCase(random));
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let next = 0;
  const serving = (async () => {
    for await (const conn of listener) serve(conn, cases[next++], random);
  })().catch(() => {});
  const outcomes: Record<string, number> = {};
  try {
    for (const [i, c] of cases.entries()) {
      let watchdog: ReturnType<typeof setTimeout> | undefined;
      const hang = new Promise<never>((_, reject) => {
        watchdog = setTimeout(() => reject(new Error(`case ${i} hangs`)), HANG_MS);
      });
      let outcome: string;
      try {
        const reading = await Promise.race([
          readAllTables({ host: "127.0.0.1", port, timeoutMs: CLIENT_TIMEOUT_MS }),
          hang,
        ]);
        if (c.expected === null) {
          fail(
            `case ${i} (${c.mutation}): accepted an invalid reply to ${c.target} (chunked ${c.chunked}, bytes ${c.bytes}, length ${
              c.tables[c.target].length
            }, got ${Array.from(reading.visibilities)})`,
          );
        }
        assertEquals(tablesOf(reading), { ...c.tables, [c.target]: c.expected }, `case ${i}`);
        outcome = "accepted";
      } catch (error) {
        const kind = failureKind(error);
        if (!KNOWN_KINDS.includes(kind)) throw error;
        if (c.expected !== null) {
          fail(`case ${i} (${c.mutation}): rejected a valid reply: ${(error as Error).message}`);
        }
        outcome = kind;
      } finally {
        clearTimeout(watchdog);
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
  } finally {
    listener.close();
    await serving;
  }
  assertEquals(next, LOOPBACK_CASES, "one connection per case");
  // The seeded mix exercises acceptance and every rejection path.
  for (const kind of ["accepted", "echo", "length", "busy", "trailing", "timeout", "closed"]) {
    assert((outcomes[kind] ?? 0) > 0, `no case ended as ${kind}: ${JSON.stringify(outcomes)}`);
  }
});

Deno.test(`fuzz: ${HEADER_CASES} random headers are accepted exactly when consistent`, () => {
  const random = seededRandom(7);
  for (let i = 0; i < HEADER_CASES; i++) {
    const command = COMMANDS[Math.floor(random() * 3)];
    const header = new Uint8Array(headerBytes(command));
    const view = new DataView(header.buffer);
    // Mostly plausible words, so the checks past the echo are reached too.
    view.setInt32(0, random() < 0.8 ? command : Math.floor(random() * 2 ** 32) | 0);
    if (command === READ_CALCULATIONS) view.setInt32(4, random() < 0.7 ? 0 : (i % 5) - 2);
    const lengths = [
      0,
      1,
      MAX_TABLE_LENGTH,
      MAX_TABLE_LENGTH + 1,
      -1,
      Math.floor(random() * 2 ** 32) | 0,
    ];
    const length = random() < 0.5 ? Math.floor(random() * 2000) : lengths[i % lengths.length];
    view.setInt32(header.length - 4, length);
    const size = command === READ_VISIBILITIES ? 1 : 4;
    // The body the header announces (a length past the cap is rejected before the body).
    const bodyBytes = Math.max(0, Math.min(length, MAX_TABLE_LENGTH + 1)) * size;
    const reference = referenceDecode(command, concat(header, new Uint8Array(bodyBytes)));
    try {
      const parsed = parseReplyHeader(command, header);
      assert(reference !== null, `header ${i} accepted though inconsistent`);
      assertEquals(parsed.length, length);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      assert(reference === null, `header ${i} rejected though consistent: ${error.message}`);
    }
  }
});

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
