/**
 * Files that appear whole or not at all: roll-ups, `export --out`, the demo's CSV. A reader
 * (a spreadsheet, a backup, the next roll-up run) never sees half a file, and a failed or
 * interrupted write leaves the previous file, if any, as it was.
 */
import { join } from "node:path";
import { writeChunks } from "./csvgen.ts";

/** Suffix of the hidden temporary file (`.NAME.<random>.partial`) while it is written. */
export const TEMP_SUFFIX = ".partial";

/**
 * Temporary files are created private (0600); these files are for people and other
 * programs (a Samba share, a container) to read, like any file the user writes.
 */
const FILE_MODE = 0o644;

export interface AtomicWriteHooks {
  /** Called with the complete, synced temporary file just before it is renamed (tests). */
  beforeRename?: (tempPath: string, finalPath: string) => void | Promise<void>;
}

/** Syncs a folder so a rename in it survives a power cut (best effort where unsupported). */
async function syncDir(dir: string): Promise<void> {
  try {
    using handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Some platforms cannot open or sync a folder; the rename itself is still atomic.
  }
}

/**
 * Writes `pieces` to `dir/name` so that the file appears whole or not at all: a temporary
 * name in the same folder, sync, rename, folder sync. On failure the temporary file is
 * removed. Returns the bytes written.
 */
export async function writeFileAtomically(
  dir: string,
  name: string,
  pieces: Iterable<string>,
  hooks: AtomicWriteHooks = {},
): Promise<number> {
  await Deno.mkdir(dir, { recursive: true });
  const finalPath = join(dir, name);
  const tempPath = await Deno.makeTempFile({ dir, prefix: `.${name}.`, suffix: TEMP_SUFFIX });
  let bytes: number;
  try {
    // Locked until renamed: another run (the service's minute tick, a `rollup` command on
    // the same folders) then leaves it alone, and a crash drops the lock with the process.
    using file = await Deno.open(tempPath, { write: true, truncate: true });
    await file.lock(true);
    bytes = await writeChunks(pieces, file);
    await file.sync();
    await Deno.chmod(tempPath, FILE_MODE);
    await hooks.beforeRename?.(tempPath, finalPath);
    await Deno.rename(tempPath, finalPath);
  } catch (error) {
    await Deno.remove(tempPath).catch(() => {});
    throw error;
  }
  await syncDir(dir);
  return bytes;
}
