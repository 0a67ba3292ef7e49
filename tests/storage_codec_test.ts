import {
  ByteReader,
  ByteWriter,
  CodecError,
  decodeChunk,
  decodeChunkTimestamps,
  decodeInt32Snapshot,
  decodeInt8Snapshot,
  decodeSparseDelta,
  deflate,
  encodeChunk,
  encodeSnapshot,
  encodeSparseDelta,
  inflate,
  sameValues,
} from "../src/storage/codec.ts";
import { assert, assertEquals, assertThrows } from "./storage_helpers.ts";

Deno.test("varints: exact up to 2^53 unsigned, 2^52 signed", () => {
  const values = [0, 1, 127, 128, 300, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 33 + 5, 2 ** 52 - 1];
  const out = new ByteWriter(1);
  for (const v of values) out.uint(v);
  out.uint(2 ** 53 - 1);
  for (const v of values) out.int(-v);
  for (const v of values) out.int(v);
  out.raw(Uint8Array.of(9, 8));
  const input = new ByteReader(out.finish());
  assertEquals(values.map(() => input.uint()), values);
  assertEquals(input.uint(), 2 ** 53 - 1);
  assertEquals(values.map(() => input.int()), values.map((v) => (v === 0 ? 0 : -v)));
  assertEquals(values.map(() => input.int()), values);
  assertEquals(Array.from(input.raw(2)), [9, 8]);
  assert(input.done);
  assertThrows(() => input.byte(), CodecError);
  assertThrows(() => input.raw(1), CodecError);
  assertThrows(() => new ByteReader(new Uint8Array(10).fill(0xff)).uint(), CodecError);
});

Deno.test("sparse deltas: only changed entries, exact inverse, bad input refused", () => {
  const base = Int32Array.of(0, 5, -(2 ** 31), 2 ** 31 - 1, 7);
  const values = Int32Array.of(0, 6, 2 ** 31 - 1, -(2 ** 31), 7);
  const delta = encodeSparseDelta(values, base);
  assertEquals(Array.from(decodeSparseDelta(delta, base)), Array.from(values));
  assertEquals(encodeSparseDelta(base, base).length, 0);
  assertThrows(() => encodeSparseDelta(Int32Array.of(1), base), CodecError);
  assertThrows(() => decodeSparseDelta(Uint8Array.of(9, 2), base), CodecError);
});

Deno.test("chunks: round trip with nulls, varying lengths and int32 extremes; corruption detected", () => {
  const polls = [
    { ts: -5, durationMs: null, parametersId: null, visibilitiesId: null, calculations: null },
    {
      ts: 1_700_000_000_000,
      durationMs: 0,
      parametersId: 3,
      visibilitiesId: 4,
      calculations: Int32Array.of(-(2 ** 31), 2 ** 31 - 1, 0),
    },
    {
      ts: 1_700_000_030_017,
      durationMs: 12_345,
      parametersId: 3,
      visibilitiesId: 9,
      calculations: Int32Array.of(2 ** 31 - 1),
    },
    {
      ts: 1_700_000_060_000,
      durationMs: 7,
      parametersId: null,
      visibilitiesId: 9,
      calculations: new Int32Array(0),
    },
  ];
  const data = encodeChunk(polls);
  const back = decodeChunk(data).map((p) => ({
    ...p,
    calculations: p.calculations ? Int32Array.from(p.calculations) : null,
  }));
  assertEquals(back, polls);
  assertEquals(decodeChunkTimestamps(data), polls.map((p) => p.ts));
  assertThrows(() => decodeChunk(data.slice(0, data.length - 3)), CodecError);
  assertThrows(() => decodeChunk(deflate(Uint8Array.of(7, 0))), CodecError);
  assertThrows(() => decodeChunk(deflate(Uint8Array.of(1, 1, 0, 0, 0, 0, 2, 9))), CodecError);
  assertThrows(() => decodeChunk(deflate(Uint8Array.of(1, 0, 0))), CodecError);
  assertThrows(() => inflate(Uint8Array.of(0xff, 0xff, 0xff)), CodecError);
});

Deno.test("snapshots and table comparison", () => {
  const params = Int32Array.of(1, -2, 2 ** 31 - 1);
  assertEquals(Array.from(decodeInt32Snapshot(encodeSnapshot(params))), [1, -2, 2 ** 31 - 1]);
  const vis = Int8Array.of(-128, 0, 127);
  assertEquals(Array.from(decodeInt8Snapshot(encodeSnapshot(vis))), [-128, 0, 127]);
  assertThrows(() => decodeInt32Snapshot(encodeSnapshot(Int8Array.of(1, 2, 3))), CodecError);
  assert(sameValues(params, params.slice()));
  assert(!sameValues(params, Int32Array.of(1, -2, 0)));
  assert(!sameValues(params, Int32Array.of(1, -2)));
  assert(sameValues(vis, vis.slice()));
  assert(!sameValues(vis, Int8Array.of(-128, 0, 126)));
  assert(!sameValues(Int8Array.of(0, 0, 0, 0), Int32Array.of(0)));
  const odd = new Int8Array(new ArrayBuffer(9), 1, 8);
  assert(sameValues(odd, new Int8Array(8)));
});
