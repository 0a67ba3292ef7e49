/** Shared test helpers: assertions, temp dirs, fixtures and CLI subprocesses. */
import { AssertionError } from "node:assert";
export {
  deepStrictEqual as assertEquals,
  ok as assert,
  rejects as assertRejects,
  throws as assertThrows,
} from "node:assert/strict";

export const REPO_ROOT = new URL("../", import.meta.url);
export const SHARED_DIR = new URL("../../shared/", import.meta.url);
export const MAIN_TS = new URL("../main.ts", import.meta.url).pathname;
/** `deno run` flags of runCli/CliProcess; tests/permissions_test.ts passes the binary's. */
export const DEFAULT_RUN_FLAGS = ["-A", "--unstable-cron"];

/**
 * The real-world fixtures, copied from ../shared/fixtures/real/ (raw values from public
 * bug reports) so a clone tests on its own; fixtures_test checks the copy is current.
 */
export const REAL_FIXTURES_DIR = new URL("./fixtures/real/", import.meta.url);

/** Path of a real fixture (tests/fixtures/real/, a copy of ../shared/fixtures/real/). */
export function realFixture(name: string): string {
  return new URL(name, REAL_FIXTURES_DIR).pathname;
}

export function fail(message: string): never {
  throw new AssertionError({ message });
}

/** A fresh temporary directory, removed again by the returned dispose(). */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "lux-test-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `main.ts <args>` to completion. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; stdin?: string; flags?: string[] } = {},
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.flags ?? DEFAULT_RUN_FLAGS), MAIN_TS, ...args],
    env: options.env,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/**
 * `ingest` of the recording `lines` into `db` (which must succeed), then `export` of
 * `from <= ts < to` with `flags`, both in the environment `env`.
 */
export async function ingestThenExport(
  db: string,
  lines: string,
  range: { from: string; to: string },
  options: { env?: Record<string, string>; flags?: string[] } = {},
): Promise<CliResult> {
  const ingest = await runCli(["ingest", "--db", db, "-"], { stdin: lines, env: options.env });
  if (ingest.code !== 0) fail(`ingest exited ${ingest.code}: ${ingest.stderr}`);
  return await runCli(
    ["export", "--db", db, "--from", range.from, "--to", range.to, ...(options.flags ?? [])],
    { env: options.env },
  );
}

/** A long-running `main.ts` subprocess whose output lines can be awaited. */
export class CliProcess {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  readonly #waiters: {
    pattern: RegExp;
    resolve: (line: string) => void;
    reject: (error: Error) => void;
  }[] = [];
  readonly #pumps: Promise<void>[];

  constructor(
    args: string[],
    options: { env?: Record<string, string>; cwd?: string; flags?: string[] } = {},
  ) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...(options.flags ?? DEFAULT_RUN_FLAGS), MAIN_TS, ...args],
      env: options.env,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#pumps = [this.#pump(this.child.stdout), this.#pump(this.child.stderr)];
    // A process that dies fails every waiter at once instead of letting it time out.
    this.child.status.then(async (status) => {
      await Promise.all(this.#pumps);
      for (const waiter of this.#waiters.splice(0)) {
        waiter.reject(
          new Error(
            `process exited (${status.code}) before: ${waiter.pattern}; output:\n${
              this.lines.join("\n")
            }`,
          ),
        );
      }
    });
  }

  async #pump(stream: ReadableStream<Uint8Array>) {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      for (const line of parts) this.#push(line);
    }
    if (rest) this.#push(rest);
  }

  #push(line: string) {
    this.lines.push(line);
    for (const waiter of [...this.#waiters]) {
      if (waiter.pattern.test(line)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  }

  /** Resolves with the first line (past or future) that matches, or rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const seen = this.lines.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(`timed out waiting for ${pattern}; output so far:\n${this.lines.join("\n")}`),
        );
      }, timeoutMs);
      this.#waiters.push({
        pattern,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  /** Resolves once `n` output lines match `pattern` (polling the collected lines). */
  async waitForCount(pattern: RegExp, n: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.count(pattern) < n) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${n}x ${pattern}; output so far:\n${this.lines.join("\n")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Counts output lines matching `pattern` so far. */
  count(pattern: RegExp): number {
    return this.lines.filter((l) => pattern.test(l)).length;
  }

  /** Sends `signal` and waits for the exit code. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<number> {
    try {
      this.child.kill(signal);
    } catch {
      // already exited
    }
    const status = await this.child.status;
    await Promise.all(this.#pumps);
    return status.code;
  }
}

/** Starts `main.ts simulate` on a free port and resolves once it listens. */
export async function startSimulatorProcess(
  extraArgs: string[] = [],
): Promise<{ process: CliProcess; port: number }> {
  const process = new CliProcess(["simulate", "--port", "0", ...extraArgs]);
  const line = await process.waitFor(/listening on 127\.0\.0\.1:\d+/);
  return { process, port: Number(/:(\d+)/.exec(line)![1]) };
}

/**
 * A raw TCP peer on loopback for client tests: answers the n-th request of each
 * connection with `replies[n]`; after the last reply it holds the connection open
 * (`hold`) or closes it (`close`).
 */
export async function withPeer(
  replies: Uint8Array[],
  then: "hold" | "close",
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
      if (then === "close") conn.close();
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
