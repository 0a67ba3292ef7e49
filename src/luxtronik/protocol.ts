/**
 * The Luxtronik 2.x configuration-interface wire format (port 8889), as pure functions.
 *
 * Requests are two big-endian int32 words `[command, 0]`. Replies start with the echoed
 * command; 3004 adds a status word; then a length N and N values (int32 for 3003/3004,
 * int8 for 3005). Nothing here does I/O, so the same code serves the client, the
 * simulator and the fuzz tests.
 *
 * There is deliberately no encoder for command 3002 (write a parameter): the logger is
 * read-only towards the heat pump.
 *
 * @example
 * ```ts
 * const request = encodeReadRequest(READ_CALCULATIONS); // 00 00 0B BC 00 00 00 00
 * ```
 */

export const READ_PARAMETERS = 3003;
export const READ_CALCULATIONS = 3004;
export const READ_VISIBILITIES = 3005;
/** Only recognised so the simulator can refuse it; the client never sends it. */
export const WRITE_PARAMETER = 3002;

export type ReadCommand =
  | typeof READ_PARAMETERS
  | typeof READ_CALCULATIONS
  | typeof READ_VISIBILITIES;

/** Read requests are two int32 words. */
export const REQUEST_BYTES = 8;

/**
 * Largest table we accept. Real controllers send at most ~1,200 entries; a bigger
 * length means a corrupt or shifted stream, and trusting it would make us wait for
 * megabytes that never come.
 */
export const MAX_TABLE_LENGTH = 10_000;

/**
 * Why a reply was rejected; lets the service log a typed reason and tests check it.
 * `trailing`: more bytes arrived than the reply announced (the stream is not aligned).
 */
export type ProtocolErrorKind = "echo" | "length" | "busy" | "trailing" | "request";

export class ProtocolError extends Error {
  constructor(readonly kind: ProtocolErrorKind, message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** The part of a reply before the values. */
export interface ReplyHeader {
  command: ReadCommand;
  status: number;
  length: number;
}

export function isReadCommand(word: number): word is ReadCommand {
  return word === READ_PARAMETERS || word === READ_CALCULATIONS || word === READ_VISIBILITIES;
}

export function encodeReadRequest(command: ReadCommand): Uint8Array {
  const bytes = new Uint8Array(REQUEST_BYTES);
  new DataView(bytes.buffer).setInt32(0, command);
  return bytes;
}

/** Bytes of the header of a reply to `command`: echo, (status,) length. */
export function headerBytes(command: ReadCommand): number {
  return command === READ_CALCULATIONS ? 12 : 8;
}

/** Bytes per value in a reply to `command`. */
export function valueBytes(command: ReadCommand): number {
  return command === READ_VISIBILITIES ? 1 : 4;
}

/**
 * Checks a reply header. Throws ProtocolError for a wrong echo, a non-zero status
 * ("busy": the controller is applying changed parameters; drop the read and retry
 * later) or a length outside 0..MAX_TABLE_LENGTH.
 */
export function parseReplyHeader(command: ReadCommand, header: Uint8Array): ReplyHeader {
  if (header.length !== headerBytes(command)) {
    throw new ProtocolError(
      "length",
      `header of ${command} must be ${headerBytes(command)} bytes, got ${header.length}`,
    );
  }
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const echo = view.getInt32(0);
  if (echo !== command) {
    throw new ProtocolError("echo", `expected echo ${command}, got ${echo}`);
  }
  const status = command === READ_CALCULATIONS ? view.getInt32(4) : 0;
  if (status !== 0) {
    throw new ProtocolError("busy", `controller busy (status ${status})`);
  }
  const length = view.getInt32(command === READ_CALCULATIONS ? 8 : 4);
  // An empty table is consistent (python-luxtronik accepts it too); a negative or huge
  // length means the stream is corrupt or shifted.
  if (length < 0 || length > MAX_TABLE_LENGTH) {
    throw new ProtocolError(
      "length",
      `table length ${length} of ${command} is outside 0..${MAX_TABLE_LENGTH}`,
    );
  }
  return { command, status, length };
}

/** Decodes the value bytes of a reply: signed int32 (3003/3004) or signed int8 (3005). */
export function parseValues(command: ReadCommand, body: Uint8Array): Int32Array | Int8Array {
  const size = valueBytes(command);
  if (body.length % size !== 0) {
    throw new ProtocolError("length", `body of ${body.length} bytes is not a multiple of ${size}`);
  }
  if (size === 1) {
    return new Int8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length));
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const values = new Int32Array(body.length / 4);
  for (let i = 0; i < values.length; i++) values[i] = view.getInt32(i * 4);
  return values;
}

/** A request as the simulator sees it. */
export interface Request {
  command: number;
  argument: number;
}

export function parseRequest(bytes: Uint8Array): Request {
  if (bytes.length !== REQUEST_BYTES) {
    throw new ProtocolError("request", `a request is ${REQUEST_BYTES} bytes, got ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { command: view.getInt32(0), argument: view.getInt32(4) };
}

/** Options that let the simulator send deliberately wrong replies. */
export interface ReplyOverrides {
  echo?: number;
  status?: number;
  length?: number;
}

/** Encodes a reply to a read command (used by the simulator and tests). */
export function encodeReply(
  command: ReadCommand,
  values: ArrayLike<number>,
  overrides: ReplyOverrides = {},
): Uint8Array {
  const head = headerBytes(command);
  const size = valueBytes(command);
  const bytes = new Uint8Array(head + values.length * size);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, overrides.echo ?? command);
  let offset = 4;
  if (command === READ_CALCULATIONS) {
    view.setInt32(offset, overrides.status ?? 0);
    offset += 4;
  }
  view.setInt32(offset, overrides.length ?? values.length);
  offset += 4;
  for (let i = 0; i < values.length; i++) {
    if (size === 1) view.setInt8(offset + i, values[i]);
    else view.setInt32(offset + i * 4, values[i]);
  }
  return bytes;
}
