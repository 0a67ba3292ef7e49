/**
 * Reads the three tables from a heat pump over TCP: one connection per poll, closed
 * afterwards and after any error (a stream that went wrong is no longer aligned).
 *
 * A reply is accepted only whole and consistent: the echoed command, a zero status
 * (3004), a length within 0..MAX_TABLE_LENGTH and exactly the announced number of value
 * bytes. Fewer bytes (the peer closed or went silent) or more bytes than announced
 * reject the whole reading, so a partly read or shifted table is never returned.
 *
 * Deno sockets have no timeout option, so the connect and each table's reply race a
 * timer that closes the connection; a short read is normal TCP and is read on until
 * exactly the announced number of bytes has arrived.
 */
import {
  encodeReadRequest,
  headerBytes,
  MAX_TABLE_LENGTH,
  parseReplyHeader,
  parseValues,
  ProtocolError,
  type ProtocolErrorKind,
  READ_CALCULATIONS,
  READ_PARAMETERS,
  READ_VISIBILITIES,
  type ReadCommand,
  valueBytes,
} from "./protocol.ts";

export interface ClientOptions {
  host: string;
  port: number;
  /** Connect timeout, and the time each table's whole reply may take. */
  timeoutMs: number;
  /** Aborting closes the connection, so a shutdown need not wait for a slow heat pump. */
  signal?: AbortSignal;
}

/** The three raw tables exactly as the heat pump sent them. */
export interface RawTables {
  parameters: Int32Array;
  calculations: Int32Array;
  visibilities: Int8Array;
}

export interface Reading extends RawTables {
  durationMs: number;
}

export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TimeoutError";
  }
}

/** The peer closed the connection before the reply was complete. */
export class ConnectionClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConnectionClosedError";
  }
}

/** The caller aborted the read (shutdown); not a fault of the heat pump. */
export class ReadAbortedError extends Error {
  constructor() {
    super("read aborted");
    this.name = "ReadAbortedError";
  }
}

/**
 * Every way a poll can fail, as one word for logs, gap records and tests. `unexpected`
 * is anything the client does not know, i.e. a bug rather than a heat pump fault.
 */
export type FailureKind =
  | ProtocolErrorKind
  | "timeout"
  | "closed"
  | "refused"
  | "reset"
  | "network"
  | "aborted"
  | "unexpected";

/**
 * OS errors that Deno throws as a plain Error (no Deno.errors class), with the errno name
 * as `code`: "No route to host" is what a switched-off heat pump on the LAN gives. A failed
 * name look-up is a plain Error too, known only by its message.
 */
const NETWORK_ERROR_CODES = new Set([
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENETRESET",
]);

/** Classifies an error thrown by readAllTables (or anything else) into a FailureKind. */
export function failureKind(error: unknown): FailureKind {
  if (error instanceof ProtocolError) return error.kind;
  if (error instanceof TimeoutError || error instanceof Deno.errors.TimedOut) return "timeout";
  if (error instanceof ConnectionClosedError) return "closed";
  if (error instanceof ReadAbortedError) return "aborted";
  if (error instanceof Deno.errors.ConnectionRefused) return "refused";
  if (
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe
  ) {
    return "reset";
  }
  // Unreachable hosts, failed name look-ups and the like: the network, not our code.
  if (error instanceof Error && Object.values(Deno.errors).some((e) => error instanceof e)) {
    return "network";
  }
  if (
    error instanceof Error &&
    (NETWORK_ERROR_CODES.has(String((error as { code?: unknown }).code)) ||
      error.message.startsWith("failed to lookup address information"))
  ) {
    return "network";
  }
  return "unexpected";
}

/**
 * Connects within `timeoutMs`; a connection that arrives after the timeout or the abort
 * is closed at once.
 */
export async function connectWithTimeout(
  host: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Deno.TcpConn> {
  signal?.throwIfAborted();
  const connecting = Deno.connect({ hostname: host, port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort = () => {};
  const interrupted = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TimeoutError(`connect to ${host}:${port} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    onAbort = () => reject(new ReadAbortedError());
    signal?.addEventListener("abort", onAbort);
  });
  try {
    return await Promise.race([connecting, interrupted]);
  } catch (error) {
    connecting.then((conn) => conn.close(), () => {});
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * One open connection to the controller with exact, timed reads. Closing the
 * connection is what interrupts a pending read when its timer fires.
 */
export class LuxtronikConnection {
  #closed = false;
  #timedOut = false;
  /** Progress of the current read, for the timeout message. */
  #progress = "";

  constructor(private readonly conn: Deno.Conn, private readonly timeoutMs: number) {}

  /**
   * Sends a read request and returns the validated table. The whole reply must arrive
   * within the timeout; the peer may split it into any number of segments.
   */
  async readTable(command: ReadCommand): Promise<Int32Array | Int8Array> {
    return await this.#withDeadline(async () => {
      await this.#writeAll(encodeReadRequest(command));
      // Nothing may follow the reply until we send the next request, so every read has
      // room for more than we expect: any byte beyond the announced length that arrives
      // with the reply means the reply and our framing disagree. The first read takes
      // whatever has arrived (up to the largest possible reply), header and body alike.
      const head = headerBytes(command);
      const first = new Uint8Array(head + MAX_TABLE_LENGTH * valueBytes(command) + 1);
      const got = await this.#fill(first, head, 0);
      const header = parseReplyHeader(command, first.subarray(0, head));
      const bodyLength = header.length * valueBytes(command);
      const early = first.subarray(head, got);
      const body = new Uint8Array(bodyLength + 1);
      if (early.length <= bodyLength) body.set(early);
      if (
        early.length > bodyLength || await this.#fill(body, bodyLength, early.length) > bodyLength
      ) {
        throw new ProtocolError(
          "trailing",
          `more bytes than the announced ${header.length} values of ${command} arrived`,
        );
      }
      return parseValues(command, body.subarray(0, bodyLength));
    });
  }

  /** Reads exactly `count` bytes within the timeout, however the peer splits them. */
  async readExact(count: number): Promise<Uint8Array> {
    const buffer = new Uint8Array(count);
    await this.#withDeadline(() => this.#fill(buffer, count, 0));
    return buffer;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed by a timeout or the peer; nothing left to release.
    }
  }

  /**
   * Reads until `buffer` holds at least `count` bytes, starting with `received` already
   * there. Returns how many it holds: more than `count` if the buffer has room and the
   * peer sent more in the same segment.
   */
  async #fill(buffer: Uint8Array, count: number, received: number): Promise<number> {
    while (received < count) {
      this.#progress = `${received} of ${count} bytes`;
      const n = await this.conn.read(buffer.subarray(received));
      if (n === null) {
        throw new ConnectionClosedError(
          `connection closed by the heat pump after ${received} of ${count} bytes`,
        );
      }
      received += n;
    }
    return received;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      this.#progress = "sending the request";
      written += await this.conn.write(bytes.subarray(written));
    }
  }

  /** Runs `operation`; if it takes longer than the timeout, closes the connection. */
  async #withDeadline<T>(operation: () => Promise<T>): Promise<T> {
    this.#progress = "";
    const timer = setTimeout(() => {
      this.#timedOut = true;
      this.close();
    }, this.timeoutMs);
    try {
      const result = await operation();
      if (this.#timedOut) throw this.#timeoutError();
      return result;
    } catch (error) {
      // A read interrupted by our own close reports as Interrupted, BadResource or end
      // of stream; the cause was the timeout.
      if (this.#timedOut) throw this.#timeoutError();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #timeoutError(): TimeoutError {
    return new TimeoutError(`read timed out after ${this.timeoutMs} ms (${this.#progress})`);
  }
}

/**
 * One poll: connect, read parameters, calculations and visibilities on that one
 * connection, close. Throws (TimeoutError, ConnectionClosedError, ProtocolError,
 * ReadAbortedError or a Deno network error) rather than return anything incomplete.
 */
export async function readAllTables(options: ClientOptions): Promise<Reading> {
  const started = performance.now();
  const conn = await connectWithTimeout(
    options.host,
    options.port,
    options.timeoutMs,
    options.signal,
  );
  const connection = new LuxtronikConnection(conn, options.timeoutMs);
  const abort = () => connection.close();
  options.signal?.addEventListener("abort", abort);
  try {
    if (options.signal?.aborted) throw new ReadAbortedError();
    const parameters = await connection.readTable(READ_PARAMETERS) as Int32Array;
    const calculations = await connection.readTable(READ_CALCULATIONS) as Int32Array;
    const visibilities = await connection.readTable(READ_VISIBILITIES) as Int8Array;
    return {
      parameters,
      calculations,
      visibilities,
      durationMs: Math.round(performance.now() - started),
    };
  } catch (error) {
    if (options.signal?.aborted) throw new ReadAbortedError();
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", abort);
    connection.close();
  }
}
