/**
 * The writer lock: one service per database. An exclusive advisory lock (flock) on
 * `<database>.lock`, held for as long as the service runs. The kernel drops it when the
 * process ends in any way, SIGKILL and power cut included, so a stale lock never blocks
 * a restart. It works the same in `deno run`, in the compiled binary and on Docker
 * volumes (bind mounts and named volumes share the host kernel); network shares
 * (NFS, SMB) may not honour it.
 */
export class DatabaseLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatabaseLockedError";
  }
}

export class WriterLock {
  private constructor(private readonly file: Deno.FsFile, readonly path: string) {}

  /** Takes the lock for `databasePath` or throws DatabaseLockedError naming the holder. */
  static acquire(databasePath: string): WriterLock {
    const path = `${databasePath}.lock`;
    const file = Deno.openSync(path, { read: true, write: true, create: true });
    if (!file.tryLockSync(true)) {
      file.close();
      let holder = "";
      try {
        const pid = Deno.readTextFileSync(path).trim();
        if (/^\d+$/.test(pid)) holder = ` (pid ${pid})`;
      } catch {
        // The pid is only for the message.
      }
      throw new DatabaseLockedError(
        `database ${databasePath} is already in use by another lux-logger service${holder}; ` +
          `stop that one first or give this one its own CACHE_PATH (lock file ${path})`,
      );
    }
    file.truncateSync(0);
    file.writeSync(new TextEncoder().encode(`${Deno.pid}\n`));
    return new WriterLock(file, path);
  }

  release(): void {
    try {
      this.file.close();
    } catch {
      // Already closed: nothing to release.
    }
  }
}
