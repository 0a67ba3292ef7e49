/**
 * The client's failure handling over loopback: typed failure kinds for everything a
 * peer can do, a real TCP reset, bytes beyond the announced length, aborts.
 */
import net from "node:net";
import {
  ConnectionClosedError,
  connectWithTimeout,
  failureKind,
  ReadAbortedError,
  readAllTables,
  TimeoutError,
} from "../src/luxtronik/client.ts";
import {
  encodeReply,
  ProtocolError,
  READ_CALCULATIONS,
  READ_PARAMETERS,
  READ_VISIBILITIES,
} from "../src/luxtronik/protocol.ts";
import { assertEquals, assertRejects } from "./helpers.ts";

Deno.test("failureKind names every way a poll fails", () => {
  assertEquals(failureKind(new ProtocolError("echo", "x")), "echo");
  assertEquals(failureKind(new ProtocolError("trailing", "x")), "trailing");
  assertEquals(failureKind(new TimeoutError("x")), "timeout");
  assertEquals(failureKind(new Deno.errors.TimedOut("x")), "timeout");
  assertEquals(failureKind(new ConnectionClosedError("x")), "closed");
  assertEquals(failureKind(new ReadAbortedError()), "aborted");
  assertEquals(failureKind(new Deno.errors.ConnectionRefused("x")), "refused");
  assertEquals(failureKind(new Deno.errors.ConnectionReset("x")), "reset");
  assertEquals(failureKind(new Deno.errors.ConnectionAborted("x")), "reset");
  assertEquals(failureKind(new Deno.errors.BrokenPipe("x")), "reset");
  assertEquals(failureKind(new Deno.errors.NotFound("no such host")), "network");
  assertEquals(failureKind(new TypeError("bug")), "unexpected");
  assertEquals(failureKind("thrown string"), "unexpected");
});

/** A peer answering each request from `replies` (in order); `then` after the last one. */
async function withPeer(
  replies: Uint8Array[],
  test: (port: number) => Promise<void>,
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      for (const reply of replies) {
        if (await conn.read(new Uint8Array(8)) === null) break;
        await conn.write(reply);
      }
    }
  })().catch(() => {});
  try {
    await test((listener.addr as Deno.NetAddr).port);
  } finally {
    listener.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await serving;
  }
}

Deno.test("extra bytes after the announced values reject the reading ('trailing')", async () => {
  const parameters = encodeReply(READ_PARAMETERS, [1, 2, 3]);
  const withExtra = new Uint8Array(parameters.length + 2);
  withExtra.set(parameters);
  await withPeer([withExtra], async (port) => {
    await assertRejects(
      () => readAllTables({ host: "127.0.0.1", port, timeoutMs: 2_000 }),
      (e: Error) => failureKind(e) === "trailing",
    );
  });
  // Also when the announced table is empty: the extra bytes come with the header.
  const empty = encodeReply(READ_PARAMETERS, [], {});
  await withPeer([Uint8Array.from([...empty, 0, 0, 0, 1])], async (port) => {
    await assertRejects(
      () => readAllTables({ host: "127.0.0.1", port, timeoutMs: 2_000 }),
      (e: Error) => failureKind(e) === "trailing",
    );
  });
});

Deno.test("a length shrunk by one is caught, never stored as a shorter table", async () => {
  const reply = encodeReply(READ_VISIBILITIES, [1, 0, 1, 1]);
  new DataView(reply.buffer).setInt32(4, 3); // announces 3, sends 4
  await withPeer(
    [encodeReply(READ_PARAMETERS, [7]), encodeReply(READ_CALCULATIONS, [8]), reply],
    async (port) => {
      await assertRejects(
        () => readAllTables({ host: "127.0.0.1", port, timeoutMs: 2_000 }),
        (e: Error) => failureKind(e) === "trailing",
      );
    },
  );
});

Deno.test("busy status: rejected after the header, without reading the values", async () => {
  await withPeer(
    [encodeReply(READ_PARAMETERS, [7]), encodeReply(READ_CALCULATIONS, [8, 9], { status: 1 })],
    async (port) => {
      await assertRejects(
        () => readAllTables({ host: "127.0.0.1", port, timeoutMs: 2_000 }),
        (e: Error) => failureKind(e) === "busy" && e.message.includes("status 1"),
      );
    },
  );
});

Deno.test("a real TCP reset from the peer is a 'reset' failure", async () => {
  const server = net.createServer((socket) => {
    socket.on("data", () => socket.resetAndDestroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    await assertRejects(
      () => readAllTables({ host: "127.0.0.1", port, timeoutMs: 2_000 }),
      (e: Error) => failureKind(e) === "reset",
    );
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

Deno.test("an abort before or during connect stops at once with ReadAbortedError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  try {
    const aborted = AbortSignal.abort();
    await assertRejects(
      () => readAllTables({ host: "127.0.0.1", port, timeoutMs: 60_000, signal: aborted }),
    );
    const controller = new AbortController();
    const connecting = connectWithTimeout("127.0.0.1", port, 60_000, controller.signal);
    controller.abort();
    await assertRejects(() => connecting, ReadAbortedError);
  } finally {
    listener.close();
  }
});

Deno.test("a read aborted mid-reply reports the abort, not a heat pump fault", async () => {
  await withPeer([encodeReply(READ_PARAMETERS, [1, 2]).subarray(0, 10)], async (port) => {
    const controller = new AbortController();
    const reading = readAllTables({
      host: "127.0.0.1",
      port,
      timeoutMs: 60_000,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 100);
    await assertRejects(() => reading, ReadAbortedError);
  });
});
