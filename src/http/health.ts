/** Disk and database figures for the health page and /metrics (node:fs, needs --allow-sys). */
import { statfsSync, statSync } from "node:fs";
import { dirname } from "node:path";

export interface DiskUsage {
  totalBytes: number;
  freeBytes: number;
  /** As `df` shows it: used / (used + available to unprivileged users). */
  usedPercent: number;
}

/** Usage of the file system holding `path`, or null if it cannot be read. */
export function diskUsage(path: string): DiskUsage | null {
  try {
    const fs = statfsSync(dirname(path));
    const used = (fs.blocks - fs.bfree) * fs.bsize;
    const available = fs.bavail * fs.bsize;
    return {
      totalBytes: fs.blocks * fs.bsize,
      freeBytes: available,
      usedPercent: used + available === 0 ? 0 : Math.round((1000 * used) / (used + available)) / 10,
    };
  } catch {
    return null;
  }
}

/** Bytes of the SQLite database with its write-ahead log and shared-memory file. */
export function databaseBytes(path: string): number {
  let total = 0;
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      total += statSync(file).size;
    } catch {
      // A missing -wal/-shm file simply holds nothing.
    }
  }
  return total;
}
