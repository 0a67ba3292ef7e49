/**
 * What CI can check about the binary, the image and the service without building them:
 * the repository's packaging is consistent, and each check does catch what it is for.
 */
import { assert, assertEquals, assertThrows, REPO_ROOT, tempDir } from "./helpers.ts";
import {
  compileRuntimeFlags,
  compileTask,
  copyParts,
  dockerIgnored,
  dockerInstructions,
  flagList,
  LIBRARY_ENV,
  packagingProblems,
  parseCompileTask,
  SYSTEMD_UNIT,
} from "../scripts/check-packaging.ts";
import { SETTING_NAMES } from "../src/config.ts";

const ROOT = REPO_ROOT.pathname;

function assertProblem(problems: string[], fragment: string): void {
  assert(
    problems.some((p) => p.includes(fragment)),
    `expected a problem containing ${JSON.stringify(fragment)}, got:\n${problems.join("\n")}`,
  );
}

/** A copy of the files the packaging check reads, to break one at a time. */
async function copyOfRepo(dir: string): Promise<void> {
  for (const file of ["deno.json", "deno.lock", "Dockerfile", ".dockerignore", ".env.sample"]) {
    await Deno.copyFile(`${ROOT}${file}`, `${dir}/${file}`);
  }
  await Deno.copyFile(`${ROOT}README.md`, `${dir}/README.md`);
  await Deno.mkdir(`${dir}/deploy`);
  await Deno.copyFile(`${ROOT}${SYSTEMD_UNIT}`, `${dir}/${SYSTEMD_UNIT}`);
  await Deno.writeTextFile(`${dir}/main.ts`, 'import "./src/app.ts";\n');
  await Deno.mkdir(`${dir}/src`);
  await Deno.writeTextFile(`${dir}/src/app.ts`, 'import "../lib/extra.ts";\n');
  // The compile tasks embed this folder; it must exist.
  await Deno.mkdir(`${dir}/src/http/static`, { recursive: true });
  await Deno.mkdir(`${dir}/lib`);
  await Deno.writeTextFile(`${dir}/lib/extra.ts`, "export const extra = 1;\n");
}

async function edit(path: string, change: (text: string) => string): Promise<void> {
  await Deno.writeTextFile(path, change(await Deno.readTextFile(path)));
}

Deno.test("packaging: this repository's compile tasks, Dockerfile, unit and docs agree", async () => {
  assertEquals(await packagingProblems(ROOT), []);
});

Deno.test("packaging: the compile tasks differ only in target and output", () => {
  const denoJson = Deno.readTextFileSync(`${ROOT}deno.json`);
  const host = compileTask(denoJson, "compile");
  const arm64 = compileTask(denoJson, "compile:arm64");
  assertEquals(host.entry, "main.ts");
  assertEquals(host.target, null);
  assertEquals(arm64.target, "aarch64-unknown-linux-gnu");
  assertEquals(host.output, "dist/lux-logger");
  assertEquals(arm64.output, "dist/lux-logger-arm64");
  assertEquals(host.runtimeFlags, arm64.runtimeFlags);
  const env = flagList(host.runtimeFlags, "--allow-env");
  assert(Array.isArray(env));
  assertEquals(
    [...env].sort(),
    [...SETTING_NAMES, ...LIBRARY_ENV].sort(),
    "exactly the settings and what the yaml package reads",
  );
  assertEquals(flagList(host.runtimeFlags, "--allow-net"), "all");
  assertEquals(flagList(host.runtimeFlags, "--allow-ffi"), null);
});

Deno.test("parseCompileTask: flags, values in both spellings, entry", () => {
  const parsed = parseCompileTask(
    "deno compile --frozen --exclude-unused-npm -o out/x --target=t --include a --include=b --allow-read=./d --unstable-cron --no-prompt m.ts",
  );
  assertEquals(parsed, {
    entry: "m.ts",
    output: "out/x",
    target: "t",
    includes: ["a", "b"],
    excludeUnusedNpm: true,
    runtimeFlags: ["--allow-read=./d", "--unstable-cron", "--no-prompt"],
  });
  assertEquals(parseCompileTask("deno compile -o x m.ts").excludeUnusedNpm, false);
  assertThrows(() => parseCompileTask("deno run main.ts"), /not a "deno compile"/);
  assertThrows(() => parseCompileTask("deno compile --output x"), /no entry point/);
  assertThrows(() => parseCompileTask("deno compile main.ts"), /no --output/);
  assertThrows(() => parseCompileTask("deno compile -o x main.ts run"), /baked in/);
  assertThrows(() => parseCompileTask('deno compile -o "x" main.ts'), /plain words/);
  assertThrows(() => compileTask('{"tasks": {}}', "compile"), /no task "compile"/);
  assertEquals(
    compileTask('{"tasks": {"c": {"command": "deno compile -o x m.ts"}}}', "c").entry,
    "m.ts",
    "the object form of a task",
  );
});

Deno.test("Dockerfile parsing: continuation lines, COPY forms, .dockerignore", () => {
  const instructions = dockerInstructions(
    '# comment\nFROM a AS b\nHEALTHCHECK --interval=1s \\\n  CMD ["/x", "health"]\n',
  );
  assertEquals(instructions, [
    { keyword: "FROM", args: "a AS b" },
    { keyword: "HEALTHCHECK", args: '--interval=1s    CMD ["/x", "health"]' },
  ]);
  assertEquals(copyParts("--chown=1:1 a b ./dst/"), {
    flags: ["--chown=1:1"],
    sources: ["a", "b"],
    dest: "./dst/",
  });
  assertEquals(copyParts('["a b", "dst"]').sources, ["a b"]);
  const ignore = "# c\ndata/\n*.db\n.env\n";
  assertEquals(dockerIgnored(ignore, "data/cache.db"), "data");
  assertEquals(dockerIgnored(ignore, ".env"), ".env");
  assertEquals(dockerIgnored(ignore, "src/app.ts"), null);
  assertEquals(dockerIgnored(ignore, "database.ts"), null, "a prefix is not a folder");
});

Deno.test("packaging: a module outside the copied folders is reported", async () => {
  await using dir = await tempDir();
  await copyOfRepo(dir.path);
  const problems = await packagingProblems(dir.path);
  assertEquals(problems, ["Dockerfile: lib/extra.ts is imported but not copied into the build"]);
});

Deno.test("packaging: broken compile tasks are reported", async () => {
  await using dir = await tempDir();
  await copyOfRepo(dir.path);
  await edit(`${dir.path}/deno.json`, (text) => {
    const json = JSON.parse(text);
    json.tasks.compile = json.tasks.compile
      .replace(/--allow-env=\S+/, "--allow-env=HOST")
      .replace(/--allow-read=\S+/, "--allow-read")
      .replace(/--include \S+/g, "")
      .replace("--output", "--include static/ --allow-all --output")
      .replace("--exclude-unused-npm ", "");
    json.tasks["compile:arm64"] = json.tasks["compile:arm64"]
      .replace("aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu")
      .replace(/--allow-write=\S+/, "--allow-write")
      .replace(/--allow-env=\S+/, "--allow-env")
      .replace(/--include \S+/g, "")
      .replace("main.ts", "missing.ts");
    return JSON.stringify(json);
  });
  const problems = await packagingProblems(dir.path);
  assertProblem(problems, "task compile: --include static/ does not exist");
  assertProblem(problems, "task compile: add --include src/http/static to embed its files");
  assertProblem(problems, "task compile:arm64: add --include src/http/static");
  assertProblem(problems, "task compile: --allow-all is not allowed");
  assertProblem(problems, "task compile: add --exclude-unused-npm");
  assert(!problems.some((p) => p.includes("compile:arm64: add --exclude-unused-npm")));
  assertProblem(problems, "task compile: --allow-read must list the folders");
  assertProblem(problems, "task compile: --allow-env lacks PORT, INTERVAL_SEC");
  assertProblem(problems, "task compile:arm64: entry missing.ts does not exist");
  assertProblem(problems, "task compile:arm64: --allow-write must list the folders");
  assertProblem(problems, "task compile:arm64: --allow-env must list the variables");
  assertProblem(problems, "must have the same permission flags");
  assertProblem(problems, "--target must be aarch64-unknown-linux-gnu");
});

Deno.test("packaging: missing tasks and files are reported", async () => {
  await using dir = await tempDir();
  assertEquals(await packagingProblems(dir.path), ["deno.json is missing"]);
  await copyOfRepo(dir.path);
  await edit(`${dir.path}/deno.json`, (text) => {
    const json = JSON.parse(text);
    delete json.tasks["compile:arm64"];
    return JSON.stringify(json);
  });
  await Deno.remove(`${dir.path}/Dockerfile`);
  await Deno.remove(`${dir.path}/${SYSTEMD_UNIT}`);
  const problems = await packagingProblems(dir.path);
  assertProblem(problems, 'deno.json task compile:arm64: deno.json has no task "compile:arm64"');
  assertProblem(problems, "Dockerfile is missing");
  assertProblem(problems, `${SYSTEMD_UNIT} is missing`);
});

Deno.test("packaging: a Dockerfile that drifts from the tasks and folders is reported", async () => {
  await using dir = await tempDir();
  await copyOfRepo(dir.path);
  await Deno.writeTextFile(
    `${dir.path}/Dockerfile`,
    [
      "FROM denoland/deno:2.9.6 AS build",
      "WORKDIR /src",
      "COPY deno.json deno.lock missing.txt ./",
      "COPY data/ ./data/",
      "COPY main.ts src/ lib/ ./",
      "RUN deno task build",
      "FROM gcr.io/distroless/cc-debian12",
      "COPY --from=build /src/dist/other /app/lux-logger",
      "HEALTHCHECK CMD /app/lux-logger health || exit 1",
      "VOLUME /app/data",
      "USER root",
    ].join("\n"),
  );
  await Deno.mkdir(`${dir.path}/data`);
  const problems = await packagingProblems(dir.path);
  assertProblem(problems, "COPY missing.txt: no such file");
  assertProblem(problems, "COPY data/ is excluded by .dockerignore data");
  assertProblem(problems, "RUN deno task build: no such task");
  assertProblem(problems, "no COPY --from of the compiled /src/dist/lux-logger");
  assertProblem(problems, "HEALTHCHECK must run");
  assertProblem(problems, "VOLUME /app/logs is missing");
  assertProblem(problems, "must not run as root");
  assert(!problems.some((p) => p.includes("lib/extra.ts")), "lib/ is copied here");
});

Deno.test("packaging: unit and settings docs that drift are reported", async () => {
  await using dir = await tempDir();
  await copyOfRepo(dir.path);
  await edit(
    `${dir.path}/${SYSTEMD_UNIT}`,
    (text) =>
      text.replace(/^ReadWritePaths=.*$/m, "ReadWritePaths=/var/lib/lux-logger/data")
        .replace(/^NoNewPrivileges=.*$/m, ""),
  );
  await edit(`${dir.path}/.env.sample`, (text) => text.replace(/^CSV_BOM=.*$/m, ""));
  await edit(`${dir.path}/README.md`, (text) => text.replaceAll("`WEEKLY_DAY`", "WEEKLY_DAY"));
  const problems = await packagingProblems(dir.path);
  assertProblem(problems, "ReadWritePaths must include /var/lib/lux-logger/logs");
  assertProblem(problems, "NoNewPrivileges= is missing");
  assertProblem(problems, ".env.sample: CSV_BOM is not listed");
  assertProblem(problems, "README.md: `WEEKLY_DAY` is not documented");
});

const systemdAnalyze = await new Deno.Command("systemd-analyze", { args: ["--version"] })
  .output().then((o) => o.success).catch(() => false);

Deno.test({
  name: "systemd unit: systemd-analyze verify finds no problem (skipped without systemd)",
  ignore: !systemdAnalyze,
  fn: async () => {
    await using dir = await tempDir();
    // verify insists that ExecStart exists; the binary is not built here.
    const unit = (await Deno.readTextFile(`${ROOT}${SYSTEMD_UNIT}`))
      .replace(/^ExecStart=\S+/m, `ExecStart=${Deno.execPath()}`);
    const path = `${dir.path}/lux-logger.service`;
    await Deno.writeTextFile(path, unit);
    const { code, stdout, stderr } = await new Deno.Command("systemd-analyze", {
      args: ["verify", path],
    }).output();
    const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assertEquals(code, 0, output);
    assertEquals(output.trim(), "", "no unknown keys or bad values");
  },
});

Deno.test("compileRuntimeFlags: embedded files become readable, nothing else changes", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(
    `${dir.path}/deno.json`,
    JSON.stringify({
      tasks: {
        compile:
          "deno compile --unstable-cron --allow-read=./data --include src/static -o x main.ts",
      },
    }),
  );
  assertEquals(compileRuntimeFlags(dir.path), [
    "--unstable-cron",
    `--allow-read=./data,${dir.path}/src/static`,
  ]);
});
