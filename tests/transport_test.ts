/** The client and the simulator talking over loopback TCP. */
import {
  ConnectionClosedError,
  connectWithTimeout,
  LuxtronikConnection,
  ReadAbortedError,
  readAllTables,
  TimeoutError,
} from "../src/luxtronik/client.ts";
import { encodeReply, READ_PARAMETERS } from "../src/luxtronik/protocol.ts";
import { fixtureTables, loadFixture, startSimulator } from "../src/luxtronik/simulator.ts";
import { modelTables } from "../src/luxtronik/heatpump_model.ts";
import { assert, assertEquals, assertRejects, realFixture, withPeer } from "./helpers.ts";

const FIXTURE = realFixture("benpru-luxtronik-59-v3.88.0.json");

function asArrays(
  t: {
    parameters: ArrayLike<number>;
    calculations: ArrayLike<number>;
    visibilities: ArrayLike<number>;
  },
) {
  return {
    parameters: Array.from(t.parameters),
    calculations: Array.from(t.calculations),
    visibilities: Array.from(t.visibilities),
  };
}

Deno.test("the client reads exactly the tables the simulator serves from a real fixture", async () => {
  const tables = await loadFixture(FIXTURE);
  const simulator = startSimulator({ port: 0, tablesAt: () => tables });
  try {
    const reading = await readAllTables({
      host: "127.0.0.1",
      port: simulator.port,
      timeoutMs: 5000,
    });
    assertEquals(asArrays(reading), asArrays(tables));
    assertEquals(reading.calculations.length, 238);
    assertEquals(simulator.stats.connections, 1);
    assertEquals(simulator.stats.reads, { 3003: 1, 3004: 1, 3005: 1 });
  } finally {
    await simulator.close();
  }
});

Deno.test("a reply split into 1-byte TCP writes decodes identically to an unsplit one", async () => {
  const tables = modelTables(1_767_225_600);
  const whole = startSimulator({ port: 0, tablesAt: () => tables });
  const split = startSimulator({ port: 0, tablesAt: () => tables, faults: ["split"] });
  try {
    const a = await readAllTables({ host: "127.0.0.1", port: whole.port, timeoutMs: 10_000 });
    const b = await readAllTables({ host: "127.0.0.1", port: split.port, timeoutMs: 10_000 });
    assertEquals(asArrays(b), asArrays(a));
    assertEquals(asArrays(b), asArrays(tables));
  } finally {
    await whole.close();
    await split.close();
  }
});

Deno.test("the simulator refuses a write request (3002) without acknowledging it", async () => {
  const messages: string[] = [];
  const simulator = startSimulator({ port: 0, log: (m) => messages.push(m) });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: simulator.port });
    const request = new Uint8Array(12);
    const view = new DataView(request.buffer);
    view.setInt32(0, 3002);
    view.setInt32(4, 894);
    view.setInt32(8, 1);
    await conn.write(request);
    const answer = await conn.read(new Uint8Array(16));
    conn.close();
    assertEquals(answer, null, "no acknowledgement, the connection is closed");
    assertEquals(simulator.stats.writesRefused, 1);
    assert(messages.some((m) => m.includes("refused a write request (3002) for parameter 894")));
  } finally {
    await simulator.close();
  }
});

Deno.test("a malformed fixture file is refused with its path in the message", async () => {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, '{"calculations": "lots"}');
    await assertRejects(
      () => loadFixture(path),
      (e: Error) => e.message.startsWith(`fixture ${path}: `),
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("fixtures: null entries are served as 0; malformed fixtures are refused", () => {
  const tables = fixtureTables({ calculations: [null, 5, null], parameters: null });
  assertEquals(Array.from(tables.calculations), [0, 5, 0]);
  assertEquals(tables.parameters.length, 0);
  let message = "";
  try {
    fixtureTables({ calculations: [1.5] });
  } catch (error) {
    message = (error as Error).message;
  }
  assertEquals(message, '"calculations[0]" is not an integer: 1.5');
});

Deno.test("a peer that stops mid-reply makes the read time out instead of hanging", async () => {
  const reply = encodeReply(READ_PARAMETERS, [1, 2, 3, 4]).subarray(0, 13);
  await withPeer([reply], "hold", async (port) => {
    await assertRejects(
      () => readAllTables({ host: "127.0.0.1", port, timeoutMs: 300 }),
      (e: Error) => e instanceof TimeoutError && e.message.includes("5 of 16 bytes"),
    );
  });
});

Deno.test("a peer that closes mid-reply gives ConnectionClosedError", async () => {
  const reply = encodeReply(READ_PARAMETERS, [1, 2, 3, 4]).subarray(0, 10);
  await withPeer([reply], "close", async (port) => {
    await assertRejects(
      () => readAllTables({ host: "127.0.0.1", port, timeoutMs: 5000 }),
      ConnectionClosedError,
    );
  });
});

Deno.test("connecting to a closed port fails fast, and an aborted poll stops at once", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assertRejects(
    () => connectWithTimeout("127.0.0.1", port, 2000),
    Deno.errors.ConnectionRefused,
  );

  const stalled = encodeReply(READ_PARAMETERS, [1]).subarray(0, 4);
  await withPeer([stalled], "hold", async (port) => {
    const controller = new AbortController();
    const reading = readAllTables({
      host: "127.0.0.1",
      port,
      timeoutMs: 60_000,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    // Reported as the abort it is, not as a fault of the heat pump.
    await assertRejects(() => reading, ReadAbortedError);
  });
});

Deno.test("readExact collects bytes across many small segments", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const sending = (async () => {
    const conn = await listener.accept();
    for (let i = 0; i < 10; i++) await conn.write(new Uint8Array([i]));
    conn.close();
  })();
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
  });
  const connection = new LuxtronikConnection(conn, 5000);
  assertEquals(Array.from(await connection.readExact(10)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  connection.close();
  connection.close();
  await sending;
  listener.close();
});
