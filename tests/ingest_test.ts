import { ingestStream } from "../src/commands/ingest.ts";
import { formatProgress, Progress, withProgress } from "../src/progress.ts";
import { formatRecordedPoll, parseRecordedPoll } from "../src/recorded.ts";
import { type Poll, Storage } from "../src/storage.ts";
import {
  assert,
  assertEquals,
  assertSamePolls,
  expectedPolls,
  randomPolls,
  tempDb,
} from "./storage_helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A recording always holds the calculations (cli.md); the store also takes polls without. */
function recordable(polls: Poll[]): Poll[] {
  return polls.filter((p) => p.calculations !== null);
}

function streamOf(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(controller) {
      // In odd-sized pieces, so lines are split across chunks as on a real pipe.
      for (let i = 0; i < bytes.length; i += 7_777) {
        controller.enqueue(bytes.subarray(i, i + 7_777));
      }
      controller.close();
    },
  });
}

async function run(args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("ingest stores exactly the recorded integers; bad lines are reported and skipped", async () => {
  // Through the recording format: parsed polls are what the store must give back.
  const polls = recordable(randomPolls(77, 3_000)).map((p) =>
    parseRecordedPoll(formatRecordedPoll(p))
  );
  const lines = polls.map(formatRecordedPoll);
  lines.splice(100, 0, "{not json", "", '{"ts": "2026-01-01T00:00:00Z", "calculations": [1.5]}');
  const storage = Storage.open(await tempDb());
  const rejected: number[] = [];
  try {
    const result = await ingestStream(
      streamOf(lines.join("\r\n") + "\r\n"),
      storage,
      (line) => rejected.push(line),
    );
    assertEquals(result, { read: polls.length + 2, stored: polls.length, rejected: 2 });
    assertEquals(rejected, [101, 103]);
    assertSamePolls(storage.polls(-Infinity, Infinity), expectedPolls(polls));
    // Ingesting the same recording again stores nothing twice.
    const again = await ingestStream(streamOf(lines.join("\n")), storage, () => {});
    assertEquals(again.stored, 0);
    assertEquals(storage.countPolls(), polls.length);
  } finally {
    storage.close();
  }
});

Deno.test("ingest refuses a poll dated more than a day after now (a wrong clock)", async () => {
  const now = Date.UTC(2026, 11, 4);
  const at = (ms: number) =>
    JSON.stringify({ ts: new Date(now + ms).toISOString(), calculations: [1] });
  const storage = Storage.open(await tempDb());
  const reasons: string[] = [];
  try {
    const result = await ingestStream(
      streamOf([at(-30_000), at(23 * 3_600_000), at(25 * 3_600_000)].join("\n")),
      storage,
      (_line, reason) => reasons.push(reason),
      undefined,
      () => now,
    );
    assertEquals(result, { read: 3, stored: 2, rejected: 1 });
    assertEquals(reasons, ['"ts" 2026-12-05T01:00:00.000Z is more than a day in the future']);
  } finally {
    storage.close();
  }
});

Deno.test("the ingest command: exit codes, and quiet on a pipe", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lux-ingest-" });
  const polls = recordable(randomPolls(5, 600)).sort((a, b) => a.ts - b.ts);
  const file = `${dir}/recording.jsonl`;
  await Deno.writeTextFile(file, polls.map(formatRecordedPoll).join("\n") + "\n");
  const db = `${dir}/cache.db`;

  const ok = await run(["ingest", "--db", db, file]);
  assertEquals(ok.code, 0, ok.stderr);
  assert(
    ok.stderr.includes("ingest finished") && ok.stderr.includes(`stored=${polls.length}`),
    ok.stderr,
  );
  assert(!ok.stderr.includes("\r") && !ok.stderr.includes("polls/s"), "no progress on a pipe");
  const again = await run(["ingest", "--db", db, file]);
  assertEquals(again.code, 0, again.stderr);
  assert(
    again.stderr.includes("stored=0") &&
      again.stderr.includes(`already_stored=${polls.length}`),
    again.stderr,
  );
  const storage = Storage.open(db);
  try {
    assertSamePolls(
      storage.polls(-Infinity, Infinity),
      expectedPolls(polls.map((p) => parseRecordedPoll(formatRecordedPoll(p)))),
    );
  } finally {
    storage.close();
  }

  await Deno.writeTextFile(`${dir}/bad.jsonl`, '{"ts": "yesterday"}\n');
  const bad = await run(["ingest", "--db", db, `${dir}/bad.jsonl`]);
  assertEquals(bad.code, 1);
  assert(bad.stderr.includes("line rejected") && bad.stderr.includes("line=1"), bad.stderr);

  const usage = await run(["ingest", file]);
  assertEquals(usage.code, 2);
  assert(usage.stderr.includes("--db PATH is required"), usage.stderr);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("progress lines: figures, percent, rate", () => {
  assertEquals(
    formatProgress("ingest", 12_345, null, 2_000),
    "ingest: 12,345 polls, 6,173 polls/s",
  );
  assertEquals(
    formatProgress("export", 40_320, 80_640, 1_000),
    "export: 40,320 of 80,640 polls (50 %), 40,320 polls/s",
  );
  assertEquals(formatProgress("export", 0, 0, 0), "export: 0 of 0 polls (100 %), - polls/s");
});

Deno.test("progress draws only on a terminal, after a quiet second, at most 4 times a second", () => {
  let now = 0;
  const written: string[] = [];
  const progress = new Progress({
    label: "ingest",
    enabled: true,
    write: (text) => written.push(text),
    now: () => now,
  });
  progress.update(10); // within the first second: nothing
  assertEquals(written, []);
  now = 1_000;
  progress.update(1_000);
  now = 1_100;
  progress.update(1_100); // too soon after the last draw
  now = 1_300;
  progress.update(1_300);
  assertEquals(written.length, 2);
  assert(written[0].startsWith("\ringest: 1,000 polls"), written[0]);
  progress.finish(2_000);
  assert(written[2].includes("2,000 polls") && written[2].endsWith("\n"), written[2]);

  // Disabled (not a terminal): never writes, even for a long run.
  const quiet: string[] = [];
  const off = new Progress({
    label: "x",
    enabled: false,
    write: (t) => quiet.push(t),
    now: () => now,
  });
  now = 10_000;
  off.update(5);
  off.finish(5);
  assertEquals(quiet, []);
});

Deno.test("withProgress passes items through and finishes the line", () => {
  let now = 0;
  const written: string[] = [];
  const progress = new Progress({
    label: "export",
    total: 3,
    enabled: true,
    write: (t) => written.push(t),
    now: () => (now += 600),
  });
  assertEquals([...withProgress([1, 2, 3], progress)], [1, 2, 3]);
  assert(written[written.length - 1].includes("3 of 3 polls (100 %)"), written.join("|"));
});
