/**
 * Checks the packaging that this build machine cannot build (it cannot download Deno's
 * compile runtime or pull container images): the compile tasks in deno.json, the
 * Dockerfile, the systemd unit and the settings documentation must agree with the code
 * and refer to files that exist. Run by tests/packaging_test.ts, or by hand:
 *
 *   deno run --allow-read --allow-run scripts/check-packaging.ts
 */
import { join, relative, resolve } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { SETTING_NAMES } from "../src/config.ts";

/** `deno task compile` (host) and the Raspberry Pi build. */
export const COMPILE_TASKS = ["compile", "compile:arm64"] as const;
export const SYSTEMD_UNIT = "deploy/lux-logger.service";
/** Read by the npm package yaml when it parses a --config file (its debug switches). */
export const LIBRARY_ENV = ["LOG_TOKENS", "LOG_STREAM"];

/** A `deno compile …` task split into what matters for packaging. */
export interface CompileCommand {
  entry: string;
  output: string;
  target: string | null;
  includes: string[];
  /** --exclude-unused-npm: only the npm packages main.ts imports are embedded. */
  excludeUnusedNpm: boolean;
  /** Flags that the binary runs with (permissions, unstable features, --no-prompt). */
  runtimeFlags: string[];
}

/** Flags that `deno compile` bakes into the binary and `deno run` accepts as they are. */
const RUNTIME_FLAG = /^--(allow-|deny-|unstable-|no-prompt$)/;
/** Flags of `deno compile` that take a value as the next word. */
const VALUE_FLAGS = new Set(["--output", "-o", "--target", "--include", "--exclude", "--config"]);

/** Parses a compile task's command. Tasks here are plain words: no quotes, no `&&`. */
export function parseCompileTask(command: string): CompileCommand {
  if (/["'&|;$`]/.test(command)) {
    throw new Error(`compile task must be plain words without quotes or shell syntax: ${command}`);
  }
  const words = command.trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "compile") {
    throw new Error(`not a "deno compile" command: ${command}`);
  }
  const result: CompileCommand = {
    entry: "",
    output: "",
    target: null,
    includes: [],
    excludeUnusedNpm: false,
    runtimeFlags: [],
  };
  for (let i = 2; i < words.length; i++) {
    const word = words[i];
    if (!word.startsWith("-")) {
      if (i !== words.length - 1) {
        throw new Error(`arguments after the entry point would be baked in: ${command}`);
      }
      result.entry = word;
      break;
    }
    const eq = word.indexOf("=");
    const flag = eq === -1 ? word : word.slice(0, eq);
    let value: string | undefined = eq === -1 ? undefined : word.slice(eq + 1);
    if (VALUE_FLAGS.has(flag) && value === undefined) value = words[++i];
    if (flag === "--output" || flag === "-o") result.output = value ?? "";
    else if (flag === "--target") result.target = value ?? null;
    else if (flag === "--include") result.includes.push(value ?? "");
    else if (flag === "--exclude-unused-npm") result.excludeUnusedNpm = true;
    else if (RUNTIME_FLAG.test(word)) result.runtimeFlags.push(word);
  }
  if (result.entry === "") throw new Error(`no entry point: ${command}`);
  if (result.output === "") throw new Error(`no --output: ${command}`);
  return result;
}

/** The list a flag grants (`--allow-env=A,B` -> [A, B]); `"all"` without a list; null if absent. */
export function flagList(flags: string[], name: string): string[] | "all" | null {
  for (const flag of flags) {
    if (flag === name) return "all";
    if (flag.startsWith(`${name}=`)) return flag.slice(name.length + 1).split(",");
  }
  return null;
}

/** The compile task `name` from deno.json text. */
export function compileTask(denoJsonText: string, name: string): CompileCommand {
  const tasks = (JSON.parse(denoJsonText).tasks ?? {}) as Record<string, unknown>;
  const task = tasks[name];
  const command = typeof task === "object" && task !== null
    ? (task as { command?: unknown }).command
    : task;
  if (typeof command !== "string") throw new Error(`deno.json has no task "${name}"`);
  return parseCompileTask(command);
}

/**
 * The flags to run main.ts from source as the binary of `deno task compile` runs: its
 * runtime flags, with read access added for the files it embeds with --include (a
 * compiled binary may always read its own embedded files; from source they are files
 * in the repository).
 */
export function compileRuntimeFlags(root: string): string[] {
  const task = compileTask(Deno.readTextFileSync(join(root, "deno.json")), "compile");
  if (task.includes.length === 0) return task.runtimeFlags;
  const embedded = task.includes.map((include) => resolve(root, include));
  return task.runtimeFlags.map((flag) =>
    flag.startsWith("--allow-read=") ? `${flag},${embedded.join(",")}` : flag
  );
}

/** One Dockerfile instruction with continuation lines joined. */
export interface DockerInstruction {
  keyword: string;
  args: string;
}

export function dockerInstructions(text: string): DockerInstruction[] {
  const joined = text.replace(/\\\r?\n/g, " ");
  const result: DockerInstruction[] = [];
  for (const line of joined.split(/\r?\n/)) {
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match || line.trim().startsWith("#")) continue;
    result.push({ keyword: match[1].toUpperCase(), args: match[2].trim() });
  }
  return result;
}

/** Splits COPY arguments into flags, sources and destination (shell or JSON form). */
export function copyParts(args: string): { flags: string[]; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith("--"));
  const rest = words.filter((w) => !w.startsWith("--")).join(" ");
  const paths: string[] = rest.startsWith("[") ? JSON.parse(rest) : rest.split(/\s+/);
  return { flags, sources: paths.slice(0, -1), dest: paths[paths.length - 1] };
}

/** Simple .dockerignore patterns (a path or a folder, no wildcards) that exclude `path`. */
export function dockerIgnored(ignoreText: string, path: string): string | null {
  for (const raw of ignoreText.split(/\r?\n/)) {
    const pattern = raw.trim().replace(/\/$/, "");
    if (pattern === "" || pattern.startsWith("#") || pattern.includes("*")) continue;
    if (path === pattern || path.startsWith(`${pattern}/`)) return pattern;
  }
  return null;
}

/** Local files the entry point loads, relative to `root` (from `deno info --json`). */
export async function localModules(root: string, entry: string): Promise<string[]> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: root,
  }).output();
  if (code !== 0) throw new Error(`deno info failed: ${new TextDecoder().decode(stderr)}`);
  const info = JSON.parse(new TextDecoder().decode(stdout)) as {
    modules: { specifier: string }[];
  };
  return info.modules
    .map((m) => m.specifier)
    .filter((s) => s.startsWith("file:"))
    .map((s) => relative(root, fromFileUrl(s)));
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function readOrNull(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** Folders of files the code reads at run time (`static/` below src/): must be embedded. */
export function assetFolders(root: string, dir = "src"): string[] {
  const found: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(join(root, dir))];
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!entry.isDirectory) continue;
    const path = `${dir}/${entry.name}`;
    if (entry.name === "static") found.push(path);
    else found.push(...assetFolders(root, path));
  }
  return found.sort();
}

function checkCompileTasks(
  root: string,
  denoJson: string,
  problems: string[],
): Map<string, CompileCommand> {
  const commands = new Map<string, CompileCommand>();
  for (const name of COMPILE_TASKS) {
    let command: CompileCommand;
    try {
      command = compileTask(denoJson, name);
    } catch (error) {
      problems.push(`deno.json task ${name}: ${(error as Error).message}`);
      continue;
    }
    commands.set(name, command);
    if (!exists(join(root, command.entry))) {
      problems.push(`deno.json task ${name}: entry ${command.entry} does not exist`);
    }
    for (const include of command.includes) {
      if (!exists(join(root, include))) {
        problems.push(`deno.json task ${name}: --include ${include} does not exist`);
      }
    }
    const included = command.includes.map((i) => i.replace(/^\.\//, "").replace(/\/$/, ""));
    for (const folder of assetFolders(root)) {
      if (!included.includes(folder)) {
        problems.push(`deno.json task ${name}: add --include ${folder} to embed its files`);
      }
    }
    if (!command.excludeUnusedNpm) {
      // Without it the whole lockfile is embedded: playwright-core alone is 13 MB.
      problems.push(
        `deno.json task ${name}: add --exclude-unused-npm, or the npm packages of the tests are embedded`,
      );
    }
    const flags = command.runtimeFlags;
    if (flags.includes("--allow-all") || flags.includes("-A")) {
      problems.push(`deno.json task ${name}: --allow-all is not allowed; list the permissions`);
    }
    for (const fsFlag of ["--allow-read", "--allow-write"]) {
      if (flagList(flags, fsFlag) === "all") {
        problems.push(`deno.json task ${name}: ${fsFlag} must list the folders it needs`);
      }
    }
    const env = flagList(flags, "--allow-env");
    if (env === "all") {
      problems.push(`deno.json task ${name}: --allow-env must list the variables`);
    } else {
      const missing = [...SETTING_NAMES, ...LIBRARY_ENV].filter((s) => !(env ?? []).includes(s));
      if (missing.length > 0) {
        problems.push(`deno.json task ${name}: --allow-env lacks ${missing.join(", ")}`);
      }
    }
  }
  const [host, arm64] = COMPILE_TASKS.map((name) => commands.get(name));
  if (host && arm64 && host.runtimeFlags.join(" ") !== arm64.runtimeFlags.join(" ")) {
    problems.push(
      `deno.json: tasks ${COMPILE_TASKS.join(" and ")} must have the same permission flags`,
    );
  }
  if (arm64 && arm64.target !== "aarch64-unknown-linux-gnu") {
    problems.push("deno.json task compile:arm64: --target must be aarch64-unknown-linux-gnu");
  }
  return commands;
}

async function checkDockerfile(
  root: string,
  tasks: Record<string, unknown>,
  compile: CompileCommand | undefined,
  problems: string[],
): Promise<void> {
  const text = readOrNull(join(root, "Dockerfile"));
  if (text === null) {
    problems.push("Dockerfile is missing");
    return;
  }
  const ignore = readOrNull(join(root, ".dockerignore")) ?? "";
  const instructions = dockerInstructions(text);
  const copiedIntoBuild: string[] = [];
  let buildDir = "/";
  let copiesBinary = false;
  for (const { keyword, args } of instructions) {
    if (keyword === "WORKDIR" && copiedIntoBuild.length === 0) buildDir = args;
    if (keyword === "RUN") {
      for (const [, task] of args.matchAll(/deno task ([\w:-]+)/g)) {
        if (!(task in tasks)) problems.push(`Dockerfile: RUN deno task ${task}: no such task`);
      }
    }
    if (keyword !== "COPY") continue;
    const { flags, sources } = copyParts(args);
    if (flags.some((f) => f.startsWith("--from="))) {
      if (compile && sources.includes(`${buildDir.replace(/\/$/, "")}/${compile.output}`)) {
        copiesBinary = true;
      }
      continue;
    }
    for (const source of sources) {
      const path = source.replace(/^\.\//, "").replace(/\/$/, "");
      if (!exists(join(root, path))) problems.push(`Dockerfile: COPY ${source}: no such file`);
      const ignoredBy = dockerIgnored(ignore, path);
      if (ignoredBy) {
        problems.push(`Dockerfile: COPY ${source} is excluded by .dockerignore ${ignoredBy}`);
      }
      copiedIntoBuild.push(path);
    }
  }
  if (compile && !copiesBinary) {
    problems.push(`Dockerfile: no COPY --from of the compiled ${buildDir}/${compile.output}`);
  }
  const healthcheck = instructions.find((i) => i.keyword === "HEALTHCHECK")?.args ?? "";
  const execForm = /CMD\s+(\[.*\])\s*$/.exec(healthcheck);
  if (!execForm || !(JSON.parse(execForm[1]) as string[]).includes("health")) {
    problems.push(
      'Dockerfile: HEALTHCHECK must run the binary\'s "health" in exec form (no shell)',
    );
  }
  const volumes = instructions.filter((i) => i.keyword === "VOLUME").map((i) => i.args).join(" ");
  for (const volume of ["/app/data", "/app/logs"]) {
    if (!volumes.includes(volume)) problems.push(`Dockerfile: VOLUME ${volume} is missing`);
  }
  const user = instructions.filter((i) => i.keyword === "USER").at(-1)?.args ?? "root";
  if (/^(root|0)(:|$)/.test(user)) {
    problems.push("Dockerfile: the final stage must not run as root");
  }
  if (compile) {
    for (const module of await localModules(root, compile.entry)) {
      const covered = copiedIntoBuild.some((c) => module === c || module.startsWith(`${c}/`));
      if (!covered) {
        problems.push(`Dockerfile: ${module} is imported but not copied into the build`);
      }
    }
  }
}

function checkSystemdUnit(root: string, problems: string[]): void {
  const unit = readOrNull(join(root, SYSTEMD_UNIT));
  if (unit === null) {
    problems.push(`${SYSTEMD_UNIT} is missing`);
    return;
  }
  const value = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(unit)?.[1]?.trim() ?? "";
  const workDir = value("WorkingDirectory");
  const writable = value("ReadWritePaths").split(/\s+/);
  for (const folder of ["data", "logs"]) {
    if (!writable.includes(`${workDir}/${folder}`)) {
      problems.push(`${SYSTEMD_UNIT}: ReadWritePaths must include ${workDir}/${folder}`);
    }
  }
  for (const setting of ["User", "Restart", "ProtectSystem", "NoNewPrivileges"]) {
    if (value(setting) === "") problems.push(`${SYSTEMD_UNIT}: ${setting}= is missing`);
  }
}

function checkSettingsDocumented(root: string, problems: string[]): void {
  const sample = readOrNull(join(root, ".env.sample")) ?? "";
  const readme = readOrNull(join(root, "README.md")) ?? "";
  for (const name of SETTING_NAMES) {
    if (!new RegExp(`^#?\\s*${name}=`, "m").test(sample)) {
      problems.push(`.env.sample: ${name} is not listed (as ${name}=… or # ${name}=…)`);
    }
    if (!readme.includes(`\`${name}\``)) problems.push(`README.md: \`${name}\` is not documented`);
  }
}

/** Every problem found, as readable lines; empty when the packaging is consistent. */
export async function packagingProblems(root: string): Promise<string[]> {
  const problems: string[] = [];
  const denoJson = readOrNull(join(root, "deno.json"));
  if (denoJson === null) return ["deno.json is missing"];
  const commands = checkCompileTasks(root, denoJson, problems);
  const tasks = (JSON.parse(denoJson).tasks ?? {}) as Record<string, unknown>;
  await checkDockerfile(root, tasks, commands.get("compile"), problems);
  checkSystemdUnit(root, problems);
  checkSettingsDocumented(root, problems);
  return problems;
}

if (import.meta.main) {
  const root = resolve(fromFileUrl(new URL("..", import.meta.url)));
  const problems = await packagingProblems(root);
  for (const problem of problems) console.error(`packaging: ${problem}`);
  console.log(problems.length === 0 ? "packaging: ok" : `packaging: ${problems.length} problem(s)`);
  Deno.exit(problems.length === 0 ? 0 : 1);
}
