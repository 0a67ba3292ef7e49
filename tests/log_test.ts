/** Logs: one line per event, text or JSON, filtered by level. */
import { createLogger, formatLine, silentLogger } from "../src/log.ts";
import { assert, assertEquals } from "./helpers.ts";

const AT = new Date("2026-03-29T05:00:30.250Z");

Deno.test("text lines: time, padded level, message, key=value details quoted when needed", () => {
  assertEquals(
    formatLine("text", AT, "info", "poll stored", { duration_ms: 41, attempts: 1 }),
    "2026-03-29T05:00:30.250Z INFO  poll stored duration_ms=41 attempts=1",
  );
  assertEquals(
    formatLine("text", AT, "warn", "poll failed; gap recorded", {
      kind: "timeout",
      reason: 'timeout: read timed out (0 of 12 bytes) "x"',
      skipped: undefined,
      ok: false,
      none: null,
    }),
    '2026-03-29T05:00:30.250Z WARN  poll failed; gap recorded kind=timeout reason="timeout: read timed out (0 of 12 bytes) \\"x\\"" ok=false none=null',
  );
});

Deno.test("JSON lines: one object per line with time, level, msg and the fields", () => {
  const line = formatLine("json", AT, "error", "poll loop failed; restarting", {
    error: "TypeError: x",
    restart_in_s: 5,
    gone: undefined,
  });
  assert(!line.includes("\n"));
  assertEquals(JSON.parse(line), {
    time: "2026-03-29T05:00:30.250Z",
    level: "error",
    msg: "poll loop failed; restarting",
    error: "TypeError: x",
    restart_in_s: 5,
  });
});

Deno.test("LOG_LEVEL filters: info hides debug, warn hides info, debug shows all", () => {
  const emit = (level: "debug" | "info" | "warn" | "error") => {
    const lines: string[] = [];
    const logger = createLogger({ level, write: (l) => lines.push(l), now: () => AT });
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    return lines.map((l) => l.split(" ")[1]);
  };
  assertEquals(emit("debug"), ["DEBUG", "INFO", "WARN", "ERROR"]);
  assertEquals(emit("info"), ["INFO", "WARN", "ERROR"]);
  assertEquals(emit("warn"), ["WARN", "ERROR"]);
  assertEquals(emit("error"), ["ERROR"]);
});

Deno.test("the default writer is standard error, not standard output", async () => {
  const script = `
    import { createLogger } from ${JSON.stringify(new URL("../src/log.ts", import.meta.url).href)};
    createLogger({ format: "json" }).info("hello", { n: 1 });
  `;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(code, 0);
  assertEquals(new TextDecoder().decode(stdout), "");
  const line = JSON.parse(new TextDecoder().decode(stderr));
  assertEquals([line.level, line.msg, line.n], ["info", "hello", 1]);
  silentLogger.error("discarded");
});
