/**
 * Reads the three tables from a heat pump over TCP: one connection per poll, closed
 * afterwards and after any error (a stream that went wrong is no longer aligned).
 *
 * Deno sockets have no timeout option, so every connect and read races a timer that
 * closes the connection; a short read is normal TCP and is read on until exactly the
 * announced number of bytes has arrived.
 */
import {
  encodeReadRequest,
  headerBytes,
  parseReplyHeader,
  parseValues,
  READ_CALCULATIONS,
  READ_PARAMETERS,
  READ_VISIBILITIES,
  type ReadCommand,
  valueBytes,
} from "./protocol.ts";

export interface ClientOptions {
  host: string;
  port: number;
  /** Connect timeout and read timeout (each read may wait this long for its next bytes). */
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

/** Connects within `timeoutMs`; a connection that arrives after the timeout is closed. */
export async function connectWithTimeout(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<Deno.TcpConn> {
  const connecting = Deno.connect({ hostname: host, port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TimeoutError(`connect to ${host}:${port} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([connecting, timeout]);
  } catch (error) {
    connecting.then((conn) => conn.close(), () => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One open connection to the controller with exact, timed reads. Closing the
 * connection is what interrupts a pending read when its timer fires.
 */
export class LuxtronikConnection {
  #closed = false;

  constructor(private readonly conn: Deno.Conn, private readonly timeoutMs: number) {}

  /** Sends a read request and returns the validated table. */
  async readTable(command: ReadCommand): Promise<Int32Array | Int8Array> {
    await this.#writeAll(encodeReadRequest(command));
    const header = parseReplyHeader(command, await this.readExact(headerBytes(command)));
    return parseValues(command, await this.readExact(header.length * valueBytes(command)));
  }

  /** Reads exactly `count` bytes, however the peer splits them into segments. */
  async readExact(count: number): Promise<Uint8Array> {
    const buffer = new Uint8Array(count);
    let received = 0;
    while (received < count) {
      const n = await this.#timed(
        () => this.conn.read(buffer.subarray(received)),
        `read timed out after ${this.timeoutMs} ms (${received} of ${count} bytes)`,
      );
      if (n === null) {
        throw new ConnectionClosedError(
          `connection closed by the heat pump after ${received} of ${count} bytes`,
        );
      }
      received += n;
    }
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

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      written += await this.#timed(
        () => this.conn.write(bytes.subarray(written)),
        `write timed out after ${this.timeoutMs} ms`,
      );
    }
  }

  async #timed<T>(operation: () => Promise<T>, timeoutMessage: string): Promise<T> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.close();
    }, this.timeoutMs);
    try {
      return await operation();
    } catch (error) {
      if (timedOut) throw new TimeoutError(timeoutMessage);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** One poll: connect, read parameters, calculations and visibilities, close. */
export async function readAllTables(options: ClientOptions): Promise<Reading> {
  const started = performance.now();
  const conn = await connectWithTimeout(options.host, options.port, options.timeoutMs);
  const connection = new LuxtronikConnection(conn, options.timeoutMs);
  const abort = () => connection.close();
  options.signal?.addEventListener("abort", abort);
  try {
    options.signal?.throwIfAborted();
    const parameters = await connection.readTable(READ_PARAMETERS) as Int32Array;
    const calculations = await connection.readTable(READ_CALCULATIONS) as Int32Array;
    const visibilities = await connection.readTable(READ_VISIBILITIES) as Int8Array;
    return {
      parameters,
      calculations,
      visibilities,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    options.signal?.removeEventListener("abort", abort);
    connection.close();
  }
}
