/**
 * End to end: the simulator (serving a real controller's tables) and the service with
 * the dashboard as a separate process, a week of recorded polls in its database and a
 * roll-up file on disk, driven through Debian's headless Chromium with playwright-core.
 *
 * Chromium is required, not optional: .ci/run installs it with apt. If it cannot be
 * launched this test fails with the reason instead of skipping, so a green run always
 * means the page was really checked in a browser.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { csvLines, defaultColumns, writeChunks } from "../src/csvgen.ts";
import { decodeFields, numericValue } from "../src/http/fields.ts";
import { csvColumns } from "../src/luxtronik/decode.ts";
import { modelTables } from "../src/luxtronik/heatpump_model.ts";
import { loadFixture, startSimulator } from "../src/luxtronik/simulator.ts";
import { readLines } from "../src/recorded.ts";
import { type Poll, Storage } from "../src/storage.ts";
import { realFixture } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const REPO = new URL("..", import.meta.url);
const FIXTURE = new URL(realFixture("benpru-luxtronik-59-v3.88.0.json"), "file://");
const STEP_TIMEOUT_MS = 60_000;
const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
const TVL = "calculations.ID_WEB_Temperatur_TVL";

/** A free loopback port (HTTP_PORT accepts 1..65535, not 0). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A week of the modelled heat pump at one poll a minute, ending an hour ago. */
function recordedWeek(now: number): Poll[] {
  const start = Math.floor((now - 7 * DAY_MS - 60 * MINUTE_MS) / MINUTE_MS) * MINUTE_MS;
  const polls: Poll[] = [];
  for (let ts = start; ts < start + 7 * DAY_MS; ts += MINUTE_MS) {
    polls.push({ ts, ...modelTables(ts / 1000) });
  }
  return polls;
}

/** Writes a daily roll-up of one recorded day the way the roll-up writer does (CSV, UTC). */
async function writeRollup(storage: Storage, dir: string, dayStart: number): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const name = `${new Date(dayStart).toISOString().slice(0, 10)}_daily.csv`;
  const path = join(dir, name);
  const lengths = storage.tableLengths(dayStart, dayStart + DAY_MS);
  const lines = csvLines(
    storage.polls(dayStart, dayStart + DAY_MS),
    defaultColumns(lengths.calculations),
    { timeZone: "UTC" },
  );
  using file = await Deno.open(path, { write: true, createNew: true });
  await writeChunks(lines, file);
  return name;
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** What the page reports about its chart (data-* attributes of #chart). */
async function chartState(page: Page): Promise<Record<string, string>> {
  return await page.evaluate(`({ ...document.querySelector("#chart").dataset })`);
}

/**
 * Byte equality with a short message. (assert.deepEqual on two large, different arrays
 * builds a diff of every element, which takes gigabytes.)
 */
function assertSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  assert.equal(actual.length, expected.length, "downloaded length differs from the file's");
  const first = actual.findIndex((byte, i) => byte !== expected[i]);
  assert.equal(first, -1, `downloaded bytes differ from the file's from offset ${first}`);
}

/** `promise`, or a clear failure after STEP_TIMEOUT_MS. */
async function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`)),
      STEP_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `expression` in the page until it is true. (page.waitForFunction evaluates with
 * eval inside the page, which the dashboard's Content-Security-Policy rightly forbids.)
 */
async function untilInPage(page: Page, expression: string): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting in the page for ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function launchChromium(userDataDir: string) {
  try {
    return await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      headless: true,
      acceptDownloads: true,
      timeout: STEP_TIMEOUT_MS,
      viewport: { width: 1200, height: 900 },
    });
  } catch (error) {
    throw new Error(
      `cannot launch Chromium at ${CHROMIUM} (install it with: apt-get update && apt-get install -y chromium): ${
        (error as Error).message
      }`,
    );
  }
}

/**
 * CI (CI=true, where .ci/run installs Chromium) always runs the browser test, and fails
 * if Chromium is missing. A developer machine without Chromium skips it with a note, so
 * the README's `deno task test` works on a fresh machine with just Deno.
 */
function chromiumMissingHere(): boolean {
  if (Deno.env.get("CI") === "true") return false;
  try {
    Deno.statSync(CHROMIUM);
    return false;
  } catch {
    console.warn(`skipping the browser test: no ${CHROMIUM} (apt-get install chromium runs it)`);
    return true;
  }
}

Deno.test({
  name: "dashboard in Chromium: current values, a 7-day chart, a byte-identical download, a phone",
  ignore: chromiumMissingHere(),
  // playwright-core keeps pipes and timers of its own alive between tests.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dashboard_e2e_" });
    const dbPath = join(dir, "cache.db");
    const dailyDir = join(dir, "daily");
    const fixture = await loadFixture(FIXTURE.pathname);
    const simulator = startSimulator({ hostname: "127.0.0.1", port: 0, tablesAt: () => fixture });

    // History first, while nothing else has the database open.
    const week = recordedWeek(Date.now());
    const storage = Storage.open(dbPath);
    let rollupName: string;
    try {
      assert.equal(storage.insertPolls(week), week.length);
      rollupName = await writeRollup(
        storage,
        dailyDir,
        week[0].ts + DAY_MS - (week[0].ts % DAY_MS),
      );
    } finally {
      storage.close();
    }

    const httpPort = freePort();
    const service = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--unstable-cron", new URL("main.ts", REPO).pathname, "run"],
      cwd: dir, // no stray .env from the repository
      env: {
        HOST: "127.0.0.1",
        PORT: String(simulator.port),
        INTERVAL_SEC: "2",
        TIMEOUT_SEC: "5",
        CACHE_PATH: dbPath,
        OUTPUT_DIRS_DAILY: dailyDir,
        OUTPUT_DIRS_WEEKLY: join(dir, "weekly"),
        TZ: "UTC",
        HTTP_PORT: String(httpPort),
        LOG_FORMAT: "json",
      },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log: string[] = [];
    const draining = (async () => {
      for await (const line of readLines(service.stderr)) log.push(line);
    })();
    const logged = (message: string) =>
      log.map((line) => {
        try {
          return JSON.parse(line);
        } catch {
          return { msg: line };
        }
      }).find((record) => record.msg === message);

    const profile = await Deno.makeTempDir({ prefix: "dashboard_e2e_chromium_" });
    let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
    let status: Deno.CommandStatus;
    try {
      const listening = await until("the dashboard to listen", () => logged("dashboard listening"));
      assert.equal(listening.url, `http://127.0.0.1:${httpPort}/`);
      await until("the first poll of the simulator", () => logged("poll stored"));

      browser = await launchChromium(profile);
      const page = browser.pages()[0] ?? await browser.newPage();
      page.setDefaultTimeout(STEP_TIMEOUT_MS);
      const pageErrors: string[] = [];
      page.on("pageerror", (error) => pageErrors.push(error.message));

      // 1. Current values: every field shown equals the simulator's tables, decoded.
      await page.goto(`${listening.url}#now`);
      await page.waitForSelector(`#headline .card[data-field="${TVL}"]`);
      const expected = decodeFields(
        { ts: 0, durationMs: null, ...fixture },
        { timeZone: "UTC" },
      );
      const shown = await page.evaluate(`({
        headline: [...document.querySelectorAll("#headline .card")].map((card) =>
          [card.dataset.field, card.querySelector(".value").textContent]),
        fields: [...document.querySelectorAll("#fields tbody tr")].map((row) =>
          [row.dataset.field, row.querySelector(".value").textContent]),
      })`) as { headline: string[][]; fields: string[][] };
      assert.deepEqual(shown.fields, expected.map((f) => [f.id, f.text]));
      const headline = [10, 11, 15, 17, 80, 44].map((index) =>
        expected.find((f) => f.table === "calculations" && f.index === index)!
      );
      assert.deepEqual(shown.headline, headline.map((f) => [f.id, f.text]));
      // The search narrows the table to matching fields.
      await page.fill("#field-search", "ID_WEB_Temperatur_TVL");
      assert.deepEqual(
        await page.evaluate(
          `[...document.querySelectorAll("#fields tbody tr")].map((row) => row.dataset.field)`,
        ),
        [TVL],
      );

      // 2. A chart of the recorded week, exactly that range.
      const from = new Date(week[0].ts).toISOString();
      const to = new Date(week[0].ts + 7 * DAY_MS).toISOString();
      await page.goto(`${listening.url}#charts?field=${TVL}&from=${from}&to=${to}`);
      await page.reload(); // a hash change alone does not reload the page
      await page.waitForSelector("#chart[data-state=ready] canvas");
      const chart = await chartState(page);
      const column = csvColumns("calculations", week[0].calculations!.length).find((c) =>
        c.name === "ID_WEB_Temperatur_TVL"
      )!;
      const flows = week.map((p) => numericValue(column.decode(p.calculations!))!);
      assert.equal(chart.field, TVL);
      assert.equal(Number(chart.count), week.length);
      assert.ok(Number(chart.points) > 100 && Number(chart.points) <= 2000, chart.points);
      assert.equal(Number(chart.min), Math.min(...flows));
      assert.equal(Number(chart.max), Math.max(...flows));
      const box = await page.evaluate(
        `[document.querySelector("#chart canvas").clientWidth, document.querySelector("#chart canvas").clientHeight]`,
      ) as number[];
      assert.ok(box[0] > 200 && box[1] > 100, `canvas ${box}`);

      // The "7 days" button draws the last week: the recorded polls plus the live ones.
      const loads = Number(chart.loads);
      await page.click('button[data-range="7d"]');
      await untilInPage(page, `Number(document.querySelector("#chart").dataset.loads) > ${loads}`);
      const lastWeek = await chartState(page);
      assert.equal(lastWeek.state, "ready");
      assert.ok(Number(lastWeek.count) > week.length - 120, lastWeek.count);

      // 3. The roll-up file downloads byte for byte.
      await page.goto(`${listening.url}#files`);
      await page.reload();
      const link = `#files-daily a[download="${rollupName}"]`;
      await page.waitForSelector(link);
      const [download] = await Promise.all([page.waitForEvent("download"), page.click(link)]);
      assert.equal(download.suggestedFilename(), rollupName);
      // path() waits for the download to finish and has no timeout of its own.
      const downloaded = await Deno.readFile(
        await withTimeout(download.path(), "the download to finish"),
      );
      const onDisk = await Deno.readFile(join(dailyDir, rollupName));
      assert.ok(onDisk.length > 10_000, `roll-up of ${onDisk.length} bytes`);
      assertSameBytes(downloaded, onDisk);

      // 4. On a phone the page fits the screen: no sideways scrolling, values in view.
      const phone = await browser.newPage();
      phone.on("pageerror", (error) => pageErrors.push(error.message));
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.goto(`${listening.url}#now`);
      await phone.waitForSelector(`#fields tbody tr[data-field="${TVL}"]`);
      const fit = await phone.evaluate(`({
        page: document.documentElement.scrollWidth,
        screen: document.documentElement.clientWidth,
        value: document.querySelector('#fields tr[data-field="${TVL}"] .value')
          .getBoundingClientRect().right,
        cards: [...document.querySelectorAll("#headline .card")]
          .map((card) => card.scrollWidth - card.clientWidth),
      })`) as { page: number; screen: number; value: number; cards: number[] };
      assert.ok(fit.page <= fit.screen, `page ${fit.page} px wide on a ${fit.screen} px screen`);
      assert.ok(fit.value <= fit.screen, `value cell ends at ${fit.value} px`);
      assert.deepEqual(fit.cards, fit.cards.map(() => 0), "card contents overflow");
      await phone.close();

      assert.deepEqual(pageErrors, []);
    } catch (error) {
      console.error(`service log:\n${log.join("\n")}`);
      throw error;
    } finally {
      await browser?.close();
      service.kill("SIGTERM");
      status = await service.status;
      await draining;
      await simulator.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
    // SIGTERM: the service stops the dashboard and the poller and exits 0.
    assert.equal(status.code, 0, `service exit code ${status.code}:\n${log.join("\n")}`);
    assert.ok(logged("service stopped"));
  },
});
