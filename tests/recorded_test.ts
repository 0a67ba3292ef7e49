import { formatRecordedPoll, parseRecordedPoll, readLines, RecordError } from "../src/recorded.ts";
import { assert, assertEquals, assertThrows } from "./helpers.ts";

Deno.test("a recorded poll round-trips through its line format", () => {
  const line = JSON.stringify({
    ts: "2026-03-28T00:00:30Z",
    calculations: [2147483647, -2147483648, 0],
    parameters: null,
    visibilities: [-128, 127],
  });
  const poll = parseRecordedPoll(line);
  assertEquals(poll.ts, Date.UTC(2026, 2, 28, 0, 0, 30));
  assertEquals(Array.from(poll.calculations!), [2147483647, -2147483648, 0]);
  assertEquals(poll.parameters, null);
  assertEquals(Array.from(poll.visibilities!), [-128, 127]);
  assertEquals(JSON.parse(formatRecordedPoll(poll)), {
    ...JSON.parse(line),
    ts: "2026-03-28T00:00:30.000Z",
  });
});

Deno.test("bad lines are rejected whole, with the reason", () => {
  const reason = (line: string) => {
    try {
      parseRecordedPoll(line);
      return "accepted";
    } catch (error) {
      if (!(error instanceof RecordError)) throw error;
      return error.message;
    }
  };
  assert(reason("{").startsWith("not valid JSON ("), reason("{"));
  assertEquals(reason("[]"), "must be a JSON object");
  assertEquals(reason('{"ts": 5}'), '"ts" must be an ISO 8601 instant string');
  assertEquals(
    reason('{"ts": "yesterday"}'),
    '"ts" "yesterday" is not an ISO 8601 instant with offset or Z',
  );
  assertEquals(
    reason('{"ts": "2026-01-01T00:00:00Z", "calculations": [1, 2.5]}'),
    '"calculations[1]" = 2.5 is not an integer in -2147483648..2147483647',
  );
  assertEquals(
    reason('{"ts": "2026-01-01T00:00:00Z", "calculations": [], "visibilities": [128]}'),
    '"visibilities[0]" = 128 is not an integer in -128..127',
  );
  assertEquals(
    reason('{"ts": "2026-01-01T00:00:00Z", "calculations": [], "parameters": {}}'),
    '"parameters" must be an array of integers or null',
  );
  for (
    const line of [
      '{"ts": "2026-01-01T00:00:00Z"}',
      '{"ts": "2026-01-01T00:00:00Z", "calculations": null}',
    ]
  ) {
    assertEquals(reason(line), '"calculations" must be an array of integers', line);
  }
  assertThrows(() => parseRecordedPoll("nope"), RecordError);
});

Deno.test("readLines splits LF and CRLF input across chunk boundaries", async () => {
  const chunks = ["a\r", "\nbb\nc", "cc\n", "last"];
  const stream = ReadableStream.from(chunks.map((c) => new TextEncoder().encode(c)));
  const lines: string[] = [];
  for await (const line of readLines(stream)) lines.push(line);
  assertEquals(lines, ["a", "bb", "ccc", "last"]);
});
