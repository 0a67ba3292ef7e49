import {
  encodeReadRequest,
  encodeReply,
  headerBytes,
  MAX_TABLE_LENGTH,
  parseReplyHeader,
  parseRequest,
  parseValues,
  ProtocolError,
  READ_CALCULATIONS,
  READ_PARAMETERS,
  READ_VISIBILITIES,
} from "../src/luxtronik/protocol.ts";
import { assertEquals, assertThrows } from "./helpers.ts";

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");

Deno.test("read request is [command, 0] as big-endian int32", () => {
  assertEquals(hex(encodeReadRequest(READ_CALCULATIONS)), "00 00 0b bc 00 00 00 00");
  assertEquals(parseRequest(encodeReadRequest(READ_PARAMETERS)), { command: 3003, argument: 0 });
});

Deno.test("the reference's worked 3004 example decodes to 227, -35, 1", () => {
  const reply = encodeReply(READ_CALCULATIONS, [227, -35, 1]);
  assertEquals(
    hex(reply),
    "00 00 0b bc 00 00 00 00 00 00 00 03 00 00 00 e3 ff ff ff dd 00 00 00 01",
  );
  const header = parseReplyHeader(READ_CALCULATIONS, reply.subarray(0, 12));
  assertEquals(header, { command: 3004, status: 0, length: 3 });
  assertEquals(Array.from(parseValues(READ_CALCULATIONS, reply.subarray(12))), [227, -35, 1]);
});

Deno.test("parameters are signed int32 and visibilities signed int8", () => {
  const params = encodeReply(READ_PARAMETERS, [2147483647, -2147483648, 0, -1]);
  assertEquals(parseReplyHeader(READ_PARAMETERS, params.subarray(0, 8)).length, 4);
  assertEquals(Array.from(parseValues(READ_PARAMETERS, params.subarray(8))), [
    2147483647,
    -2147483648,
    0,
    -1,
  ]);
  const visis = encodeReply(READ_VISIBILITIES, [1, 0, -1, 127, -128]);
  assertEquals(headerBytes(READ_VISIBILITIES), 8);
  assertEquals(Array.from(parseValues(READ_VISIBILITIES, visis.subarray(8))), [
    1,
    0,
    -1,
    127,
    -128,
  ]);
});

Deno.test("wrong echo, busy status and absurd lengths are rejected with a typed error", () => {
  const kindOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      if (error instanceof ProtocolError) return error.kind;
      throw error;
    }
    return "accepted";
  };
  const header = (command: typeof READ_CALCULATIONS | typeof READ_PARAMETERS, o = {}) =>
    encodeReply(command, [], o).subarray(0, headerBytes(command));
  assertEquals(
    kindOf(() => parseReplyHeader(READ_CALCULATIONS, header(READ_CALCULATIONS, { echo: 3003 }))),
    "echo",
  );
  assertEquals(
    kindOf(() =>
      parseReplyHeader(READ_CALCULATIONS, header(READ_CALCULATIONS, { status: 1, length: 5 }))
    ),
    "busy",
  );
  assertEquals(
    kindOf(() =>
      parseReplyHeader(READ_CALCULATIONS, header(READ_CALCULATIONS, { status: -1, length: 5 }))
    ),
    "busy",
  );
  assertEquals(
    kindOf(() => parseReplyHeader(READ_PARAMETERS, header(READ_PARAMETERS, { length: 0 }))),
    "accepted",
  );
  assertEquals(
    kindOf(() => parseReplyHeader(READ_PARAMETERS, header(READ_PARAMETERS, { length: -4 }))),
    "length",
  );
  assertEquals(
    kindOf(() =>
      parseReplyHeader(READ_PARAMETERS, header(READ_PARAMETERS, { length: MAX_TABLE_LENGTH + 1 }))
    ),
    "length",
  );
  assertEquals(
    kindOf(() =>
      parseReplyHeader(READ_PARAMETERS, header(READ_PARAMETERS, { length: MAX_TABLE_LENGTH }))
    ),
    "accepted",
  );
  assertEquals(kindOf(() => parseReplyHeader(READ_CALCULATIONS, new Uint8Array(8))), "length");
  assertEquals(kindOf(() => parseValues(READ_PARAMETERS, new Uint8Array(7))), "length");
  assertThrows(() => parseRequest(new Uint8Array(12)), ProtocolError);
});
