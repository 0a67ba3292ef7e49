/**
 * Durability of the real service: `main.ts run` polling the simulator over loopback,
 * killed with SIGKILL at random moments, started twice on one database, and run on a
 * disk that really fills up (a small tmpfs, where mounting is permitted).
 */
import { startSimulator } from "../src/luxtronik/simulator.ts";
import { Storage } from "../src/storage.ts";
import { modelTables } from "../src/luxtronik/heatpump_model.ts";
import { assert, assertEquals } from "./storage_helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const KILLS = 20;
/** Generous: the machine is shared; nothing here asserts speed. */
const LINE_TIMEOUT_MS = 60_000;

/** A running `main.ts run` whose standard error is read line by line as it arrives. */
class Service {
  readonly lines: string[] = [];
  readonly child: Deno.ChildProcess;
  readonly #reading: Promise<void>;
  #waiters: (() => void)[] = [];

  constructor(env: Record<string, string>) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--unstable-cron", MAIN, "run"],
      env: { LOG_LEVEL: "info", LOG_FORMAT: "text", ...env },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#reading = this.#read();
  }

  async #read(): Promise<void> {
    let rest = "";
    for await (const text of this.child.stderr.pipeThrough(new TextDecoderStream())) {
      rest += text;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      this.lines.push(...parts);
      for (const wake of this.#waiters.splice(0)) wake();
    }
    if (rest !== "") this.lines.push(rest);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Waits until `count` lines contain `text`; fails after LINE_TIMEOUT_MS. */
  async waitFor(text: string, count = 1): Promise<void> {
    const deadline = Date.now() + LINE_TIMEOUT_MS;
    while (this.lines.filter((l) => l.includes(text)).length < count) {
      if (Date.now() > deadline) {
        throw new Error(
          `no ${count}x "${text}" within ${LINE_TIMEOUT_MS} ms:\n${this.lines.join("\n")}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Instants of the polls the service reported as stored. */
  storedTimestamps(): number[] {
    return this.lines.flatMap((line) => {
      const match = / poll stored ts=(\S+)/.exec(line);
      return match ? [Date.parse(match[1])] : [];
    });
  }

  async stop(signal: Deno.Signal): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch {
      // Already gone.
    }
    const status = await this.child.status;
    await this.#reading;
    return status;
  }
}

function serviceEnv(dir: string, port: number, db: string): Record<string, string> {
  return {
    HOST: "127.0.0.1",
    PORT: String(port),
    INTERVAL_SEC: "1",
    TIMEOUT_SEC: "5",
    RETRIES: "1",
    CACHE_PATH: db,
    OUTPUT_DIRS_DAILY: `${dir}/daily`,
    OUTPUT_DIRS_WEEKLY: `${dir}/weekly`,
  };
}

/** Which of `timestamps` are missing from the database at `db`; also checks integrity. */
function missingFrom(db: string, timestamps: readonly number[]): number[] {
  const storage = Storage.open(db);
  try {
    assertEquals(storage.integrityCheck(), "ok");
    return timestamps.filter((ts) => [...storage.polls(ts, ts + 1)].length !== 1);
  } finally {
    storage.close();
  }
}

/** Adds `count` older polls without folding them, so the service soon folds while polling. */
function addWaitingRows(db: string, first: number, count: number): void {
  const storage = Storage.open(db, { foldThreshold: Number.MAX_SAFE_INTEGER });
  try {
    const polls = Array.from({ length: count }, (_, k) => ({
      ts: first + k * 1000,
      ...modelTables(first / 1000 + k),
    }));
    storage.insertPolls(polls);
  } finally {
    storage.close();
  }
}

Deno.test({
  name: "SIGKILL at random moments: the file stays sound and every reported poll is there",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "lux-kill-" });
    const db = `${dir}/data/cache.db`;
    const simulator = startSimulator({ port: 0 });
    const reported: number[] = [];
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        // Recent rows just under the fold threshold: the service folds a poll or two in,
        // so some kills land in the middle of a fold.
        if (kill > 0) addWaitingRows(db, Date.now() - 20 * 86_400_000 + kill * 10_000_000, 238);
        const service = new Service(serviceEnv(dir, simulator.port, db));
        await service.waitFor("poll stored");
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 2_500));
        const status = await service.stop("SIGKILL");
        assertEquals(status.signal, "SIGKILL");
        const stored = service.storedTimestamps();
        assert(stored.length > 0);
        reported.push(...stored);
        assertEquals(missingFrom(db, stored), [], `after kill ${kill + 1}`);
      }
      // Nothing reported in any round went missing later either.
      assertEquals(missingFrom(db, reported), []);
    } finally {
      await simulator.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a second service on the same database exits 1 with a clear message",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "lux-lock-" });
    const db = `${dir}/cache.db`;
    const simulator = startSimulator({ port: 0 });
    const first = new Service(serviceEnv(dir, simulator.port, db));
    try {
      await first.waitFor("poll stored");
      const second = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "--unstable-cron", MAIN, "run"],
        env: serviceEnv(dir, simulator.port, db),
        stdout: "null",
        stderr: "piped",
      }).output();
      const message = new TextDecoder().decode(second.stderr);
      assertEquals(second.code, 1, message);
      assert(message.includes("is already in use by another lux-logger service"), message);
      assert(message.includes(`pid ${first.child.pid}`), message);
      assert(!message.includes("    at "), `no stack trace: ${message}`);
    } finally {
      const status = await first.stop("SIGTERM");
      assertEquals(status.code, 0);
      await simulator.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Whether this process may mount a tmpfs (root in a permissive container). */
async function canMountTmpfs(): Promise<boolean> {
  if (Deno.build.os !== "linux") return false;
  const dir = await Deno.makeTempDir({ prefix: "lux-mount-probe-" });
  try {
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir],
      stdout: "null",
      stderr: "null",
    }).output();
    if (mount.code !== 0) return false;
    await new Deno.Command("umount", { args: [dir] }).output();
    return true;
  } catch {
    return false;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Writes into `path` until the file system is full. */
async function fillDisk(path: string): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true });
  const block = new Uint8Array(16 * 1024);
  try {
    for (;;) await file.write(block);
  } catch (error) {
    if (!/No space left|os error 28/i.test(String(error))) throw error;
  } finally {
    file.close();
  }
}

Deno.test({
  name: "a really full disk: polls are held in memory and written when space returns",
  ignore: !(await canMountTmpfs()),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "lux-full-" });
    const mnt = `${dir}/mnt`;
    await Deno.mkdir(mnt);
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt],
    }).output();
    assertEquals(mount.code, 0);
    const db = `${mnt}/cache.db`;
    const simulator = startSimulator({ port: 0 });
    const service = new Service(serviceEnv(dir, simulator.port, db));
    try {
      await service.waitFor("poll stored", 2);
      await fillDisk(`${mnt}/filler`);
      await service.waitFor("disk full: cannot write to the database");
      // A few polls go to memory while the disk stays full.
      const storedWhenFull = service.storedTimestamps().length;
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      await Deno.remove(`${mnt}/filler`);
      await service.waitFor("disk space is back");
      const back = service.lines.find((l) => l.includes("disk space is back"))!;
      const held = Number(/ polls=(\d+)/.exec(back)![1]);
      assert(held >= 1, back);
      await service.waitFor("poll stored", storedWhenFull + 1);
      const status = await service.stop("SIGTERM");
      assertEquals(status.code, 0, service.lines.join("\n"));
      const reported = service.storedTimestamps();
      assertEquals(missingFrom(db, reported), []);
      const storage = Storage.open(db);
      try {
        // Every poll reported as stored plus every held one, nothing twice.
        assertEquals(storage.countPolls(), reported.length + held);
      } finally {
        storage.close();
      }
    } finally {
      await service.stop("SIGKILL");
      await simulator.close();
      await new Deno.Command("umount", { args: ["-l", mnt] }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a disk that is full before the service starts: old roll-ups go first, then it polls",
  ignore: !(await canMountTmpfs()),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "lux-full-start-" });
    const mnt = `${dir}/mnt`;
    await Deno.mkdir(`${mnt}`, { recursive: true });
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt],
    }).output();
    assertEquals(mount.code, 0);
    const simulator = startSimulator({ port: 0 });
    const db = `${mnt}/data/cache.db`;
    const env = { ...serviceEnv(mnt, simulator.port, db), DISK_USAGE_THRESHOLD: "80" };
    try {
      // A first run creates the database; then old roll-ups and a filler fill the disk.
      const first = new Service(env);
      await first.waitFor("poll stored", 1);
      assertEquals((await first.stop("SIGTERM")).code, 0);
      await Deno.mkdir(`${mnt}/daily`, { recursive: true });
      for (const day of ["01", "02", "03"]) {
        await Deno.writeFile(`${mnt}/daily/2026-11-${day}_daily.csv`, new Uint8Array(300_000));
      }
      await fillDisk(`${mnt}/filler`);
      const second = new Service(env);
      await second.waitFor("poll stored", 1);
      assert(
        second.lines.some((l) => l.includes("roll-up deleted to free disk space")),
        second.lines.join("\n"),
      );
      assertEquals((await second.stop("SIGTERM")).code, 0, second.lines.join("\n"));
    } finally {
      await simulator.close();
      await new Deno.Command("umount", { args: ["-l", mnt] }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
