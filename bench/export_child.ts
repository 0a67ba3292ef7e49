/**
 * Runs one `export` (the arguments are export's) and prints this process's peak resident
 * memory in bytes (VmHWM from /proc/self/status), for storage_bench.ts.
 */
import { exportCommand } from "../src/commands/export.ts";

const code = await exportCommand(Deno.args);
const status = Deno.readTextFileSync("/proc/self/status");
const peakKib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
console.log(peakKib * 1024);
Deno.exit(code);
