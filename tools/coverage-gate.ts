/**
 * Fails the test task when line coverage of src/ and main.ts falls below the given
 * percentage. Reads the lcov report that `deno coverage` produces from ./coverage.
 *
 * usage: deno run --allow-read --allow-run tools/coverage-gate.ts 90
 */
const threshold = Number(Deno.args[0] ?? "90");
const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
  args: ["coverage", "coverage", "--lcov", "--exclude=tests/|tools/"],
}).output();
if (code !== 0) {
  console.error(new TextDecoder().decode(stderr));
  Deno.exit(1);
}
let found = 0;
let hit = 0;
for (const line of new TextDecoder().decode(stdout).split("\n")) {
  if (line.startsWith("LF:")) found += Number(line.slice(3));
  if (line.startsWith("LH:")) hit += Number(line.slice(3));
}
const percent = found === 0 ? 0 : (100 * hit) / found;
console.log(`line coverage: ${percent.toFixed(1)}% (${hit}/${found} lines), gate ${threshold}%`);
if (percent < threshold) {
  console.error(`coverage ${percent.toFixed(1)}% is below the gate of ${threshold}%`);
  Deno.exit(1);
}
