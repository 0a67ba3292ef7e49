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
import { assertEquals, assertRejects, withPeer } from "./helpers.ts";

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
  // A switched-off host on the LAN: Deno throws a plain Error with the errno as `code`.
  const noRoute = Object.assign(new Error("No route to host (os error 113)"), {
    code: "EHOSTUNREACH",
  });
  assertEquals(failureKind(noRoute), "network");
  assertEquals(failureKind(Object.assign(new Error("x"), { code: "ENETDOWN" })), "network");
  const dns = "failed to lookup address information: Temporary failure in name resolution";
  assertEquals(failureKind(new Error(dns)), "network");
  assertEquals(failureKind(Object.assign(new Error("x"), { code: "EWHATEVER" })), "unexpected");
  assertEquals(failureKind(new TypeError("bug")), "unexpected");
  assertEquals(failureKind("thrown string"), "unexpected");
});

Deno.test("extra bytes after the announced values reject the reading ('trailing')", async () => {
  const parameters = encodeReply(READ_PARAMETERS, [1, 2, 3]);
  const withExtra = new Uint8Array(parameters.length + 2);
  withExtra.set(parameters);
  await withPeer([withExtra], "hold", async (port) => {
    await assertRejects(
      () => readAllTables({ host: "127.0.0.1", port, timeoutMs: 2_000 }),
      (e: Error) => failureKind(e) === "trailing",
    );
  });
  // Also when the announced table is empty: the extra bytes come with the header.
  const empty = encodeReply(READ_PARAMETERS, [], {});
  await withPeer([Uint8Array.from([...empty, 0, 0, 0, 1])], "hold", async (port) => {
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
    "hold",
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
    "hold",
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
