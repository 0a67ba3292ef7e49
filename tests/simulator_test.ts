/** The simulator's fault machinery: reproducible plans, outage schedule, faulty bytes, CLI. */
import {
  DEFAULT_FAULT_SETTINGS,
  FAULT_MODES,
  type FaultMode,
  faultyReply,
  inOutage,
  isFaultMode,
  LENGTH_CHANGE_EXTRA,
  lengthChangedTables,
  nextOutageChange,
  PER_CONNECTION_FAULTS,
  planConnection,
  seededRandom,
  startSimulator,
} from "../src/luxtronik/simulator.ts";
import {
  headerBytes,
  parseReplyHeader,
  ProtocolError,
  READ_CALCULATIONS,
  READ_PARAMETERS,
  READ_VISIBILITIES,
} from "../src/luxtronik/protocol.ts";
import { readAllTables } from "../src/luxtronik/client.ts";
import { assert, assertEquals, runCli, startSimulatorProcess } from "./helpers.ts";
import { FIXTURE } from "./poller_harness.ts";

const settings = { ...DEFAULT_FAULT_SETTINGS, seed: 5, probability: 0.5 };

Deno.test("seededRandom: same seed, same sequence, all in [0, 1)", () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const values = Array.from({ length: 1000 }, () => a());
  assertEquals(values, Array.from({ length: 1000 }, () => b()));
  assert(values.every((v) => v >= 0 && v < 1));
  assert(new Set(values).size > 990);
  assert(seededRandom(43)() !== values[0]);
});

Deno.test("every fault mode is documented, and the per-connection ones are modes", () => {
  for (const [mode, text] of Object.entries(FAULT_MODES)) {
    assert(isFaultMode(mode) && text.length > 10, mode);
  }
  assert(PER_CONNECTION_FAULTS.every(isFaultMode));
  assert(!isFaultMode("explode"));
});

Deno.test("planConnection: reproducible from seed and number; probability honoured", () => {
  const faults = new Set<FaultMode>(PER_CONNECTION_FAULTS);
  const plans = Array.from({ length: 400 }, (_, i) => planConnection(i, faults, settings));
  const again = Array.from({ length: 400 }, (_, i) => planConnection(i, faults, settings));
  assertEquals(plans.map((p) => [p.fault, p.command]), again.map((p) => [p.fault, p.command]));
  const hit = plans.filter((p) => p.fault !== null).length;
  assert(hit > 150 && hit < 250, `${hit} of 400 hit at probability 0.5`);
  for (const fault of PER_CONNECTION_FAULTS) {
    assert(plans.some((p) => p.fault === fault), `${fault} never planned`);
  }
  assert(plans.filter((p) => p.fault === "busy").every((p) => p.command === READ_CALCULATIONS));
  assert(plans.filter((p) => p.fault === "reset").every((p) => p.command !== READ_PARAMETERS));
  const none = planConnection(3, faults, { ...settings, probability: 0 });
  assertEquals(none.fault, null);
  const lengths = new Set<FaultMode>(["length-change"]);
  assertEquals([0, 1, 2, 3].map((i) => planConnection(i, lengths, settings).longerTables), [
    false,
    true,
    false,
    true,
  ]);
});

Deno.test("outage schedule: first offlineMs of every period, or once at start", () => {
  const s = { ...settings, offlineMs: 10, periodMs: 100 };
  assertEquals([0, 9, 10, 99, 100, 105, 110].map((t) => inOutage(t, s)), [
    true,
    true,
    false,
    false,
    true,
    true,
    false,
  ]);
  assertEquals([0, 9, 10, 99].map((t) => nextOutageChange(t, s)), [10, 1, 90, 1]);
  const once = { ...settings, offlineMs: 10, periodMs: 0 };
  assertEquals([inOutage(5, once), inOutage(500, once)], [true, false]);
  assertEquals([nextOutageChange(5, once), nextOutageChange(50, once)], [5, null]);
  assertEquals(nextOutageChange(5, { ...settings, offlineMs: 100, periodMs: 100 }), null);
});

Deno.test("faultyReply: each fault makes the reply fail the protocol checks as intended", () => {
  const values = [1, 2, 3];
  const kindOf = (bytes: Uint8Array, command: 3003 | 3004 | 3005) => {
    try {
      parseReplyHeader(command, bytes.subarray(0, headerBytes(command)));
      return "accepted";
    } catch (error) {
      return (error as ProtocolError).kind;
    }
  };
  for (let seed = 0; seed < 30; seed++) {
    const random = seededRandom(seed);
    for (const command of [READ_PARAMETERS, READ_CALCULATIONS, READ_VISIBILITIES] as const) {
      assertEquals(kindOf(faultyReply("wrong-echo", command, values, random), command), "echo");
      assertEquals(
        kindOf(faultyReply("absurd-length", command, values, random), command),
        "length",
      );
      assertEquals(kindOf(faultyReply("garbage", command, values, random), command), "echo");
      const trailing = faultyReply("trailing", command, values, random);
      assertEquals(kindOf(trailing, command), "accepted");
      assert(trailing.length > headerBytes(command) + 3 * (command === 3005 ? 1 : 4));
    }
    assertEquals(kindOf(faultyReply("busy", 3004, values, random), 3004), "busy");
  }
});

Deno.test("lengthChangedTables appends entries and keeps the original ones", () => {
  const longer = lengthChangedTables(FIXTURE);
  assertEquals(
    longer.calculations.length,
    FIXTURE.calculations.length + LENGTH_CHANGE_EXTRA.calculations,
  );
  assertEquals(
    longer.parameters.length,
    FIXTURE.parameters.length + LENGTH_CHANGE_EXTRA.parameters,
  );
  assertEquals(
    longer.visibilities.length,
    FIXTURE.visibilities.length + LENGTH_CHANGE_EXTRA.visibilities,
  );
  assertEquals(
    Array.from(longer.calculations.subarray(0, FIXTURE.calculations.length)),
    Array.from(FIXTURE.calculations),
  );
});

Deno.test("refuse: nothing listens during the outage; the same port answers after it", async () => {
  const messages: string[] = [];
  const simulator = startSimulator({
    port: 0,
    tablesAt: () => FIXTURE,
    faults: ["refuse"],
    faultSettings: { offlineMs: 300, periodMs: 0 },
    log: (m) => messages.push(m),
  });
  try {
    assert(simulator.offline);
    // Deno releases the closed listener's socket a moment later (its accept is pending).
    await new Promise((r) => setTimeout(r, 50));
    await readAllTables({ host: "127.0.0.1", port: simulator.port, timeoutMs: 1_000 }).then(
      () => assert(false, "connected during the outage"),
      (e) => assert(e instanceof Deno.errors.ConnectionRefused, String(e)),
    );
    while (simulator.offline) await new Promise((r) => setTimeout(r, 20));
    const reading = await readAllTables({
      host: "127.0.0.1",
      port: simulator.port,
      timeoutMs: 2_000,
    });
    assertEquals(Array.from(reading.calculations), Array.from(FIXTURE.calculations));
    assertEquals(simulator.stats.faults.refuse, 1);
    assertEquals(messages, ["outage: refuse", "outage over"]);
  } finally {
    await simulator.close();
  }
});

Deno.test("simulate CLI: fault flags are checked (exit 2) and accepted as lists", async () => {
  const bad = await runCli(["simulate", "--port", "0", "--fault", "split,explode"]);
  assertEquals(bad.code, 2);
  assert(bad.stderr.includes('unknown --fault "explode"') && bad.stderr.includes("reboot"));
  const badNumber = await runCli([
    "simulate",
    "--port",
    "0",
    "--fault",
    "busy",
    "--fault-probability",
    "2",
  ]);
  assertEquals(badNumber.code, 2);
  assert(badNumber.stderr.includes("--fault-probability must be a number from 0 to 1"));

  const { process, port } = await startSimulatorProcess([
    "--fault",
    "split,busy",
    "--fault",
    "length-change",
    "--fault-seed",
    "9",
    "--fault-probability",
    "0",
    "--offline-sec",
    "1",
    "--period-sec",
    "0",
  ]);
  try {
    const reading = await readAllTables({ host: "127.0.0.1", port, timeoutMs: 10_000 });
    assert(reading.calculations.length > 0);
    const settingsLine = await process.waitFor(/simulator faults/);
    assert(
      settingsLine.includes("faults=split,busy,length-change") && settingsLine.includes("seed=9"),
    );
  } finally {
    assertEquals(await process.stop(), 0);
  }
});
