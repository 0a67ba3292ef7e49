/**
 * The roll-up files the dashboard offers for download. A requested name is never joined
 * to a path as given: it must equal the name of a regular file listed in one of the two
 * output folders, so `..`, slashes, symlinks and hidden temporary files cannot be reached.
 */
import { join } from "node:path";

export const ROLLUP_KINDS = ["daily", "weekly"] as const;
export type RollupKind = (typeof ROLLUP_KINDS)[number];

export interface RollupFile {
  kind: RollupKind;
  name: string;
  bytes: number;
  /** Last modification, epoch ms. */
  modified: number | null;
}

export type RollupDirs = Record<RollupKind, string>;

export function isRollupKind(kind: string): kind is RollupKind {
  return (ROLLUP_KINDS as readonly string[]).includes(kind);
}

/** Names of the visible regular files in `dir` (none if it does not exist yet). */
async function visibleFileNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      // Hidden names are roll-ups still being written (written under a dot name, then renamed).
      if (entry.isFile && !entry.name.startsWith(".")) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return names;
}

/** Files of one kind, newest name first (roll-up names start with their date). */
export async function listRollupFiles(dirs: RollupDirs, kind: RollupKind): Promise<RollupFile[]> {
  const names = (await visibleFileNames(dirs[kind])).sort().reverse();
  const files: RollupFile[] = [];
  for (const name of names) {
    try {
      const info = await Deno.stat(join(dirs[kind], name));
      files.push({ kind, name, bytes: info.size, modified: info.mtime?.getTime() ?? null });
    } catch (error) {
      // Deleted by retention between listing and stat: simply not there any more.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return files;
}

/** The path of the listed roll-up file called exactly `name`, or null. */
export async function rollupFilePath(
  dirs: RollupDirs,
  kind: RollupKind,
  name: string,
): Promise<string | null> {
  const names = await visibleFileNames(dirs[kind]);
  return names.includes(name) ? join(dirs[kind], name) : null;
}
